"""The labels x pixels x prior table: heads refitted on one frozen network, and whole models, on the same sets.

    python -m bench.refit_table --fer ../shared/datasets/fer2013 --wild ../shared/datasets/wild-dev \\
        --weights runs/vgg_head_*/best.pth [--taus 0 0.5 1]
    python -m bench.refit_table ... --weights runs/student/best.pth [--int8]      # whole models
    python -m bench.refit_table ... --weights A.pth B.pth --taus 0 --average      # and their mean

Checkpoints that are heads refitted by `train.train --init BASE --freeze-features` must share one
BASE: they then share BASE's convolutional features, which are computed once per image set
(PublicTest in each pixel kind, its live crops, the wild-dev crops) and cached, and each head and
each logit adjustment tau (train.prior) costs only a matrix product; BASE itself is the first row.
Any other checkpoint is run whole on each set (--int8: its int8 model, as the app runs it on x86).
Scores, single pass, as train.evaluate computes them (bf16 autocast where it is native):

  PublicTest     accuracy and macro-F1 against FER2013's labels and against the FER+ majority;
  live crops     PublicTest upscaled, detected and re-cropped at the app's framing (train/face_crops.py),
                 FER2013 labels and FER+ majority;
  wild-dev       every detected face, as the app crops it (bench/wild_dev.py): accuracy, macro-F1, and
                 per-class recall.

Each model sees PublicTest in the pixels it was trained on; the live and wild-dev crops are what
they are (camera-like pixels from the image path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from bench.wild_dev import cached_wild_dev
from errors import OptionError, exit_status
from models import EMOTIONS
from models.checkpoint import load_model
from models.quantize import load_int8
from realtime.analysis.crop import ALIGN_FROM
from train.data import load, with_original_pixels, with_votes
from train.evaluate import adjust_for_prior, training_prior
from train.face_crops import cached_detections, crop_detected
from train.frozen import cached_features, head_probs
from train.metrics import classification_report
from train.predict import predict_probs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fer", type=Path, required=True,
                   help="FER2013 root holding ferplus_votes.csv and original_pixels.npz")
    p.add_argument("--wild", type=Path, required=True)
    p.add_argument("--weights", nargs="+", required=True,
                   help="head refits of one base checkpoint, and whole models")
    p.add_argument("--int8", action="store_true", help="whole models: score their int8 model (the app's on x86)")
    p.add_argument("--taus", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    p.add_argument("--average", action="store_true",
                   help="one more row: the mean of the whole models' probabilities, each as its checkpoint gives "
                        "them (one that train.prior adjusted enters adjusted)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-dir", type=Path, default=None)
    args = p.parse_args(argv)
    return exit_status(print_table, args)


def print_table(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    models = [load_model(w) for w in args.weights]
    refits = [m.meta["training"]["args"].get("freeze_features") for m in models]
    bases = {m.meta["training"]["args"].get("init") for m, refit in zip(models, refits, strict=True) if refit}
    if len(bases) > 1 or None in bases:
        raise OptionError("every --freeze-features refit among --weights must refit the same --init checkpoint")
    base_path = bases.pop() if bases else None
    base = load_model(base_path) if base_path else None
    whole = [m.meta["training"].get("pixels", "equalised") for m, refit in zip(models, refits, strict=True)
             if not refit]
    if args.average and (len(whole) < 2 or len(set(whole)) > 1):
        raise OptionError("--average needs two or more whole models (not head refits) trained on the same pixels")

    def inputs(images: np.ndarray) -> tuple[np.ndarray, torch.Tensor | None]:
        """The images, and the base's features of them where there are refits to score."""
        features = (cached_features(base.model, base_path, images, base.mean, base.std, cpu, args.cache_dir)
                    if base else None)
        return images, features

    public = with_votes(load(args.fer / "test", args.cache_dir), args.fer)["PublicTest"]
    by_pixels = {"equalised": public, "original": with_original_pixels({"p": public}, args.fer)[0]["p"]}
    sets = {}
    for kind, split in by_pixels.items():
        sets[f"PublicTest {kind}"] = (inputs(split.images), split)
        det = cached_detections(split.images, args.cache_dir)
        live = crop_detected(split.images, det)
        found = np.flatnonzero(live.found)
        sets[f"live {kind}"] = (inputs(live.crops[found]), split.subset(found))
    wild = cached_wild_dev(args.wild, args.cache_dir)
    det = np.flatnonzero(wild.detected)
    wild_crops = (wild.crops_mesh if ALIGN_FROM == "mesh" else wild.crops_detector)[det]
    wild_inputs, wild_labels = inputs(wild_crops), wild.labels[det]
    print(f"base {base_path or '(no refits)'}; PublicTest {len(public)} images, live crops found "
          f"{len(sets['live equalised'][1])} / {len(sets['live original'][1])} (equalised / original), "
          f"wild-dev {len(det)} detected faces\n")

    print("| weights | labels | pixels | tau | PublicTest FER+ acc / F1 | FER2013 acc / F1 | live FER+ acc / F1 "
          "| live FER2013 acc / F1 | wild-dev acc / F1 | wild-dev recall " + " / ".join(c[:3] for c in EMOTIONS) + " |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    # The base itself first, as it ships: FER2013 labels on equalised pixels, no adjustment.
    rows = [(base_path, base, True, {"labels": "fer2013", "pixels": "equalised"}, None, [0.0])] if base else []
    rows += [(path, m, refit, m.meta["training"], training_prior(m.meta, path), args.taus)
             for path, m, refit in zip(args.weights, models, refits, strict=True)]

    def truths(pixels: str) -> dict:
        return {"PublicTest": sets[f"PublicTest {pixels}"][1], "live": sets[f"live {pixels}"][1], "wild": wild_labels}

    averaged = []
    for path, loaded, refit, t, prior, taus in rows:
        net = loaded.model if refit or not args.int8 else load_int8(loaded)

        def probs(given: tuple[np.ndarray, torch.Tensor | None], refit=refit, net=net, loaded=loaded) -> np.ndarray:
            images, features = given
            if refit:
                return head_probs(net, features, cpu)
            return predict_probs(net, images, loaded.mean, loaded.std, cpu, autocast=not args.int8)

        outputs = {name: probs(sets[f"{name} {t['pixels']}"][0]) for name in ("PublicTest", "live")}
        outputs["wild"] = probs(wild_inputs)
        label = f"{path}{' int8' * (args.int8 and not refit)} | {t['labels']} | {t['pixels']}"
        truth = truths(t["pixels"])
        for tau in taus:
            print_row(label, tau, {k: adjust_for_prior(v, prior, tau) for k, v in outputs.items()}, truth)
        if args.average and not refit:
            averaged.append(outputs)
    if args.average:
        mean = {k: np.mean([outputs[k] for outputs in averaged], axis=0) for k in averaged[0]}
        print_row(f"mean of the {len(averaged)} whole models above | | {whole[0]}", 0.0, mean, truths(whole[0]))


def print_row(label: str, tau: float, probs: dict[str, np.ndarray], truth: dict) -> None:
    """One table row: probs and truth keyed "PublicTest" and "live" (splits) and "wild" (labels)."""
    cells = []
    for name in ("PublicTest", "live"):
        split = truth[name]
        pred = probs[name].argmax(1)
        voted = split.has_votes()
        fp = classification_report(split.ferplus_majority()[voted], pred[voted])
        fer = classification_report(split.labels, pred)
        cells += [f"{100 * r['accuracy']:.1f} / {r['macro_f1']:.3f}" for r in (fp, fer)]
    w = classification_report(truth["wild"], probs["wild"].argmax(1))
    recalls = " / ".join(f"{w['per_class'][c]['recall']:.2f}" for c in EMOTIONS)
    print(f"| {label} | {tau:g} | {' | '.join(cells)} | {100 * w['accuracy']:.1f} / {w['macro_f1']:.3f} "
          f"| {recalls} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
