"""Measured Action Units per face: the mesh's blendshapes -> raw AU scores -> minus a resting baseline.

A resting face does not score 0 (this model gives neutral faces browDown ~0.2 and eyeSquint
~0.4), and people differ at rest, so, as OpenFace calibrates its AU intensities per person, each
track keeps a running baseline: a low percentile of its own recent raw scores, which a face
reaches whenever it relaxes. The baseline is capped per AU at what resting faces of the
population reach (`rest_max` in blendshape_to_au.json), so that a person who smiles all along
still reads as smiling; until a track has enough frames, and for photos, the population's
resting level is used. Intensity 0 then means "at rest for this person", 1 the AU's full range.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from mappings import MeasuredAuTable
from realtime.analysis.faces import Face

BASELINE_WINDOW_S = 30.0  # long enough to hold a relaxed moment, short enough to follow lighting and pose
BASELINE_PERCENTILE = 10.0
BASELINE_MIN_FRAMES = 15  # half a second at 30 FPS; before that the population's resting level


class MeasuredActionUnits:
    """Sets `face.measured_aus` (None where the face has no mesh) from `face.mesh`, per track ID."""

    def __init__(self, table: MeasuredAuTable, per_person: bool = True, window_s: float = BASELINE_WINDOW_S,
                 percentile: float = BASELINE_PERCENTILE, min_frames: int = BASELINE_MIN_FRAMES):
        self.table, self.per_person = table, per_person
        self.window_s, self.percentile, self.min_frames = window_s, percentile, min_frames
        self.history: dict[int, deque[tuple[float, np.ndarray]]] = {}
        # track ID -> the resting scores a calibration recorded, or None (realtime/analysis/calibration.py)
        self.calibrated: Callable[[int], np.ndarray | None] = lambda track_id: None

    def baseline(self, track_id: int) -> np.ndarray | None:
        """The track's resting scores: its calibration's, else its running ones, else None (population
        resting level) if too few frames."""
        calibrated = self.calibrated(track_id)
        if calibrated is not None:
            return calibrated
        frames = self.history.get(track_id)
        if not self.per_person or not frames or len(frames) < self.min_frames:
            return None
        return np.percentile(np.stack([raw for _, raw in frames]), self.percentile, axis=0)

    def update(self, faces: list[Face], retired: list[int] = (), timestamp_s: float = 0.0) -> None:
        for track_id in retired:
            self.history.pop(track_id, None)
        for face in faces:
            if face.mesh is None:
                face.measured_aus = None
                continue
            raw = self.table.raw(face.mesh.blendshapes[None])[0]
            if self.per_person:
                frames = self.history.setdefault(face.track_id, deque())
                frames.append((timestamp_s, raw))
                while frames and frames[0][0] < timestamp_s - self.window_s:
                    frames.popleft()
            calibrated = self.calibrated(face.track_id)
            baseline = self.baseline(face.track_id) if calibrated is None else calibrated
            intensities = self.table.intensities(raw[None], baseline, capped=calibrated is None)[0]
            face.measured_aus = dict(zip(self.table.au_order, intensities.tolist(), strict=True))
