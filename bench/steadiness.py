"""How steady the live output is, and what the smoothing costs in lag, on real face videos.

    python -m bench.steadiness [--videos ../shared/videos] [--alphas 0 0.5 0.7 0.8 0.9]

Runs the app's own loop headless on every clip with smoothing off, so the CSV log holds each
face's per-frame probabilities, then replays those probabilities through the app's smoother
(`realtime.smooth.ProbabilitySmoother`) and affect mapping at each smoothing factor. Prints,
per factor: label changes per second of face time, flickers per second (a label shown for
less than `--flicker-ms` between two stretches of another one), the median and 95th percentile of the
frame-to-frame change in valence and arousal, and the delay the smoothing adds.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TQDM_DISABLE", "1")  # the app's progress bar; this script prints tables

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mappings import affect_batch  # noqa: E402
from models import EMOTIONS  # noqa: E402
from realtime.app import AppConfig, run  # noqa: E402
from realtime.faces import Detection, Face  # noqa: E402
from realtime.smooth import ProbabilitySmoother  # noqa: E402

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}


@dataclass
class Track:
    clip: str
    face_id: int
    frames: np.ndarray  # [T] frame indices, increasing
    timestamps: np.ndarray  # [T] seconds, as the app's smoother saw them
    seconds: float  # time the face was on screen
    raw_probs: np.ndarray  # [T, 7]


@dataclass
class Steadiness:
    label_changes_per_s: float
    flickers_per_s: float
    valence_step: tuple[float, float]  # median, 95th percentile of |frame-to-frame change|
    arousal_step: tuple[float, float]
    delay_ms: float  # how far the smoothed valence trails the unsmoothed one


def read_tracks(csv_path: Path, clip: str, fps: float) -> list[Track]:
    rows: dict[int, list[tuple[int, float, np.ndarray]]] = {}
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            probs = np.array([float(row[f"raw_p_{e}"]) for e in EMOTIONS], np.float32)
            rows.setdefault(int(row["face_id"]), []).append((int(row["frame"]), float(row["timestamp_s"]), probs))
    tracks = []
    for face_id, seq in rows.items():
        frames = np.array([i for i, _, _ in seq])
        timestamps = np.array([t for _, t, _ in seq])
        tracks.append(Track(clip, face_id, frames, timestamps, len(frames) / fps, np.stack([p for _, _, p in seq])))
    return tracks


def smooth(track: Track, alpha: float) -> np.ndarray:
    """The track's probabilities as the app shows them at smoothing `alpha`."""
    smoother = ProbabilitySmoother(alpha)
    out = []
    for probs, timestamp_s in zip(track.raw_probs, track.timestamps, strict=True):
        face = Face(Detection((0, 0, 1, 1), 1.0), raw_probs=probs, track_id=track.face_id)
        smoother.update([face], timestamp_s=timestamp_s)
        out.append(face.probs)
    return np.stack(out)


def count_flickers(labels: np.ndarray, max_frames: int) -> int:
    """Runs of at most max_frames frames with a different label on both sides."""
    starts = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], starts, [len(labels)]])
    lengths = np.diff(bounds)
    return int(np.sum(lengths[1:-1] <= max_frames))


def lag_frames(reference: np.ndarray, delayed: np.ndarray, max_lag: int = 30) -> float:
    """The shift (frames) that best lines `delayed` up with `reference`: the cross-correlation
    peak, refined between frames by a parabola through it and its neighbours."""
    a = reference - reference.mean()
    b = delayed - delayed.mean()
    n, reach = len(a), min(max_lag, len(a) - 2)
    lags = np.arange(-reach, reach + 1)
    corr = np.array([np.dot(a[:n - k], b[k:]) if k >= 0 else np.dot(a[-k:], b[:n + k]) for k in lags]) / (n - abs(lags))
    i = int(corr.argmax())
    if 0 < i < len(corr) - 1:
        left, mid, right = corr[i - 1:i + 2]
        if left - 2 * mid + right < 0:
            return lags[i] + 0.5 * (left - right) / (left - 2 * mid + right)
    return float(lags[i])


