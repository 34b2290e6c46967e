"""Recording annotated frames to a video file that always plays, however the run ends, and that
keeps real time: given each frame's capture time, N seconds of a live source make N seconds of video,
whatever rate the loop kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from errors import UserError

# OpenCV's bundled FFmpeg writes MPEG-4 Part 2 into .mp4 and Motion-JPEG into .avi on every platform,
# and VP8 into .webm, the one kind of these a web browser plays. The wheel (opencv-contrib-python 5.1)
# has no H.264, HEVC or AV1 encoder; VP9 goes into .mp4 but at 200+ ms a frame. Per 640x480 frame
# (bench/README.md, "Recording"): mp4v 1-8 ms, VP8 15-50 ms, which halves a headless run's rate and
# holds a live 30 FPS only on the faster CPUs, so .mp4 stays the default.
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}
# OpenCV's writer reports no failed write, and an .mp4 whose index cannot be written at the end
# does not play at all: so the recording stops, finalised, while this much space is still free.
MIN_FREE_BYTES = 16 * 2**20


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`frame` scaled to fit `size` (width, height) with its aspect ratio kept, centred on black."""
    w, h = size
    scale = min(w / frame.shape[1], h / frame.shape[0])
    fw, fh = max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale))
    out = np.zeros((h, w, 3), np.uint8)
    x, y = (w - fw) // 2, (h - fh) // 2
    out[y:y + fh, x:x + fw] = cv2.resize(frame, (fw, fh), interpolation=cv2.INTER_AREA)
    return out


class RecordError(UserError):
    """A recording that cannot be written; the message is one line for the user."""


class VideoRecorder:
    """Opens on the first frame (so the size is known) and is finalised by close() or `with`.

    write(frame, timestamp_s) puts each frame in the slot of the constant-rate video that its capture
    time falls in, counted from the first frame: a slot a skipped frame left empty repeats the frame
    before, and a frame whose slot is already filled is left out, so the video lasts as long as the
    source did, its frames in order. Without timestamps every frame is written once.
    """

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise RecordError(f"{self.path}: unsupported video extension (use {', '.join(FOURCC)})")
        self.fps = float(fps)
        self.writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.frames = 0  # written, repeats included
        self.repeated = 0  # of them, repeats of the frame before, for slots no frame arrived in
        self.left_out = 0  # frames not written: their slot was already filled
        self._first_t: float | None = None
        self._last: np.ndarray | None = None
        self._file = None  # the output, held open to notice its deletion: the writer would go on blind

    def write(self, frame: np.ndarray, timestamp_s: float | None = None) -> None:
        slot = self.frames
        if timestamp_s is not None:
            self._first_t = timestamp_s if self._first_t is None else self._first_t
            slot = round((timestamp_s - self._first_t) * self.fps)
            if slot < self.frames:
                self.left_out += 1
                return
        h, w = frame.shape[:2]
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.size = (w, h)
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()]),
                                          self.fps, self.size)
            if not self.writer.isOpened():
                self.writer = None
                raise RecordError(f"{self.path}: cannot open for writing")
            self._file = open(self.path, "rb")
        self._check_space()
        if (w, h) != self.size:  # a camera may change resolution, the window its layout: keep the file valid
            frame = letterbox(frame, self.size)
        while self.frames < slot:
            self.writer.write(self._last)
            self.frames += 1
            self.repeated += 1
        self.writer.write(frame)
        self.frames += 1
        self._last = frame.copy()  # the caller may draw the next frame into the same buffer

    def _check_space(self) -> None:
        """Stop, finalised, before a full disk or a deleted file would lose the recording unseen."""
        try:
            gone = os.fstat(self._file.fileno()).st_nlink == 0
            free = shutil.disk_usage(self.path.parent).free
        except OSError:  # its folder was removed
            gone, free = True, MIN_FREE_BYTES
        if gone or free < MIN_FREE_BYTES:
            self.close()
            raise RecordError(f"{self.path}: deleted while recording" if gone else
                              f"{self.path}: disk almost full ({free / 2**20:.1f} MB left): recording stopped "
                              f"after {self.frames} frames, which play")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
