"""How steady the live labels and valence/arousal are, and how late they follow a real change.

    python -m bench.steadiness [--videos ../shared/videos] [--stills ../shared/datasets/wild-dev] [--sweep]

Runs the analysis Pipeline (`realtime.analysis.pipeline.analyze_video`, what the app runs per frame),
with the temporal model off, on every clip and on a spliced
clip that this script builds from stills of different expressions (so its change points are
known), then replays each face's per-frame probabilities, with their timestamps, through the
app's temporal model (`realtime.analysis.temporal.TemporalModel`) and affect mapping. Prints, per clip:
label switches per second of face time (the raw per-frame argmax, and the shown label), the
valence/arousal jitter (median and 95th percentile of the frame-to-frame change, raw and
filtered), and on the spliced clip the median lag from each change point to the shown label's
change and to valence's half-way point. `--sweep` adds the trade-off curves the defaults were
chosen from.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mappings import affect_batch  # noqa: E402
from models import EMOTIONS  # noqa: E402
from realtime.analysis.faces import Detection, Face  # noqa: E402
from realtime.analysis.pipeline import PipelineOptions, analyze_video  # noqa: E402
from realtime.analysis.temporal import TemporalConfig, TemporalModel  # noqa: E402

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
SPLICED = "spliced stills"
SPLICE_FPS = 30.0
SPLICE_SIZE = 480  # px, square frame; each still fills 360 px of it, as a face close to a webcam
MIN_VALENCE_STEP = 0.2  # change points where valence moves less than this have no clear half-way point
SETTLE_S = 0.5  # on the spliced clip, jitter counts from this long after a change point: a still's noise only

# The grids of --sweep: probability time constant (s), label margin, dwell (s); One-Euro cutoff (Hz), beta.
SWEEP_SMOOTHING = (0.05, 0.1, 0.15, 0.2, 0.3)
SWEEP_MARGIN = (0.0, 0.05, 0.1, 0.2)
SWEEP_DWELL = (0.0, 0.1, 0.2, 0.3)
SWEEP_CUTOFF = (0.5, 1.0, 2.0, 4.0)
SWEEP_BETA = (0.0, 1.0, 3.0, 10.0, 30.0)


@dataclass
class Track:
    clip: str
    face_id: int
    frames: np.ndarray  # [T] frame indices, increasing
    timestamps: np.ndarray  # [T] seconds, as the app's temporal model saw them
    seconds: float  # time the face was on screen
    raw_probs: np.ndarray  # [T, 7]
    changes: np.ndarray | None = None  # frame indices where a new expression starts (spliced clip only)


@dataclass
class Replay:
    shown: np.ndarray  # [T] label index shown
    valence: np.ndarray  # [T] filtered
    arousal: np.ndarray


@dataclass
class Steadiness:
    seconds: float
    raw_switches_per_s: float
    shown_switches_per_s: float
    valence_jitter: tuple[float, float]  # median, 95th percentile of |frame-to-frame change|, filtered
    arousal_jitter: tuple[float, float]
    raw_valence_jitter: tuple[float, float]
    raw_arousal_jitter: tuple[float, float]
    label_lag_ms: float = float("nan")  # median over change points; inf when most are never reached
    label_changes: tuple[int, int] = (0, 0)  # change points the shown label reached, of those it could
    valence_lag_ms: float = float("nan")
    valence_changes: int = 0  # change points with a valence step of MIN_VALENCE_STEP or more
    valence_delay_ms: float = float("nan")  # how far filtered valence trails the raw one (real clips)


def read_tracks(rows: list[dict], clip: str, fps: float, one_track: bool = False) -> list[Track]:
    """The analysis rows' faces as tracks; `one_track` keeps only the biggest face of each frame, as one track."""
    by_face: dict[int, list[tuple[int, float, np.ndarray, int]]] = {}
    for row in rows:
        probs = np.array([row[f"raw_p_{e}"] for e in EMOTIONS], np.float32)
        key = 1 if one_track else row["face_id"]
        by_face.setdefault(key, []).append((row["frame"], row["timestamp_s"], probs, row["w"] * row["h"]))
    tracks = []
    for face_id, seq in by_face.items():
        if one_track:
            biggest = {}
            for item in seq:
                if item[0] not in biggest or item[3] > biggest[item[0]][3]:
                    biggest[item[0]] = item
            seq = [biggest[k] for k in sorted(biggest)]
        frames = np.array([i for i, *_ in seq])
        timestamps = np.array([t for _, t, *_ in seq])
        tracks.append(Track(clip, face_id, frames, timestamps, len(frames) / fps, np.stack([p for _, _, p, _ in seq])))
    return tracks


