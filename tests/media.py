"""Test media made from a real face photo (scikit-image's astronaut), written to real files."""

from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata


def astronaut_face_bgr() -> np.ndarray:
    """The upper part of the astronaut photo: her face and shoulders, 300x230 BGR."""
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 100:330].copy()


def astronaut_crowd_bgr() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A 1920x1080 photo holding the whole astronaut picture at three sizes: faces of ~38, ~57 and
    ~95 px from left to right, each under 10% of the frame's shorter side. Returns it and the
    faces' centres, left to right."""
    photo = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    centres = []
    # The biggest face (the best score) on the right, so score order is not left-to-right order.
    for scale, (x, y) in ((0.4, (100, 80)), (0.6, (560, 500)), (1.0, (1380, 20))):
        small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame[y:y + small.shape[0], x:x + small.shape[1]] = small
        centres.append((x + 224 * scale, y + 125 * scale))
    return frame, centres


def make_face_video(path: Path, frames: int = 48, no_face: range = range(20, 26), size=(640, 480),
                    fps: float = 30.0) -> dict:
    """A 640x480 clip of the face swaying sideways and changing scale, with a few face-free frames;
    MPEG-4 (the .mp4 index is written last) or, for .avi, Motion-JPEG (every frame stands alone).

    Returns the facts a test checks against: frame count, fps, and which frames hold a face.
    """
    face = astronaut_face_bgr()
    w, h = size
    fourcc = "MJPG" if Path(path).suffix.lower() == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(frames):
        frame = np.full((h, w, 3), 90, np.uint8)
        if i not in no_face:
            s = 0.85 + 0.15 * np.sin(i / 8)
            f = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            x, y = face_video_corner(i)
            frame[y:y + f.shape[0], x:x + f.shape[1]] = f
        writer.write(frame)
    writer.release()
    return {"frames": frames, "fps": fps, "face_frames": [i for i in range(frames) if i not in no_face]}


def face_video_corner(i: int) -> tuple[int, int]:
    """Where make_face_video puts the face photo's top-left corner in frame i: it sways across 240 px."""
    return 60 + int(120 * (1 - np.cos(i / 12))), 50


def face_video_centre(i: int) -> tuple[float, float]:
    """The centre of the face photo in make_face_video's frame i (its size changes too)."""
    (x, y), (h, w) = face_video_corner(i), astronaut_face_bgr().shape[:2]
    f = cv2.resize(np.zeros((h, w), np.uint8), None, fx=0.85 + 0.15 * np.sin(i / 8), fy=0.85 + 0.15 * np.sin(i / 8),
                   interpolation=cv2.INTER_AREA)
    return x + f.shape[1] / 2, y + f.shape[0] / 2


def portrait_astronaut_bgr() -> np.ndarray:
    """A phone-shaped 405x720 frame: the astronaut photo's middle 288 px column around her face, enlarged."""
    photo = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    return cv2.resize(photo[:, 80:368], (405, 720), interpolation=cv2.INTER_CUBIC)


def cameraman_face_bgr() -> np.ndarray:
    """scikit-image's cameraman, head and shoulders: a second real person for a fresh clone, 170x160 BGR."""
    return cv2.cvtColor(skdata.camera()[70:240, 180:340], cv2.COLOR_GRAY2BGR)


def four_faces_bgr(videos: Path | None = None) -> np.ndarray:
    """640x480, a real face in each cell of a 2x2 grid: the astronaut and, where `videos` (the shared
    clips) exist, a frame of three clips of other people; else (a fresh clone) the astronaut mirrored,
    the cameraman (bottom left: face #1, left to right, a sad face beside the astronaut's smiles, so
    the dashboard changes with `f`) and the astronaut mirrored again. The short-range detector finds
    all four of either set, full-frame and tiled, scoring each 0.7 or more (its threshold is 0.6); a
    dimmed, tinted or grey copy of the astronaut in the bottom row is not always found."""
    face = astronaut_face_bgr()
    cells = [face]
    clips = [("liveportrait_d0.mp4", 10), ("liveportrait_d18.mp4", 50), ("pyfeat_single_face.mp4", 20)]
    fallbacks = [cv2.flip(face, 1), cameraman_face_bgr(), cv2.flip(face, 1)]
    for (name, index), fallback in zip(clips, fallbacks, strict=True):
        cap = cv2.VideoCapture(str(videos / name)) if videos is not None and (videos / name).is_file() else None
        if cap is not None:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = cap.read()
            cap.release()
            if ok:
                cells.append(frame)
                continue
        cells.append(fallback)
    out = np.full((480, 640, 3), 90, np.uint8)
    for k, cell in enumerate(cells):
        s = min(300 / cell.shape[1], 225 / cell.shape[0])
        small = cv2.resize(cell, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        x = (k % 2) * 320 + (320 - small.shape[1]) // 2
        y = (k // 2) * 240 + (240 - small.shape[0]) // 2
        out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out
