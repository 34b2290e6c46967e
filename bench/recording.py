"""What the installed OpenCV can encode a recording as, and its cost per 640x480 frame.

    python -m bench.recording [--frames 60] [--video PATH]

For each container and codec a recording could use (MPEG-4 Part 2, Motion-JPEG, H.264, HEVC, VP8,
VP9, AV1), opens cv2.VideoWriter, writes the frames (the shared clip liveportrait_d9, scaled to
640x480, or the generated swaying face), and prints: whether the writer opened, the median
milliseconds of write(), the milliseconds per frame including the finalising release() (encoders
that buffer frames do their work there), the file's size, and whether it reads back whole. Which of
them a web browser plays is the codec's property: H.264, VP8, VP9 and AV1 do, MPEG-4 Part 2 and
Motion-JPEG do not.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.harness import cpu_name
from bench.pipeline import make_video

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO.parent / "shared" / "videos" / "liveportrait_d9.mp4"
CANDIDATES = [(".mp4", "mp4v", "MPEG-4 Part 2", False), (".avi", "MJPG", "Motion-JPEG", False),
              (".mp4", "avc1", "H.264", True), (".mp4", "hvc1", "HEVC", True), (".webm", "VP80", "VP8", True),
              (".mp4", "vp09", "VP9", True), (".webm", "VP90", "VP9", True), (".mp4", "av01", "AV1", True)]


def load_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--video", type=Path, help="frames from this clip (default: the shared liveportrait_d9 clip, "
                   "else a generated one)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = args.video or (CLIP if CLIP.is_file() else None)
        if source is None:
            source = tmp / "clip.mp4"
            make_video(source, args.frames)
        frames = load_frames(source, args.frames)
        print(f"{len(frames)} frames of {source.name} at 640x480; OpenCV {cv2.__version__}; {cpu_name()}")
        print(f"{'codec':<16}{'file':<7}{'browser':<9}{'write ms':>9}{'ms/frame':>10}{'KB':>8}  reads back")
        for suffix, fourcc, name, browser in CANDIDATES:
            path = tmp / f"out_{fourcc}{suffix}"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30, (640, 480))
            if not writer.isOpened():
                print(f"{name:<16}{suffix:<7}{'yes' if browser else 'no':<9}{'no encoder in this build':>27}")
                continue
            writes = []
            t_start = time.perf_counter()
            for frame in frames:
                t0 = time.perf_counter()
                writer.write(frame)
                writes.append(time.perf_counter() - t0)
            writer.release()
            per_frame = (time.perf_counter() - t_start) / len(frames)
            cap = cv2.VideoCapture(str(path))
            back = 0
            while cap.grab():
                back += 1
            cap.release()
            print(f"{name:<16}{suffix:<7}{'yes' if browser else 'no':<9}{1000 * statistics.median(writes):>9.1f}"
                  f"{1000 * per_frame:>10.1f}{path.stat().st_size // 1024:>8}  {back}/{len(frames)}")


if __name__ == "__main__":
    main()
