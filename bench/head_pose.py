"""Where head pose stops the expression readings from holding: accuracy against |yaw| and pitch on wild-dev.

    python -m bench.head_pose --wild ../shared/datasets/wild-dev

Each photo goes through the app's still-image Pipeline (the biggest face kept); photos are binned by
the head pose the landmarker reports, and each bin's emotion accuracy and macro-F1 printed against
the labels, with the mesh's eyes-closed and mouth-open rates per class (a check on their thresholds)
and the median vertical eye turn of neutral faces (who mostly look at the camera). The frontal limits
in realtime/analysis/head.py come from this table (bench/README.md, "Head pose").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from bench.wild_dev import photos
from models import EMOTIONS

YAW_BINS = (0, 10, 20, 30, 45, 90)
PITCH_BINS = (0, 10, 20, 30, 90)  # |pitch - median pitch|


def measure(paths: list[Path]) -> dict[str, np.ndarray]:
    from realtime.analysis.pipeline import Pipeline, PipelineOptions

    keys = ("pred", "yaw", "pitch", "roll", "eye_pitch", "eyes_closed", "mouth_open", "au12")
    out = {k: np.full(len(paths), np.nan) for k in keys}
    with Pipeline(PipelineOptions(running_mode="image")) as pipe:
        for i, path in enumerate(tqdm(paths, desc="wild-dev", unit=" photos", mininterval=10)):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            faces = [f for f in pipe.process(image).faces if f.mesh is not None]
            if not faces:
                continue
            f = max(faces, key=lambda f: f.box[2] * f.box[3])
            out["pred"][i] = int(np.argmax(f.probs))
            out["yaw"][i], out["pitch"][i], out["roll"][i] = f.head_yaw, f.head_pitch, f.head_roll
            out["eye_pitch"][i] = f.gaze_pitch - f.head_pitch
            out["eyes_closed"][i], out["mouth_open"][i] = f.eyes_closed, f.mouth_open
            out["au12"][i] = f.measured_aus["AU12"]
    return out


def macro_f1(labels: np.ndarray, pred: np.ndarray) -> float:
    scores = []
    for k in np.unique(labels):
        tp = np.sum((pred == k) & (labels == k))
        precision, recall = tp / max(np.sum(pred == k), 1), tp / max(np.sum(labels == k), 1)
        scores.append(0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return float(np.mean(scores))


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: how well the scores rank the positives above the rest."""
    if positive.all() or not positive.any():
        return float("nan")
    ranks = np.argsort(np.argsort(scores)) + 1
    n_pos = positive.sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (~positive).sum()))


def table(name: str, values: np.ndarray, bins, labels: np.ndarray, pred: np.ndarray, au12: np.ndarray) -> None:
    """Per bin: emotion accuracy and macro-F1, and how well the measured AU12 (lip corner puller) tells
    the happy photos from the rest (AUC): the AU reading's own trust."""
    happy = labels == EMOTIONS.index("happy")
    print(f"\n| {name} | photos | accuracy | macro-F1 | AU12 happy AUC |\n|---|---:|---:|---:|---:|")
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (values >= lo) & (values < hi)
        if m.sum():
            accuracy, f1 = np.mean(pred[m] == labels[m]), macro_f1(labels[m], pred[m])
            print(f"| {lo}-{hi} | {m.sum()} | {accuracy:.1%} | {f1:.3f} | {auc(au12[m], happy[m]):.3f} |")
    for limit in bins[1:-1]:
        inside = values < limit
        print(f"within {limit}: {inside.sum()} photos, accuracy {np.mean(pred[inside] == labels[inside]):.1%}; "
              f"beyond: {(~inside).sum()}, accuracy {np.mean(pred[~inside] == labels[~inside]):.1%}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wild", default="../shared/datasets/wild-dev")
    args = p.parse_args(argv)
    paths, labels = photos(Path(args.wild))
    r = measure(paths)
    ok = ~np.isnan(r["pred"])
    labels, r = labels[ok], {k: v[ok] for k, v in r.items()}
    pred = r["pred"].astype(int)
    print(f"{ok.sum()} of {len(ok)} photos with a face mesh; accuracy {np.mean(pred == labels):.1%}")
    print(f"pitch: median {np.median(r['pitch']):.1f}, quartiles {np.percentile(r['pitch'], 25):.1f} "
          f"{np.percentile(r['pitch'], 75):.1f}; |yaw| median {np.median(np.abs(r['yaw'])):.1f}, "
          f"90th percentile {np.percentile(np.abs(r['yaw']), 90):.1f}")
    table("abs(yaw) deg", np.abs(r["yaw"]), YAW_BINS, labels, pred, r["au12"])
    table("abs(pitch - median) deg", np.abs(r["pitch"] - np.median(r["pitch"])), PITCH_BINS, labels, pred, r["au12"])
    neutral = labels == EMOTIONS.index("neutral")
    print(f"\nneutral faces' eye pitch in the head: median {np.median(r['eye_pitch'][neutral]):.1f} deg")
    print("\n| class | eyes closed | mouth open |\n|---|---:|---:|")
    for k, e in enumerate(EMOTIONS):
        m = labels == k
        if m.sum():
            print(f"| {e} | {np.mean(r['eyes_closed'][m]):.1%} | {np.mean(r['mouth_open'][m]):.1%} |")


if __name__ == "__main__":
    main()
