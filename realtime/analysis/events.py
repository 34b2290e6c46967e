"""Event markers on the session's timeline (stimulus on, task start, ...), as FaceReader and iMotions keep them.

An event has a time in seconds since the source began and a label. It is attached to the first frame
analysed at or after its time (`FrameResult.events`), so every face row of that frame carries it in
the `event` column; a frame with no face has no rows, so the event list itself (the app's events
file, or the file given) is the complete record.

Events come from the window's number keys (labels from --event-labels) or, for recorded videos, from
a file of `time,label` rows (`--events FILE`; `read_events`), with an optional `source` column naming
the video a row belongs to (its file name, or its path under a batch's input folder).
"""

from __future__ import annotations

import bisect
import csv
import math
from dataclasses import dataclass
from pathlib import Path

from errors import UserError

EVENT_KEYS = "123456789"
TIME_COLUMNS = ("time", "time_s", "timestamp_s")


class EventsError(UserError, ValueError):
    """Event labels or an events file that cannot be used; the message is one line."""


@dataclass(frozen=True, order=True)
class Event:
    time_s: float
    label: str
    source: str = ""  # the video it belongs to; "" for any


def default_labels() -> dict[str, str]:
    return {key: f"event {key}" for key in EVENT_KEYS}


def parse_event_labels(text: str | None) -> dict[str, str]:
    """'1=stimulus,2=response' -> the label of each number key (the keys not named keep 'event N')."""
    labels = default_labels()
    if not text:
        return labels
    for item in text.split(","):
        key, sep, label = item.partition("=")
        key, label = key.strip(), label.strip()
        if not sep or key not in EVENT_KEYS or not label:
            raise EventsError(f"--event-labels: {item.strip()!r} is not KEY=LABEL with KEY one of 1-9 "
                              f"(e.g. \"1=stimulus,2=response\")")
        if any(c in label for c in ",;\n\r"):
            raise EventsError(f"--event-labels: the label {label!r} holds a comma, semicolon or line break")
        labels[key] = label
    return labels


def read_events(path: str | Path) -> list[Event]:
    """A CSV of events: a header naming a time column (time, time_s or timestamp_s, in seconds since the
    video began) and `label`, optionally `source`; or headerless `time,label` rows. Sorted by time."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    except FileNotFoundError:
        raise EventsError(f"{path}: events file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise EventsError(f"{path}: cannot read the events file ({getattr(e, 'strerror', None) or e})") from None
    if not rows:
        raise EventsError(f"{path}: the events file is empty (expected time,label rows)")
    header = [c.strip().lower() for c in rows[0]]
    time_column = next((c for c in TIME_COLUMNS if c in header), None)
    if time_column is not None and "label" in header:
        at_time, at_label = header.index(time_column), header.index("label")
        at_source = header.index("source") if "source" in header else None
        first_line, rows = 2, rows[1:]
    else:
        at_time, at_label, at_source, first_line = 0, 1, None, 1
    events = []
    for line, row in enumerate(rows, start=first_line):
        try:
            time_s = float(row[at_time])
            label = row[at_label].strip()
        except (IndexError, ValueError):
            raise EventsError(f"{path}: line {line}: expected a time in seconds and a label, got "
                              f"{','.join(row)!r}") from None
        if not math.isfinite(time_s) or time_s < 0 or not label:
            raise EventsError(f"{path}: line {line}: the time must be seconds >= 0 and the label not empty")
        source = row[at_source].strip() if at_source is not None and at_source < len(row) else ""
        events.append(Event(time_s, label, source))
    return sorted(events)


def events_for(events: list[Event], source: str | Path, under: str | Path | None = None) -> list[Event]:
    """The events that belong to a video: those naming no source, its file name, or its path under `under`."""
    names = {Path(source).name}
    if under is not None:
        try:
            names.add(Path(source).resolve().relative_to(Path(under).resolve()).as_posix())
        except ValueError:
            pass
    return [e for e in events if not e.source or e.source in names]


class EventTimeline:
    """Hands each event to the first frame at or after its time; `mark` adds one now (a key press)."""

    def __init__(self, events: list[Event] = ()):
        self.pending = sorted(events)

    def mark(self, label: str, time_s: float = -math.inf) -> None:
        bisect.insort(self.pending, Event(time_s, label))

    def due(self, timestamp_s: float) -> list[Event]:
        """The events whose time has come by this frame, taken off the list."""
        n = bisect.bisect_right([e.time_s for e in self.pending], timestamp_s)
        due, self.pending = self.pending[:n], self.pending[n:]
        return due
