"""The plain records that flow through the frame loop; each stage fills in its own fields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models import EMOTIONS


@dataclass
class Detection:
    """A face found by the detector, in frame pixels."""

    box: tuple[int, int, int, int]  # x, y, w, h (clamped to the frame)
    score: float
    # (x, y) pixels of MediaPipe's six keypoints, in its order:
    # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
    # ("right" is the subject's right, which appears on the image's left).
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


@dataclass
class Face:
    """One face in one frame. Every float field and every dict of floats is a continuous signal
    that realtime/temporal.py filters per track, by name: a new one needs no change there."""

    detection: Detection
    crop: np.ndarray | None = None  # uint8 [48, 48], upright, as the classifier sees it
    raw_probs: np.ndarray | None = None  # [7] this frame's probabilities, in models.EMOTIONS order
    track_id: int = -1
    probs: np.ndarray | None = None  # [7] smoothed over the track's recent frames
    shown: int = -1  # index into models.EMOTIONS of the label shown, which changes with hysteresis
    aus: dict[str, float] = field(default_factory=dict)  # AU name -> intensity in [0, 1]
    valence: float = 0.0
    arousal: float = 0.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.detection.box

    @property
    def shown_index(self) -> int:
        """`shown`, or the top class where no temporal model has set it."""
        return self.shown if self.shown >= 0 else int(np.argmax(self.probs))

    @property
    def shown_label(self) -> str:
        return EMOTIONS[self.shown_index]

    @property
    def shown_confidence(self) -> float:
        """The smoothed probability of the shown label (not always the highest one)."""
        return float(self.probs[self.shown_index])


@dataclass
class FrameResult:
    index: int  # 0-based frame number within the source
    timestamp_s: float  # seconds since the start of the source
    source: str  # camera index, video path, or the image's path for image sources
    image: np.ndarray  # BGR frame as captured
    faces: list[Face] = field(default_factory=list)
