"""Memory over a long session: the pipeline and the app's per-frame bookkeeping for an hour of frames.

    python -m bench.long_session [--minutes 60] [--fps 30] [--every 10] [--video PATH] [--loop-s 5]
                                 [--mesh-every N] [--no-landmarks]

Decodes the first --loop-s seconds of a real face clip (default: the first of ../shared/videos, else a
generated one of skimage's astronaut) once, then feeds them back and forth (no jump at the seam, so
one face stays one track) to a Pipeline with timestamps at --fps, for --minutes of simulated time, at
the pipeline's full speed. Per frame it also does what grows in the app: the stage timer
(realtime/analysis/timing.py) and the CSV log written to a temporary file. The window's own state
(VA trails, the dashboard's history) is not imported here (bench/ stays out of realtime.window); both
keep a bounded window per face and forget retired faces (tests/test_app.py checks the forgetting).
Every --every simulated minutes it prints the process's resident memory (RSS) and its growth since
the end of the first simulated minute, when the models, caches and pools have warmed up.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402

from errors import exit_status  # noqa: E402
from realtime.analysis.capture import CaptureError  # noqa: E402
from realtime.analysis.pipeline import PIPELINE_STAGES, Pipeline, PipelineOptions  # noqa: E402
from realtime.analysis.timing import StageTimer  # noqa: E402
from realtime.outputs.csvlog import CsvLogger  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VIDEOS = REPO.parent / "shared" / "videos"


def rss_mb() -> float:
    """The resident set size now (Linux /proc); elsewhere the peak so far, which can only rise."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def load_frames(video: Path | None, seconds: float, tmp: Path) -> tuple[list, str]:
    if video is None:
        clips = sorted(p for p in VIDEOS.glob("*.mp4") if "no_face" not in p.name) if VIDEOS.is_dir() else []
        if clips:
            video = clips[0]
        else:
            from bench.pipeline import make_video

            video = tmp / "astronaut.mp4"
            make_video(video, 150)
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while len(frames) < max(1, round(seconds * fps)):
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise CaptureError(f"{video}: no frame could be read")
    return frames + frames[-2:0:-1], str(video)  # forwards, then backwards


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0, help="simulated session length")
    p.add_argument("--fps", type=float, default=30.0, help="simulated frame rate")
    p.add_argument("--every", type=float, default=10.0, help="print the memory every this many simulated minutes")
    p.add_argument("--video", type=Path, help="the face clip whose frames are looped")
    p.add_argument("--loop-s", type=float, default=5.0, help="seconds of the clip that are looped")
    p.add_argument("--mesh-every", type=int, default=1)
    p.add_argument("--no-landmarks", action="store_true")
    args = p.parse_args(argv)
    return exit_status(run, args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        frames, name = load_frames(args.video, args.loop_s, Path(tmp))
        total = round(args.minutes * 60 * args.fps)
        print(f"{name}: {len(frames)} frames looped; {total} frames = {args.minutes:g} simulated minutes at "
              f"{args.fps:g} FPS; {os.cpu_count()} CPU cores", flush=True)
        timer = StageTimer(PIPELINE_STAGES)
        options = PipelineOptions(landmarks=not args.no_landmarks, mesh_every=args.mesh_every)
        faces = rows = 0
        baseline = None
        start = time.perf_counter()
        with Pipeline(options) as pipe, CsvLogger(Path(tmp) / "frames.csv") as log:
            for i in range(total):
                result = pipe.process(frames[i % len(frames)], i / args.fps, index=i, source=name)
                for stage, seconds in pipe.stage_seconds.items():
                    timer.add(stage, seconds)
                log.write(result)
                faces, rows = max(faces, max((f.track_id for f in result.faces), default=0)), log.rows
                minute = (i + 1) / args.fps / 60
                at_mark = (i + 1) % round(args.every * 60 * args.fps) == 0 or i + 1 == total
                if baseline is None and minute >= min(1.0, args.minutes):
                    baseline = rss_mb()
                    print(f"minute {minute:5.1f}: RSS {baseline:7.1f} MB (the baseline)", flush=True)
                if at_mark:
                    now = rss_mb()
                    growth = "" if baseline is None else f", {now - baseline:+6.1f} MB since minute 1"
                    print(f"minute {minute:5.1f}: RSS {now:7.1f} MB{growth}; "
                          f"{rows} CSV rows, {log.path.stat().st_size / 2**20:.0f} MB of log; "
                          f"{(i + 1) / (time.perf_counter() - start):.1f} frames/s", flush=True)
        medians = ", ".join(f"{s} {ms:.2f}" for s, ms in timer.overall().items())
        print(f"session medians (ms): {medians}; highest face ID {faces}")


if __name__ == "__main__":
    sys.exit(main())
