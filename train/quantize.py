"""Add int8 weights to a checkpoint: calibrate on training images, score both precisions.

    python -m train.quantize --data ../shared/datasets/fer2013 [--weights models/emotion_cnn.pth]

Activation ranges come from a seeded sample of the Training split (never the test splits).
The fp32 and int8 models are then scored on every test split present, and the int8 state is
written into the checkpoint (in place unless --out is given) with those figures. The live app
runs it on x86 CPUs, where it is the fastest precision (realtime/analysis/classify.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from errors import UserError
from models.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_model, write_checkpoint
from models.emotion_cnn import INT8_ARCHITECTURES
from models.quantize import ENGINE, has_int8_graph, int8_supported, quantize
from train.augment import normalize
from train.data import DataError, LoadReport, load
from train.metrics import classification_report
from train.predict import predict_probs

TEST_SPLITS = ("PublicTest", "PrivateTest")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="Kaggle root (train/ and test/) or fer2013.csv")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--out", type=Path, help="write here instead of updating --weights in place")
    p.add_argument("--calibration-images", type=int, default=2048,
                   help="training images that set the activation ranges")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=None)
    return p


def run(args: argparse.Namespace) -> dict:
    if not int8_supported():
        raise CheckpointError(f"int8 needs an x86-64 CPU with the '{ENGINE}' quantized engine")
    cpu = torch.device("cpu")
    loaded = load_model(args.weights, cpu)
    if not has_int8_graph(loaded.meta["model_config"]):
        raise CheckpointError(f"{args.weights}: int8 is available for the {' and '.join(INT8_ARCHITECTURES)} "
                              "architectures only")
    splits = load(args.data, args.cache_dir, LoadReport())
    if "Training" not in splits:
        raise DataError(f"{args.data}: no Training images to calibrate on")
    tests = [s for s in TEST_SPLITS if s in splits]
    if not tests:
        raise DataError(f"{args.data}: no PublicTest or PrivateTest images to score on")

    train = splits["Training"]
    n = min(args.calibration_images, len(train))
    idx = np.sort(np.random.default_rng(args.seed).choice(len(train), n, replace=False))
    calibration = normalize(torch.from_numpy(train.images[idx]), loaded.mean, loaded.std)
    qmodel = quantize(loaded.model, calibration)
    print(f"calibrated on {n} Training images (seed {args.seed})")

    metrics = {}
    for name in tests:
        s = splits[name]
        ref = predict_probs(loaded.model, s.images, loaded.mean, loaded.std, cpu).argmax(1)
        q = predict_probs(qmodel, s.images, loaded.mean, loaded.std, cpu, autocast=False).argmax(1)
        ref_r, q_r = classification_report(s.labels, ref), classification_report(s.labels, q)
        agreement = float((ref == q).mean())
        metrics[name] = {"accuracy": q_r["accuracy"], "macro_f1": q_r["macro_f1"], "n": q_r["n"],
                         "reference_accuracy": ref_r["accuracy"], "reference_macro_f1": ref_r["macro_f1"],
                         "top1_agreement": agreement}
        print(f"{name} ({s.images.shape[0]} images): checkpoint as evaluated {100 * ref_r['accuracy']:.2f}% "
              f"(macro-F1 {ref_r['macro_f1']:.3f}) | int8 {100 * q_r['accuracy']:.2f}% "
              f"(macro-F1 {q_r['macro_f1']:.3f}) | same top class on {100 * agreement:.1f}%")

    payload = dict(loaded.meta)
    payload["int8"] = {
        # state_dict() as returned: its _metadata (module versions) is what lets it load back.
        "state_dict": qmodel.state_dict(),
        "engine": ENGINE,
        "calibration": {"split": "Training", "images": n, "seed": args.seed, "data": str(args.data)},
        "metrics": metrics,
        "torch": str(torch.__version__),
    }
    out = args.out or args.weights
    write_checkpoint(out, payload)
    print(f"wrote int8 weights into {out}")
    return metrics


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
