"""FER2013 faces through the app's landmarker: blendshapes and mesh keypoints, computed once and cached.

Each image goes the live path of train/face_crops.py (upscaled 4x on a grey canvas, detected by
BlazeFace), then through realtime.analysis.landmarks on that detection, as the app runs it on a photo.
Used to calibrate the measured AUs (mappings/calibrate_measured.py) and to compare mesh and
BlazeFace alignment (bench/crop_framing.py).

    python -m train.face_mesh --data ../shared/datasets/fer2013     # fills the cache, prints hit rates
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from errors import UserError
from train.data import cached_arrays, default_cache_dir, load
from train.face_crops import CANVAS, UPSCALE, FaceDetections, cached_detections, canvas

N_BLENDSHAPES = 52
CACHE_VERSION = 1


@dataclass(frozen=True)
class FaceMeshes:
    blendshapes: np.ndarray  # float32 [N, 52]; 0 where not found
    keypoints: np.ndarray  # float32 [N, 6, 2] canvas pixels, Detection.keypoints order; NaN where not found
    found: np.ndarray  # bool [N]: detector and landmarker both found the face


def measure(images: np.ndarray, detections: FaceDetections, progress: bool = False) -> FaceMeshes:
    from realtime.analysis.faces import Face
    from realtime.analysis.landmarks import FaceLandmarker

    blendshapes = np.zeros((len(images), N_BLENDSHAPES), np.float32)
    keypoints = np.full((len(images), 6, 2), np.nan, np.float32)
    found = np.zeros(len(images), bool)
    with FaceLandmarker(video=False) as landmarker:
        for i in tqdm(np.flatnonzero(detections.found), desc="face mesh", unit=" faces", disable=not progress,
                      mininterval=10):
            frame = canvas(images[i])
            face = Face(detections.detection(i), track_id=0)
            landmarker.measure(frame, [face])
            if face.mesh is not None:
                blendshapes[i], keypoints[i], found[i] = face.mesh.blendshapes, face.mesh.keypoints(), True
    return FaceMeshes(blendshapes, keypoints, found)


def cached_meshes(images: np.ndarray, cache_dir: Path | None = None, progress: bool = False) -> FaceMeshes:
    """measure() through an .npz cache (~10 ms per face: minutes for FER2013 Training)."""
    from realtime.analysis.landmarks import CROP_PX, CROP_SCALE, LANDMARKER_PATH

    key = hashlib.sha1(images.tobytes())
    key.update(f"{CACHE_VERSION}|{UPSCALE}|{CANVAS}|{CROP_SCALE}|{CROP_PX}|".encode())
    key.update(hashlib.sha1(LANDMARKER_PATH.read_bytes()).digest())
    path = Path(cache_dir or default_cache_dir()) / f"face-meshes-{key.hexdigest()[:16]}.npz"
    return FaceMeshes(**cached_arrays(path, lambda: vars(measure(images, cached_detections(images, cache_dir),
                                                                   progress))))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="FER2013 root (train/ and test/ folders) or fer2013.csv")
    args = p.parse_args(argv)
    try:
        splits = load(args.data)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, split in splits.items():
        meshes = cached_meshes(split.images, progress=True)
        print(f"{name}: {meshes.found.sum()}/{len(split)} faces measured ({meshes.found.mean():.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
