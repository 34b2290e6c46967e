"""How far FER2013's labels and the FER+ majority can agree: the FER+ majority scored as a prediction.

    python -m bench.label_agreement --fer ../shared/datasets/fer2013

The closer a model's argmax gets to one label set, the nearer its score on the other comes to what
the two sets score against each other. This prints, for each split with votes, the FER+ majority
scored against FER2013's labels, and the reverse: what a model that matched one label set
perfectly would score on the other (accuracy and macro-F1 are the same both ways; each row's
recalls are the other's precisions).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import exit_status
from models import EMOTIONS
from train.data import load, with_votes
from train.metrics import classification_report


def print_agreement(args: argparse.Namespace) -> None:
    splits = with_votes(load(args.fer, args.cache_dir), args.fer)
    for name, split in splits.items():
        voted = split.has_votes()
        fer, majority = split.labels[voted], split.ferplus_majority()[voted]
        print(f"\n{name}: {int(voted.sum())} of {len(split)} images with a FER+ majority among the seven classes")
        recall_columns = " | ".join(f"{c} recall" for c in EMOTIONS)
        print(f"| predicted | scored against | accuracy | macro-F1 | {recall_columns} |")
        print("|---|---|---:|---:|" + "---:|" * len(EMOTIONS))
        for predicted, truth, p_name, t_name in ((majority, fer, "FER+ majority", "FER2013 labels"),
                                                 (fer, majority, "FER2013 labels", "FER+ majority")):
            r = classification_report(truth, predicted)
            recalls = " | ".join(f"{r['per_class'][c]['recall']:.3f}" for c in EMOTIONS)
            print(f"| {p_name} | {t_name} | {100 * r['accuracy']:.1f}% | {r['macro_f1']:.3f} | {recalls} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fer", type=Path, required=True, help="FER2013 root holding ferplus_votes.csv")
    p.add_argument("--cache-dir", type=Path, default=None)
    return exit_status(print_agreement, p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
