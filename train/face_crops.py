"""FER2013 images as the live app sees them: detected by BlazeFace and re-cropped by realtime.crop.

Each 48x48 image is upscaled 4x (cubic) and centred on a mid-grey canvas, so the detector sees a
whole face with context; the detection then goes through crop_face with the app's framing. A
model trained only on FER2013's own framings loses 2-3 points on such crops (bench/README.md,
"Crop framing"); `train.train --face-crops P` trains on them too.

Crops are cached beside the decoded dataset, keyed by the images and the framing constants.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime import crop
from realtime.detect import FaceDetector
from realtime.faces import Detection
from train.data import default_cache_dir

UPSCALE = 4
CANVAS = 384
DETECTOR = "short"


@dataclass(frozen=True)
class FaceCrops:
    crops: np.ndarray  # uint8 [N, 48, 48]; the original image where no face was found
    found: np.ndarray  # bool [N]


def canvas(image: np.ndarray, upscale: int = UPSCALE, size: int = CANVAS) -> np.ndarray:
    """The 48x48 face upscaled and centred on a grey size x size canvas."""
    face = cv2.resize(image, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    pad = (size - face.shape[0]) // 2
    # Mid-grey rather than edge replication: smeared edges hide the face's outline (92% vs 98%
    # detected on a 400-image sample).
    out = np.full((size, size), 128, np.uint8)
    out[pad:pad + face.shape[0], pad:pad + face.shape[1]] = face
    return out


def most_central(found: list[Detection], size: int = CANVAS) -> Detection:
    """The canvas holds one face; if the detector also fires elsewhere, the one nearest its centre."""
    def off_centre(d: Detection) -> float:
        x, y, w, h = d.box
        return abs(x + w / 2 - size / 2) + abs(y + h / 2 - size / 2)
    return min(found, key=off_centre)


def detect_and_crop(images: np.ndarray, margin: float = crop.MARGIN, offset: float = crop.OFFSET,
                    model: str = DETECTOR) -> FaceCrops:
    """Every image through canvas -> detector (IMAGE mode) -> crop_face."""
    out = images.copy()
    found = np.zeros(len(images), bool)
    with FaceDetector(model, video=False) as detector:
        for i, image in enumerate(images):
            frame = canvas(image)
            faces = detector.detect(frame)
            if faces:
                out[i] = crop.crop_face(frame, most_central(faces), margin=margin, offset=offset)
                found[i] = True
    return FaceCrops(out, found)


def cached_face_crops(images: np.ndarray, cache_dir: Path | None = None) -> FaceCrops:
    """detect_and_crop with the app's framing, through an .npz cache (minutes for 28k images)."""
    key = hashlib.sha1(images.tobytes())
    key.update(f"{UPSCALE}|{CANVAS}|{DETECTOR}|{crop.MARGIN}|{crop.OFFSET}|{crop.BOX_PER_KEYPOINT_SPAN}".encode())
    path = Path(cache_dir or default_cache_dir()) / f"face-crops-{key.hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return FaceCrops(z["crops"], z["found"])
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a torn write from an interrupted run: rebuild it
    result = detect_and_crop(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, crops=result.crops, found=result.found)
    os.replace(tmp, path)
    return result
