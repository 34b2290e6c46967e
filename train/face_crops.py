"""FER2013 images as the live app sees them: detected by BlazeFace and re-cropped by realtime.analysis.crop.

Each 48x48 image is upscaled 4x (cubic) and centred on a mid-grey canvas, so the detector sees a
whole face with context; the detection then goes through crop_face. A model trained only on
FER2013's own framings loses 2-3 points on such crops (bench/README.md, "Crop framing");
`train.train --face-crops P` trains on them too.

The detections are cached beside the decoded dataset, keyed by the images and the detector
setup; crops are cut from them on demand at the app's framing, which costs ~0.1 ms per face.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.analysis import crop
from realtime.analysis.faces import Detection
from train.data import cached_arrays, default_cache_dir

UPSCALE = 4
CANVAS = 384
DETECTOR = "short"
N_KEYPOINTS = 6  # BlazeFace's


@dataclass(frozen=True)
class FaceCrops:
    crops: np.ndarray  # uint8 [N, 48, 48]; the original image where no face was found
    found: np.ndarray  # bool [N]


@dataclass(frozen=True)
class FaceDetections:
    """The most central detection on each image's canvas, in canvas pixels."""

    boxes: np.ndarray  # int32 [N, 4] x, y, w, h
    keypoints: np.ndarray  # float32 [N, K, 2]; NaN where the detector gave none
    found: np.ndarray  # bool [N]

    def __len__(self) -> int:
        return len(self.found)

    def subset(self, index: np.ndarray) -> FaceDetections:
        return FaceDetections(self.boxes[index], self.keypoints[index], self.found[index])

    def detection(self, i: int) -> Detection:
        kp = self.keypoints[i]
        kp = kp if np.isfinite(kp).all() else kp[:0]
        return Detection(tuple(int(v) for v in self.boxes[i]), 1.0, kp)


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


def detect(images: np.ndarray, model: str = DETECTOR) -> FaceDetections:
    """Every image through canvas -> detector (IMAGE mode); the most central face of each."""
    boxes = np.zeros((len(images), 4), np.int32)
    keypoints = np.full((len(images), N_KEYPOINTS, 2), np.nan, np.float32)
    found = np.zeros(len(images), bool)
    # Imported here so that training without --face-crops runs where MediaPipe is not installed
    # (GPU servers): only detection needs it.
    from realtime.analysis.detect import FaceDetector

    with FaceDetector(model, video=False) as detector:
        for i, image in enumerate(images):
            faces = detector.detect(canvas(image))
            if faces:
                d = most_central(faces)
                boxes[i], found[i] = d.box, True
                if len(d.keypoints) == N_KEYPOINTS:
                    keypoints[i] = d.keypoints
    return FaceDetections(boxes, keypoints, found)


def crop_detected(images: np.ndarray, detections: FaceDetections, margin: float | np.ndarray = crop.MARGIN,
                  offset: float | np.ndarray = crop.OFFSET) -> FaceCrops:
    """Each found face cut from its canvas by crop_face; margin and offset may differ per image."""
    margins = np.broadcast_to(np.asarray(margin, float), len(images))
    offsets = np.broadcast_to(np.asarray(offset, float), len(images))
    out = images.copy()
    for i in np.flatnonzero(detections.found):
        out[i] = crop.crop_face(canvas(images[i]), detections.detection(i), margin=margins[i], offset=offsets[i])
    return FaceCrops(out, detections.found.copy())


def detect_and_crop(images: np.ndarray, margin: float = crop.MARGIN, offset: float = crop.OFFSET,
                    model: str = DETECTOR) -> FaceCrops:
    return crop_detected(images, detect(images, model), margin, offset)


def cached_detections(images: np.ndarray, cache_dir: Path | None = None) -> FaceDetections:
    """detect() through an .npz cache (minutes for 28k images)."""
    key = hashlib.sha1(images.tobytes())
    key.update(f"{UPSCALE}|{CANVAS}|{DETECTOR}".encode())
    path = Path(cache_dir or default_cache_dir()) / f"face-detections-{key.hexdigest()[:16]}.npz"
    return FaceDetections(**cached_arrays(path, lambda: vars(detect(images))))
