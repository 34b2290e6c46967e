"""Peak memory of building a session report from a long log.

    python -m bench.report_memory [--hours 2] [--video PATH] [--keep LOG.csv] [--repo CHECKOUT]

Analyses a real face clip (default: the first of ../shared/videos, else skimage's astronaut swaying)
with the Python API, then writes a CSV log of --hours at 30 FPS by repeating its rows with the frame
numbers and timestamps running on (the app's own columns and number formats), and builds the report
from it in a fresh process (realtime.outputs.report's main, from --repo: this checkout, or another
one such as an older commit to compare), printing that process's peak resident memory (VmHWM, Linux)
and time. The report reads the log in chunks into numeric arrays
(realtime/outputs/report.py, read_log), so the peak grows with the log's numbers, not its text.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

from errors import UserError, exit_status  # noqa: E402
from realtime.analysis.pipeline import analyze_video  # noqa: E402
from realtime.analysis.rows import COLUMNS, cell_text  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
VIDEOS = REPO.parent / "shared" / "videos"
# Run in the child: the report's CLI, then the child's own peak RSS (VmHWM is reset by exec, so it
# counts none of this process's memory, which a fork would share).
CHILD = ("import sys\n"
         "from realtime.outputs.report import main\n"
         "code = main(sys.argv[1:])\n"
         "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1]\n"
         "print('peak_kb', peak)\n"
         "sys.exit(code)\n")


def write_long_log(rows: list[dict], path: Path, hours: float, fps: float = 30.0) -> int:
    frames = rows[-1]["frame"] + 1
    total = round(hours * 3600 * fps)
    written = 0
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for k in range(-(-total // frames)):
            for row in rows:
                frame = row["frame"] + k * frames
                if frame >= total:
                    break
                writer.writerow([cell_text(v) for v in {**row, "frame": frame,
                                                        "timestamp_s": round(frame / fps, 4)}.values()])
                written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=2.0, help="length of the log at 30 FPS")
    p.add_argument("--video", type=Path, help="the face clip whose rows are repeated")
    p.add_argument("--keep", type=Path, help="write the log here and keep it (e.g. to run another report on it)")
    p.add_argument("--repo", type=Path, default=REPO, help="the checkout whose report is measured")
    args = p.parse_args(argv)
    return exit_status(run, args)


def run(args: argparse.Namespace) -> None:
    video = args.video
    with tempfile.TemporaryDirectory() as tmp:
        if video is None:
            clips = sorted(p for p in VIDEOS.glob("*.mp4") if "no_face" not in p.name) if VIDEOS.is_dir() else []
            if clips:
                video = clips[0]
            else:
                from bench.pipeline import make_video

                video = Path(tmp) / "astronaut.mp4"
                make_video(video, 150)
        rows = analyze_video(video)
        if not rows:
            raise UserError(f"{video}: no face found")
        log = args.keep or Path(tmp) / "frames.csv"
        n = write_long_log(rows, log, args.hours)
        print(f"{log}: {n} rows ({args.hours:g} h at 30 FPS from {video.name}), {log.stat().st_size / 2**20:.0f} MB",
              flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(log), "--out", str(Path(tmp) / "report"),
                               "--no-progress"], cwd=args.repo, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"the report failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
        peak_kb = int(proc.stdout.split("peak_kb")[-1])
        print(f"report ({args.repo}): peak RSS {peak_kb / 1024:.0f} MB, {seconds:.1f} s; {os.cpu_count()} CPU cores")

if __name__ == "__main__":
    sys.exit(main())
