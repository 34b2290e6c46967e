"""Face detection: MediaPipe Tasks' FaceDetector (BlazeFace) on BGR frames, returning `Detection`s.

The models are files in assets/ (see assets/README.md); nothing is downloaded at run time.
BlazeFace sees the frame shrunk to 128x128 (short range) or 192x192 (full range), so a face
under ~10-15% of the frame's shorter side is lost; `tiled=True` also searches smaller squares of
the frame, for still images where time matters less than finding every face.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from errors import UserError
from realtime.analysis.faces import Detection

ASSETS = Path(__file__).resolve().parents[2] / "assets"
MODELS = {
    "short": ASSETS / "face_detection_short_range.tflite",  # faces within ~2 m, e.g. at a webcam
    "full": ASSETS / "face_detection_full_range_sparse.tflite",  # faces up to ~5 m, smaller in the frame
}


TILE_MIN_SIDE = 256  # px; with the short-range model, faces down to ~40 px
TILE_MIN_FRACTION = 0.25  # of the shorter side: at most three levels, ~1/4 s for a 1080p photo
# Dozens of extra looks at parts of a frame raise the odds of a false face, so a face found only
# in a tile must score this much: on the shared clips' real faces shrunk to 40-75 px, tiles found
# 150 of 150 at 0.91-0.98, while on the cartoon frames they added false faces at 0.61-0.71.
TILE_MIN_SCORE = 0.8
NESTED_OVERLAP = 0.5  # of the smaller box: two boxes overlapping this much are one face


class DetectorError(UserError):
    """A face detector that cannot be used; the message is one line naming the model file."""


def model_path(model: str | os.PathLike) -> Path:
    """The .tflite file for "short", "full" or a path."""
    return MODELS[model] if model in MODELS else Path(model)


@contextlib.contextmanager
def _native_stderr_to_file():
    """Send fd 2 to a temporary file while MediaPipe loads or closes a model.

    LiteRT prints INFO/WARNING lines there (two dozen for the full-range model's sparse
    tensors) that no Python setting silences; failures still reach us as Python exceptions.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (e.g. pythonw): nothing to hide
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