def replay(track: Track, cfg: TemporalConfig) -> Replay:
    """The track as the app shows it with temporal model `cfg`: valence and arousal come from
    each frame's raw probabilities and are then filtered, as in the app."""
    model = TemporalModel(cfg)
    _, valence, arousal = affect_batch(track.raw_probs)
    shown, v_out, a_out = [], [], []
    for probs, v, a, timestamp_s in zip(track.raw_probs, valence, arousal, track.timestamps, strict=True):
        # The app's default valence/arousal is the prototype kind (va_source), which the model filters.
        face = Face(Detection((0, 0, 1, 1), 1.0), raw_probs=probs, track_id=track.face_id,
                    prototype_valence=float(v), prototype_arousal=float(a))
        model.update([face], timestamp_s=timestamp_s)
        shown.append(face.shown)
        v_out.append(face.prototype_valence)
        a_out.append(face.prototype_arousal)
    return Replay(np.array(shown), np.array(v_out), np.array(a_out))


def label_switches(labels: np.ndarray, contiguous: np.ndarray) -> int:
    """Changes of label between consecutive frames, where `contiguous` (one per step) says the face was there."""
    return int(np.sum((labels[1:] != labels[:-1]) & contiguous))


def _median_p95(steps: list[np.ndarray]) -> tuple[float, float]:
    steps = np.concatenate(steps) if steps else np.zeros(0)
    if not len(steps):  # only single-frame tracks
        return float("nan"), float("nan")
    return float(np.median(steps)), float(np.percentile(steps, 95))


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


def measure(tracks: list[Track], cfg: TemporalConfig) -> Steadiness:
    raw_sw = shown_sw = 0
    seconds = 0.0
    steps = {k: [] for k in ("v", "a", "raw_v", "raw_a")}
    label_lags, valence_lags, reachable, delays = [], [], 0, []
    for track in tracks:
        out = replay(track, cfg)
        contiguous = np.diff(track.frames) == 1  # a gap (face lost) is not a frame-to-frame step
        raw_labels = track.raw_probs.argmax(axis=1)
        raw_sw += label_switches(raw_labels, contiguous)
        shown_sw += label_switches(out.shown, contiguous)
        seconds += track.seconds
        _, raw_v, raw_a = affect_batch(track.raw_probs)
        still = contiguous
        if track.changes is not None:
            since = track.frames[1:, None] - track.changes[None, :]
            still = contiguous & ~np.any((since >= 0) & (since < SETTLE_S * SPLICE_FPS), axis=1)
        for key, series in (("v", out.valence), ("a", out.arousal), ("raw_v", raw_v), ("raw_a", raw_a)):
            steps[key].append(np.abs(np.diff(series))[still])
        if track.changes is None and len(track.frames) >= 30:
            delays.append(1000 * float(np.median(np.diff(track.timestamps))) * lag_frames(raw_v, out.valence))
        if track.changes is not None:
            lags = change_lags(track, out, raw_labels, raw_v)
            label_lags += lags[0]
            valence_lags += lags[1]
            reachable += len(lags[0])
    seconds = max(seconds, 1e-9)
    reached = sum(np.isfinite(label_lags))
    return Steadiness(
        seconds, raw_sw / seconds, shown_sw / seconds, _median_p95(steps["v"]), _median_p95(steps["a"]),
        _median_p95(steps["raw_v"]), _median_p95(steps["raw_a"]),
        float(np.median(label_lags)) if label_lags else float("nan"), (reached, reachable),
        float(np.median(valence_lags)) if valence_lags else float("nan"), len(valence_lags),
        float(np.median(delays)) if delays else float("nan"))


