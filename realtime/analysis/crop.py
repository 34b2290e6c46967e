"""Face crops as the classifier expects them: 48x48 grayscale, upright, framed like FER2013.

One cv2.warpAffine per face does rotation, scaling and cropping together, sampling only the
size*size output pixels; pixels beyond the frame repeat the edge (BORDER_REPLICATE).

Framing (see bench/README.md, "Crop framing", for the measurements behind the constants):
  * centre: midway between the eyes' midpoint and the mouth, moved `offset * side` along the
    face's own vertical axis (negative = towards the forehead);
  * side: (1 + margin) times the face's box size. With keypoints that size is estimated as
    BOX_PER_KEYPOINT_SPAN * max(inter-ocular distance, eyes-to-mouth distance), which, unlike
    the detector's box, does not shrink when the head rolls or when the box is clipped at the
    frame edge, and agrees between the short- and full-range models;
  * angle: the line from the right eye to the left eye becomes horizontal.
Without keypoints the detector's box gives the centre and side, with no rotation.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from realtime.analysis.faces import Detection, Face

SIZE = 48
# Chosen by bench/crop_framing.py with the shipped model: three models agree that this framing
# beats the earlier 0.2 / -0.06 by 0.3-0.8 points on detected FER2013 faces.
MARGIN = 0.1
OFFSET = 0.0
# Median of BlazeFace (short-range) box side / max(inter-ocular, eyes-to-mouth distance)
# on FER2013 PublicTest faces (bench.crop_framing prints it).
BOX_PER_KEYPOINT_SPAN = 2.18
RIGHT_EYE, LEFT_EYE, MOUTH = 0, 1, 3
# Where the eyes and mouth come from: "mesh" (the landmarker's irises and lips, where it found the
# face) or "detector" (BlazeFace's keypoints). Chosen by bench/crop_framing.py --alignment.
ALIGN_FROM = "detector"


def crop_matrix(detection: Detection, size: int = SIZE, margin: float = MARGIN,
                offset: float = OFFSET) -> np.ndarray:
    """The 2x3 affine map from crop pixels to frame pixels (OpenCV's pixel-centre convention)."""
    x, y, w, h = detection.box
    kp = detection.keypoints
    cos, sin = 1.0, 0.0
    # Detection coordinates are continuous (pixel i spans [i, i+1)); OpenCV puts pixel i's centre at i.
    cx, cy, box_side = x + w / 2, y + h / 2, float(max(w, h))
    if kp.shape[0] > MOUTH:
        eye_l, eye_r, mouth = kp[LEFT_EYE].astype(float), kp[RIGHT_EYE].astype(float), kp[MOUTH].astype(float)
        eyes = (eye_l + eye_r) / 2
        span = max(np.hypot(*(eye_l - eye_r)), np.hypot(*(mouth - eyes)))
        if np.isfinite(span) and span >= 1.0:  # degenerate keypoints: keep the box
            dx, dy = eye_l - eye_r
            angle = math.atan2(dy, dx)
            cos, sin = math.cos(angle), math.sin(angle)
            cx, cy = (eyes + mouth) / 2
            box_side = BOX_PER_KEYPOINT_SPAN * span
    side = box_side * (1 + margin)
    cx, cy = cx - offset * side * sin, cy + offset * side * cos  # along the face's "down" axis
    k = side / size
    a = np.array([[k * cos, -k * sin], [k * sin, k * cos]])
    t = np.array([cx - 0.5, cy - 0.5]) - a @ np.full(2, (size - 1) / 2)
    return np.hstack([a, t[:, None]])


def alignment(face: Face, align_from: str | None = None) -> Detection:
    """The detection whose keypoints frame the face's crop: the mesh's where ALIGN_FROM says so and
    the landmarker found the face, else the detector's own."""
    if (align_from or ALIGN_FROM) == "mesh" and face.mesh is not None:
        return Detection(face.detection.box, face.detection.score, face.mesh.keypoints())
    return face.detection


def crop_face(frame_bgr_or_gray: np.ndarray, detection: Detection, size: int = SIZE,
              margin: float = MARGIN, offset: float = OFFSET) -> np.ndarray:
    """uint8 [size, size] grayscale crop of one face, upright and framed like FER2013."""
    m = crop_matrix(detection, size, margin, offset)
    out = cv2.warpAffine(frame_bgr_or_gray, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    # Graying the 48x48 crop costs nothing next to graying the whole frame.
    return out if out.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)


def crop_faces(frame_bgr_or_gray: np.ndarray, detections: list[Detection], size: int = SIZE,
               margin: float = MARGIN, offset: float = OFFSET) -> np.ndarray:
    """uint8 [N, size, size], one crop per detection, in order; [0, size, size] when there are none."""
    if not detections:
        return np.zeros((0, size, size), np.uint8)
    return np.stack([crop_face(frame_bgr_or_gray, d, size, margin, offset) for d in detections])
