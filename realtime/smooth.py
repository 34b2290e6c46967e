"""Per-track exponential smoothing of class probabilities, so labels do not flicker."""

from __future__ import annotations

import numpy as np

from realtime.faces import Face


class ProbabilitySmoother:
    """p_smoothed = alpha * p_previous + (1 - alpha) * p_now, per track ID; alpha 0 turns it off."""

    def __init__(self, alpha: float = 0.7):
        if not 0 <= alpha < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {alpha}")
        self.alpha = alpha
        self.state: dict[int, np.ndarray] = {}

    def update(self, faces: list[Face], retired: list[int] = ()) -> None:
        for track_id in retired:
            self.state.pop(track_id, None)
        for face in faces:
            previous = self.state.get(face.track_id)
            if previous is None or self.alpha == 0:
                probs = face.raw_probs.astype(np.float32)
            else:
                probs = self.alpha * previous + (1 - self.alpha) * face.raw_probs
            if face.track_id >= 0:
                self.state[face.track_id] = probs
            face.probs = probs
