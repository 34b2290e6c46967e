"""Measured Action Units: MediaPipe's 52 face blendshape scores -> FACS AU intensities -> valence/arousal.

blendshape_to_au.json says which blendshapes measure which AU (their mean is the AU's raw
score), the population resting level of each AU and the gain that puts a measured intensity on
the prototype table's scale. The prototype AUs of mapper.py say what an emotion implies; these
say what the face does. Validated on load like the other tables: a bad edit fails with one line
naming the file, the key and the problem.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mappings.mapper import (
    _AU_KEY,
    AU_TO_VA_PATH,
    PACKAGE_DIR,
    Affect,
    _error,
    _field,
    _json_type,
    _number,
    _object,
    _read_json,
    default_prototypes,
    read_weights,
)

BLENDSHAPE_TO_AU_PATH = PACKAGE_DIR / "blendshape_to_au.json"
# The blendshape model's output order (MediaPipe face_blendshapes.tflite; "_neutral" is not a movement).
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)
_FIELDS = frozenset({"name", "blendshapes", "weak", "source", "note", "rest", "rest_max", "gain"})


@dataclass(frozen=True)
class MeasuredAuTable:
    """blendshape_to_au.json, parsed."""

    au_order: tuple[str, ...]  # ascending AU number
    au_names: dict[str, str]
    weak: frozenset[str]  # AUs this blendshape model barely moves
    matrix: np.ndarray  # float [52, len(au_order)]: column j averages AU j's blendshapes
    rest: np.ndarray  # [len(au_order)] population resting score: what a neutral face shows
    rest_max: np.ndarray  # [len(au_order)] the highest score a person's resting baseline may take
    gain: np.ndarray  # [len(au_order)] measured intensity -> prototype scale, for valence/arousal

    def raw(self, blendshapes: np.ndarray) -> np.ndarray:
        """[N, 52] blendshape scores -> [N, len(au_order)] raw AU scores in [0, 1]."""
        b = np.asarray(blendshapes, dtype=np.float64)
        if b.ndim != 2 or b.shape[1] != len(BLENDSHAPE_NAMES):
            raise ValueError(f"expected blendshape scores of shape [N, {len(BLENDSHAPE_NAMES)}], got {b.shape}")
        return np.clip(b, 0.0, 1.0) @ self.matrix

    def intensities(self, raw: np.ndarray, baseline: np.ndarray | None = None, capped: bool = True) -> np.ndarray:
        """Raw scores with the resting baseline taken off and the rest of the range stretched back to
        [0, 1]: 0 is "at rest for this person" (or for the population, when baseline is None). A
        baseline is capped at the population's resting maximum (`rest_max`) unless capped=False: a
        calibration's baseline, recorded while the person was asked to rest, is taken as it is."""
        base = self.rest if baseline is None else np.asarray(baseline, float)
        base = np.minimum(base, self.rest_max) if capped and baseline is not None else base
        return np.clip((np.asarray(raw, float) - base) / np.maximum(1.0 - base, 1e-6), 0.0, 1.0)


def read_blendshape_map(path: str | os.PathLike = BLENDSHAPE_TO_AU_PATH) -> MeasuredAuTable:
    """Parse and validate blendshape_to_au.json; raises MappingError naming the file, key and problem."""
    path = Path(path)
    units = _field(path, _read_json(path), "action_units", None, dict)
    if not units:
        raise _error(path, "action_units", "no action units listed")
    au_order = tuple(sorted(units))
    matrix = np.zeros((len(BLENDSHAPE_NAMES), len(au_order)))
    rest, rest_max, gain = np.zeros(len(au_order)), np.ones(len(au_order)), np.ones(len(au_order))
    names, weak = {}, set()
    for j, au in enumerate(au_order):
        where = f"action_units.{au}"
        if not _AU_KEY.fullmatch(au):
            raise _error(path, where, "not an action unit key ('AU' and two digits, e.g. AU06)")
        spec = _object(path, units[au], where, _FIELDS)
        name = _field(path, spec, "name", where)
        if not isinstance(name, str) or not name.strip():
            raise _error(path, f"{where}.name", "the FACS name must be a non-empty string")
        names[au] = name
        shapes = _field(path, spec, "blendshapes", where)
        if not isinstance(shapes, list) or not shapes:
            raise _error(path, f"{where}.blendshapes", f"expected a non-empty list of blendshape names, "
                                                       f"got {_json_type(shapes)}")
        for shape in shapes:
            if shape not in BLENDSHAPE_NAMES or shape == "_neutral":
                raise _error(path, f"{where}.blendshapes", f"unknown blendshape {shape!r} (expected one of the "
                                                           f"model's 51 movements, e.g. mouthSmileLeft)")
            matrix[BLENDSHAPE_NAMES.index(shape), j] = 1.0 / len(shapes)
        if "weak" in spec:
            if not isinstance(spec["weak"], bool):
                raise _error(path, f"{where}.weak", f"expected true or false, got {_json_type(spec['weak'])}")
            if spec["weak"]:
                weak.add(au)
        if "rest" in spec:
            rest[j] = _number(path, f"{where}.rest", spec["rest"], 0.0, 0.99)
        if "rest_max" in spec:
            rest_max[j] = _number(path, f"{where}.rest_max", spec["rest_max"], 0.0, 0.99)
        if rest[j] > rest_max[j]:
            raise _error(path, f"{where}.rest", f"{rest[j]:g} is above rest_max {rest_max[j]:g}")
        if "gain" in spec:
            gain[j] = _number(path, f"{where}.gain", spec["gain"], 0.0, 10.0)
    return MeasuredAuTable(au_order, names, frozenset(weak), matrix, rest, rest_max, gain)