def change_lags(track: Track, out: Replay, raw_labels: np.ndarray, raw_valence: np.ndarray) -> tuple[list, list]:
    """Per change point, ms from the new segment's first frame to (a) the first frame that shows its
    label (the raw per-frame majority over the segment; inf if never shown within it) and (b) the
    first frame where filtered valence is past the half-way point between the two segments' mean
    raw valence. Change points where the majority label does not change, or valence moves less
    than MIN_VALENCE_STEP, are left out of (a) or (b)."""
    bounds = [int(track.frames[0]), *track.changes.tolist(), int(track.frames[-1]) + 1]
    segments = [np.flatnonzero((track.frames >= lo) & (track.frames < hi)) for lo, hi in itertools.pairwise(bounds)]
    label_lags, valence_lags = [], []
    for before, after in itertools.pairwise(segments):
        if not len(before) or not len(after):
            continue
        start_s = track.timestamps[after[0]]
        old, new = (int(np.bincount(raw_labels[s], minlength=len(EMOTIONS)).argmax()) for s in (before, after))
        if old != new:
            hit = after[out.shown[after] == new]
            label_lags.append(1000 * (track.timestamps[hit[0]] - start_s) if len(hit) else float("inf"))
        v0, v1 = raw_valence[before].mean(), raw_valence[after].mean()
        if abs(v1 - v0) >= MIN_VALENCE_STEP:
            past = after[(out.valence[after] - (v0 + v1) / 2) * np.sign(v1 - v0) >= 0]
            valence_lags.append(1000 * (track.timestamps[past[0]] - start_s) if len(past) else float("inf"))
    return label_lags, valence_lags


