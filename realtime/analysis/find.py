"""Where the faces are: detect -> track -> face mesh, head pose and gaze, for one frame.

In a video the detector need not run on every frame: once it has found the faces, each face's mesh
says where that face is on the next frame, as MediaPipe's own face-mesh graph and face trackers do.
With detect_every=N (PipelineOptions) the detector runs on one frame in N while every face keeps
its mesh, and at once on the frame after one is lost; in between, each face's detection (box and
keypoints, which the crop is aligned by) is the one the detector gave last, moved by the similarity
transform that takes that frame's mesh onto this frame's (`Anchor`). A new face is found at the next
detector frame, at most N - 1 frames late.

The MediaPipe half of the Pipeline (pipeline.py), kept apart from the classifier half so that it can
run in a process of its own (split.py) while the classifier reads the previous frame: MediaPipe holds
Python's interpreter lock while it runs, so only a second process puts the second core to work.
It imports no torch, so such a process starts in about a second.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Detection, Face
from realtime.analysis.head import HeadState
from realtime.analysis.landmarks import LANDMARKER_PATH, FaceLandmarker
from realtime.analysis.track import FaceTracker

FIND_STAGES = ("detect", "track", "landmarks")


@dataclass
class Anchor:
    """A face's last detection and the mesh's keypoints on the same frame: a later mesh carries it."""

    detection: Detection
    mesh_points: np.ndarray  # float32 [6, 2] FaceMesh.keypoints() on the detector's frame

    def carried(self, mesh_points: np.ndarray, frame_hw: tuple[int, int]) -> Detection:
        """The detection moved as the mesh moved from the anchor's frame to this one (least-squares
        similarity: shift, rotation, scale), its box clamped to the frame."""
        src = self.mesh_points[:, 0] + 1j * self.mesh_points[:, 1]
        dst = mesh_points[:, 0] + 1j * mesh_points[:, 1]
        src_mean, dst_mean = src.mean(), dst.mean()
        z = np.vdot(src - src_mean, dst - dst_mean) / max(float(np.sum(np.abs(src - src_mean) ** 2)), 1e-9)

        def move(points: np.ndarray) -> np.ndarray:
            moved = z * (points[:, 0] + 1j * points[:, 1] - src_mean) + dst_mean
            return np.stack([moved.real, moved.imag], axis=1).astype(np.float32)

        x, y, w, h = self.detection.box
        (cx, cy), = move(np.float32([[x + w / 2, y + h / 2]]))
        w, h = w * abs(z), h * abs(z)
        height, width = frame_hw
        x0, y0 = min(max(int(round(cx - w / 2)), 0), width - 1), min(max(int(round(cy - h / 2)), 0), height - 1)
        x1, y1 = min(int(round(cx + w / 2)), width), min(int(round(cy + h / 2)), height)
        return Detection((x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)), self.detection.score,
                         move(self.detection.keypoints) if len(self.detection.keypoints) else self.detection.keypoints)


@dataclass
class Found:
    """One frame's faces with their boxes, track IDs, meshes and head readings, and the IDs retired at it."""

    faces: list[Face]
    retired: list[int] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # FIND_STAGES -> time taken


class FaceFinder:
    """The detector, the tracker and the landmarker of one stream (options: PipelineOptions).

    stills (options.running_mode "image"): every frame stands alone, its faces numbered left to right
    and retired with the next frame; large images are searched in tiles."""

    def __init__(self, options):
        self.stills = stills = options.running_mode == "image"
        self._stack = ExitStack()
        try:
            self.detector = self._stack.enter_context(
                FaceDetector(options.detector, options.min_detection, video=not stills, tiled=stills))
            self.landmarker = (self._stack.enter_context(
                FaceLandmarker(options.landmarker or LANDMARKER_PATH, video=not stills, every=options.mesh_every))
                if options.landmarks else None)
        except BaseException:
            self._stack.close()
            raise
        self.head = HeadState()
        self.tracker = FaceTracker()
        self._retiring: list[int] = []  # retired between frames, reported with the next one
        # Carrying detections needs a mesh on every frame; images are each searched afresh.
        self.detect_every = options.detect_every if (self.landmarker is not None and options.mesh_every == 1
                                                     and not stills) else 1
        self._anchors: dict[int, Anchor] = {}  # track ID -> its last detection, with that frame's mesh
        self._carry: list[Face] = []  # last frame's faces, each with its mesh: where this frame's are
        self._since_detector = 0  # frames since the detector last ran

    def reset(self) -> None:
        """Retire every face: the next frame lists their IDs as retired, and its faces get new ones."""
        self._retiring += self.tracker.retire_all()
        self._anchors, self._carry = {}, []

    def find(self, frame_bgr: np.ndarray, timestamp_s: float) -> Found:
        """The faces of one BGR uint8 frame; in video mode timestamps must increase."""
        t = time.perf_counter
        t0 = t()
        timestamp_ms = None if self.stills else int(timestamp_s * 1000)
        frame_hw = frame_bgr.shape[:2]
        detected = not (self._carry and self._since_detector + 1 < self.detect_every)
        if detected:
            faces = [Face(d) for d in self.detector.detect(frame_bgr, timestamp_ms)]
            self._since_detector = 0
        else:  # where last frame's meshes put each face
            faces = [Face(self._anchors[f.track_id].carried(f.mesh.keypoints(), frame_hw), track_id=f.track_id)
                     for f in self._carry]
            self._since_detector += 1
        t1 = t()
        retired, self._retiring = self._retiring, []
        if self.stills:
            faces.sort(key=lambda f: f.box[0])
            for i, f in enumerate(faces):
                f.track_id = i + 1
            self._retiring = [f.track_id for f in faces]
        else:
            retired += self.tracker.update(faces)
        t2 = t()
        if self.landmarker is not None:
            self.landmarker.retire(retired)
            self.landmarker.measure(frame_bgr, faces, timestamp_ms)
            for f in faces:
                self.head.apply(f)
            if self.detect_every > 1:
                if not detected:  # a carried face the mesh lost is gone (the detector looks on the next frame)
                    faces = [f for f in faces if f.mesh is not None]
                self._follow(faces, retired, detected, frame_hw)
        t3 = t()
        return Found(faces, retired, dict(zip(FIND_STAGES, (t1 - t0, t2 - t1, t3 - t2), strict=True)))

    def _follow(self, faces: list[Face], retired: list[int], detected: bool, frame_hw: tuple[int, int]) -> None:
        """Anchor each detected face to its mesh, move each carried one with its new mesh, and carry
        the faces on to the next frame only if every one of them has a mesh (else the detector runs)."""
        for track_id in retired:
            self._anchors.pop(track_id, None)
        for f in faces:
            if f.mesh is None:
                continue
            if detected:
                self._anchors[f.track_id] = Anchor(f.detection, f.mesh.keypoints())
            else:
                f.detection = self._anchors[f.track_id].carried(f.mesh.keypoints(), frame_hw)
        self._carry = faces if all(f.mesh is not None for f in faces) else []

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
