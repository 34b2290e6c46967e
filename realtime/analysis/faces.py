"""The plain records that flow through the frame loop; each stage fills in its own fields."""

from __future__ import annotations

import math
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
class FaceMesh:
    """MediaPipe's face mesh and blendshapes for one face, in frame pixels."""

    # Indices into MediaPipe's 478-point mesh (canonical face model, irises 468-477); "right" is the
    # subject's right, as in Detection.keypoints.
    RIGHT_IRIS, LEFT_IRIS, NOSE_TIP, RIGHT_TRAGION, LEFT_TRAGION = 468, 473, 1, 234, 454
    MOUTH = (13, 14, 61, 291)  # inner upper and lower lip, the two lip corners

    landmarks: np.ndarray  # float32 [478, 2] (x, y) continuous pixels
    blendshapes: np.ndarray  # float32 [52] scores in [0, 1], in mappings.BLENDSHAPE_NAMES order
    # float64 [3, 3] the head's rotation from the landmarker's facial transformation matrix, in camera
    # axes x right, y down, z away from the camera (OpenFace's); realtime/analysis/head.py reads it.
    rotation: np.ndarray | None = None

    def keypoints(self) -> np.ndarray:
        """The six points of Detection.keypoints (eyes, nose tip, mouth centre, tragions), from the mesh."""
        p = self.landmarks
        return np.stack([p[self.RIGHT_IRIS], p[self.LEFT_IRIS], p[self.NOSE_TIP], p[list(self.MOUTH)].mean(axis=0),
                         p[self.RIGHT_TRAGION], p[self.LEFT_TRAGION]]).astype(np.float32)


@dataclass
class Face:
    """One face in one frame. The continuous signals that realtime/analysis/temporal.py filters per
    track are the fields named in its SIGNALS; a new signal is added there too."""

    detection: Detection
    mesh: FaceMesh | None = None  # None where the landmarker did not find this face
    crop: np.ndarray | None = None  # uint8 [48, 48], upright, as the classifier sees it
    raw_probs: np.ndarray | None = None  # [7] this frame's probabilities, in models.EMOTIONS order
    track_id: int = -1
    probs: np.ndarray | None = None  # [7] smoothed over the track's recent frames
    prototype_aus: dict[str, float] = field(default_factory=dict)  # AU -> intensity the emotion implies
    measured_aus: dict[str, float] | None = None  # AU -> intensity the mesh shows; None: not measured
    au_source: str = "prototype"  # which of the two `aus` shows
    aus: dict[str, float] = field(default_factory=dict)  # AU name -> intensity in [0, 1], as shown
    prototype_valence: float = 0.0  # from the prototype AUs
    prototype_arousal: float = 0.0
    measured_valence: float = math.nan  # from the measured AUs; NaN: not measured
    measured_arousal: float = math.nan
    va_source: str = "prototype"  # which of the two `valence` and `arousal` show
    shown: int = -1  # index into models.EMOTIONS of the label shown, which changes with hysteresis
    valence: float = 0.0
    arousal: float = 0.0
    # From the mesh (realtime/analysis/head.py; degrees, signs there); NaN / -1 where no mesh was found.
    head_yaw: float = math.nan
    head_pitch: float = math.nan
    head_roll: float = math.nan
    gaze_yaw: float = math.nan
    gaze_pitch: float = math.nan
    head_frontal: int = -1  # 1: the head is turned little enough for the expression readings to hold
    eyes_closed: int = -1
    mouth_open: int = -1
    calibrated: int = 0  # 1: this person's calibration corrected raw_probs (realtime/analysis/calibration.py)

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
    skipped_frames: int = 0  # unreadable frames (image sources: files) the source skipped so far
    # Track IDs that ended at this frame (lost, or all at once by Pipeline.reset; for images, the
    # previous image's faces): whoever keeps state per face forgets these. An ID never comes back.
    retired: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # labels of the events marked at this frame (analysis/events.py)
    # When the frame whose analysis the faces hold was captured: timestamp_s where this frame was
    # analysed (files, images); for a live source analysed beside the loop, an earlier frame's.
    analysis_timestamp_s: float | None = None

    def __post_init__(self):
        if self.analysis_timestamp_s is None:
            self.analysis_timestamp_s = self.timestamp_s
