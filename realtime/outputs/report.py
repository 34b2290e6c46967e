"""Session reports: a summary and plots built from the per-frame CSV log.

    python -m realtime.outputs.report LOG.csv [--out DIR] [--no-progress]

or `build_report(csv_path, out_dir)` from code (what `run_webcam.py --report DIR` calls at the end
of a run). The report only needs the CSV, so a recording can be analysed later or again.

Files written into DIR:
    frames.csv         the log itself, copied in when it lives elsewhere (the folder is self-contained)
    summary.json       per-face statistics, schema in `summarize`
    timeline.png       per face: stacked emotion probabilities over time, valence and arousal below
    va.png             per face: valence-arousal trajectory over the circumplex, coloured by time
    contact_sheet.png  image sources only: every face crop with its file name, id, label and confidence

Figure sizes in pixels (width x height), 10 in wide at 150 dpi so that they stay legible printed:
    timeline.png       1500 x (120 + 580 * n)        n = faces plotted: the 6 (MAX_PLOTTED_FACES) seen in the
                                                     most frames; 1 for image sources
    va.png             1050 x 1020                   one face, and image sources
                       1500 x (160 + 660 * ceil(n / 2))   n >= 2 faces, two per row
    contact_sheet.png  1500 x (110 + 360 * ceil(k / 5))   k = faces, at most 60 (MAX_THUMBNAILS), five per row

Image sources (the `source` column holds image file paths, each image its own frame) get face IDs
that restart per image, so following an ID over time means nothing there. Their summary pools every
face under the key "all" and lists each image's faces under "images"; the timeline shows one bar per
face in file order and va.png one point per face, coloured by its label.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch
from tqdm import tqdm

from errors import UserError
from models import EMOTIONS
from realtime.analysis.capture import IMAGE_SUFFIXES
from realtime.analysis.rows import (
    BOX_COLUMNS,
    FIRST_COLUMNS,
    HEAD_COLUMNS,
    INTEGER_COLUMNS,
    PROB_COLUMNS,
    RAW_PROB_COLUMNS,
    VALUE_RANGES,
)
from realtime.style import AROUSAL_HEX, VALENCE_HEX, emotion_rgb01

DPI = 150
TIMELINE_WIDTH_PX, TIMELINE_HEADER_PX, TIMELINE_FACE_PX = 1500, 120, 580
VA_SINGLE_PX = (1050, 1020)
VA_WIDTH_PX, VA_HEADER_PX, VA_ROW_PX = 1500, 160, 660
SHEET_WIDTH_PX, SHEET_HEADER_PX, SHEET_COLUMNS, SHEET_CELL_H_PX = 1500, 110, 5, 360
SHEET_THUMB_PX = 240
MAX_PLOTTED_FACES = 6
MAX_THUMBNAILS = 60
# Drawing tens of thousands of points makes neither plot more readable, only slower and noisier:
# longer faces are averaged over consecutive frames down to these counts.
MAX_TIMELINE_POINTS = 3000
MAX_TRAJECTORY_POINTS = 600

# The log's columns and their ranges are the writer's (realtime/analysis/rows.py); logs of every
# version are read, so only the columns the first one had are required.
REQUIRED_COLUMNS = FIRST_COLUMNS
# Logs name their AU columns prototype_AU12 / measured_AU12 (older logs: AU12, prototype AUs).
AU_COLUMN = re.compile(r"(prototype_|measured_)?AU\d+")
# Optional: logs written before they were added lack them.
SKIPPED_COLUMN = "skipped_frames"
EVENT_COLUMN = "event"
# Optional, empty where the face had no mesh: head pose and gaze in degrees, and three flags.
HEAD_RANGES = {c: VALUE_RANGES[c] for c in HEAD_COLUMNS}
# Rows are read and parsed this many at a time: memory holds the parsed numbers, never the text.
CHUNK_ROWS = 8192
# Values are written rounded, so allow a hair outside the nominal ranges.
RANGE_TOLERANCE = 1e-6

VALENCE_COLOR, AROUSAL_COLOR = VALENCE_HEX, AROUSAL_HEX
TIME_CMAP = "viridis"  # luminance rises with time, so the order survives greyscale printing
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10.5,
    "figure.titlesize": 15,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
}


class ReportError(UserError):
    """A log that cannot be reported on, or a report that cannot be written; the message is one line."""


@dataclass
class SessionLog:
    """The CSV's rows, sorted by frame then face ID, as arrays."""

    path: Path
    frame: np.ndarray  # int64 [N]
    timestamp_s: np.ndarray  # float64 [N]
    sources: list[str]  # each source once, in the order first logged
    source_index: np.ndarray  # int32 [N] into sources (a string per row would be most of the memory)
    face_id: np.ndarray  # int64 [N]
    box: np.ndarray  # float64 [N, 4] x, y, w, h
    label: np.ndarray  # int64 [N] index into EMOTIONS: the shown label where the log has one
    confidence: np.ndarray  # float64 [N], of that label
    probs: np.ndarray  # float64 [N, 7] smoothed, EMOTIONS order
    valence: np.ndarray  # float64 [N]
    arousal: np.ndarray  # float64 [N]
    au_names: list[str]  # the AUs of the kind the run showed (au_kind)
    aus: np.ndarray  # float64 [N, len(au_names)]; NaN where a measured AU was not measured
    au_kind: str = "prototype"  # "measured" if the run showed measured AUs
    skipped_frames: int = 0  # unreadable frames (image folders: files) skipped up to the last row's frame
    events: list[tuple[float, int, str]] = field(default_factory=list)  # (time_s, frame, label), in time order
    head: dict[str, np.ndarray] = field(default_factory=dict)  # HEAD_RANGES columns the log has; NaN: no mesh

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def is_images(self) -> bool:
        """True when every row comes from an image file rather than a camera or a video."""
        return all(Path(s).suffix.lower() in IMAGE_SUFFIXES for s in self.sources)

    def source(self, i: int) -> str:
        return self.sources[self.source_index[i]]

    def face_ids(self) -> list[int]:
        return sorted(int(i) for i in np.unique(self.face_id))


