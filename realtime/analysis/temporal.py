"""The temporal model: per track, what the face has been doing over the last moments.

Three things, each keyed by track ID (a retired ID's state is dropped, so a face that is lost
and found again starts clean):

* class probabilities, smoothed exponentially with a time constant in seconds, so the result
  does not depend on the frame rate;
* the shown label, with hysteresis: a challenger replaces the shown label only after leading it
  in the smoothed probabilities by `margin` for `dwell_s` seconds without a break;
* the continuous signals named in SIGNALS (both kinds of AUs and of valence/arousal, head pose
  and gaze) through a
  One-Euro filter each, smooth when the face is still and quick when it moves. The list is
  explicit: a stage that adds a signal to `Face` names it here. What is shown (`aus`, `valence`,
  `arousal`) is chosen from the filtered signals afterwards (realtime/analysis/affect.py), so each
  value is filtered once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from errors import OptionError
from realtime.analysis.faces import Face
from realtime.analysis.one_euro import OneEuroFilter

# Used between updates that carry no timestamp (unit tests, replays of plain sequences).
DEFAULT_FRAME_S = 1 / 30

# The Face fields filtered, each a float or a dict of floats (filtered per key as "field.key").
SIGNALS = ("prototype_aus", "measured_aus", "prototype_valence", "prototype_arousal", "measured_valence",
           "measured_arousal", "head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch")


@dataclass
class TemporalConfig:
    """Defaults chosen with `python -m bench.steadiness --sweep` (bench/README.md, "Steadiness")."""

    smoothing_s: float = 0.15  # time constant of the probability smoothing; 0 turns the whole model off
    margin: float = 0.1  # how far a challenger must lead the shown label's smoothed probability
    dwell_s: float = 0.1  # ... and for how long, before it is shown
    min_cutoff_hz: float = 0.5  # One-Euro: cutoff of a still signal
    beta: float = 1.0  # One-Euro: how fast the cutoff rises with the signal's speed (Hz per unit/s)
    d_cutoff_hz: float = 1.0  # One-Euro: cutoff of the speed estimate

    def __post_init__(self):
        if not (self.smoothing_s >= 0 and math.isfinite(self.smoothing_s)):
            raise OptionError(f"smoothing must be a time in seconds >= 0, got {self.smoothing_s}")
        if not 0 <= self.margin < 1:
            raise OptionError(f"label margin must be in [0, 1), got {self.margin}")
        if not (self.dwell_s >= 0 and math.isfinite(self.dwell_s)):
            raise OptionError(f"label dwell must be a time in seconds >= 0, got {self.dwell_s}")
        OneEuroFilter(self.min_cutoff_hz, self.beta, self.d_cutoff_hz)  # validates them

    @property
    def enabled(self) -> bool:
        return self.smoothing_s > 0


@dataclass
class _TrackState:
    probs: np.ndarray
    time_s: float
    shown: int
    challenger: int = -1
    challenger_since_s: float = 0.0
    filters: dict[str, OneEuroFilter] = field(default_factory=dict)


def signals(face: Face, names: Sequence[str] = SIGNALS) -> dict[str, float]:
    """The face's named signals: a float field as its name, a dict field's entries as "field.key"
    (e.g. "measured_aus.AU12"). Non-finite values (not measured) and absent dicts are left out."""
    out = {}
    for name in names:
        value = getattr(face, name)
        if isinstance(value, dict):
            out.update((f"{name}.{k}", float(v)) for k, v in value.items() if math.isfinite(v))
        elif value is not None and math.isfinite(value):
            out[name] = float(value)
    return out


def _set_signal(face: Face, name: str, value: float) -> None:
    field_name, _, key = name.partition(".")
    if key:
        getattr(face, field_name)[key] = value
    else:
        setattr(face, field_name, value)


class TemporalModel:
    """Fills `probs` (smoothed), `shown` (the label index with hysteresis) and filters the named
    signals of each face in place, given this frame's `raw_probs` and signals."""

    def __init__(self, cfg: TemporalConfig | None = None, signals: Sequence[str] = SIGNALS):
        self.cfg = cfg or TemporalConfig()
        self.signals = tuple(signals)
        self.state: dict[int, _TrackState] = {}

    def update(self, faces: list[Face], retired: list[int] = (), timestamp_s: float | None = None) -> None:
        for track_id in retired:
            self.state.pop(track_id, None)
        for face in faces:
            self._update(face, timestamp_s)

    def _update(self, face: Face, timestamp_s: float | None) -> None:
        raw = np.asarray(face.raw_probs, np.float32)
        state = self.state.get(face.track_id) if face.track_id >= 0 else None
        if not self.cfg.enabled or face.track_id < 0:
            face.probs, face.shown = raw.copy(), int(raw.argmax())
            return
        if state is None:
            now = 0.0 if timestamp_s is None else timestamp_s
            state = self.state[face.track_id] = _TrackState(raw.copy(), now, int(raw.argmax()))
        else:
            now = state.time_s + DEFAULT_FRAME_S if timestamp_s is None else timestamp_s
            keep = math.exp(-max(now - state.time_s, 0.0) / self.cfg.smoothing_s)
            state.probs = keep * state.probs + (1 - keep) * raw
            state.time_s = now
            self._hysteresis(state, now)
        face.probs, face.shown = state.probs.copy(), state.shown
        for name, value in signals(face, self.signals).items():
            flt = state.filters.get(name)
            if flt is None:
                flt = state.filters[name] = OneEuroFilter(self.cfg.min_cutoff_hz, self.cfg.beta, self.cfg.d_cutoff_hz)
            _set_signal(face, name, flt(value, now))

    def _hysteresis(self, state: _TrackState, now: float) -> None:
        top = int(state.probs.argmax())
        leads = top != state.shown and state.probs[top] - state.probs[state.shown] >= self.cfg.margin
        if not leads:
            state.challenger = -1
            return
        if top != state.challenger:  # a new challenger starts its dwell from now
            state.challenger, state.challenger_since_s = top, now
        if now - state.challenger_since_s >= self.cfg.dwell_s - 1e-9:
            state.shown, state.challenger = top, -1
