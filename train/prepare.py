"""Check a FER2013 download and build the decoded cache that training reads.

    python -m train.prepare ../shared/datasets/fer2013        # Kaggle folder layout
    python -m train.prepare ~/Downloads/fer2013.csv           # original CSV

Prints per-split, per-class counts and every problem found (unreadable or resized images,
unknown or empty class folders, malformed CSV rows). Exits 2 when nothing usable is found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from errors import UserError
from models import EMOTIONS
from train.data import LoadReport, default_cache_dir, load

EXPECTED = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}


def format_counts(splits: dict) -> str:
    names = sorted(splits, key=lambda n: (n != "Training", n))
    width = max(9, *(len(n) + 1 for n in names))
    lines = [f"{'class':<10}" + "".join(f"{n:>{width}}" for n in names)]
    for c in EMOTIONS:
        lines.append(f"{c:<10}" + "".join(f"{splits[n].class_counts()[c]:>{width}}" for n in names))
    lines.append(f"{'total':<10}" + "".join(f"{len(splits[n]):>{width}}" for n in names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", help="fer2013.csv, a folder with train/ and test/, or one folder of class subfolders")
    p.add_argument("--cache-dir", type=Path, default=None, help=f"default {default_cache_dir()}")
    args = p.parse_args(argv)
    report = LoadReport()
    try:
        splits = load(args.source, args.cache_dir, report)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not any(len(s) for s in splits.values()):
        print(f"error: {args.source}: no usable images", file=sys.stderr)
        return 2
    print(format_counts(splits))
    problems = report.lines()
    for name, split in splits.items():
        empty = [c for c, n in split.class_counts().items() if n == 0]
        if empty:
            problems.append(f"{name}: no images of {', '.join(empty)}")
        if name in EXPECTED and len(split) != EXPECTED[name]:
            problems.append(f"{name}: {len(split)} images (the full FER2013 {name} split has {EXPECTED[name]})")
    for line in problems:
        print(f"note: {line}")
    total = sum(len(s) for s in splits.values())
    print(f"ok: {total} images decoded and cached in {args.cache_dir or default_cache_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
