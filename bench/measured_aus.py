"""Measured AUs on real faces: alignment, valence/arousal quadrants, per-class AU heatmap.

    python -m bench.measured_aus --fer ../shared/datasets/fer2013 --wild ../shared/datasets/wild-dev \\
        [--weights models/emotion_cnn.pth] [--out assets/readme]

FER2013 PublicTest goes through the live path (upscaled 4x on a canvas, BlazeFace, landmarker;
train/face_mesh.py) and wild-dev through the app's photo path (bench/wild_dev.py). It prints:

  alignment   the classifier's accuracy and macro-F1 on crops aligned by BlazeFace's keypoints
              and by the mesh, on the same faces (those both found), with the paired difference;
  quadrants   per true class, the mean (valence, arousal) from prototype AUs (the CNN's soft
              probabilities) and from measured AUs (the mesh, population baseline, as for photos),
              and whether it lies in the class's circumplex quadrant.

and writes measured_aus_heatmap.png into --out: mean measured AU intensity per class on both
sets beside the EMFACS prototype table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.crop_framing import paired_difference
from mappings import default_measured, default_prototypes
from mappings.check_on_fer2013 import expected_quadrant, quadrant_label
from mappings.mapper import affect_batch
from models import EMOTIONS
from models.checkpoint import DEFAULT_WEIGHTS, load_model
from realtime.analysis import crop
from realtime.analysis.faces import Detection
from train.metrics import classification_report
from train.predict import predict_probs


def fer_public_test(root: Path) -> dict[str, np.ndarray]:
    from train.data import load
    from train.face_crops import cached_detections, canvas, crop_detected
    from train.face_mesh import cached_meshes

    split = load(root)["PublicTest"]
    dets = cached_detections(split.images)
    meshes = cached_meshes(split.images)
    crops_mesh = crop_detected(split.images, dets).crops
    for i in np.flatnonzero(meshes.found):
        mesh_detection = Detection(tuple(dets.boxes[i]), 1.0, meshes.keypoints[i])
        crops_mesh[i] = crop.crop_face(canvas(split.images[i]), mesh_detection)
    return {"labels": split.labels, "detected": dets.found, "meshed": meshes.found & dets.found,
            "crops_detector": crop_detected(split.images, dets).crops, "crops_mesh": crops_mesh,
            "blendshapes": meshes.blendshapes}


def wild_dev(root: Path) -> dict[str, np.ndarray]:
    from bench.wild_dev import cached_wild_dev

    w = cached_wild_dev(root)
    return {"labels": w.labels, "detected": w.detected, "meshed": w.meshed, "crops_detector": w.crops_detector,
            "crops_mesh": w.crops_mesh, "blendshapes": w.blendshapes}


def measured_intensities(blendshapes: np.ndarray) -> np.ndarray:
    table = default_measured().table
    return table.intensities(table.raw(blendshapes))


def quadrant_rows(valence: np.ndarray, arousal: np.ndarray, labels: np.ndarray) -> list[tuple]:
    rows = []
    for ci, emotion in enumerate(EMOTIONS):
        m = labels == ci
        v, a = (float(valence[m].mean()), float(arousal[m].mean())) if m.any() else (np.nan, np.nan)
        expected = expected_quadrant(emotion)
        ok = None if expected is None or not m.any() else (np.sign(v), np.sign(a)) == expected
        rows.append((emotion, int(m.sum()), v, a, quadrant_label(expected), ok))
    return rows


def print_quadrants(name: str, labels: np.ndarray, probs: np.ndarray, blendshapes: np.ndarray) -> None:
    _, pv, pa = affect_batch(probs)
    mv, ma = default_measured().valence_arousal(measured_intensities(blendshapes))
    proto, meas = quadrant_rows(pv, pa, labels), quadrant_rows(mv, ma, labels)
    print(f"\n{name}: mean (valence, arousal) per true class, {len(labels)} faces with a mesh\n")
    print("| true class | n | quadrant | prototype AUs | in quadrant | measured AUs | in quadrant |")
    print("|---|---:|---|---:|---|---:|---|")
    for p, m in zip(proto, meas, strict=True):
        def mark(ok):
            return "(none)" if ok is None else ("yes" if ok else "**no**")
        print(f"| {p[0]} | {p[1]} | {p[4]} | ({p[2]:+.3f}, {p[3]:+.3f}) | {mark(p[5])} "
              f"| ({m[2]:+.3f}, {m[3]:+.3f}) | {mark(m[5])} |")
    hits = [sum(r[5] is True for r in rows) for rows in (proto, meas)]
    print(f"\nclasses in their quadrant: prototype {hits[0]}/6, measured {hits[1]}/6")


def class_means(intensities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([intensities[labels == ci].mean(axis=0) if (labels == ci).any()
                     else np.zeros(intensities.shape[1]) for ci in range(len(EMOTIONS))])


def plot_heatmap(sets: dict[str, tuple[np.ndarray, np.ndarray]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured_order = default_measured().au_order
    prototypes = default_prototypes()
    aus = sorted(set(measured_order) | set(prototypes.au_order))
    proto = np.zeros((len(EMOTIONS), len(aus)))
    for j, au in enumerate(aus):
        if au in prototypes.au_order:
            proto[:, j] = prototypes.intensities[:, prototypes.au_order.index(au)]
    panels = [("EMFACS prototypes (emotion_to_au.json)", proto, set(prototypes.au_order))]
    for name, (intensities, labels) in sets.items():
        means = np.zeros((len(EMOTIONS), len(aus)))
        cm = class_means(intensities, labels)
        for j, au in enumerate(aus):
            if au in measured_order:
                means[:, j] = cm[:, measured_order.index(au)]
        panels.append((f"measured, {name} (n={len(labels)})", means, set(measured_order)))
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.9 * len(panels)), constrained_layout=True)
    for ax, (title, values, present) in zip(axes, panels, strict=True):
        vmax = 1.0 if "prototypes" in title else max(0.05, float(values.max()))
        im = ax.imshow(values, cmap="magma", vmin=0, vmax=vmax, aspect="auto")
        ax.set_title(title, loc="left")
        ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
        ax.set_xticks(range(len(aus)), [au if au in present else f"({au})" for au in aus], rotation=0, fontsize=9)
        for i in range(len(EMOTIONS)):
            for j in range(len(aus)):
                if aus[j] in present:
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] < 0.6 * vmax else "black")
        fig.colorbar(im, ax=ax, shrink=0.9, label="mean intensity")
    fig.suptitle("Action units per true class: what the emotion implies (top) and what the mesh measures; "
                 "(AUxx): not in that table", fontsize=11)
    path = out / "measured_aus_heatmap.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fer", type=Path, required=True, help="FER2013 root (its test/ folder holds PublicTest)")
    p.add_argument("--wild", type=Path, required=True, help="the wild-dev folder")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--out", type=Path, default=Path("assets/readme"))
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    model = load_model(args.weights)
    heat = {}
    for name, data in (("FER2013 PublicTest", fer_public_test(args.fer)), ("wild-dev", wild_dev(args.wild))):
        y, det, mesh = data["labels"], data["detected"], data["meshed"]
        probs = {k: predict_probs(model.model, data[f"crops_{k}"], model.mean, model.std, torch.device("cpu"))
                 for k in ("detector", "mesh")}
        print(f"\n## {name}: {len(y)} faces, {det.sum()} detected ({det.mean():.1%}), {mesh.sum()} with a mesh "
              f"({mesh.mean():.1%})\n")
        print("| alignment | faces | accuracy | macro-F1 | vs detector (paired, points) |\n|---|---:|---:|---:|---:|")
        correct = {}
        for k in ("detector", "mesh"):
            r = classification_report(y[mesh], probs[k][mesh].argmax(1))
            correct[k] = probs[k][mesh].argmax(1) == y[mesh]
            diff = paired_difference(correct[k], correct["detector"]) if k == "mesh" else ""
            print(f"| {k} keypoints | {mesh.sum()} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {diff} |")
        r = classification_report(y[det], probs["detector"][det].argmax(1))
        print(f"| detector keypoints, every detected face | {det.sum()} | {r['accuracy']:.4f} "
              f"| {r['macro_f1']:.4f} | |")
        shown = probs[crop.ALIGN_FROM]
        print_quadrants(name, y[mesh], shown[mesh], data["blendshapes"][mesh])
        heat[name] = (measured_intensities(data["blendshapes"][mesh]), y[mesh])
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"\nwrote {plot_heatmap(heat, args.out)}")


if __name__ == "__main__":
    main()
