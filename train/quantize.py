"""Add int8 weights to a checkpoint: calibrate on training images, score both precisions.

    python -m train.quantize --data ../shared/datasets/fer2013 [--weights models/emotion_cnn.pth]

Activation ranges come from a seeded sample of the Training split (never the test splits), in the
pixels the checkpoint was trained on (equalised JPEGs or FER2013's originals). The fp32 and int8
models are then scored on every test split present (against FER2013's labels, and against the FER+
majority when ferplus_votes.csv lies beside the data), and the int8 state is written into the
checkpoint (in place unless --out is given) with those figures. A checkpoint without recorded
scores (one that train.prior adjusted) gets its own as evaluated here. The live app
runs it on x86 CPUs, where it is the fastest precision (realtime/analysis/classify.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from errors import exit_status
from models.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_model, write_checkpoint
from models.emotion_cnn import INT8_ARCHITECTURES
from models.quantize import ENGINE, has_int8_graph, int8_supported, quantize
from train.augment import normalize
from train.data import DataError, LoadReport, load, with_original_pixels
from train.evaluate import with_votes_if_present
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
    pixels = loaded.meta.get("training", {}).get("pixels", "equalised")
    splits = with_votes_if_present(load(args.data, args.cache_dir, LoadReport()), args.data)
    if pixels == "original":
        splits, _ = with_original_pixels(splits, args.data)
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
    print(f"calibrated on {n} Training images ({pixels} pixels, seed {args.seed})")

    metrics, reference = {}, {}
    for name in tests:
        s = splits[name]
        ref = predict_probs(loaded.model, s.images, loaded.mean, loaded.std, cpu).argmax(1)
        q = predict_probs(qmodel, s.images, loaded.mean, loaded.std, cpu, autocast=False).argmax(1)
        agreement = float((ref == q).mean())
        voted = s.has_votes()
        label_sets = [("", s.labels, np.ones(len(s), bool))]
        if voted.any():
            label_sets.append((" FER+ majority", s.ferplus_majority(), voted))
        for suffix, labels, keep in label_sets:
            ref_r, q_r = classification_report(labels[keep], ref[keep]), classification_report(labels[keep], q[keep])
            metrics[name + suffix] = {"accuracy": q_r["accuracy"], "macro_f1": q_r["macro_f1"], "n": q_r["n"],
                                      "reference_accuracy": ref_r["accuracy"],
                                      "reference_macro_f1": ref_r["macro_f1"], "top1_agreement": agreement}
            reference[name + suffix] = ref_r
            print(f"{name}{suffix} ({q_r['n']} images): checkpoint as evaluated {100 * ref_r['accuracy']:.2f}% "
                  f"(macro-F1 {ref_r['macro_f1']:.3f}) | int8 {100 * q_r['accuracy']:.2f}% "
                  f"(macro-F1 {q_r['macro_f1']:.3f}) | same top class on {100 * agreement:.1f}%")

    payload = dict(loaded.meta)
    # The test splits' scores of the checkpoint as it is now, over any its training recorded under those names.
    payload["metrics"] = {**payload.get("metrics", {}), **reference}
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
    return exit_status(run, args)


if __name__ == "__main__":
    sys.exit(cli())