class MeasuredAffectMapper:
    """Measured AU intensities -> (valence, arousal) through au_to_va.json, the same per-AU rule as the
    prototype AUs, after each AU's gain. AUs that au_to_va.json has no weight for (measured only,
    e.g. AU45 blink) count 0 towards valence and arousal."""

    def __init__(self, table: MeasuredAuTable, weights: np.ndarray, weight_order: tuple[str, ...]):
        self.table = table
        self.weights = np.zeros((len(table.au_order), 2))
        for j, au in enumerate(table.au_order):
            if au in weight_order:
                self.weights[j] = weights[weight_order.index(au)]

    @property
    def au_order(self) -> tuple[str, ...]:
        return self.table.au_order

    def valence_arousal(self, intensities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        va = np.clip((np.asarray(intensities, float) * self.table.gain) @ self.weights, -1.0, 1.0)
        return va[:, 0], va[:, 1]

    def affect(self, blendshapes: Mapping[str, float] | np.ndarray | list[float],
               baseline: np.ndarray | None = None) -> Affect:
        """One face's measured AUs and valence/arousal from its 52 blendshape scores (a dict by name,
        missing names 0, or 52 values in BLENDSHAPE_NAMES order); baseline None uses the population's."""
        intensities = self.table.intensities(self.table.raw(_as_scores(blendshapes)[None, :]), baseline)
        valence, arousal = self.valence_arousal(intensities)
        return Affect(dict(zip(self.au_order, intensities[0].tolist(), strict=True)), float(valence[0]),
                      float(arousal[0]))


def _as_scores(blendshapes: Mapping[str, float] | np.ndarray | list[float]) -> np.ndarray:
    if isinstance(blendshapes, Mapping):
        unknown = [k for k in blendshapes if k not in BLENDSHAPE_NAMES]
        if unknown:
            raise ValueError(f"unknown blendshape {unknown[0]!r}")
        blendshapes = [blendshapes.get(name, 0.0) for name in BLENDSHAPE_NAMES]
    scores = np.asarray(blendshapes, dtype=np.float64)
    if scores.shape != (len(BLENDSHAPE_NAMES),) or not np.isfinite(scores).all():
        raise ValueError(f"expected {len(BLENDSHAPE_NAMES)} finite blendshape scores, got shape {scores.shape}")
    return scores


def load_measured(path: str | os.PathLike = BLENDSHAPE_TO_AU_PATH,
                  au_to_va_path: str | os.PathLike = AU_TO_VA_PATH) -> MeasuredAffectMapper:
    prototypes = default_prototypes()
    return MeasuredAffectMapper(read_blendshape_map(path), read_weights(au_to_va_path, prototypes.au_order),
                                prototypes.au_order)


@functools.cache
def default_measured() -> MeasuredAffectMapper:
    """The shipped table, loaded once."""
    return load_measured()


def measured_affect(blendshapes: Mapping[str, float] | np.ndarray | list[float],
                    baseline: np.ndarray | None = None) -> Affect:
    """Measured AUs and valence/arousal of one face from its blendshape scores (see MeasuredAffectMapper)."""
    return default_measured().affect(blendshapes, baseline)