class FaceDetector:
    """BlazeFace via MediaPipe Tasks; any number of faces per frame.

    video=True runs MediaPipe's VIDEO mode (frames of one stream, timestamps must increase);
    video=False runs IMAGE mode (independent images).
    """

    def __init__(self, model: str = "short", min_confidence: float = 0.5, video: bool = True,
                 tiled: bool = False):
        if tiled and video:
            raise ValueError("tiled detection is for independent images (video=False)")
        self.path = model_path(model)
        self.video = video
        self.tiled = tiled
        if not self.path.is_file():
            raise DetectorError(f"{self.path}: face detection model not found")
        # The Tasks options have no face limit: every face above min_confidence is returned.
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(self.path)),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            min_detection_confidence=min_confidence,
        )
        self._last_ts = -1
        self._clock0 = time.monotonic()
        self._task = None
        with _native_stderr_to_file():
            try:
                self._task = vision.FaceDetector.create_from_options(options)
            except (ValueError, RuntimeError, OSError) as e:
                raise DetectorError(f"{self.path}: not a readable .tflite model ({_one_line(e)})") from None
            # Any valid .tflite loads; only running it shows whether it is a face detector.
            # It also moves the first-frame set-up cost (~10 ms) out of the live loop.
            blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
            try:
                if video:
                    self._task.detect_for_video(blank, self._last_ts)
                else:
                    self._task.detect(blank)
            except (ValueError, RuntimeError) as e:
                self.close()
                raise DetectorError(f"{self.path}: not a BlazeFace face detection model "
                                    f"(fails on a test image: ...{_one_line(e)[-100:]})") from None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            # A graph that failed in Process() re-raises that failure on close; it is shut down anyway.
            with contextlib.suppress(ValueError, RuntimeError), _native_stderr_to_file():
                task.close()

    def detect(self, frame_bgr: np.ndarray, timestamp_ms: int | None = None) -> list[Detection]:
        """Faces in a BGR uint8 frame (a 2-D grayscale frame works too), best score first.

        Keypoints are continuous pixel coordinates (pixel i spans [i, i+1)) and may fall
        outside the frame for a face cut by its edge; the box is clamped to the frame.

        In video mode timestamp_ms defaults to the time since the detector was made; one that
        does not increase is bumped to last + 1 ms rather than rejected. Image mode ignores it.
        """
        if self._task is None:
            raise DetectorError(f"{self.path}: detector is closed")
        if self.tiled:
            return self._detect_tiled(frame_bgr)
        return self._detect_once(frame_bgr, timestamp_ms)

    def _detect_tiled(self, frame_bgr: np.ndarray) -> list[Detection]:
        h, w = frame_bgr.shape[:2]
        # The whole frame first: it holds faces too big to lie whole inside any tile.
        found = self._detect_once(frame_bgr, None)
        for x, y, side in tile_grid(h, w):
            if side == h == w:
                continue  # that tile is the whole frame
            for d in self._detect_once(np.ascontiguousarray(frame_bgr[y:y + side, x:x + side]), None):
                if d.score >= TILE_MIN_SCORE and not _cut_by_tile_edge(d.box, (x, y, side), (h, w)):
                    bx, by, bw, bh = d.box
                    found.append(Detection((bx + x, by + y, bw, bh), d.score, d.keypoints + np.float32([x, y])))
        return merge_detections(found)

    def _detect_once(self, frame_bgr: np.ndarray, timestamp_ms: int | None) -> list[Detection]:
        code = cv2.COLOR_GRAY2RGB if frame_bgr.ndim == 2 else cv2.COLOR_BGR2RGB
        # cvtColor returns a fresh C-contiguous array, which mp.Image needs (it reads the raw buffer).
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame_bgr, code))
        try:
            if self.video:
                if timestamp_ms is None:
                    timestamp_ms = int((time.monotonic() - self._clock0) * 1000)
                self._last_ts = max(int(timestamp_ms), self._last_ts + 1)
                result = self._task.detect_for_video(image, self._last_ts)
            else:
                result = self._task.detect(image)
        except (ValueError, RuntimeError) as e:
            raise DetectorError(f"{self.path}: detection failed ({_one_line(e)[-200:]})") from None
        h, w = frame_bgr.shape[:2]
        out = []
        for d in result.detections:
            b = d.bounding_box
            x0, y0 = max(b.origin_x, 0), max(b.origin_y, 0)
            x1, y1 = min(b.origin_x + b.width, w), min(b.origin_y + b.height, h)
            if x1 <= x0 or y1 <= y0:
                continue
            kp = np.array([(k.x * w, k.y * h) for k in d.keypoints or ()], np.float32).reshape(-1, 2)
            out.append(Detection((int(x0), int(y0), int(x1 - x0), int(y1 - y0)), float(d.categories[0].score), kp))
        out.sort(key=lambda d: -d.score)
        return out


def tile_grid(h: int, w: int, min_side: int = TILE_MIN_SIDE,
              min_fraction: float = TILE_MIN_FRACTION) -> list[tuple[int, int, int]]:
    """Squares (x, y, side) covering an h x w frame at halving sizes, from its shorter side down to
    max(min_side, min_fraction x shorter side), each level overlapping by half, so that every face
    at most half a tile wide lies whole inside some tile of that level."""
    side, smallest = min(h, w), max(min_side, min_fraction * min(h, w))
    tiles = []
    while True:
        stride = max(side // 2, 1)
        tiles += [(x, y, side) for y in _starts(h, side, stride) for x in _starts(w, side, stride)]
        side //= 2
        if side < smallest:
            return tiles


def _starts(length: int, side: int, stride: int) -> list[int]:
    starts = list(range(0, length - side, stride))
    return starts + [length - side]


def _cut_by_tile_edge(box: tuple[int, int, int, int], tile: tuple[int, int, int], frame_hw: tuple[int, int]) -> bool:
    """A box touching a tile edge inside the frame is part of a face that the tile cuts off;
    a neighbouring tile holds it whole."""
    (bx, by, bw, bh), (tx, ty, side), (h, w) = box, tile, frame_hw
    return ((bx <= 1 and tx > 0) or (by <= 1 and ty > 0)
            or (bx + bw >= side - 1 and tx + side < w) or (by + bh >= side - 1 and ty + side < h))


def merge_detections(detections: list[Detection]) -> list[Detection]:
    """One detection per face, best score first: a box overlapping a better one by more than
    NESTED_OVERLAP of the smaller box's area is the same face, seen in another tile."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if all(_overlap_of_smaller(d.box, k.box) <= NESTED_OVERLAP for k in kept):
            kept.append(d)
    return kept


def _overlap_of_smaller(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(min(a[2] * a[3], b[2] * b[3]), 1)
