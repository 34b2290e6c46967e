"""The teachers' soft targets written to a file, for a distillation on a machine the teachers cannot go to.

    python -m train.soft_targets --data ../shared/datasets/fer2013 --pixels original \
        --teacher runs/gpu_sweep/votes/adjusted.pth --teacher runs/gpu_sweep/fer/best.pth --out soft.npz
    python -m train.train --data ../shared/datasets/fer2013 --pixels original --soft-targets soft.npz ...

`train.train --teacher` computes the same targets itself, but needs the teacher checkpoints where
it trains: two 7 M VGGs are 56 MB, while the device tool carries 64 MiB in all, most of it taken by
the data. The file holds the log of the teachers' mean probabilities for every Training image that
`--pixels` can use, each teacher on the pixels it was trained on (as `--teacher` does), keyed by
the image's path within the dataset, with the teachers' paths and SHA-256: about 1 MB. A run with
`--soft-targets` then reads the rows of its own training images (any `--labels`) and records the
teachers as `--teacher` would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from errors import UserError, exit_status
from models.device import resolve_device
from train.data import PIXELS, relative_key
from train.teacher import check_teacher_files, soft_targets, write_soft_targets
from train.train import load_training_data


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Write the teachers' soft targets of the training images to a file.")
    p.add_argument("--data", required=True, help="as for train.train")
    p.add_argument("--pixels", default="equalised", choices=PIXELS,
                   help="the --pixels of the runs that will read the file (it decides which images are in it)")
    p.add_argument("--teacher", action="append", required=True, metavar="CHECKPOINT",
                   help="a trained checkpoint (repeat for an ensemble: their mean probabilities)")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cache-dir", type=Path, default=None)
    return p


def main(args: argparse.Namespace) -> None:
    check_teacher_files(args.teacher)
    data = argparse.Namespace(data=args.data, cache_dir=args.cache_dir, labels="fer2013", select="labels",
                              pixels=args.pixels, mix_weight=0.5, seed=0, limit=0)
    _, train_by_pixels, _, _ = load_training_data(data)  # FER2013's labels: every image, whatever a run's --labels
    t0 = time.time()
    soft = soft_targets(args.teacher, {k: s.images for k, s in train_by_pixels.items()},
                        resolve_device(args.device), args.cache_dir)
    keys = [relative_key(p) for p in train_by_pixels[args.pixels].paths]
    try:
        write_soft_targets(args.out, keys, soft)
    except OSError as e:
        raise UserError(f"{args.out}: cannot write ({e.strerror or e})") from None
    print(f"soft targets of {len(args.teacher)} teacher(s) for {len(keys)} training images ({args.pixels} pixels) "
          f"in {time.time() - t0:.0f}s: {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


def cli(argv: list[str] | None = None) -> int:
    return exit_status(main, get_args_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
