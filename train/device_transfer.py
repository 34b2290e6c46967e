"""Carry FER2013 to a GPU machine and a sweep's checkpoints back, within the device tool's size limits.

The workplace's device tool sends at most 64 MiB of working tree and returns at most 64 MiB (16 MiB
a file). FER2013's JPEGs with the original pixels beside them xz-compress to 117 MB; what training
with `--pixels original` reads (the original pixels, the FER+ votes and the file list) packs to
52 MB as lossless WebP mosaics of 1,024 faces. A 7 M VGG checkpoint is 28 MB in float32; in float16
four fit in one reply, and restoring them to float32 changes each weight by at most float16's rounding.

    python -m train.device_transfer pack ../shared/datasets/fer2013 .gpu/fer       # here
    python3 -m train.device_transfer unpack .gpu/fer /tmp/fer/fer2013             # there
    python3 -m train.device_transfer halve /dev/shm/sweep $OUT                    # there: <run>.pth each
    python -m train.device_transfer restore /work/.device/1 runs/gpu_sweep        # here: <run>/best.pth

The unpacked folder is for `--pixels original` only: each JPEG name holds that image's original
pixels (PNG bytes; OpenCV reads by content), and the 159 images without an original keep their
JPEG, which that option leaves out. Trained with the equalised pixels it would silently be wrong.
"""

from __future__ import annotations

import argparse
import lzma
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import torch

from errors import UserError, exit_status
from models.checkpoint import load_model, read_checkpoint, write_checkpoint
from train.data import ORIGINALS_FILE, VOTES_FILE

TILE = 32  # faces per mosaic side: 1,536 px squares, which WebP codes well
SIZE = 48


def pack(data: Path, out: Path) -> None:
    if not (data / ORIGINALS_FILE).is_file():
        raise UserError(f"{data}: no {ORIGINALS_FILE} (expected FER2013's folder layout with its side files)")
    out.mkdir(parents=True, exist_ok=True)
    with np.load(data / ORIGINALS_FILE) as z:
        paths, pixels = z["path"].tolist(), z["pixels"]
    per_mosaic = TILE * TILE
    padded = np.zeros((-(-len(paths) // per_mosaic) * per_mosaic, SIZE, SIZE), np.uint8)
    padded[:len(paths)] = pixels
    for i in range(0, len(padded), per_mosaic):
        mosaic = padded[i:i + per_mosaic].reshape(TILE, TILE, SIZE, SIZE).transpose(0, 2, 1, 3)
        cv2.imwrite(str(out / f"mosaic_{i // per_mosaic:03d}.webp"), mosaic.reshape(TILE * SIZE, TILE * SIZE),
                    [cv2.IMWRITE_WEBP_QUALITY, 101])  # above 100: lossless
    files = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.jpg"))
    write_xz(out / "originals.txt.xz", "\n".join(paths) + "\n")
    write_xz(out / "files.txt.xz", "\n".join(files) + "\n")
    write_xz(out / f"{VOTES_FILE}.xz", (data / VOTES_FILE).read_text())
    have = set(paths)
    with tarfile.open(out / "no_original.tar", "w") as t:
        for f in files:
            if f not in have:
                t.add(data / f, arcname=f)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(paths)} originals of {len(files)} images packed into {out} ({size / 1e6:.1f} MB)")


def unpack(packed: Path, data: Path) -> None:
    paths = read_xz(packed / "originals.txt.xz").split()
    mosaics = sorted(packed.glob("mosaic_*.webp"))
    faces = np.concatenate([
        cv2.imread(str(m), cv2.IMREAD_GRAYSCALE).reshape(TILE, SIZE, TILE, SIZE).transpose(0, 2, 1, 3)
        .reshape(TILE * TILE, SIZE, SIZE) for m in mosaics])[:len(paths)]
    data.mkdir(parents=True, exist_ok=True)
    np.savez(data / ORIGINALS_FILE, path=np.array(paths), pixels=faces)
    by_path = dict(zip(paths, faces, strict=True))
    for f in read_xz(packed / "files.txt.xz").split():
        if f in by_path:
            target = data / f
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(cv2.imencode(".png", by_path[f])[1].tobytes())
    with tarfile.open(packed / "no_original.tar") as t:
        t.extractall(data, filter="data")
    (data / VOTES_FILE).write_text(read_xz(packed / f"{VOTES_FILE}.xz"))
    print(f"{len(paths)} originals unpacked into {data}")


def halve(sweep: Path, out: Path) -> None:
    """Each run's best.pth under sweep as out/<run>.pth with float16 weights."""
    for best in sorted(sweep.glob("*/best.pth")):
        target = out / f"{best.parent.name}.pth"
        copy_with_weights_as(best, target, torch.float16)
        print(f"{best.parent.name}: {target.stat().st_size / 2**20:.1f} MiB")


def restore(halved: Path, runs: Path) -> None:
    """Each halved <run>.pth as runs/<run>/best.pth in float32, the shipping format train.train writes."""
    for src in sorted(halved.glob("*.pth")):
        target = runs / src.stem / "best.pth"
        copy_with_weights_as(src, target, torch.float32)
        load_model(target)  # fails here, not in a later evaluation, if the file is not a model
        print(f"{src.stem}: {target}")


def copy_with_weights_as(src: Path, target: Path, dtype: torch.dtype) -> None:
    ckpt = read_checkpoint(src)
    ckpt["state_dict"] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    write_checkpoint(target, ckpt)


def write_xz(path: Path, text: str) -> None:
    with lzma.open(path, "wt") as f:
        f.write(text)


def read_xz(path: Path) -> str:
    with lzma.open(path, "rt") as f:
        return f.read()


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Carry FER2013 to a GPU machine and checkpoints back.")
    p.add_argument("action", choices=["pack", "unpack", "halve", "restore"])
    p.add_argument("source", type=Path)
    p.add_argument("target", type=Path)
    return p


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    action = {"pack": pack, "unpack": unpack, "halve": halve, "restore": restore}[args.action]
    return exit_status(action, args.source, args.target)


if __name__ == "__main__":
    sys.exit(cli())
