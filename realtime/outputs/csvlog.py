"""The per-frame CSV log: one row per face per frame, flushed as it goes.

A write that fails (disk full, file deleted) raises LogError; the file is cut back to its last
whole row, so that what was logged until then stays a valid CSV.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from errors import UserError
from realtime.analysis.faces import FrameResult
from realtime.analysis.rows import cell_text, face_rows, table_columns


class LogError(UserError):
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
        self.writer.writerow(table_columns()["COLUMNS"])
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


class EventLog:
    """The session's events (number keys, --events) as they are marked: time_s,frame,label rows, flushed
    each time; opened at the first event, so a session without events leaves no file."""

    COLUMNS = ("time_s", "frame", "label")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.file = None
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        if not result.events:
            return
        try:
            if self.file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "w", newline="")
                self.writer = csv.writer(self.file)
                self.writer.writerow(self.COLUMNS)
            for label in result.events:
                self.writer.writerow([f"{result.timestamp_s:.4f}", result.index, label])
                self.rows += 1
            self.file.flush()
        except OSError as e:
            raise LogError(f"{self.path}: cannot write ({e.strerror or e})") from None

    def close(self) -> None:
        if self.file is not None and not self.file.closed:
            self.file.close()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
