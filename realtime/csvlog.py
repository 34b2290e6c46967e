"""The per-frame CSV log: one row per face per frame, flushed as it goes.

A write that fails (disk full, file deleted) raises LogError; the file is cut back to its last
whole row, so that what was logged until then stays a valid CSV.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from pathlib import Path

from mappings import default_measured, default_prototypes
from models import EMOTIONS
from realtime.faces import FrameResult


@functools.cache
def _columns() -> dict[str, list[str]]:
    prototype = [f"prototype_{au}" for au in default_prototypes().au_order]
    measured = [f"measured_{au}" for au in default_measured().au_order]
    # valence and arousal are the kind named in va_source, both kinds follow; au_source names the AU
    # kind shown. au_measured (1/0) says whether the mesh was found, as OpenFace's `success` does; the
    # measured columns are empty where it was not. shown_label is the label on screen (hysteresis,
    # so not always `label`). Last, skipped_frames: unreadable frames (image folders: files)
    # skipped in the source so far, up to this row's frame.
    columns = (["frame", "timestamp_s", "source", "face_id", "x", "y", "w", "h", "label", "confidence"]
               + [f"p_{e}" for e in EMOTIONS] + [f"raw_p_{e}" for e in EMOTIONS]
               + ["valence", "arousal", "va_source", "prototype_valence", "prototype_arousal", "measured_valence",
                  "measured_arousal", "au_source", "au_measured"] + prototype + measured
               + ["shown_label", "shown_confidence", "skipped_frames"])
    return {"COLUMNS": columns, "PROTOTYPE_AU_COLUMNS": prototype, "MEASURED_AU_COLUMNS": measured}


def __getattr__(name: str):
    # Built on first use from the mapping tables, not at import: a malformed table then fails where the
    # app catches it (one line, exit 2) instead of at `import realtime.csvlog`.
    if name in ("COLUMNS", "PROTOTYPE_AU_COLUMNS", "MEASURED_AU_COLUMNS"):
        return _columns()[name]
    raise AttributeError(f"module 'realtime.csvlog' has no attribute {name!r}")


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
        values = ([result.index, _r(result.timestamp_s), result.source, face.track_id, *map(int, face.box),
                   EMOTIONS[label], _r(face.probs[label])]
                  + [_r(p) for p in face.probs] + [_r(p) for p in face.raw_probs]
                  + [_r(face.valence), _r(face.arousal), face.va_source, _r(face.prototype_valence),
                     _r(face.prototype_arousal)]
                  + [None if math.isnan(v) else _r(v) for v in (face.measured_valence, face.measured_arousal)]
                  + [face.au_source, int(measured)]
                  + [_r(face.prototype_aus.get(au, 0.0)) for au in prototype_order]
                  + [_r(face.measured_aus[au]) if measured else None for au in measured_order]
                  + [face.shown_label, _r(face.shown_confidence), result.skipped_frames])
        rows.append(dict(zip(_columns()["COLUMNS"], values, strict=True)))
    return rows


def _r(x) -> float:
    return round(float(x), 4)


def cell_text(value) -> str | int:
    """A face_rows value as the CSV writes it."""
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else value


class LogError(Exception):
    """A log that cannot be written; the message is one line for the user."""


class CsvLogger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w", newline="")
        except OSError as e:
            raise LogError(f"{self.path}: cannot write ({e.strerror or e})") from None
        self.writer = csv.writer(self.file)
        self.writer.writerow(_columns()["COLUMNS"])
        self.rows = 0
        self._whole = self.rows_whole = 0  # bytes on disk up to the last whole row, and the rows in them
        self._flush()

    def write(self, result: FrameResult) -> None:
        for row in face_rows(result):
            self.writer.writerow([cell_text(v) for v in row.values()])
            self.rows += 1
        # Flushed every frame so that a crash or power cut loses nothing already seen.
        self._flush()

    def _flush(self) -> None:
        try:
            self.file.flush()
            st = os.fstat(self.file.fileno())
        except OSError as e:
            self._abandon()
            kept = f"; the {self.rows_whole} rows written before are kept" if self.rows_whole else ""
            raise LogError(f"{self.path}: cannot write ({e.strerror or e}){kept}") from None
        # A file deleted (or its folder removed) while open takes every later row with it, silently.
        if st.st_nlink == 0:
            self._abandon()
            raise LogError(f"{self.path}: deleted while the log was being written")
        self._whole, self.rows_whole = st.st_size, self.rows

    def _abandon(self) -> None:
        """Close, then cut the file back to its last whole row."""
        try:
            self.file.close()
        except OSError:
            pass  # the close retried the failed flush; the file is closed all the same
        try:
            os.truncate(self.path, self._whole)
        except OSError:
            pass  # not a regular file (e.g. /dev/full), or gone: nothing to cut

    def close(self) -> None:
        if not self.file.closed:
            self._flush()
            self.file.close()

    def __enter__(self) -> CsvLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
