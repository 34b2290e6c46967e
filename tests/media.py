"""Test media made from a real face photo (scikit-image's astronaut), written to real files."""

from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata


def astronaut_face_bgr() -> np.ndarray:
    """The upper part of the astronaut photo: her face and shoulders, 300x230 BGR."""
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 100:330].copy()


def make_face_video(path: Path, frames: int = 48, no_face: range = range(20, 26), size=(640, 480),
                    fps: float = 30.0) -> dict:
    """A 640x480 clip of the face swaying sideways and changing scale, with a few face-free frames.

    Returns the facts a test checks against: frame count, fps, and which frames hold a face.
    """
    face = astronaut_face_bgr()
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        frame = np.full((h, w, 3), 90, np.uint8)
        if i not in no_face:
            s = 0.85 + 0.15 * np.sin(i / 8)
            f = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            x, y = 60 + int(120 * (1 - np.cos(i / 12))), 50  # sways across 240 px, inside the frame
            frame[y:y + f.shape[0], x:x + f.shape[1]] = f
        writer.write(frame)
    writer.release()
    return {"frames": frames, "fps": fps, "face_frames": [i for i in range(frames) if i not in no_face]}