def build_spliced(stills_dir: Path, out_path: Path, segments: int, segment_s: float, seed: int = 0) -> list[int]:
    """Write a video of `segments` stills of different expressions (from class folders), each held
    for `segment_s` seconds with a slow head sway and camera noise, and return the frame indices
    where each new still starts."""
    rng = np.random.default_rng(seed)
    classes = [d for d in sorted(stills_dir.iterdir()) if d.is_dir() and d.name in EMOTIONS]
    files = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}) for d in classes}
    files = {k: v for k, v in files.items() if v}
    if len(files) < 2:
        raise FileNotFoundError(f"{stills_dir}: needs class folders of images for at least two emotions")
    order, names = [], sorted(files)
    while len(order) < segments:  # shuffled rounds through the classes, never one class twice in a row
        for name in rng.permutation(names):
            if len(order) < segments and (not order or order[-1] != name):
                order.append(str(name))
    per_segment = round(segment_s * SPLICE_FPS)
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), SPLICE_FPS, (SPLICE_SIZE, SPLICE_SIZE))
    face_px, centre = 360, SPLICE_SIZE / 2
    try:
        for k, name in enumerate(order):
            still = cv2.imread(str(files[name][rng.integers(len(files[name]))]), cv2.IMREAD_COLOR)
            still = cv2.resize(still, (face_px, face_px), interpolation=cv2.INTER_AREA)
            canvas = np.full((SPLICE_SIZE, SPLICE_SIZE, 3), 110, np.uint8)
            o = (SPLICE_SIZE - face_px) // 2
            canvas[o:o + face_px, o:o + face_px] = still
            phase = rng.uniform(0, 2 * np.pi, 4)
            for i in range(per_segment):
                t = (k * per_segment + i) / SPLICE_FPS
                angle = 2.0 * np.sin(2 * np.pi * 0.4 * t + phase[0])  # degrees
                scale = 1 + 0.02 * np.sin(2 * np.pi * 0.3 * t + phase[1])
                m = cv2.getRotationMatrix2D((centre, centre), angle, scale)
                m[:, 2] += 4 * np.sin(2 * np.pi * np.array([0.5, 0.35]) * t + phase[2:])
                frame = cv2.warpAffine(canvas, m, (SPLICE_SIZE, SPLICE_SIZE), borderValue=(110, 110, 110))
                noise = rng.normal(0, 4, frame.shape)
                writer.write(np.clip(frame * rng.uniform(0.97, 1.03) + noise, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return [k * per_segment for k in range(1, segments)]


def collect(videos: list[Path], options: PipelineOptions | None = None) -> list[Track]:
    tracks = []
    for video in videos:
        cap = cv2.VideoCapture(str(video))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.release()
        tracks += _analyse(video, fps, options=options)
    return tracks


def _analyse(video: Path, fps: float, one_track: bool = False, name: str | None = None,
             options: PipelineOptions | None = None) -> list[Track]:
    # The temporal model off: the rows' raw probabilities are each frame's own, for replay() to filter.
    rows = analyze_video(video, replace(options or PipelineOptions(), temporal=TemporalConfig(smoothing_s=0.0)))
    found = read_tracks(rows, name or video.name, fps, one_track)
    frames = sum(len(t.frames) for t in found)
    print(f"{name or video.name}: {len(found)} track(s), {frames} face-frames at {fps:.1f} FPS", file=sys.stderr)
    return found


def spliced_track(stills: Path, workdir: Path, segments: int, segment_s: float, seed: int = 0,
                  options: PipelineOptions | None = None) -> Track | None:
    video = workdir / "spliced.mp4"
    changes = build_spliced(stills, video, segments, segment_s, seed)
    found = _analyse(video, SPLICE_FPS, one_track=True, name=SPLICED, options=options)
    if not found:
        return None
    found[0].changes = np.array(changes)
    return found[0]


def _pair(x: tuple[float, float]) -> str:
    return f"{x[0]:.4f} / {x[1]:.3f}"


def describe(cfg: TemporalConfig) -> str:
    return (f"smoothing {cfg.smoothing_s:g} s, margin {cfg.margin:g}, dwell {cfg.dwell_s:g} s, "
            f"One-Euro {cfg.min_cutoff_hz:g} Hz / beta {cfg.beta:g}")


def print_clips(tracks: list[Track], cfg: TemporalConfig) -> None:
    print(f"At {describe(cfg)}:\n")
    print("| clip | face time (s) | label switches / s, raw | shown | shown / raw "
          "| valence jitter, median / p95: raw | filtered | arousal jitter: raw | filtered |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clip in sorted({t.clip for t in tracks}, key=lambda c: (c == SPLICED, c)):
        s = measure([t for t in tracks if t.clip == clip], cfg)
        ratio = s.shown_switches_per_s / s.raw_switches_per_s if s.raw_switches_per_s else float("nan")
        print(f"| {clip} | {s.seconds:.1f} | {s.raw_switches_per_s:.2f} | {s.shown_switches_per_s:.2f} | {ratio:.2f} "
              f"| {_pair(s.raw_valence_jitter)} | {_pair(s.valence_jitter)} "
              f"| {_pair(s.raw_arousal_jitter)} | {_pair(s.arousal_jitter)} |")
    spliced = [t for t in tracks if t.changes is not None]
    if spliced:
        s = measure(spliced, cfg)
        print(f"\nSpliced clip, {len(spliced[0].changes)} change points: median lag to the shown label "
              f"{s.label_lag_ms:.0f} ms ({s.label_changes[0]} of {s.label_changes[1]} label changes shown), "
              f"to valence's half-way point {s.valence_lag_ms:.0f} ms ({s.valence_changes} changes of "
              f"{MIN_VALENCE_STEP:g} or more)")


def print_sweep(tracks: list[Track], cfg: TemporalConfig) -> None:
    clips = sorted({t.clip for t in tracks if t.changes is None})
    spliced = [t for t in tracks if t.changes is not None]
    real = [c for c in clips if measure([t for t in tracks if t.clip == c], cfg).raw_switches_per_s > 0]
    raw = [measure([t for t in tracks if t.clip == c], cfg).raw_switches_per_s for c in real]
    print("\nLabel trade-off: shown label switches / s per clip (raw rate in the header), and on the spliced clip "
          "the median lag to the shown label and how many of its label changes were shown:\n")
    heads = [f"{Path(c).stem} ({r:.2f})" for c, r in zip(real, raw, strict=True)]
    print("| smoothing (s) | margin | dwell (s) | " + " | ".join(heads)
          + f" | {SPLICED} | label lag (ms) | changes shown |")
    print("|---:|---:|---:|" + "---:|" * len(real) + "---:|---:|---:|")
    for tau, margin, dwell in itertools.product(SWEEP_SMOOTHING, SWEEP_MARGIN, SWEEP_DWELL):
        c = replace(cfg, smoothing_s=tau, margin=margin, dwell_s=dwell)
        cells = [f"{measure([t for t in tracks if t.clip == clip], c).shown_switches_per_s:.2f}" for clip in real]
        sp = measure(spliced, c) if spliced else None
        tail = (f"{sp.shown_switches_per_s:.2f} | {sp.label_lag_ms:.0f} | {sp.label_changes[0]}/{sp.label_changes[1]}"
                if sp else "- | - | -")
        print(f"| {tau:g} | {margin:g} | {dwell:g} | " + " | ".join(cells) + f" | {tail} |")
    print("\nValence/arousal trade-off (One-Euro; jitter: median / p95 of the frame-to-frame change; "
          "spliced clip: its stills' noise, and the half-way lag):\n")
    print("| cutoff (Hz) | beta | real clips: valence jitter | arousal jitter | spliced: valence jitter "
          "| arousal jitter | valence half-way lag (ms) | real clips: valence delay (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    real = [t for t in tracks if t.changes is None]
    s = measure(real, cfg)
    sp = measure(spliced, cfg) if spliced else None
    print(f"| raw | | {_pair(s.raw_valence_jitter)} | {_pair(s.raw_arousal_jitter)} | "
          + (f"{_pair(sp.raw_valence_jitter)} | {_pair(sp.raw_arousal_jitter)} | 0 | 0 |" if sp else "- | - | - | 0 |"))
    for cutoff, beta in itertools.product(SWEEP_CUTOFF, SWEEP_BETA):
        c = replace(cfg, min_cutoff_hz=cutoff, beta=beta)
        s = measure(real, c)
        sp = measure(spliced, c) if spliced else None
        tail = (f"{_pair(sp.valence_jitter)} | {_pair(sp.arousal_jitter)} | {sp.valence_lag_ms:.0f}" if sp
                else "- | - | -")
        print(f"| {cutoff:g} | {beta:g} | {_pair(s.valence_jitter)} | {_pair(s.arousal_jitter)} | {tail} "
              f"| {s.valence_delay_ms:.0f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=Path, default=Path("../shared/videos"), help="a folder of clips, or one clip")
    p.add_argument("--stills", type=Path, default=Path("../shared/datasets/wild-dev"),
                   help="class folders of face photos for the spliced clip (skipped when absent)")
    p.add_argument("--segments", type=int, default=30, help="stills in the spliced clip")
    p.add_argument("--segment-s", type=float, default=2.0, help="seconds each still is held")
    p.add_argument("--seed", type=int, default=0, help="which stills, in which order, and their sway and noise")
    p.add_argument("--sweep", action="store_true", help="also print the trade-off curves over the settings")
    defaults = TemporalConfig()
    p.add_argument("--smoothing", type=float, default=defaults.smoothing_s)
    p.add_argument("--label-margin", type=float, default=defaults.margin)
    p.add_argument("--label-dwell", type=float, default=defaults.dwell_s)
    p.add_argument("--signal-cutoff", type=float, default=defaults.min_cutoff_hz)
    p.add_argument("--signal-beta", type=float, default=defaults.beta)
    p.add_argument("--weights", help="classifier checkpoint (default: the app's)")
    p.add_argument("--detect-every", type=int, default=PipelineOptions.detect_every, help="the app's --detect-every")
    args = p.parse_args(argv)
    options = PipelineOptions(weights=args.weights, detect_every=args.detect_every)
    cfg = TemporalConfig(args.smoothing, args.label_margin, args.label_dwell, args.signal_cutoff, args.signal_beta)
    if args.videos.is_dir():
        videos = sorted(v for v in args.videos.iterdir() if v.suffix.lower() in VIDEO_SUFFIXES)
    else:
        videos = [args.videos] if args.videos.is_file() else []
    if not videos and not args.stills.is_dir():
        print(f"error: no video clips at {args.videos} and no stills at {args.stills}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tracks = collect(videos, options)
        if args.stills.is_dir():
            spliced = spliced_track(args.stills, Path(tmp), args.segments, args.segment_s, args.seed, options)
            tracks += [spliced] if spliced is not None else []
    if not tracks:
        print("error: no face was found in any clip", file=sys.stderr)
        return 2
    print(f"{len(tracks)} tracks, {sum(t.seconds for t in tracks):.1f} s of face time in "
          f"{len({t.clip for t in tracks})} clips\n")
    print_clips(tracks, cfg)
    if args.sweep:
        print_sweep(tracks, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
