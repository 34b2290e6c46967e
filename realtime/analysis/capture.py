"""Frame sources: a webcam, a video file, one image, or a folder of images.

    with open_source("0") as src:          # webcam 0
        for frame in src: ...              # CapturedFrame(image, index, timestamp_s, source)
    open_source("clip.mp4", live=True)     # a video file played as a camera would be

A camera is read on its own thread that keeps only the newest frame, so a slow consumer
skips stale frames instead of falling further and further behind; each frame carries the time it
was grabbed. A live video is read the same way, its frames handed to that thread at the file's
own rate in real time (there is no webcam on test machines). Files are read in order,
every frame that decodes, with the stream's own timestamps; reading goes on past a damaged
stretch, and `skipped_frames` counts the frames lost in it (and, for image folders, the
files that cannot be read).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from errors import UserError

# Image files OpenCV reads: the one list (image folders, the report, train/data.py).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm", ".pbm"}
DEFAULT_FPS = 30.0
# Consecutive failed reads before a camera counts as lost (about a second at 30 FPS).
CAMERA_MAX_FAILED_READS = 30
# A damaged stretch of a video fails read after read until the decoder finds its feet again. Reading
# goes on for as many failed reads in a row as the container says frames remain, but at least
# VIDEO_MIN_FAILED_READS (containers often list a few frames more than decode), or
# VIDEO_MAX_FAILED_READS when it gives no count. At the true end each failed read returns at once.
VIDEO_MIN_FAILED_READS = 30
VIDEO_MAX_FAILED_READS = 300


class CaptureError(UserError):
    """A source that cannot be opened or read; the message is one line for the user."""


@dataclass
class CapturedFrame:
    image: np.ndarray  # BGR uint8
    index: int
    timestamp_s: float
    source: str  # camera index or video path; for image sources, the image's own path
    skipped_frames: int = 0  # unreadable frames (image sources: files) skipped so far, up to this one


class FrameSource:
    """Base for all sources: a context manager and an iterator of CapturedFrame."""

    kind = "source"
    live = False  # a camera: frames arrive in real time and may be skipped
    stills = False  # independent images: no tracking or smoothing across them

    def __init__(self, name: str):
        self.name = name
        self.fps = DEFAULT_FPS
        self.frame_count: int | None = None  # None when unknown (cameras)
        self.ended_by: str | None = None  # why iteration stopped early, e.g. "camera lost"
        self.skipped_frames = 0  # frames (image sources: files) that could not be decoded, so far
        self.skipped: list[str] = []  # image sources: the files that could not be read

    def __iter__(self) -> Iterator[CapturedFrame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """Every frame that decodes, numbered and timed as in the stream, past any damaged stretch."""

    kind = "video"

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.cap = cv2.VideoCapture(str(path))
        if not self.cap.isOpened():
            raise CaptureError(f"{path}: cannot open as a video (unsupported or corrupt file)")
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else DEFAULT_FPS
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self._first = self._read(0)
        if self._first is None:
            self.cap.release()
            raise CaptureError(f"{path}: no frames could be decoded")

    def _read(self, next_index: int) -> tuple[np.ndarray, float, int] | None:
        """The next frame that decodes, its stream timestamp and the failed reads before it; None at the end."""
        remaining = None if self.frame_count is None else self.frame_count - next_index
        limit = VIDEO_MAX_FAILED_READS if remaining is None else max(VIDEO_MIN_FAILED_READS, remaining)
        for failed in range(limit):
            ok, image = self.cap.read()
            if ok and image is not None:
                return image, self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000, failed
            if remaining is not None and remaining <= 0:
                return None  # the container's last frame was read: this is the end, not damage
        return None

    def __iter__(self) -> Iterator[CapturedFrame]:
        period = 1 / self.fps
        index, stream_t, t = -1, -period, -period  # of the last frame handed over
        # Until a read fails, frames are numbered one after another: variable-rate files have uneven
        # timestamps. From the first failure on, numbers follow the timestamps, since a decoder that lost
        # its references can hand over a frame or two after the damage before jumping across the gap.
        damaged = False
        got, self._first = self._first, None
        while got is not None:
            image, frame_t, failed = got
            damaged |= failed > 0
            if frame_t < stream_t - period / 2:
                # A frame from before the damage, handed over late: its number lies in the stretch already
                # counted as skipped, and time must not run backwards.
                damaged = True
            else:
                step = max(1, round((frame_t - stream_t) * self.fps)) if damaged else 1
                self.skipped_frames += step - 1
                index += step
                stream_t = frame_t
                # A stream without timestamps reports 0 for every frame: time then follows the frame rate.
                t = frame_t if frame_t > t else t + period
                yield CapturedFrame(image, index, t, self.name, self.skipped_frames)
            got = self._read(index + 1)
        if self.frame_count is not None and self.frame_count - (index + 1) > self.fps:
            self.ended_by = (f"unreadable data after frame {index} (the file lists {self.frame_count} frames: "
                             "truncated or damaged)")

    def close(self) -> None:
        self.cap.release()


class ImageSource(FrameSource):
    """One image or a sorted folder of images; each is a frame that stands alone."""

    kind = "images"
    stills = True

    def __init__(self, paths: list[Path], name: str):
        super().__init__(name)
        self.paths = paths
        self.frame_count = len(paths)

    def __iter__(self) -> Iterator[CapturedFrame]:
        for index, path in enumerate(self.paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                if len(self.paths) == 1:
                    raise CaptureError(f"{path}: cannot read as an image (unsupported or corrupt file)")
                self.skipped.append(str(path))
                self.skipped_frames += 1
                continue
            yield CapturedFrame(image, index, 0.0, str(path), self.skipped_frames)
        if len(self.skipped) == len(self.paths) > 1:
            raise CaptureError(f"{self.name}: none of its {len(self.paths)} images can be read "
                               "(unsupported or corrupt files)")


class LiveSource(FrameSource):
    """Frames that arrive in real time from `capture` (anything with OpenCV's VideoCapture read() and
    release()), read on a background thread that keeps only the newest; iteration yields the newest
    unseen frame, numbered as grabbed (a gap in the numbers is frames the consumer skipped) and timed
    when grabbed: its timestamp is its capture time, however late the consumer takes it.

    The reader thread owns the capture: it alone reads it and it releases it when it stops, so a close()
    while a read() is blocked never releases the capture under that read.
    lost: the message for `ended_by` when `max_failed_reads` reads in a row fail (None: a plain end).
    start: read from now on (a camera runs from when it opens); False: from the first iteration on.
    """

    kind = "camera"
    live = True

    def __init__(self, capture, name: str, fps: float, max_failed_reads: int = CAMERA_MAX_FAILED_READS,
                 lost: str | None = None, open_timeout_s: float = 5.0, start: bool = True):
        super().__init__(name)
        self.cap = capture
        self.fps = fps
        self.max_failed_reads = max_failed_reads
        self.lost = lost
        self._cond = threading.Condition()
        self._latest: tuple[np.ndarray, float, int] | None = None  # the newest frame, its capture time, skipped
        self._latest_no = 0  # frames grabbed so far
        self._stopped = False
        self._failed = False
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._reader, name=f"camera-{name}", daemon=True)
        if start:
            self._start()
            with self._cond:
                self._cond.wait_for(lambda: self._latest is not None or self._failed, timeout=open_timeout_s)
            if self._latest is None:
                self.close()
                raise CaptureError(f"{self.kind} {name} opened but delivered no frames")

    def clock(self) -> float:
        """Seconds on the clock the frames' timestamps use (since reading began)."""
        return time.monotonic() - self._t0

    def _start(self) -> None:
        if self._thread.ident is None:
            self._t0 = time.monotonic()
            self._thread.start()

    def _reader(self) -> None:
        try:
            failures = 0
            while not self._stopped:
                ok, image = self.cap.read()
                grabbed = time.monotonic() - self._t0
                if not ok or image is None:
                    failures += 1
                    if failures >= self.max_failed_reads:
                        break
                    time.sleep(0.01)
                    continue
                failures = 0
                skipped = self._passed_over()
                with self._cond:
                    self._latest = (image, grabbed, skipped)
                    self.skipped_frames = skipped
                    self._latest_no += 1
                    self._cond.notify_all()
        finally:
            self.cap.release()
            with self._cond:
                self._failed = True
                self._cond.notify_all()

    def __iter__(self) -> Iterator[CapturedFrame]:
        self._start()
        seen = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda s=seen: self._latest_no > s or self._failed or self._stopped)
                if self._latest_no > seen and not self._stopped:
                    seen = self._latest_no
                    image, grabbed, skipped = self._latest
                else:
                    if self._failed and not self._stopped:
                        self.ended_by = self._why_ended()
                    return
            yield CapturedFrame(image, seen - 1, grabbed, self.name, skipped)

    def _passed_over(self) -> int:
        """Unreadable frames the capture has passed over so far; a camera says nothing of its own."""
        return 0

    def _why_ended(self) -> str | None:
        """Why the capture stopped delivering, for `ended_by` (None: a plain end)."""
        return self.lost

    def close(self) -> None:
        """Stop the reader and wait (bounded) for it to release the capture. A read that blocks longer
        leaves the release to the reader, which does it as soon as that read returns."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.ident is None:  # never started: nobody else holds the capture
            self.cap.release()
        elif self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)


class CameraSource(LiveSource):
    """A webcam (or anything cv2.VideoCapture opens as one), read on its own thread."""

    def __init__(self, device: int | str, width: int | None = None, height: int | None = None,
                 fps: float | None = None, open_timeout_s: float = 5.0):
        cap = cv2.VideoCapture(device)
        if not cap.isOpened():
            raise CaptureError(f"cannot open camera {device} (is it connected and not in use by another program?)")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                            (cv2.CAP_PROP_FPS, fps)):
            if value:
                cap.set(prop, value)
        reported = cap.get(cv2.CAP_PROP_FPS)
        super().__init__(cap, str(device), reported if 1 <= reported <= 240 else (fps or DEFAULT_FPS),
                         lost=f"camera {device} stopped delivering frames", open_timeout_s=open_timeout_s)


class _PacedVideo:
    """A video file read the way a camera delivers: read() hands over each frame that decodes (past any
    damaged stretch, as VideoFileSource does) no sooner than its own timestamp after the first read."""

    def __init__(self, video: VideoFileSource):
        self.video = video
        self.frames = iter(video)
        self.start: float | None = None

    def read(self) -> tuple[bool, np.ndarray | None]:
        frame = next(self.frames, None)
        if frame is None:
            return False, None
        now = time.monotonic()
        self.start = now - frame.timestamp_s if self.start is None else self.start
        time.sleep(max(0.0, self.start + frame.timestamp_s - now))
        return True, frame.image

    def release(self) -> None:
        self.video.close()


class LiveVideoSource(LiveSource):
    """A video file played as a camera would (--live): frames arrive at the file's own rate in real
    time, and a consumer that cannot keep up gets the newest one, skipping the rest. The clock starts
    at the first iteration (not at opening, while the models load), so the whole clip is played."""

    kind = "live video"

    def __init__(self, path: Path):
        self.video = VideoFileSource(path)
        super().__init__(_PacedVideo(self.video), str(path), self.video.fps, max_failed_reads=1, start=False)
        self.frame_count = self.video.frame_count

    # A damaged file is reported as it is without --live: the frames its reader skipped, and a file that
    # stops decoding before its end. The first is read on the reader thread, which drives the file; the
    # second once that thread has finished with it.
    def _passed_over(self) -> int:
        return self.video.skipped_frames

    def _why_ended(self) -> str | None:
        return self.video.ended_by


def open_source(spec: str, width: int | None = None, height: int | None = None,
                fps: float | None = None, live: bool = False) -> FrameSource:
    """A webcam index ("0"), a video file, an image file, or a folder of images.
    live: a video file is played as a camera would be (LiveVideoSource)."""
    if spec.isdigit():
        return CameraSource(int(spec), width, height, fps)
    path = Path(spec)
    if not path.exists():
        raise CaptureError(f"{spec}: no such file or folder (for a webcam, give its index, e.g. 0)")
    if path.is_dir():
        if live:
            raise CaptureError(f"{path}: a folder cannot be played live (live plays a video file)")
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise CaptureError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return ImageSource(images, str(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if live:
            raise CaptureError(f"{path}: an image cannot be played live (live plays a video file)")
        return ImageSource([path], str(path))
    return LiveVideoSource(path) if live else VideoFileSource(path)
