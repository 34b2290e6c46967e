"""Face detection: MediaPipe Tasks' FaceDetector (BlazeFace) on BGR frames, returning `Detection`s.

The models are files in assets/ (see assets/README.md); nothing is downloaded at run time.
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

from realtime.faces import Detection

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MODELS = {
    "short": ASSETS / "face_detection_short_range.tflite",  # faces within ~2 m, e.g. at a webcam
    "full": ASSETS / "face_detection_full_range_sparse.tflite",  # faces up to ~5 m, smaller in the frame
}


class DetectorError(Exception):
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

    def __init__(self, model: str = "short", min_confidence: float = 0.5, video: bool = True):
        self.path = model_path(model)
        self.video = video
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
