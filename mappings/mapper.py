"""Emotion probabilities -> facial Action Units -> valence/arousal, driven by two JSON tables.

emotion_to_au.json gives each class's prototype AU intensities; au_to_va.json gives each AU's
linear contribution to valence and arousal (written by mappings/derive_au_to_va.py). Both are
validated on load, so a bad edit fails with one line naming the file, the key and the problem.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from errors import UserError
from models import EMOTIONS

PACKAGE_DIR = Path(__file__).resolve().parent
EMOTION_TO_AU_PATH = PACKAGE_DIR / "emotion_to_au.json"
AU_TO_VA_PATH = PACKAGE_DIR / "au_to_va.json"
MODES = ("soft", "argmax")
AXES = ("valence", "arousal")

_AU_KEY = re.compile(r"AU\d{2}")
# Data-carrying objects reject unknown fields: a misspelt field would otherwise be ignored silently.
_EMOTION_FIELDS = frozenset({"aus", "emfacs", "note"})
_AU_FIELDS = frozenset({"intensity", "source"})
_WEIGHT_FIELDS = frozenset(AXES)


class MappingError(UserError, ValueError):
    """A malformed mapping file; the message reads 'file: key: problem'."""


@dataclass(frozen=True)
class Affect:
    aus: dict[str, float]  # every AU of AU_ORDER, 0.0 where absent
    valence: float  # in [-1, 1]
    arousal: float  # in [-1, 1]


@dataclass(frozen=True)
class Prototypes:
    """emotion_to_au.json, parsed."""

    au_order: tuple[str, ...]  # ascending AU number
    au_names: dict[str, str]  # AU key -> FACS name
    intensities: np.ndarray  # float [len(EMOTIONS), len(au_order)], rows in EMOTIONS order


def _shown(path: Path) -> str:
    """Repo-relative where possible, so messages read 'mappings/au_to_va.json: ...'."""
    try:
        return Path(path).resolve().relative_to(PACKAGE_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def _error(path: Path, key: str | None, problem: str) -> MappingError:
    return MappingError(f"{_shown(path)}: {key}: {problem}" if key else f"{_shown(path)}: {problem}")


def _read_json(path: Path) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _error(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _error(path, None, f"cannot read the file ({e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _error(path, None, f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(data, dict):
        raise _error(path, None, f"expected a JSON object at the top level, got {_json_type(data)}")
    return data


def _json_type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _field(path: Path, obj: dict, name: str, where: str | None, want: type | None = None):
    """obj[name], which must exist (and be a `want`, when given)."""
    if name not in obj:
        raise _error(path, where, f"missing field '{name}'")
    value = obj[name]
    if want is dict and not isinstance(value, dict):
        raise _error(path, f"{where}.{name}" if where else name, f"expected an object, got {_json_type(value)}")
    return value


def _object(path: Path, value: object, where: str, allowed: frozenset[str]) -> dict:
    if not isinstance(value, dict):
        raise _error(path, where, f"expected an object, got {_json_type(value)}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _error(path, where, f"unknown field '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    return value


def _number(path: Path, where: str, value: object, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(path, where, f"expected a number, got {_json_type(value)}")
    if not math.isfinite(value):
        raise _error(path, where, f"{value} is not a finite number")
    if low is not None and high is not None and not low <= value <= high:
        raise _error(path, where, f"{value} is out of range [{low:g}, {high:g}]")
    return float(value)


def read_prototypes(path: str | os.PathLike = EMOTION_TO_AU_PATH) -> Prototypes:
    """Parse and validate emotion_to_au.json; raises MappingError."""
    path = Path(path)
    data = _read_json(path)
    names = _field(path, data, "action_units", None, dict)
    if not names:
        raise _error(path, "action_units", "no action units listed")
    for au, name in names.items():
        if not _AU_KEY.fullmatch(au):
            raise _error(path, f"action_units.{au}", "not an action unit key ('AU' and two digits, e.g. AU06)")
        if not isinstance(name, str) or not name.strip():
            raise _error(path, f"action_units.{au}", "the FACS name must be a non-empty string")
    au_order = tuple(sorted(names))  # zero-padded keys: text order is number order

    emotions = _field(path, data, "emotions", None, dict)
    for emotion in emotions:
        if emotion not in EMOTIONS:
            raise _error(path, f"emotions.{emotion}", f"unknown emotion (expected one of {', '.join(EMOTIONS)})")
    intensities = np.zeros((len(EMOTIONS), len(au_order)))
    for row, emotion in enumerate(EMOTIONS):
        where = f"emotions.{emotion}"
        if emotion not in emotions:
            raise _error(path, where, "missing emotion (every model class needs an entry, with 'aus': {} if none)")
        entry = _object(path, emotions[emotion], where, _EMOTION_FIELDS)
        aus = _field(path, entry, "aus", where, dict)
        for au, spec in aus.items():
            au_where = f"{where}.aus.{au}"
            if au not in names:
                raise _error(path, au_where, "unknown action unit (not listed in action_units)")
            spec = _object(path, spec, au_where, _AU_FIELDS)
            value = _field(path, spec, "intensity", au_where)
            intensities[row, au_order.index(au)] = _number(path, f"{au_where}.intensity", value, 0.0, 1.0)
    return Prototypes(au_order, {au: names[au] for au in au_order}, intensities)


def read_weights(path: str | os.PathLike, au_order: tuple[str, ...]) -> np.ndarray:
    """Parse and validate au_to_va.json against the AUs of emotion_to_au.json: float [len(au_order), 2]."""
    path = Path(path)
    weights = _field(path, _read_json(path), "weights", None, dict)
    for au in weights:
        if au not in au_order:
            raise _error(path, f"weights.{au}", "unknown action unit (emotion_to_au.json does not define it)")
    out = np.zeros((len(au_order), len(AXES)))
    for i, au in enumerate(au_order):
        where = f"weights.{au}"
        if au not in weights:
            raise _error(path, where, "missing (every action unit of emotion_to_au.json needs a weight)")
        spec = _object(path, weights[au], where, _WEIGHT_FIELDS)
        for j, axis in enumerate(AXES):
            out[i, j] = _number(path, f"{where}.{axis}", _field(path, spec, axis, where))
    return out


class AffectMapper:
    """Probabilities -> AU intensities -> (valence, arousal) with one validated pair of tables."""

    def __init__(self, prototypes: Prototypes, weights: np.ndarray):
        if weights.shape != (len(prototypes.au_order), len(AXES)):
            raise ValueError(f"weights must have shape {(len(prototypes.au_order), len(AXES))}, got {weights.shape}")
        self.prototypes = prototypes
        self.weights = weights  # columns: valence, arousal

    @property
    def au_order(self) -> tuple[str, ...]:
        return self.prototypes.au_order

    @property
    def au_names(self) -> dict[str, str]:
        return dict(self.prototypes.au_names)

    def affect_batch(self, probs: np.ndarray, mode: str = "soft") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """probs [N, 7] in EMOTIONS order -> (aus [N, len(AU_ORDER)], valence [N], arousal [N])."""
        p = _normalised_rows(probs)
        if mode == "soft":
            aus = p @ self.prototypes.intensities
        elif mode == "argmax":
            aus = self.prototypes.intensities[p.argmax(axis=1)]
        else:
            raise ValueError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        va = np.clip(aus @ self.weights, -1.0, 1.0)
        return aus, va[:, 0], va[:, 1]

    def affect(self, probs: Mapping[str, float] | np.ndarray | list[float], mode: str = "soft") -> Affect:
        """One face: a dict keyed by class name (missing classes count as 0) or 7 values in EMOTIONS order."""
        aus, valence, arousal = self.affect_batch(_as_vector(probs)[None, :], mode)
        return Affect(dict(zip(self.au_order, aus[0].tolist(), strict=True)), float(valence[0]), float(arousal[0]))


def _as_vector(probs: Mapping[str, float] | np.ndarray | list[float]) -> np.ndarray:
    if isinstance(probs, Mapping):
        for key in probs:
            if key not in EMOTIONS:
                raise ValueError(f"unknown emotion {key!r} (expected keys among {', '.join(EMOTIONS)})")
        values = [probs.get(e, 0.0) for e in EMOTIONS]
    else:
        values = probs
    try:
        vector = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("probabilities must be numbers") from None
    if vector.shape != (len(EMOTIONS),):
        raise ValueError(f"expected {len(EMOTIONS)} probabilities ({', '.join(EMOTIONS)}), got shape {vector.shape}")
    return vector


def _normalised_rows(probs: np.ndarray) -> np.ndarray:
    """Checked [N, 7] float64 copy whose rows sum to 1."""
    try:
        p = np.array(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("probabilities must be numbers") from None
    if p.ndim != 2 or p.shape[1] != len(EMOTIONS):
        raise ValueError(f"expected probabilities of shape [N, {len(EMOTIONS)}] ({', '.join(EMOTIONS)}), "
                         f"got {p.shape}")
    problems = (
        (~np.isfinite(p).all(axis=1), "NaN or infinite probability"),
        ((p < 0).any(axis=1), "negative probability"),
        (p.sum(axis=1) <= 0, "probabilities sum to 0"),
    )
    for bad, what in problems:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            where = f" in row {row}" if len(p) > 1 else ""
            raise ValueError(f"{what}{where}: {p[row].tolist()}")
    return p / p.sum(axis=1, keepdims=True)


def load_mappings(emotion_to_au_path: str | os.PathLike = EMOTION_TO_AU_PATH,
                  au_to_va_path: str | os.PathLike = AU_TO_VA_PATH) -> AffectMapper:
    """A mapper from a pair of mapping files; raises MappingError naming the file, key and problem."""
    prototypes = read_prototypes(emotion_to_au_path)
    return AffectMapper(prototypes, read_weights(au_to_va_path, prototypes.au_order))


@functools.cache
def default_prototypes() -> Prototypes:
    return read_prototypes(EMOTION_TO_AU_PATH)


@functools.cache
def default_mapper() -> AffectMapper:
    """The shipped tables, loaded once."""
    prototypes = default_prototypes()
    return AffectMapper(prototypes, read_weights(AU_TO_VA_PATH, prototypes.au_order))


def affect(probs: Mapping[str, float] | np.ndarray | list[float], mode: str = "soft") -> Affect:
    """AUs and valence/arousal of one face from its 7 class probabilities (see AffectMapper.affect)."""
    return default_mapper().affect(probs, mode)


def affect_batch(probs: np.ndarray, mode: str = "soft") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised affect(): probs [N, 7] -> (aus [N, len(AU_ORDER)], valence [N], arousal [N])."""
    return default_mapper().affect_batch(probs, mode)