def measure(tracks: list[Track], alpha: float, flicker_frames: int) -> Steadiness:
    changes, flickers, seconds, dv, da, delays = 0, 0, 0.0, [], [], []
    for track in tracks:
        probs = smooth(track, alpha)
        labels = probs.argmax(axis=1)
        contiguous = np.diff(track.frames) == 1  # a gap (face lost) is not a frame-to-frame step
        changes += int(np.sum((labels[1:] != labels[:-1]) & contiguous))
        for stretch in np.split(labels, np.flatnonzero(~contiguous) + 1):
            flickers += count_flickers(stretch, flicker_frames)
        seconds += track.seconds
        _, valence, arousal = affect_batch(probs)
        dv.append(np.abs(np.diff(valence))[contiguous])
        da.append(np.abs(np.diff(arousal))[contiguous])
        if len(track.frames) >= 30:
            raw_valence = affect_batch(track.raw_probs)[1]
            frame_s = float(np.median(np.diff(track.timestamps)))
            delays.append(1000 * frame_s * lag_frames(raw_valence, valence))
    seconds = max(seconds, 1e-9)
    return Steadiness(changes / seconds, flickers / seconds, _median_p95(dv), _median_p95(da),
                      float(np.median(delays)) if delays else float("nan"))


def _median_p95(steps: list[np.ndarray]) -> tuple[float, float]:
    steps = np.concatenate(steps)
    if not len(steps):  # only single-frame tracks
        return float("nan"), float("nan")
    return float(np.median(steps)), float(np.percentile(steps, 95))


def _changes_flickers(s: Steadiness) -> str:
    return f"{s.label_changes_per_s:.2f} / {s.flickers_per_s:.2f}"


def collect(videos: list[Path], workdir: Path) -> list[Track]:
    tracks = []
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.release()
        log = workdir / f"{video.stem}.csv"
        run(AppConfig(source=str(video), display=False, smoothing=0.0, csv=str(log),
                      output_dir=str(workdir)))
        found = read_tracks(log, video.name, fps)
        frames = sum(len(t.frames) for t in found)
        print(f"{video.name}: {len(found)} track(s), {frames} face-frames at {fps:.1f} FPS", file=sys.stderr)
        tracks += found
    return tracks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=Path, default=Path("../shared/videos"),
                   help="a folder of clips, or one clip")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9])
    p.add_argument("--flicker-ms", type=float, default=300.0,
                   help="a label shown for at most this long between two others counts as a flicker")
    args = p.parse_args(argv)
    if args.videos.is_dir():
        videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in VIDEO_SUFFIXES)
    else:
        videos = [args.videos] if args.videos.is_file() else []
    if not videos:
        print(f"error: no video clips at {args.videos}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tracks = collect(videos, Path(tmp))
    if not tracks:
        print("error: no face was found in any clip", file=sys.stderr)
        return 2
    clips = sorted({t.clip for t in tracks})
    # Frames per flicker at 30 FPS, the rate of a webcam; the clips run at 24-30 FPS.
    flicker_frames = max(1, round(args.flicker_ms / 1000 * 30))
    print(f"{len(tracks)} tracks, {sum(t.seconds for t in tracks):.1f} s of face time in {len(clips)} clips\n")
    print("| smoothing | label changes / s | flickers / s | valence step, median / p95 | arousal step, median / p95 "
          "| delay (ms) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for alpha in args.alphas:
        s = measure(tracks, alpha, flicker_frames)
        print(f"| {alpha:g} | {s.label_changes_per_s:.2f} | {s.flickers_per_s:.2f} "
              f"| {s.valence_step[0]:.4f} / {s.valence_step[1]:.3f} "
              f"| {s.arousal_step[0]:.4f} / {s.arousal_step[1]:.3f} | {s.delay_ms:.0f} |")
    print("\nPer clip, label changes / flickers per second:")
    print("| clip | " + " | ".join(f"{a:g}" for a in args.alphas) + " |")
    print("|---|" + "---:|" * len(args.alphas))
    for clip in clips:
        mine = [t for t in tracks if t.clip == clip]
        cells = [_changes_flickers(measure(mine, a, flicker_frames)) for a in args.alphas]
        print(f"| {clip} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
