"""The live loop's pace: a 30 FPS clip played as a camera would be (`run_webcam.py --live`), headless.

    python -m bench.live [--seconds 20] [--faces N] [--video PATH] [--analysis-delay MS] [--avx2] [--runs N]
                         [--record-as .webm] [-- APP ARGS...]

Runs the app as a user would, in its own process (`run_webcam.py --source CLIP --live --no-display
--record ... --csv ... --stats-json ...`), and reads back what it did: the loop's FPS (frames shown,
recorded and logged per second), how often each face's emotion was re-analysed (analyses shown per
second; the AUs and valence/arousal come with each analysis, the measured AUs on one analysis in
--mesh-every), the median time from a frame's capture to its analysis on screen, the per-stage
medians, how long the recording lasts against the clip, and how often the shown label switches
(per second of face time, from the CSV: the figure `bench.steadiness` gives for every frame analysed,
here with the analyses the machine allowed).

--avx2 limits PyTorch to AVX2 (ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2), as on the
slowest target CPU; MediaPipe has no such switch, so --analysis-delay MS adds what its stages
take more there (measured on the AVX2-only EPYC: detect 7.0 and landmarks 24.2 ms a frame against
the figures this machine prints) to each analysis. --record-as picks the recording's kind by its
extension (.mp4 by default; .webm is VP8, the one a web browser plays; realtime/outputs/record.py).
Arguments after `--` go to run_webcam.py (e.g. `-- --mesh-every 2`, `-- --weights models/emotion_cnn_fast.pth`).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from bench.harness import cpu_name, run_app
from bench.pipeline import make_video
from bench.steadiness import label_switches
from realtime.outputs.record import FOURCC


def frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def shown_label_switches_per_s(log: Path, fps: float) -> float:
    """Shown label switches per second of face time in an app CSV: a face's label changing between
    consecutive frames counts, a gap (the face lost) does not; face time is its rows at the clip's rate."""
    faces: dict[str, list[tuple[int, str]]] = {}
    with log.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["face_id"]:
                faces.setdefault(row["face_id"], []).append((int(row["frame"]), row["shown_label"]))
    switches = rows = 0
    for seq in faces.values():
        frames, labels = (np.array(column) for column in zip(*sorted(seq), strict=True))
        rows += len(frames)
        switches += label_switches(labels, np.diff(frames) == 1)  # counted as bench.steadiness counts them
    return switches / (rows / fps) if rows else float("nan")


def run_once(video: Path, tmp: Path, args: argparse.Namespace, app_args: list[str]) -> dict:
    env = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"} if args.avx2 else {}
    stats, rec = tmp / "stats.json", tmp / f"rec{args.record_as}"
    run_app(["--source", video, "--live", "--no-display", "--record", rec, "--csv", tmp / "log.csv",
             "--stats-json", stats, "--analysis-delay", args.analysis_delay, *app_args], env)
    result = json.loads(stats.read_text())
    result["recorded_frames"] = frames_in(rec)
    result["label_switches_per_s"] = shown_label_switches_per_s(tmp / "log.csv", video_fps(video))
    return result


def video_fps(path: Path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return fps if fps > 0 else 30.0


def main() -> None:
    argv = sys.argv[1:]
    app_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20, help="length of the generated 30 FPS clip")
    p.add_argument("--faces", type=int, default=1, choices=[1, 2, 3, 4], help="faces in the generated clip")
    p.add_argument("--video", type=Path, help="play this clip instead of the generated one")
    p.add_argument("--analysis-delay", type=float, default=0.0, metavar="MS",
                   help="added to each analysis, emulating a slower CPU")
    p.add_argument("--avx2", action="store_true", help="PyTorch limited to AVX2 (MediaPipe cannot be)")
    p.add_argument("--runs", type=int, default=1, help="runs; the medians of each figure are printed")
    p.add_argument("--record-as", default=".mp4", choices=sorted(FOURCC), help="the recording's extension")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = args.video or tmp / "clip.mp4"
        if not args.video:
            make_video(video, round(args.seconds * 30), args.faces)
        clip_frames = frames_in(video)
        runs = [run_once(video, tmp, args, app_args) for _ in range(args.runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    what = args.video or f"generated 640x480 30 FPS, {args.faces} face{'s' * (args.faces > 1)}"
    print(f"\nclip: {what}, {clip_frames} frames; {cpu_name()}; classifier {runs[0]['classifier']}"
          + ("; PyTorch limited to AVX2" if args.avx2 else "")
          + (f"; +{args.analysis_delay:g} ms per analysis" if args.analysis_delay else "")
          + (f"; app args: {' '.join(app_args)}" if app_args else "") + f"; recorded as {args.record_as}"
          + f"; {args.runs} run(s), medians")
    print(f"{'loop FPS (frames shown)':<42}{med('fps'):>8.1f}")
    print(f"{'frames shown / clip frames':<42}{med('frames'):>8.0f} / {clip_frames}")
    print(f"{'analyses per second (emotion, AUs, VA)':<42}{med('analysis_rate'):>8.1f}")
    print(f"{'capture to analysis on screen, median ms':<42}{med('analysis_latency_ms'):>8.0f}")
    print(f"{'recording frames / clip frames':<42}{med('recorded_frames'):>8.0f} / {clip_frames}")
    print(f"{'shown label switches per s of face time':<42}{med('label_switches_per_s'):>8.2f}")
    print("stage medians, ms (the analysis' stages run in its own process):")
    stages = runs[0]["stage_ms"]
    print("  " + "  ".join(f"{k} {statistics.median(r['stage_ms'].get(k, 0) for r in runs):.1f}" for k in stages))


if __name__ == "__main__":
    main()