def read_log(csv_path: str | os.PathLike, progress: bool = False) -> SessionLog:
    """Parse and validate a per-frame CSV log; any problem raises ReportError naming file, line and column.

    The log is read CHUNK_ROWS rows at a time into numeric arrays, so a long log costs its numbers,
    not its text as Python strings (bench/README.md, "Long sessions": a 2-hour log's report peaks at
    a quarter of the memory it took when the whole log was read as text)."""
    path = Path(csv_path)
    if not path.is_file():
        raise ReportError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: tolerate a BOM from spreadsheet tools
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise ReportError(f"{path}: empty file, expected a header line")
            _check_header(path, header)
            parser = _ChunkParser(path, header)
            with tqdm(total=path.stat().st_size, desc="reading log", unit="B", unit_scale=True, leave=False,
                      disable=None if progress else True) as bar:
                rows, lines = [], []
                for row in reader:
                    if row:
                        if len(row) != len(header):
                            raise ReportError(f"{path}: line {reader.line_num}: {len(row)} fields, "
                                              f"the header has {len(header)}")
                        rows.append(row)
                        lines.append(reader.line_num)
                    if len(rows) == CHUNK_ROWS:
                        parser.add(rows, lines)
                        rows, lines = [], []
                        bar.update(f.buffer.tell() - bar.n)
                if rows:
                    parser.add(rows, lines)
    except UnicodeDecodeError as e:
        raise ReportError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except csv.Error as e:
        raise ReportError(f"{path}: malformed CSV: {e}") from None
    except OSError as e:
        raise ReportError(f"{path}: cannot read: {e.strerror or e}") from None
    if not parser.rows:
        raise ReportError(f"{path}: no data rows after the header (no face was logged)")
    return parser.log()


class _ChunkParser:
    """Checks and converts chunks of rows, keeping only the numbers the report uses."""

    def __init__(self, path: Path, header: list[str]):
        self.path, self.header = path, header
        # The report tells what the user saw: the shown label, where the log has it (older logs do not).
        self.label_column, self.confidence_column = (
            ("shown_label", "shown_confidence") if "shown_label" in header else ("label", "confidence"))
        au_columns = [h for h in header if AU_COLUMN.fullmatch(h)]
        self.measured_columns = [h for h in au_columns if h.startswith("measured_")]
        self.prototype_columns = [h for h in au_columns if h not in self.measured_columns]
        self.ranges = ({c: VALUE_RANGES[c] for c in REQUIRED_COLUMNS if c in VALUE_RANGES}
                       | dict.fromkeys(au_columns, (0, 1)) | {self.confidence_column: (0, 1)})
        if SKIPPED_COLUMN in header:
            self.ranges[SKIPPED_COLUMN] = VALUE_RANGES[SKIPPED_COLUMN]
        self.head = [c for c in HEAD_RANGES if c in header]
        self.ranges |= {c: HEAD_RANGES[c] for c in self.head}
        self.blank_is_nan = set(self.measured_columns) | set(self.head)
        self.events: dict[tuple[int, str], float] = {}  # (frame, label) -> time: a frame's events once
        self.chunks: dict[str, list[np.ndarray]] = {name: [] for name in (*self.ranges, "label", "source")
                                                    if name not in RAW_PROB_COLUMNS}
        self.sources: dict[str, int] = {}
        self.measured_shown = False  # whether any row showed measured AUs
        self.rows = 0

    def add(self, rows: list[list[str]], lines: list[int]) -> None:
        cells = dict(zip(self.header, zip(*rows, strict=True), strict=True))  # column name -> this chunk's cells
        labels = cells[self.label_column]
        codes = {e: k for k, e in enumerate(EMOTIONS)}
        unknown = [i for i, label in enumerate(labels) if label not in codes]
        if unknown:
            i = unknown[0]
            raise ReportError(f"{self.path}: line {lines[i]}, column '{self.label_column}': unknown emotion "
                              f"'{labels[i]}' (expected one of {', '.join(EMOTIONS)})")
        self.chunks["label"].append(np.fromiter((codes[s] for s in labels), np.int8, len(labels)))
        self.chunks["source"].append(np.fromiter((self.sources.setdefault(s, len(self.sources))
                                                  for s in cells["source"]), np.int32, len(labels)))
        self.measured_shown |= "measured" in cells.get("au_source", ())
        for name, (lo, hi) in self.ranges.items():
            values = _parse_column(self.path, name, cells[name], lines, lo, hi, blank_is_nan=name in self.blank_is_nan)
            if name not in RAW_PROB_COLUMNS:  # checked, but no plot or figure uses them
                self.chunks[name].append(values)
        frames, times = self.chunks["frame"][-1], self.chunks["timestamp_s"][-1]
        for i, text in enumerate(cells.get(EVENT_COLUMN, ())):  # every face row of a frame carries its events
            for label in filter(None, text.split(";")):
                self.events.setdefault((int(frames[i]), label), float(times[i]))
        self.rows += len(rows)

    def log(self) -> SessionLog:
        values = {name: np.concatenate(self.chunks.pop(name)) for name in list(self.chunks) if self.chunks[name]}
        order = np.lexsort((values["face_id"], values["frame"]))
        au_kind = "measured" if self.measured_columns and self.measured_shown else "prototype"
        shown_aus = self.measured_columns if au_kind == "measured" else self.prototype_columns

        def stacked(names):
            return np.column_stack([values[c] for c in names])[order] if names else np.zeros((len(order), 0))

        # Sources numbered in the order the sorted rows first show them.
        codes = values["source"][order]
        seen, first = np.unique(codes, return_index=True)
        in_order = seen[np.argsort(first)]
        renumber = np.empty(len(self.sources), np.int32)
        renumber[in_order] = np.arange(len(in_order), dtype=np.int32)
        names = list(self.sources)
        return SessionLog(
            path=self.path,
            frame=values["frame"][order],
            timestamp_s=values["timestamp_s"][order],
            sources=[names[c] for c in in_order],
            source_index=renumber[codes],
            face_id=values["face_id"][order],
            box=stacked(BOX_COLUMNS),
            label=values["label"][order].astype(np.int64),
            confidence=values[self.confidence_column][order],
            probs=stacked(PROB_COLUMNS),
            valence=values["valence"][order],
            arousal=values["arousal"][order],
            au_names=[h.rsplit("_", 1)[-1] for h in shown_aus],
            aus=stacked(shown_aus),
            au_kind=au_kind,
            skipped_frames=int(values[SKIPPED_COLUMN].max()) if SKIPPED_COLUMN in values else 0,
            events=sorted((t, frame, label) for (frame, label), t in self.events.items()),
            head={c: values[c][order] for c in self.head},
        )


