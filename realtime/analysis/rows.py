"""The flat record of a face in a frame: the columns shared by the CSV log, the Python API's rows
and the session report, built from the mapping tables on first use.
"""

from __future__ import annotations

import functools
import math

from mappings import default_measured, default_prototypes
from models import EMOTIONS
from realtime.analysis.faces import FrameResult

HEAD_COLUMNS = ("head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch", "head_frontal", "eyes_closed",
                "mouth_open")
BOX_COLUMNS = ("x", "y", "w", "h")
PROB_COLUMNS = tuple(f"p_{e}" for e in EMOTIONS)
RAW_PROB_COLUMNS = tuple(f"raw_p_{e}" for e in EMOTIONS)
# The columns every log has had from the first version on: all a reader of old logs may require
# (realtime/outputs/report.py reads logs of every version).
FIRST_COLUMNS = ("frame", "timestamp_s", "source", "face_id", *BOX_COLUMNS, "label", "confidence", *PROB_COLUMNS,
                 *RAW_PROB_COLUMNS, "valence", "arousal")
INTEGER_COLUMNS = frozenset({"frame", "face_id", "au_measured", "skipped_frames", "head_frontal", "eyes_closed",
                             "mouth_open", "calibrated"})
# The range of each numeric column but the AUs (which lie in [0, 1]), for readers to check.
_INF = math.inf
VALUE_RANGES = {
    "frame": (0, _INF), "timestamp_s": (0, _INF), "analysis_timestamp_s": (0, _INF), "face_id": (-_INF, _INF),
    **dict.fromkeys(BOX_COLUMNS, (-_INF, _INF)),
    "confidence": (0, 1), **dict.fromkeys(PROB_COLUMNS + RAW_PROB_COLUMNS, (0, 1)),
    **dict.fromkeys(("valence", "arousal", "prototype_valence", "prototype_arousal", "measured_valence",
                     "measured_arousal"), (-1, 1)),
    "au_measured": (0, 1), "shown_confidence": (0, 1), "skipped_frames": (0, _INF),
    **dict.fromkeys(("head_yaw", "head_pitch", "head_roll", "gaze_yaw", "gaze_pitch"), (-180, 180)),
    **dict.fromkeys(("head_frontal", "eyes_closed", "mouth_open", "calibrated"), (0, 1)),
}


@functools.cache
def table_columns() -> dict[str, list[str]]:
    prototype = [f"prototype_{au}" for au in default_prototypes().au_order]
    measured = [f"measured_{au}" for au in default_measured().au_order]
    # valence and arousal are the kind named in va_source, both kinds follow; au_source names the AU
    # kind shown. au_measured (1/0) says whether the mesh was found, as OpenFace's `success` does; the
    # measured columns are empty where it was not. shown_label is the label on screen (hysteresis,
    # so not always `label`). skipped_frames: unreadable frames (image folders: files) skipped in the
    # source so far, up to this row's frame. Then the head and eyes (realtime/analysis/head.py; degrees,
    # empty where the mesh was not found). calibrated (1/0): this person's calibration corrected the
    # probabilities (realtime/analysis/calibration.py). Last, `event`: the events marked at this frame (labels joined
    # by ";"; realtime/analysis/events.py), empty at most frames.
    # analysis_timestamp_s: the capture time of the frame the row's readings were computed on; equal to
    # timestamp_s wherever every frame is analysed (files, images, the API), earlier for a live source,
    # whose analysis runs beside the loop and whose boxes follow the face in between.
    columns = (["frame", "timestamp_s", "analysis_timestamp_s", "source", "face_id", *BOX_COLUMNS, "label",
                "confidence", *PROB_COLUMNS, *RAW_PROB_COLUMNS, "valence", "arousal", "va_source",
                "prototype_valence", "prototype_arousal", "measured_valence", "measured_arousal", "au_source",
                "au_measured"] + prototype + measured
               + ["shown_label", "shown_confidence", "skipped_frames"] + list(HEAD_COLUMNS) + ["calibrated", "event"])
    return {"COLUMNS": columns, "PROTOTYPE_AU_COLUMNS": prototype, "MEASURED_AU_COLUMNS": measured}


def __getattr__(name: str):
    # Built on first use from the mapping tables, not at import: a malformed table then fails where the
    # app catches it (one line, exit 2) instead of at `import realtime.analysis.rows`.
    if name in ("COLUMNS", "PROTOTYPE_AU_COLUMNS", "MEASURED_AU_COLUMNS"):
        return table_columns()[name]
    raise AttributeError(f"module 'realtime.analysis.rows' has no attribute {name!r}")


def face_rows(result: FrameResult) -> list[dict[str, int | float | str | None]]:
    """One dict per face, keyed by COLUMNS: what the CSV holds, typed. Floats are rounded to the
    CSV's 4 decimals, so a row read back from the log equals the one computed; measured values
    are None where the mesh was not found (empty cells in the CSV)."""
    prototype_order = default_prototypes().au_order
    measured_order = default_measured().au_order
    rows = []
    for face in result.faces:
        label = int(face.probs.argmax())
        measured = face.measured_aus is not None
        values = ([result.index, _r(result.timestamp_s), _r(result.analysis_timestamp_s), result.source,
                   face.track_id, *map(int, face.box),
                   EMOTIONS[label], _r(face.probs[label])]
                  + [_r(p) for p in face.probs] + [_r(p) for p in face.raw_probs]
                  + [_r(face.valence), _r(face.arousal), face.va_source, _r(face.prototype_valence),
                     _r(face.prototype_arousal)]
                  + [None if math.isnan(v) else _r(v) for v in (face.measured_valence, face.measured_arousal)]
                  + [face.au_source, int(measured)]
                  + [_r(face.prototype_aus.get(au, 0.0)) for au in prototype_order]
                  + [_r(face.measured_aus[au]) if measured else None for au in measured_order]
                  + [face.shown_label, _r(face.shown_confidence), result.skipped_frames]
                  + [_head_value(face, name) for name in HEAD_COLUMNS]
                  + [face.calibrated, ";".join(result.events)])
        rows.append(dict(zip(table_columns()["COLUMNS"], values, strict=True)))
    return rows


def _head_value(face, name: str) -> float | int | None:
    value = getattr(face, name)
    if isinstance(value, int):
        return None if value < 0 else value
    return None if math.isnan(value) else _r(value)


def _r(x) -> float:
    return round(float(x), 4)


def cell_text(value) -> str | int:
    """A face_rows value as the CSV writes it."""
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else value
