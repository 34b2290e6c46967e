"""Whole-pipeline speed, headless, on a 640x480 video with one face (or --faces N).

    python -m bench.pipeline [--frames 300] [--faces N] [--no-landmarks] [--mesh-every N] [--video PATH] [--precision P]
                             [--classifier-threads N] [--dashboard] [--size WxH] [--[no-]pipelined]
                             [--detect-every N] [--no-naive] [--no-record]

Runs the app as a user would, in its own process (`run_webcam.py --source VIDEO --no-display --record
... --csv ... --stats-json ...`: decode, detect, track, landmarks (with head pose and gaze), crop,
classify, affect (measured AUs, the mapping to AUs and valence/arousal), temporal (smoothing,
filtering), draw, encode to an .mp4 and the CSV log; `--no-record`: the CSV log alone, as a
study that only wants the numbers runs it), and reads its per-stage medians from the JSON that
`--stats-json` writes; and, in this process, a naive loop that does what a first attempt would:
decode, detect, then per face crop + classify one at a time with the unfused model and PyTorch's
default threads, draw, encode (no landmarks, so its figure is the old pipeline's floor, not a
like-for-like rival). Prints per-stage median
milliseconds and overall FPS for both. `--dashboard` draws the dashboard beside the video (the window's
default) and `--size WxH` scales the generated video, to measure the draw stage at other frame sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.harness import cpu_name, run_app  # noqa: E402
from errors import exit_status  # noqa: E402
from mappings import affect  # noqa: E402
from models.checkpoint import DEFAULT_WEIGHTS, load_model  # noqa: E402
from realtime.analysis.crop import crop_face  # noqa: E402
from realtime.analysis.detect import FaceDetector  # noqa: E402


def make_video(path: Path, frames: int, faces: int = 1, size: tuple[int, int] = (640, 480)) -> None:
    """The astronaut's face swaying across a 640x480 frame (one face in every frame); with faces > 1,
    that many copies of it, each in its own cell of a 2x2 grid, swaying inside it; scaled to `size`."""
    from skimage import data as skdata

    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)[0:300, 100:330]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    for i in range(frames):
        frame = np.full((480, 640, 3), 90, np.uint8)
        if faces == 1:
            s = 0.85 + 0.15 * np.sin(i / 8)
            f = cv2.resize(face, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            x = 60 + int(120 * (1 - np.cos(i / 12)))
            frame[50:50 + f.shape[0], x:x + f.shape[1]] = f
        else:
            f = cv2.resize(face, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
            for k in range(faces):
                x = (k % 2) * 320 + 20 + int(60 * (1 - np.cos(i / 12 + k)))
                y = (k // 2) * 240 + 10
                frame[y:y + f.shape[0], x:x + f.shape[1]] = f
        writer.write(frame if size == (640, 480) else cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    writer.release()


def naive_loop(video: Path, out: Path, weights: str) -> tuple[dict[str, float], float, int]:
    loaded = load_model(weights)
    model = loaded.model.eval()
    cap = cv2.VideoCapture(str(video))
    writer = None
    stages: dict[str, list[float]] = {k: [] for k in ("decode", "detect", "crop", "classify", "affect", "draw",
                                                      "encode")}
    n = 0
    t_start = time.perf_counter()
    with FaceDetector("short", 0.5, video=True) as det:
        while True:
            t0 = time.perf_counter()
            ok, frame = cap.read()
            if not ok:
                break
            t1 = time.perf_counter()
            dets = det.detect(frame, int(n * 1000 / 30))
            t2 = time.perf_counter()
            crop_s = cls_s = map_s = 0.0
            labels = []
            for d in dets:
                a = time.perf_counter()
                crop = crop_face(frame, d)
                b = time.perf_counter()
                x = (torch.from_numpy(crop).float()[None, None] / 255 - loaded.mean) / loaded.std
                with torch.no_grad():
                    probs = torch.softmax(model(x), 1)[0].numpy()
                c = time.perf_counter()
                labels.append((d, probs, affect(probs)))
                crop_s, cls_s, map_s = crop_s + b - a, cls_s + c - b, map_s + time.perf_counter() - c
            t3 = time.perf_counter()
            canvas = frame.copy()
            for d, probs, _ in labels:
                x, y, w, h = d.box
                cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 255, 0), 2)
                cv2.putText(canvas, f"{probs.max():.2f}", (x, y - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)
            t4 = time.perf_counter()
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30, canvas.shape[1::-1])
            writer.write(canvas)
            t5 = time.perf_counter()
            for k, v in (("decode", t1 - t0), ("detect", t2 - t1), ("crop", crop_s), ("classify", cls_s),
                         ("affect", map_s), ("draw", t4 - t3), ("encode", t5 - t4)):
                stages[k].append(v * 1000)
            n += 1
    seconds = time.perf_counter() - t_start
    cap.release()
    if writer is not None:
        writer.release()
    return {k: statistics.median(v) for k, v in stages.items() if v}, n / seconds, n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--faces", type=int, default=1, choices=[1, 2, 3, 4], help="faces in the generated video")
    p.add_argument("--video", type=Path, help="use this video instead of the generated 640x480 one")
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--precision", default="auto", help="the app's classifier precision (auto, fp32, bf16, int8)")
    p.add_argument("--no-landmarks", action="store_true", help="the app without its face mesh stage")
    p.add_argument("--mesh-every", type=int, default=1, help="the app's --mesh-every")
    p.add_argument("--classifier-threads", type=int, default=1,
                   help="CPU threads for the app's classifier")
    p.add_argument("--dashboard", action="store_true", help="the app draws the dashboard beside the video")
    p.add_argument("--size", default="640x480", help="the generated video's size, WxH")
    p.add_argument("--pipelined", action=argparse.BooleanOptionalAction, default=None,
                   help="the app's --pipelined / --no-pipelined: faces found in a second process (default: the app's)")
    p.add_argument("--detect-every", type=int, help="the app's --detect-every (default: the app's)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive loop (the app's figures only)")
    p.add_argument("--no-record", action="store_true",
                   help="the app logs the CSV without recording the annotated video (analysis only)")
    args = p.parse_args()
    try:
        size = tuple(int(v) for v in args.size.lower().split("x"))
        if len(size) != 2 or min(size) < 64:
            raise ValueError
    except ValueError:
        p.error(f"--size must be WxH, e.g. 1920x1080, not {args.size!r}")
    return exit_status(run, args, size)


def run(args: argparse.Namespace, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = args.video or tmp / "bench.mp4"
        if not args.video:
            make_video(video, args.frames, args.faces, size)
        naive_ms, naive_fps, naive_n = {}, float("nan"), 0
        if not args.no_naive:
            # Warm the file cache and the lazy imports so that neither loop pays for them.
            naive_loop(video, tmp / "warm.mp4", args.weights)
            naive_ms, naive_fps, naive_n = naive_loop(video, tmp / "naive.mp4", args.weights)
        summary = app_stats(video, tmp, args)
    app_fps = summary["fps"]
    what = (f"{size[0]}x{size[1]} generated, {args.faces} face{'s' if args.faces > 1 else ''}"
            + (", dashboard drawn" if args.dashboard else "") + (", CSV only (no recording)" if args.no_record else ""))
    print(f"\nvideo: {video if args.video else what}, {summary['frames']} frames, "
          f"torch {torch.__version__}, {cpu_name()}; app classifier {summary['classifier']}")
    print(f"{'stage (median ms)':<20}{'pipeline':>10}{'naive':>10}")
    stage_ms = summary["stage_ms"]  # in the app's frame order
    for stage in [*stage_ms, *(s for s in naive_ms if s not in stage_ms)]:
        print(f"{stage:<20}{stage_ms.get(stage, 0):>10.2f}{naive_ms.get(stage, 0):>10.2f}")
    print(f"{'overall FPS':<20}{app_fps:>10.1f}{naive_fps:>10.1f}")
    if naive_n:
        print(f"pipeline / naive: {app_fps / naive_fps:.2f}x ({summary['rows']} face rows logged; naive {naive_n} "
              "frames)")


def app_stats(video: Path, tmp: Path, args: argparse.Namespace) -> dict:
    """run_webcam.py headless on the video, recording and logging as a user would; its --stats-json figures.
    The FPS is the app's own (frames over its loop's time), so starting Python and loading the models
    do not count."""
    stats = tmp / "stats.json"
    cmd = ["--source", video, "--no-display", "--csv", tmp / "app.csv", "--stats-json", stats,
           "--weights", args.weights, "--precision", args.precision,
           "--classifier-threads", args.classifier_threads, "--mesh-every", args.mesh_every]
    cmd += ["--no-landmarks"] * args.no_landmarks + ["--dashboard"] * args.dashboard
    if not args.no_record:
        cmd += ["--record", tmp / "app.mp4"]
    if args.pipelined is not None:
        cmd.append("--pipelined" if args.pipelined else "--no-pipelined")
    if args.detect_every is not None:
        cmd += ["--detect-every", args.detect_every]
    run_app(cmd)
    return json.loads(stats.read_text())


if __name__ == "__main__":
    sys.exit(main())
