"""Per-track exponential smoothing of class probabilities, so labels do not flicker."""

from __future__ import annotations

import numpy as np

from realtime.faces import Face

# alpha is the weight the previous estimate keeps per 1/30 s, so the smoothing holds the same
# time constant whatever the frame rate: a slow machine or a 60 FPS camera feel alike.
REFERENCE_FPS = 30.0


class ProbabilitySmoother:
    """p_smoothed = w * p_previous + (1 - w) * p_now per track ID, with w = alpha ** (30 * dt)
    for dt seconds since the track's previous estimate (w = alpha when no time is given);
    alpha 0 turns it off."""

    def __init__(self, alpha: float = 0.7):
        if not 0 <= alpha < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {alpha}")
        self.alpha = alpha
        self.state: dict[int, tuple[np.ndarray, float | None]] = {}

    def update(self, faces: list[Face], retired: list[int] = (), timestamp_s: float | None = None) -> None:
        for track_id in retired:
            self.state.pop(track_id, None)
        for face in faces:
            previous = self.state.get(face.track_id)
            if previous is None or self.alpha == 0:
                probs = face.raw_probs.astype(np.float32)
            else:
                keep = self._weight(previous[1], timestamp_s)
                probs = keep * previous[0] + (1 - keep) * face.raw_probs
            if face.track_id >= 0:
                self.state[face.track_id] = (probs, timestamp_s)
            face.probs = probs

    def _weight(self, previous_s: float | None, now_s: float | None) -> float:
        if previous_s is None or now_s is None:
            return self.alpha
        return self.alpha ** (REFERENCE_FPS * max(now_s - previous_s, 0.0))
