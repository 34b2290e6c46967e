"""Evaluate a checkpoint on any folder of class subfolders (or fer2013.csv).

    python -m train.evaluate --data ../shared/datasets/fer2013/test --json out/eval.json [--tta]

Prints accuracy, macro-F1, calibration (ECE, NLL), per-class precision/recall/F1 and the confusion
matrix, writes them as JSON, and saves a confusion-matrix PNG. Several --weights score their ensemble (the mean
of their probabilities). When the data mixes FER2013 splits
(PublicTest_* and PrivateTest_* files), each split is also reported on its own.

Two label sets: FER2013's own (the class folders), and, when `ferplus_votes.csv` lies beside the
data, the FER+ majority of ten annotators (on the images with usable votes; train/data.py), reported
under "ferplus" with its own confusion matrix (`<png>` with `_ferplus` added). The model sees the
pixels it was trained on (--pixels auto): the equalised JPEGs, or FER2013's original pixels.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from errors import OptionError, UserError
from models import EMOTIONS
from models.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_model
from models.device import resolve_device
from models.quantize import load_int8
from train.data import (
    PIXELS,
    VOTES_FILE,
    DataError,
    LoadReport,
    Split,
    load,
    side_file,
    with_original_pixels,
    with_votes,
)
from train.metrics import calibration_report, classification_report
from train.predict import predict_probs

SPLIT_ORDER = ("PublicTest", "PrivateTest", "test", "Training")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate an expression classifier on labelled 48x48 faces.")
    p.add_argument("--data", required=True, help="a folder of class subfolders, a Kaggle root, or fer2013.csv")
    p.add_argument("--weights", nargs="+", default=[str(DEFAULT_WEIGHTS)], metavar="CHECKPOINT",
                   help="one checkpoint, or several to score the mean of their probabilities (an ensemble)")
    p.add_argument("--json", type=Path, help="write the metrics here")
    p.add_argument("--png", type=Path,
                   help="confusion-matrix image (default: beside --json, else ./confusion_matrix.png)")
    p.add_argument("--tta", action="store_true", help="average over mirror and 2-pixel shifts (6 passes)")
    p.add_argument("--int8", action="store_true",
                   help="score the checkpoint's int8 model (what the app runs on x86 CPUs)")
    p.add_argument("--split", help="evaluate only this split (e.g. PublicTest, PrivateTest, Training)")
    p.add_argument("--pixels", default="auto", choices=["auto", *PIXELS],
                   help="the images' pixels: auto = those the (first) checkpoint was trained on")
    p.add_argument("--prior-adjust", type=float, default=0.0, metavar="TAU",
                   help="divide the probabilities by the checkpoint's training prior ** TAU (logit adjustment, "
                        "post hoc; train.prior folds it into the weights for the app)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cache-dir", type=Path, default=None)
    return p


def format_report(name: str, r: dict) -> str:
    lines = [f"{name}: n={r['n']}  accuracy {100 * r['accuracy']:.2f}%  macro-F1 {r['macro_f1']:.4f}  "
             f"ECE {r['calibration']['ece']:.4f}  NLL {r['calibration']['nll']:.4f}",
             f"  {'class':<9} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
    for c, m in r["per_class"].items():
        lines.append(f"  {c:<9} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>8d}")
    lines.append("  confusion matrix (rows true, columns predicted): " + " ".join(c[:3] for c in EMOTIONS))
    for c, row in zip(EMOTIONS, r["confusion_matrix"], strict=True):
        lines.append(f"  {c:<9}" + "".join(f"{v:>6d}" for v in row))
    return "\n".join(lines)


def plot_confusion(cm: np.ndarray, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=35, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            ax.text(j, i, f"{100 * rates[i, j]:.0f}%\n({int(cm[i, j])})", ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="share of the true class")
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise UserError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        plt.close(fig)


def adjust_for_prior(probs: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """p(c|x) / prior(c)^tau, renormalised: the same as subtracting tau * log prior from the logits."""
    if not tau:
        return probs
    p = probs / np.asarray(prior, dtype=np.float64) ** tau
    return p / p.sum(1, keepdims=True)


def training_prior(meta: dict, source: str) -> np.ndarray:
    prior = meta.get("training", {}).get("prior")
    if not prior:
        raise CheckpointError(f"{source}: no training prior recorded (trained before train.train stored it)")
    return np.array([prior[c] for c in EMOTIONS])


def with_votes_if_present(splits: dict[str, Split], data) -> dict[str, Split]:
    try:
        side_file(data, VOTES_FILE)
    except DataError:
        return splits
    return with_votes(splits, data)


def evaluate(args: argparse.Namespace) -> dict:
    from matplotlib.backend_bases import FigureCanvasBase

    kinds = FigureCanvasBase.get_supported_filetypes()
    if args.png and args.png.suffix and args.png.suffix[1:].lower() not in kinds:  # said before scoring, not after
        raise OptionError(f"--png {args.png}: unknown image kind {args.png.suffix} (use .png, .svg, .pdf or .jpg)")
    device = torch.device("cpu") if args.int8 else resolve_device(args.device)
    models = []
    for path in args.weights:
        loaded = load_model(path, device)
        prior = training_prior(loaded.meta, str(path)) if args.prior_adjust else None
        models.append((load_int8(loaded, str(path)) if args.int8 else loaded.model, loaded.mean, loaded.std, prior))
        if len(models) == 1:
            first_meta = loaded.meta
    pixels = first_meta.get("training", {}).get("pixels", "equalised") if args.pixels == "auto" else args.pixels
    report = LoadReport()
    splits = with_votes_if_present(load(args.data, args.cache_dir, report), args.data)
    for line in report.lines():
        print(f"data: {line}")
    if pixels == "original":
        splits, dropped = with_original_pixels(splits, args.data)
        print(f"data: original pixels ({dropped} image(s) without one left out)")
    if args.split:
        if args.split not in splits:
            raise DataError(f"{args.data}: no '{args.split}' images (found: {', '.join(splits) or 'none'})")
        splits = {args.split: splits[args.split]}
    names = sorted(splits, key=lambda s: SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER))
    if not any(len(splits[n]) for n in names):
        raise DataError(f"{args.data}: no images found")

    t0 = time.perf_counter()
    preds = {}
    for name in names:
        s = splits[name]
        probs = sum(adjust_for_prior(predict_probs(model, s.images, mean, std, device, tta=args.tta,
                                                   autocast=not args.int8), prior, args.prior_adjust)
                    for model, mean, std, prior in models) / len(models)
        preds[name] = (s, probs)
    seconds = time.perf_counter() - t0

    def scores(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
        y = np.concatenate([p[0] for p in pairs])
        pr = np.concatenate([p[1] for p in pairs])
        return {**classification_report(y, pr.argmax(1)), "calibration": calibration_report(y, pr)}

    def ferplus(s: Split, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        voted = s.has_votes()
        return s.ferplus_majority()[voted], p[voted]

    result = scores([(s.labels, p) for s, p in preds.values()])
    result["labels"] = "FER2013 (class folders)"
    weights = str(args.weights[0]) if len(args.weights) == 1 else [str(w) for w in args.weights]
    result.update({"data": str(args.data), "weights": weights, "tta": bool(args.tta), "int8": args.int8,
                   "pixels": pixels, "prior_adjust": args.prior_adjust, "seconds": round(seconds, 2)})
    has_votes = any(s.has_votes().any() for s, _ in preds.values())
    if has_votes:
        result["ferplus"] = {**scores([ferplus(s, p) for s, p in preds.values()]), "labels": "FER+ majority"}
    if len(names) > 1:
        result["splits"] = {n: scores([(s.labels, p)]) for n, (s, p) in preds.items()}
    label = "+".join(names) + (" (TTA)" if args.tta else "") + (" int8" if args.int8 else "")
    label += f", {pixels} pixels" + (f", prior adjusted (tau {args.prior_adjust:g})" if args.prior_adjust else "")
    if len(models) > 1:
        label += f", ensemble of {len(models)}"
    print(format_report(f"{label}, FER2013 labels", result))
    if has_votes:
        print(format_report(f"{label}, FER+ majority", result["ferplus"]))
    for n, r in result.get("splits", {}).items():
        print(format_report(n, r))

    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1))
        except OSError as e:
            raise UserError(f"{args.json}: cannot write ({e.strerror or e})") from None
    png = args.png or (args.json.with_name(args.json.stem + "_confusion.png") if args.json
                       else Path("confusion_matrix.png"))
    plot_confusion(np.array(result["confusion_matrix"]), png,
                   f"FER2013 labels: accuracy {100 * result['accuracy']:.1f}%, macro-F1 {result['macro_f1']:.3f}")
    print(f"wrote {png}" + (f" and {args.json}" if args.json else ""))
    if has_votes:
        fp = result["ferplus"]
        png = png.with_name(png.stem + "_ferplus" + png.suffix)
        plot_confusion(np.array(fp["confusion_matrix"]), png,
                       f"FER+ majority: accuracy {100 * fp['accuracy']:.1f}%, macro-F1 {fp['macro_f1']:.3f}")
        print(f"wrote {png}")
    return result


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        evaluate(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except torch.cuda.OutOfMemoryError:
        print("error: out of GPU memory; try --device cpu", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
