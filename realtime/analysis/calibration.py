"""Participant calibration: a person's resting face, recorded for a few seconds, corrects the classifier's
bias for that person and sets their AU baseline, as FaceReader calibrates per participant.

Some people's resting face reads as sad or angry. From the frames of the resting face the calibration
keeps the mean log-probability of each class, m, and afterwards adds to that person's log-probabilities
the offset that turns m into the resting target: every class equal but neutral, which gets REST_NEUTRAL
of the probability (or more, where the face's own resting neutral leads the others by more: a
calibration never makes a resting face less neutral). The offset is centred and bounded to
+-MAX_OFFSET, so a strong expression still reads as itself. The measured AUs take the resting frames'
mean raw scores as their baseline (realtime/analysis/action_units.py), as OpenFace's per-person
calibration does. bench/calibration.py chose both constants (docs/research.md, "Participant calibration").

State is per track ID and forgotten when the track retires (FrameResult.retired): a face lost and
found again is a new face and must be calibrated again. A calibration from a photo (--neutral)
applies to every face, for sessions of one participant (image folders have no tracks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from errors import UserError
from models import EMOTIONS
from realtime.analysis.faces import Face

NEUTRAL = EMOTIONS.index("neutral")
# bench/calibration.py: on the shared clips every setting tried scores the same; on wild-dev (its neutral
# photos as one population's resting face) these two give the best mean recall over the classes.
REST_NEUTRAL = 0.4
MAX_OFFSET = 1.0  # in log-probability (a factor of e = 2.7 at most, either way)
MIN_FRAMES = 3  # fewer resting frames than this (a face hardly seen) calibrate nothing
_FLOOR = 1e-6


class CalibrationError(UserError, ValueError):
    """A calibration that cannot be made (a photo with no face); the message is one line."""


@dataclass
class Calibration:
    """One person's correction: offsets added to the log-probabilities, and their resting AU scores."""

    offsets: np.ndarray  # float32 [7]
    au_baseline: np.ndarray | None = None  # raw AU scores at rest (MeasuredAuTable.raw); None: no mesh seen

    def apply(self, probs: np.ndarray) -> np.ndarray:
        logits = np.log(np.maximum(probs, _FLOOR)) + self.offsets
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def calibrate(resting_probs: np.ndarray, resting_aus: list[np.ndarray] = (), rest_neutral: float = REST_NEUTRAL,
              max_offset: float = MAX_OFFSET) -> Calibration:
    """The calibration from a resting face's per-frame probabilities [N, 7] and raw AU scores."""
    m = np.log(np.maximum(np.asarray(resting_probs, np.float64), _FLOOR)).mean(axis=0)
    others = np.arange(len(m)) != NEUTRAL
    target = np.zeros(len(m))
    # Neutral's lead over the (flattened) other classes: the target's, or the face's own where it leads more.
    target[NEUTRAL] = max(np.log(rest_neutral * (len(m) - 1) / (1 - rest_neutral)), m[NEUTRAL] - m[others].mean())
    offsets = target - m
    offsets = np.clip(offsets - offsets.mean(), -max_offset, max_offset)
    baseline = np.mean(resting_aus, axis=0) if len(resting_aus) else None
    return Calibration(offsets.astype(np.float32), baseline)


@dataclass
class _Recording:
    until_s: float
    started_s: float | None = None  # the first frame's time, set by the first frame that sees the face
    seconds: float = 0.0
    probs: list[np.ndarray] = field(default_factory=list)
    aus: list[np.ndarray] = field(default_factory=list)


class Calibrator:
    """Records resting faces and applies each person's calibration to their raw probabilities in place.

    start(track_id, seconds): record that face for the next `seconds` of its frames. update() runs
    after the classifier and before the AUs: it records, finishes recordings (setting the AU
    baseline through `on_baseline`), and corrects the calibrated faces' `raw_probs`, setting `calibrated`.
    """

    def __init__(self, au_raw=None):
        self.au_raw = au_raw  # blendshapes [52] -> raw AU scores, for the baseline; None: no AU baseline
        self.by_track: dict[int, Calibration] = {}
        self.recording: dict[int, _Recording] = {}
        self.everyone: Calibration | None = None  # from a photo: every face
        self.finished: list[int] = []  # tracks whose calibration ended at the last update
        self.failed: list[int] = []  # tracks lost (retired) while being recorded, at the last update

    def start(self, track_id: int, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"calibration needs a duration > 0 seconds, got {seconds}")
        self.by_track.pop(track_id, None)  # recorded afresh: the old one no longer corrects the new frames
        self.recording[track_id] = _Recording(until_s=seconds)

    def remaining_s(self, track_id: int) -> float | None:
        """Seconds left of a face's recording, or None when it is not being recorded."""
        rec = self.recording.get(track_id)
        return None if rec is None else max(rec.until_s - rec.seconds, 0.0)

    def update(self, faces: list[Face], retired: list[int], timestamp_s: float) -> None:
        self.finished, self.failed = [], []
        for track_id in retired:
            self.by_track.pop(track_id, None)
            if self.recording.pop(track_id, None) is not None:
                self.failed.append(track_id)
        for face in faces:
            rec = self.recording.get(face.track_id)
            if rec is not None:
                rec.started_s = timestamp_s if rec.started_s is None else rec.started_s
                rec.seconds = timestamp_s - rec.started_s
                rec.probs.append(np.asarray(face.raw_probs, np.float32))
                if face.mesh is not None and self.au_raw is not None:
                    rec.aus.append(self.au_raw(face.mesh.blendshapes))
                if rec.seconds >= rec.until_s and len(rec.probs) >= MIN_FRAMES:
                    self.by_track[face.track_id] = calibrate(np.stack(rec.probs), rec.aus)
                    del self.recording[face.track_id]
                    self.finished.append(face.track_id)
            calibration = self.by_track.get(face.track_id, self.everyone)
            if calibration is not None:
                face.raw_probs = calibration.apply(face.raw_probs)
                face.calibrated = 1

    def baseline(self, track_id: int) -> np.ndarray | None:
        """The resting AU scores calibrated for this face (its own, else the photo's), or None."""
        calibration = self.by_track.get(track_id, self.everyone)
        return None if calibration is None else calibration.au_baseline
