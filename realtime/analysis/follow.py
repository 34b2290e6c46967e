"""Boxes that follow the faces on every shown frame while their analysis runs behind.

    follower.restart(result.faces, gray_of_the_analysed_frame)   # a new analysis arrived
    faces = follower.follow(gray_of_this_frame)                  # its faces, moved onto this frame

Between two analyses each face's box (with its keypoints and mesh) is moved by the median motion
of up to MAX_POINTS corners inside it, tracked from frame to frame by pyramidal Lucas-Kanade
optical flow: about a millisecond a face at 640x480 (bench/README.md, "Live"), against the tens
of milliseconds of a new analysis. The readings (emotion, AUs, valence/arousal) stay the
analysis' own; only the geometry moves.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from realtime.analysis.faces import Face, FaceMesh

MAX_POINTS = 40
LK = {"winSize": (21, 21), "maxLevel": 3,
      "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}
MIN_POINTS = 4  # fewer tracked corners than this: the face keeps its last place


class BoxFollower:
    def __init__(self):
        self._faces: list[Face] = []
        self._points: list[np.ndarray] = []  # per face, float32 [N, 1, 2] in the previous frame
        self._offsets: list[np.ndarray] = []  # per face, its motion since the analysed frame
        self._prev: np.ndarray | None = None

    def restart(self, faces: list[Face], gray: np.ndarray) -> None:
        """Follow these faces from `gray`, the frame they were analysed on."""
        self._faces, self._prev = faces, gray
        self._offsets = [np.zeros(2, np.float32) for _ in faces]
        self._points = []
        for f in faces:
            x, y, w, h = f.box
            # The middle of the box: the face itself, not the background at its edges. Searched in that
            # part of the frame alone: a mask over the whole frame costs ~15 ms at 640x480, this ~0.3.
            x0, y0 = x + w // 6, y + h // 6
            roi = gray[y0:y + h - h // 6, x0:x + w - w // 6]
            corners = (cv2.goodFeaturesToTrack(roi, MAX_POINTS, 0.01, max(3, w // 12))
                       if min(roi.shape[:2]) >= 8 else None)
            self._points.append(np.zeros((0, 1, 2), np.float32) if corners is None
                                else corners + np.float32([x0, y0]))

    def follow(self, gray: np.ndarray) -> list[Face]:
        """The faces moved onto `gray`, the next frame shown (the analysed one itself at first)."""
        if self._prev is not None and gray is not self._prev and self._faces:
            counts = [len(p) for p in self._points]
            if sum(counts):
                old = np.concatenate(self._points)
                new, status, _ = cv2.calcOpticalFlowPyrLK(self._prev, gray, old, None, **LK)
                ok = status.ravel() == 1
                start = 0
                for i, n in enumerate(counts):
                    good = ok[start:start + n]
                    if good.sum() >= MIN_POINTS:
                        motion = (new[start:start + n][good] - old[start:start + n][good]).reshape(-1, 2)
                        self._offsets[i] = self._offsets[i] + np.median(motion, axis=0)
                        self._points[i] = new[start:start + n][good].reshape(-1, 1, 2)
                    start += n
        self._prev = gray
        return [_moved(f, off, gray.shape) for f, off in zip(self._faces, self._offsets, strict=True)]


def _moved(face: Face, offset: np.ndarray, shape: tuple[int, int]) -> Face:
    """A copy of the face with its box, keypoints and mesh shifted by offset (x, y), the box kept in the frame."""
    dx, dy = (int(round(float(v))) for v in offset)
    if dx == 0 and dy == 0:
        return face
    x, y, w, h = face.box
    x = min(max(0, x + dx), max(0, shape[1] - w))
    y = min(max(0, y + dy), max(0, shape[0] - h))
    d = face.detection
    detection = dataclasses.replace(d, box=(x, y, w, h), keypoints=d.keypoints + offset.astype(np.float32))
    mesh = (None if face.mesh is None
            else FaceMesh(face.mesh.landmarks + offset.astype(np.float32), face.mesh.blendshapes))
    return dataclasses.replace(face, detection=detection, mesh=mesh)
