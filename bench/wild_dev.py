"""The wild-dev photos through the app's still-image path, cached: detect, landmarks, both crops.

    from bench.wild_dev import cached_wild_dev
    wild = cached_wild_dev("../shared/datasets/wild-dev")

    python -m bench.wild_dev --data ../shared/datasets/wild-dev --weights models/emotion_cnn.pth [more.pth]

As a command it scores checkpoints on every detected face, on the crop the app classifies
(realtime.analysis.crop.ALIGN_FROM) and as the app's classifier runs it (int8 when the checkpoint
has it, on x86): accuracy, macro-F1 and per-class recall.

Each photo goes through what `run_webcam.py --source photo.jpg` runs: the tiled BlazeFace search,
the landmarker in IMAGE mode on the detection, and 48x48 crops aligned both ways (BlazeFace's
keypoints and the mesh's). Where a photo holds several faces the biggest is kept (these are
portrait crops). Used by bench/measured_aus.py and bench/crop_framing.py; never for training.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from models import EMOTIONS
from train.data import IMAGE_SUFFIXES, cached_arrays, default_cache_dir

CACHE_VERSION = 1


@dataclass(frozen=True)
class WildDev:
    labels: np.ndarray  # int64 [N] into EMOTIONS
    detected: np.ndarray  # bool [N]: BlazeFace found a face
    meshed: np.ndarray  # bool [N]: the landmarker found it too
    crops_detector: np.ndarray  # uint8 [N, 48, 48], aligned on BlazeFace's keypoints (zeros if not detected)
    crops_mesh: np.ndarray  # uint8 [N, 48, 48], aligned on the mesh (the detector's crop where no mesh)
    blendshapes: np.ndarray  # float32 [N, 52]; 0 where no mesh


def photos(root: Path) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for ci, emotion in enumerate(EMOTIONS):
        for p in sorted((root / emotion).glob("*")):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(p)
                labels.append(ci)
    return paths, np.array(labels, np.int64)


def run_pipeline(paths: list[Path]) -> dict[str, np.ndarray]:
    from realtime.analysis.crop import alignment, crop_face
    from realtime.analysis.detect import FaceDetector
    from realtime.analysis.faces import Face
    from realtime.analysis.landmarks import FaceLandmarker

    n = len(paths)
    out = {"detected": np.zeros(n, bool), "meshed": np.zeros(n, bool),
           "crops_detector": np.zeros((n, 48, 48), np.uint8), "crops_mesh": np.zeros((n, 48, 48), np.uint8),
           "blendshapes": np.zeros((n, 52), np.float32)}
    with FaceDetector(video=False, tiled=True) as detector, FaceLandmarker(video=False) as landmarker:
        for i, path in enumerate(tqdm(paths, desc="wild-dev", unit=" photos", mininterval=10)):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            found = detector.detect(image) if image is not None else []
            if not found:
                continue
            face = Face(max(found, key=lambda d: d.box[2] * d.box[3]), track_id=1)
            landmarker.measure(image, [face])
            out["detected"][i] = True
            out["crops_detector"][i] = crop_face(image, face.detection)
            out["crops_mesh"][i] = crop_face(image, alignment(face, "mesh"))
            if face.mesh is not None:
                out["meshed"][i], out["blendshapes"][i] = True, face.mesh.blendshapes
    return out


def cached_wild_dev(root: str | os.PathLike, cache_dir: Path | None = None) -> WildDev:
    from realtime.analysis.landmarks import CROP_PX, CROP_SCALE, LANDMARKER_PATH

    root = Path(root)
    paths, labels = photos(root)
    key = hashlib.sha1(f"{CACHE_VERSION}|{CROP_SCALE}|{CROP_PX}|".encode())
    for p in paths:
        key.update(f"{p.relative_to(root)}|{p.stat().st_size}|".encode())
    key.update(hashlib.sha1(LANDMARKER_PATH.read_bytes()).digest())
    cache = Path(cache_dir or default_cache_dir()) / f"wild-dev-{key.hexdigest()[:16]}.npz"
    return WildDev(labels, **cached_arrays(cache, lambda: run_pipeline(paths)))


def main(argv: list[str] | None = None) -> None:
    from models.checkpoint import DEFAULT_WEIGHTS
    from realtime.analysis.classify import EmotionClassifier
    from realtime.analysis.crop import ALIGN_FROM
    from train.metrics import classification_report

    p = argparse.ArgumentParser(description="Score checkpoints on the wild-dev photos, through the app's photo path.")
    p.add_argument("--data", type=Path, required=True, help="the wild-dev folder (one subfolder per class)")
    p.add_argument("--weights", nargs="+", default=[str(DEFAULT_WEIGHTS)])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    wild = cached_wild_dev(args.data)
    det = wild.detected
    crops = wild.crops_mesh if ALIGN_FROM == "mesh" else wild.crops_detector
    print(f"wild-dev: {len(det)} photos, {det.sum()} faces detected; crops aligned on the {ALIGN_FROM}'s keypoints")
    print(f"| weights | precision | accuracy | macro-F1 | {' | '.join(f'{c} recall' for c in EMOTIONS)} |")
    print("|---|---|---:|---:|" + "---:|" * len(EMOTIONS))
    for weights in args.weights:
        clf = EmotionClassifier(weights, "cpu", cpu_threads=args.threads)
        probs = np.concatenate([clf.predict(crops[det][s:s + 256]) for s in range(0, int(det.sum()), 256)])
        r = classification_report(wild.labels[det], probs.argmax(1))
        recalls = " | ".join(f"{r['per_class'][c]['recall']:.3f}" for c in EMOTIONS)
        print(f"| {weights} | {clf.precision} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {recalls} |", flush=True)


if __name__ == "__main__":
    main()