def _check_header(path: Path, header: list[str]) -> None:
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ReportError(f"{path}: line 1: column '{duplicates[0]}' appears twice in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if len(missing) > 4:
        raise ReportError(f"{path}: line 1: missing {len(missing)} of the {len(REQUIRED_COLUMNS)} required columns, "
                          f"e.g. {', '.join(repr(c) for c in missing[:3])} (not a log written by run_webcam.py?)")
    if missing:
        raise ReportError(f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(repr(c) for c in missing)} in the header")


def _parse_column(path: Path, name: str, cells: tuple[str, ...], line_numbers: list[int], lo: float,
                  hi: float, blank_is_nan: bool = False) -> np.ndarray:
    """One numeric column, checked; blank_is_nan: an empty cell (a measured AU that was not measured) is NaN."""
    integer = name in INTEGER_COLUMNS and not blank_is_nan  # a flag that may be empty is read as a float
    kind, convert = ("an integer", int) if integer else ("a number", float)
    if blank_is_nan:
        cells = tuple(c if c else "nan" for c in cells)
    try:
        values = np.fromiter(map(convert, cells), np.int64 if integer else np.float64, len(cells))
    except ValueError:
        # Only now go cell by cell, to name the culprit.
        for cell, line in zip(cells, line_numbers, strict=True):
            try:
                convert(cell)
            except ValueError:
                raise ReportError(f"{path}: line {line}, column '{name}': {cell!r} is not {kind}") from None
        raise
    non_finite = np.flatnonzero(~np.isfinite(values) & ~(blank_is_nan & np.isnan(values)))
    if non_finite.size:
        i = non_finite[0]
        raise ReportError(f"{path}: line {line_numbers[i]}, column '{name}': {cells[i]!r} is not a finite number")
    outside = np.flatnonzero((values < lo - RANGE_TOLERANCE) | (values > hi + RANGE_TOLERANCE))
    if outside.size:
        i = outside[0]
        raise ReportError(f"{path}: line {line_numbers[i]}, column '{name}': {cells[i]} is outside [{lo:g}, {hi:g}]")
    return values


def summarize(log: SessionLog) -> dict:
    """The summary.json content. All floats are rounded to 4 decimals; std is the population std.

    {"csv": "frames.csv", "source": the camera index or video path (image folders: their common folder;
     a list if the log mixes several), "kind": "stream" | "images", "frames": distinct frames logged,
     "rows": face rows, "skipped_frames": unreadable frames skipped (image folders: unreadable files; from
     the log alone, those before its last row's frame), "duration_s": last - first timestamp,
     "emotions": class order, "aus": AU names,
     "au_source": "measured" or "prototype" (the kind of AU the run showed, which "aus" and the AU means use;
     a measured AU mean counts only the rows where the face was measured, null if none),
     "events": [{"time_s", "frame", "label"}] the events marked (the `event` column), in time order,
     "faces": {"<id>": {"frames", "first_s", "last_s", "duration_s", "emotion_share": {emotion: fraction
               of the face's rows with that label}, "dominant_emotion", "mean_probs": {emotion: mean
               smoothed probability}, "valence": {"mean", "std", "min", "max"}, "arousal": {...},
               "aus_mean": {AU: mean}, "head": {"head_yaw": {"mean", "std", "min", "max"}, ... for the
               angles (degrees), "head_frontal_share", "eyes_closed_share", "mouth_open_share": fractions
               of the rows with a mesh; null where none}}},
     "plotted_faces": [ids drawn in timeline.png and va.png],
     "files" (added by build_report): {"timeline": "timeline.png", "va": "va.png",
                                       "contact_sheet": "contact_sheet.png" or null}}

    Image sources: "faces" holds one entry "all" pooling every face ("frames" counts images with a face,
    "detections" counts faces, no timing fields), and "images" maps each image path, in file order, to
    its faces: [{"face_id", "box": [x, y, w, h] in whole pixels, "label", "confidence", "probs", "valence", "arousal",
    "aus"}].
    """
    images = log.is_images
    sources = log.sources
    if images:
        folders = {str(Path(s).parent) for s in sources}
        source = os.path.commonpath(sorted(folders)) if len(folders) > 1 else folders.pop()
    else:
        source = sources[0] if len(sources) == 1 else sources
    summary = {
        "csv": "frames.csv",
        "source": source,
        "kind": "images" if images else "stream",
        "frames": int(np.unique(log.frame).size),
        "rows": len(log),
        "skipped_frames": log.skipped_frames,
        "duration_s": _round(log.timestamp_s.max() - log.timestamp_s.min()),
        "emotions": list(EMOTIONS),
        "aus": log.au_names,
        "au_source": log.au_kind,
        "events": [{"time_s": _round(t), "frame": frame, "label": label} for t, frame, label in log.events],
    }
    if images:
        summary["faces"] = {"all": {"detections": len(log), **_face_stats(log, np.ones(len(log), bool), timing=False)}}
        summary["images"] = {}
        for i in range(len(log)):
            summary["images"].setdefault(log.source(i), []).append({
                "face_id": int(log.face_id[i]),
                "box": [round(float(v)) for v in log.box[i]],
                "label": EMOTIONS[log.label[i]],
                "confidence": _round(log.confidence[i]),
                "probs": dict(zip(EMOTIONS, map(_round, log.probs[i]), strict=True)),
                "valence": _round(log.valence[i]),
                "arousal": _round(log.arousal[i]),
                "aus": dict(zip(log.au_names, map(_round_or_none, log.aus[i]), strict=True)),
            })
        summary["plotted_faces"] = ["all"]
    else:
        summary["faces"] = {str(fid): _face_stats(log, log.face_id == fid) for fid in log.face_ids()}
        summary["plotted_faces"] = _faces_to_plot(log)
    return summary


def _face_stats(log: SessionLog, mask: np.ndarray, timing: bool = True) -> dict:
    labels = log.label[mask]
    share = np.bincount(labels, minlength=len(EMOTIONS)) / labels.size
    mean_probs = log.probs[mask].mean(axis=0)
    # Ties in share go to the emotion the smoothed probabilities favoured overall.
    dominant = max(range(len(EMOTIONS)), key=lambda k: (share[k], mean_probs[k]))
    stats = {"frames": int(np.unique(log.frame[mask]).size)}
    if timing:
        t = log.timestamp_s[mask]
        stats.update(first_s=_round(t.min()), last_s=_round(t.max()), duration_s=_round(t.max() - t.min()))
    stats.update(
        emotion_share=dict(zip(EMOTIONS, map(_round, share), strict=True)),
        dominant_emotion=EMOTIONS[dominant],
        mean_probs=dict(zip(EMOTIONS, map(_round, mean_probs), strict=True)),
        valence=_spread(log.valence[mask]),
        arousal=_spread(log.arousal[mask]),
        aus_mean=dict(zip(log.au_names, map(_round_or_none, _nan_mean(log.aus[mask])), strict=True)),
    )
    if log.head:
        stats["head"] = _head_stats({c: v[mask] for c, v in log.head.items()})
    return stats


def _head_stats(head: dict[str, np.ndarray]) -> dict:
    """Per angle its spread over the rows with a mesh; per flag the share of those rows where it is 1."""
    out = {}
    for name, values in head.items():
        seen = values[~np.isnan(values)]
        if HEAD_RANGES[name] == (0, 1):
            out[f"{name}_share"] = _round(seen.mean()) if seen.size else None
        else:
            out[name] = _spread(seen) if seen.size else None
    return out


def _spread(values: np.ndarray) -> dict:
    return {"mean": _round(values.mean()), "std": _round(values.std()),
            "min": _round(values.min()), "max": _round(values.max())}


def _round(x) -> float:
    return round(float(x), 4) + 0.0  # + 0.0 turns -0.0 into 0.0


def _round_or_none(x) -> float | None:
    """None for NaN: an AU that was never measured has no value, and JSON has no NaN."""
    return None if np.isnan(x) else _round(x)


def _nan_mean(values: np.ndarray) -> np.ndarray:
    """Column means over the rows where the value exists (NaN for a column with none)."""
    seen = ~np.isnan(values)
    return np.divide(np.where(seen, values, 0).sum(axis=0), seen.sum(axis=0),
                     out=np.full(values.shape[1], np.nan), where=seen.sum(axis=0) > 0)


def _faces_to_plot(log: SessionLog) -> list[int]:
    """The faces seen in the most frames, in ID order."""
    ids, counts = np.unique(log.face_id, return_counts=True)
    top = ids[np.argsort(-counts, kind="stable")][:MAX_PLOTTED_FACES]
    return sorted(int(i) for i in top)


def build_report(csv_path: str | os.PathLike, out_dir: str | os.PathLike, progress: bool = True,
                 skipped_frames: int | None = None) -> dict:
    """Write summary.json, timeline.png, va.png (and contact_sheet.png for image sources) into out_dir.

    Returns the summary. The log is read and validated before anything is written. progress shows
    tqdm bars on stderr when it is a terminal. skipped_frames, from the run itself, also counts the
    unreadable frames after the log's last row.
    """
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    log = read_log(csv_path, progress=progress)
    summary = summarize(log)
    if skipped_frames is not None:
        summary["skipped_frames"] = skipped_frames
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if csv_path.resolve().parent == out_dir.resolve():
            summary["csv"] = csv_path.name
        else:
            shutil.copyfile(csv_path, out_dir / "frames.csv")
        summary["files"] = {"timeline": "timeline.png", "va": "va.png", "contact_sheet": None}
        sheet = out_dir / "contact_sheet.png"

        def contact_sheet():
            if _plot_contact_sheet(log, sheet):
                summary["files"]["contact_sheet"] = sheet.name
            else:
                print(f"warning: none of the images named in {csv_path} could be read, so no contact sheet",
                      file=sys.stderr)

        plots = [lambda: _plot_timeline(log, summary, out_dir / "timeline.png"),
                 lambda: _plot_va(log, summary, out_dir / "va.png")]
        if log.is_images:
            plots.append(contact_sheet)
        with matplotlib.rc_context(STYLE):
            for plot in tqdm(plots, desc="building report", unit=" plots", leave=False,
                             disable=None if progress else True):
                plot()
        if summary["files"]["contact_sheet"] is None and sheet.exists():
            sheet.unlink()  # left by an earlier build of another log, it would not match this one
        with open(out_dir / "summary.json", "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, ensure_ascii=False)
            f.write("\n")
    except OSError as e:
        raise ReportError(f"{out_dir}: cannot write the report: {e.strerror or e}") from None
    return summary


# ---------------------------------------------------------------------------------------------- plots

def _save(fig: Figure, path: Path) -> None:
    # No bbox_inches="tight": it would change the pixel size documented above.
    fig.savefig(path, dpi=DPI, facecolor="white")


def _face_title(fid, stats: dict) -> str:
    share = stats["emotion_share"][stats["dominant_emotion"]]
    frames = f"{stats['frames']} frame{'s' if stats['frames'] != 1 else ''}"
    return f"Face {fid}  ·  {frames} over {stats['duration_s']:.1f} s  ·  mostly {stats['dominant_emotion']} " \
           f"({share:.0%})"


def _source_name(summary: dict) -> str:
    source = summary["source"]
    if isinstance(source, list):
        return f"{len(source)} sources"
    return "camera " + source if source.isdigit() else Path(source).name or source


def _plotted_note(summary: dict) -> str:
    total = len(summary["faces"])
    shown = len(summary["plotted_faces"])
    return f"  (the {shown} of {total} faces seen longest)" if shown < total else ""


def _downsample(max_points: int, *arrays: np.ndarray) -> list[np.ndarray]:
    """Means over runs of consecutive rows, so that at most max_points remain."""
    n = len(arrays[0])
    if n <= max_points:
        return list(arrays)
    starts = np.arange(0, n, math.ceil(n / max_points))
    counts = np.diff(np.append(starts, n))
    return [np.add.reduceat(a, starts, axis=0) / (counts if a.ndim == 1 else counts[:, None]) for a in arrays]


def _gap_mask(t: np.ndarray) -> np.ndarray:
    """True before each jump in time long enough that the face was clearly gone, not just missed once."""
    dt = np.diff(t)
    if dt.size == 0:
        return np.zeros(0, bool)
    return dt > max(1.0, 5 * np.median(dt))


def _with_gaps(t: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """Insert a NaN sample into each gap, which matplotlib leaves blank instead of bridging."""
    cut = np.flatnonzero(_gap_mask(t)) + 1
    out = [np.insert(t, cut, t[cut - 1] + 1e-9)]
    for a in arrays:
        out.append(np.insert(a.astype(float), cut, np.nan, axis=0))
    return out


def _emotion_handles() -> list:
    return [Patch(facecolor=emotion_rgb01(e), label=e) for e in EMOTIONS]


def _va_handles() -> list:
    return [Line2D([], [], color=VALENCE_COLOR, lw=2, label="valence"),
            Line2D([], [], color=AROUSAL_COLOR, lw=2, ls="--", label="arousal")]


def _figure(width_px: int, height_px: int) -> Figure:
    return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")


def _plot_timeline(log: SessionLog, summary: dict, path: Path) -> None:
    groups = ["all"] if log.is_images else summary["plotted_faces"]
    width, height = TIMELINE_WIDTH_PX, TIMELINE_HEADER_PX + TIMELINE_FACE_PX * len(groups)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)

    def axes_at(left, top, w, h):  # pixels from the top left, so every face block has the same geometry
        return fig.add_axes((left / width, 1 - (top + h) / height, w / width, h / height))

    if log.is_images:
        title = f"Emotions per face — {summary['rows']} faces in {summary['frames']} images"
    else:
        title = f"Emotions over time — {_source_name(summary)}{_plotted_note(summary)}"
    fig.text(0.5, 1 - 38 / height, title, ha="center", va="center", fontsize=15, fontweight="bold")
    turned = not log.is_images and "head_frontal" in log.head and bool(np.any(log.head["head_frontal"] == 0))
    handles = _emotion_handles() + _va_handles() + ([_turned_handle()] if turned else [])
    fig.legend(handles=handles, loc="center", bbox_to_anchor=(0.5, 1 - 92 / height), ncols=len(handles),
              frameon=False, handlelength=1.5, columnspacing=1.1, handletextpad=0.5, fontsize=11)
    t_lo, t_hi = log.timestamp_s.min(), log.timestamp_s.max()
    if t_hi - t_lo < 1e-6:
        t_lo, t_hi = t_lo - 0.5, t_hi + 0.5
    left, plot_w = 130, width - 130 - 40
    for i, group in enumerate(groups):
        top = TIMELINE_HEADER_PX + i * TIMELINE_FACE_PX
        ax_p = axes_at(left, top + 45, plot_w, 290)
        ax_va = axes_at(left, top + 350, plot_w, 135)
        ax_va.sharex(ax_p)
        ax_p.tick_params(labelbottom=False)
        if log.is_images:
            face_title = "All faces in file order (face IDs restart with each image)"
            _timeline_images(log, ax_p, ax_va)
        else:
            face_title = _face_title(group, summary["faces"][str(group)])
            mask = log.face_id == group
            _timeline_stream(log.timestamp_s[mask], log.probs[mask], log.valence[mask], log.arousal[mask],
                             ax_p, ax_va)
            if turned:
                _turned_spans(log.timestamp_s[mask], log.head["head_frontal"][mask], ax_p)
            _event_marks(log.events, ax_p, ax_va)
            ax_va.set_xlim(t_lo, t_hi)
            ax_va.set_xlabel("time since start (s)")
        ax_p.set_title(face_title, fontsize=12.5, fontweight="bold", loc="left", pad=10)
        ax_p.set_ylim(0, 1)
        ax_p.set_ylabel("probability")
        ax_p.set_yticks([0, 0.25, 0.5, 0.75, 1])
        ax_va.set_ylim(-1.05, 1.05)
        ax_va.set_yticks([-1, 0, 1])
        ax_va.set_ylabel("valence,\narousal")
        ax_va.axhline(0, color="#999999", lw=0.8, zorder=0)
        for ax in (ax_p, ax_va):
            ax.grid(axis="x", color="#dddddd", lw=0.6)
            ax.set_axisbelow(True)
            ax.yaxis.set_label_coords(-0.05, 0.5)
    _save(fig, path)


def _timeline_stream(t, probs, valence, arousal, ax_p, ax_va) -> None:
    if len(t) == 1:  # a lone frame would draw as a zero-width sliver
        t = np.array([t[0] - 1 / 60, t[0] + 1 / 60])
        probs, valence, arousal = (np.repeat(a, 2, axis=0) for a in (probs, valence, arousal))
    t, probs, valence, arousal = _downsample(MAX_TIMELINE_POINTS, t, probs, valence, arousal)
    t, probs, valence, arousal = _with_gaps(t, probs, valence, arousal)
    ax_p.stackplot(t, probs.T, colors=[emotion_rgb01(e) for e in EMOTIONS], linewidth=0)
    ax_va.plot(t, valence, color=VALENCE_COLOR, lw=1.6)
    ax_va.plot(t, arousal, color=AROUSAL_COLOR, lw=1.6, ls="--")


def _turned_handle() -> Patch:
    return Patch(facecolor="white", edgecolor="#444444", hatch="///", alpha=0.7, label="head turned")


def _turned_spans(t: np.ndarray, frontal: np.ndarray, ax_p) -> None:
    """Hatch the stretches where the head was turned past the limits within which expressions hold
    (head_frontal 0): the probabilities under them are less to be trusted."""
    turned = frontal == 0
    if not turned.any():
        return
    step = float(np.median(np.diff(t))) if len(t) > 1 else 1 / 30
    edges = np.diff(np.concatenate([[0], turned.astype(int), [0]]))
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        ax_p.axvspan(t[start], t[end - 1] + step, facecolor="white", edgecolor="#444444", hatch="///", alpha=0.7,
                     lw=0, zorder=4)


def _event_marks(events: list[tuple[float, int, str]], ax_p, ax_va) -> None:
    """A line through both plots at each event, its label above the probabilities."""
    for t, _, label in events:
        for ax in (ax_p, ax_va):
            ax.axvline(t, color="#222222", lw=1.2, ls=(0, (4, 2)), zorder=5)
        ax_p.annotate(label, (t, 1), xytext=(3, -3), textcoords="offset points", fontsize=9, va="top", ha="left",
                      color="#222222", zorder=6, bbox={"boxstyle": "round,pad=0.2", "facecolor": "white",
                                                       "edgecolor": "none", "alpha": 0.85})


def _timeline_images(log: SessionLog, ax_p, ax_va) -> None:
    x = np.arange(1, len(log) + 1)
    bottom = np.zeros(len(log))
    for k, emotion in enumerate(EMOTIONS):
        ax_p.bar(x, log.probs[:, k], bottom=bottom, width=1.0, color=emotion_rgb01(emotion), linewidth=0)
        bottom += log.probs[:, k]
    marker = len(log) <= 60
    ax_va.plot(x, log.valence, color=VALENCE_COLOR, lw=1.2, marker="o" if marker else None, ms=4)
    ax_va.plot(x, log.arousal, color=AROUSAL_COLOR, lw=1.2, ls="--", marker="s" if marker else None, ms=4)
    ax_va.set_xlim(0.5, len(log) + 0.5)
    ax_va.set_xlabel("face # (file order, as numbered on the contact sheet)")
    if len(log) <= 30:
        ax_va.set_xticks(x)


def _draw_circumplex(ax) -> None:
    ax.add_patch(Circle((0, 0), 1, fill=False, color="#888888", lw=1, zorder=0))
    ax.axhline(0, color="#aaaaaa", lw=0.8, zorder=0)
    ax.axvline(0, color="#aaaaaa", lw=0.8, zorder=0)
    quadrants = [(1, 1, "pleasant, activated\n(excited, happy)"), (-1, 1, "unpleasant, activated\n(stressed, afraid)"),
                 (-1, -1, "unpleasant, calm\n(sad, bored)"), (1, -1, "pleasant, calm\n(relaxed, content)")]
    for sx, sy, text in quadrants:
        ax.text(1.17 * sx, 1.17 * sy, text, ha="right" if sx > 0 else "left", va="top" if sy > 0 else "bottom",
                fontsize=9.5, color="#555555", style="italic", linespacing=1.1, zorder=0)
    ax.set_xlim(-1.2, 1.2)
    ax.set_ylim(-1.2, 1.2)
    ax.set_aspect("equal")
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set_yticks([-1, -0.5, 0, 0.5, 1])
    ax.set_xlabel("valence (unpleasant → pleasant)")
    ax.set_ylabel("arousal (calm → activated)")
    ax.spines[["top", "right"]].set_visible(True)


def _plot_va(log: SessionLog, summary: dict, path: Path) -> None:
    if log.is_images:
        fig = _figure(*VA_SINGLE_PX)
        ax = fig.subplots()
        _draw_circumplex(ax)
        _va_images(log, ax)
        fig.suptitle(f"Valence and arousal — {summary['rows']} faces in {summary['frames']} images")
        _save(fig, path)
        return
    ids = summary["plotted_faces"]
    if len(ids) == 1:
        fig = _figure(*VA_SINGLE_PX)
        axes = [fig.subplots()]
    else:
        rows = math.ceil(len(ids) / 2)
        fig = _figure(VA_WIDTH_PX, VA_HEADER_PX + VA_ROW_PX * rows)
        axes = list(fig.subplots(rows, 2).ravel())
        for ax in axes[len(ids):]:
            ax.set_visible(False)
        axes = axes[:len(ids)]
    fig.suptitle(f"Valence and arousal over time — {_source_name(summary)}{_plotted_note(summary)}")
    norm = Normalize(log.timestamp_s.min(), max(log.timestamp_s.max(), log.timestamp_s.min() + 1e-6))
    cmap = matplotlib.colormaps[TIME_CMAP]
    for ax, fid in zip(axes, ids, strict=True):
        _draw_circumplex(ax)
        stats = summary["faces"][str(fid)]
        mean = stats["valence"]["mean"], stats["arousal"]["mean"]
        mask = log.face_id == fid
        _va_trajectory(ax, log.timestamp_s[mask], log.valence[mask], log.arousal[mask], mean, norm, cmap)
        ax.set_title(f"Face {fid}  ({stats['duration_s']:.1f} s)\n"
                     f"mean valence {mean[0]:+.2f}, arousal {mean[1]:+.2f}", fontsize=11.5)
    fig.legend(handles=[
        Line2D([], [], ls="", marker="o", ms=9, mfc="white", mec="black", mew=2, label="start"),
        Line2D([], [], ls="", marker="s", ms=8, mfc="black", mec="black", label="end"),
        Line2D([], [], ls="", marker="X", ms=11, mfc="white", mec="black", mew=1.5, label="mean"),
    ], loc="outside lower center", ncols=3, frameon=False)
    fig.colorbar(ScalarMappable(norm, cmap), ax=axes, label="time since start (s)", shrink=0.8, aspect=30)
    _save(fig, path)


def _va_trajectory(ax, t, valence, arousal, mean, norm, cmap) -> None:
    t, valence, arousal = _downsample(MAX_TRAJECTORY_POINTS, t, valence, arousal)
    points = np.column_stack([valence, arousal])
    joined = ~_gap_mask(t)  # a face that left and came back is not drawn as if it jumped
    segments = np.stack([points[:-1], points[1:]], axis=1)[joined]
    lines = LineCollection(segments, cmap=cmap, norm=norm, lw=2.2, alpha=0.9, zorder=2)
    lines.set_array(((t[:-1] + t[1:]) / 2)[joined])
    ax.add_collection(lines)
    ax.scatter(valence, arousal, c=t, cmap=cmap, norm=norm, s=9, zorder=3, linewidths=0)
    ax.plot(valence[0], arousal[0], marker="o", ms=9, mfc="white", mec="black", mew=2, zorder=4)
    ax.plot(valence[-1], arousal[-1], marker="s", ms=8, mfc="black", mec="black", zorder=4)
    ax.plot(*mean, marker="X", ms=11, mfc="white", mec="black", mew=1.5, zorder=5)


def _va_images(log: SessionLog, ax) -> None:
    present = []
    for k, emotion in enumerate(EMOTIONS):
        mask = log.label == k
        if mask.any():
            ax.scatter(log.valence[mask], log.arousal[mask], s=70, color=emotion_rgb01(emotion), edgecolors="black",
                       linewidths=0.8, zorder=3)
            present.append(Patch(facecolor=emotion_rgb01(emotion), edgecolor="black",
                                 label=f"{emotion} ({mask.sum()})"))
    ax.figure.legend(handles=present, title="label (number of faces)", loc="outside lower center", ncols=4,
                     frameon=False)


def _square_crop(image: np.ndarray, box: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """Square cut around the face box, padded with grey where it runs off the image."""
    x, y, w, h = box
    side = max(w, h) * (1 + margin)
    if side < 2:
        return image
    x0, y0 = round(x + w / 2 - side / 2), round(y + h / 2 - side / 2)
    x1, y1 = x0 + round(side), y0 + round(side)
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(200, 200, 200))
    return image[y0 + pad:y1 + pad, x0 + pad:x1 + pad]


def _read_image(log: SessionLog, source: str) -> np.ndarray | None:
    """The image as RGB; relative paths are tried from the working directory, then from the CSV's folder."""
    for candidate in (Path(source), log.path.parent / source):
        if candidate.is_file():
            image = cv2.imread(str(candidate), cv2.IMREAD_COLOR)
            if image is not None:
                return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return None


def _text_color(rgb01: tuple[float, float, float]) -> str:
    """Black or white, whichever contrasts more with the background (WCAG relative luminance)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb01]
    luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "black" if luminance > 0.179 else "white"


def _middle_ellipsis(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit // 2 - 1] + "…" + text[-(limit - limit // 2):]


def _plot_contact_sheet(log: SessionLog, path: Path) -> bool:
    """One thumbnail per face in file order; False (nothing written) when no image could be read."""
    n = min(len(log), MAX_THUMBNAILS)
    rows = math.ceil(n / SHEET_COLUMNS)
    width, height = SHEET_WIDTH_PX, SHEET_HEADER_PX + SHEET_CELL_H_PX * rows
    cell_w = width // SHEET_COLUMNS
    canvas = np.full((height, width, 3), 255, np.uint8)
    labels = []
    source, image = None, None
    for i in range(n):
        if log.source(i) != source:  # rows come image by image; holding one at a time bounds the memory
            source = log.source(i)
            image = _read_image(log, source)
        row, col = divmod(i, SHEET_COLUMNS)
        x0 = col * cell_w + (cell_w - SHEET_THUMB_PX) // 2
        y0 = SHEET_HEADER_PX + row * SHEET_CELL_H_PX + 10
        emotion = EMOTIONS[log.label[i]]
        border = np.array(emotion_rgb01(emotion)) * 255
        canvas[y0 - 5:y0 + SHEET_THUMB_PX + 5, x0 - 5:x0 + SHEET_THUMB_PX + 5] = border
        if image is None:
            canvas[y0:y0 + SHEET_THUMB_PX, x0:x0 + SHEET_THUMB_PX] = 225
        else:
            crop = _square_crop(image, log.box[i])
            canvas[y0:y0 + SHEET_THUMB_PX, x0:x0 + SHEET_THUMB_PX] = cv2.resize(
                crop, (SHEET_THUMB_PX, SHEET_THUMB_PX), interpolation=cv2.INTER_AREA)
        labels.append((x0, y0, source, image is not None, int(log.face_id[i]), emotion, float(log.confidence[i])))
    if not any(label[3] for label in labels):
        return False

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, interpolation="none", extent=(0, width, height, 0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    shown = f"first {n} of {len(log)} faces" if n < len(log) else f"{n} face{'s' if n != 1 else ''}"
    n_images = len(log.sources)
    ax.text(width / 2, 38, f"Faces found — {shown} in {n_images} image{'s' if n_images != 1 else ''}",
            ha="center", va="center", fontsize=15, fontweight="bold")
    ax.text(width / 2, 80, "#: number on the timeline's x axis; border and tag: predicted emotion (confidence)",
            ha="center", va="center", fontsize=10, color="#444444")
    for number, (x0, y0, source, readable, face_id, emotion, confidence) in enumerate(labels, start=1):
        cx = x0 + SHEET_THUMB_PX / 2
        text_y = y0 + SHEET_THUMB_PX + 8
        name = _middle_ellipsis(Path(source).name, 24)
        if not readable:
            ax.text(cx, y0 + SHEET_THUMB_PX / 2, "image not found\nor unreadable", ha="center", va="center",
                    fontsize=10)
        ax.text(cx, text_y, name, ha="center", va="top", fontsize=9)
        ax.text(cx, text_y + 26, f"#{number}  ·  face {face_id}", ha="center", va="top", fontsize=9,
                color="#444444")
        color = emotion_rgb01(emotion)
        ax.text(cx, text_y + 52, f"{emotion} {confidence:.2f}", ha="center", va="top", fontsize=10.5,
                fontweight="bold", color=_text_color(color),
                bbox={"boxstyle": "round,pad=0.25", "facecolor": color, "edgecolor": "none"})
    _save(fig, path)
    return True


# ------------------------------------------------------------------------------------------------ CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.outputs.report", description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="per-frame log written by run_webcam.py")
    parser.add_argument("--out", help="report folder (default: the CSV's folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.csv).parent
    try:
        summary = build_report(args.csv, out, progress=not args.no_progress)
    except UserError as e:  # a bad log, or a damaged mapping table the columns come from
        print(f"error: {e}", file=sys.stderr)
        return 2
    files = [f for f in ("summary.json", *summary["files"].values()) if f]
    print(f"report in {out}: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
