"""Live runs: a video file played as a camera would be (--live), through run_webcam.py."""

import csv

import cv2
import numpy as np
import pytest

from tests.media import make_face_video
from tests.paths import WEIGHTS
from tests.test_app import run_app

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")

FRAMES, FPS = 60, 30


def read_frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, (80, 60), interpolation=cv2.INTER_AREA).astype(np.float32))
    cap.release()
    return frames


def source_order(recorded: list[np.ndarray], source: list[np.ndarray]) -> list[int]:
    """For each recorded frame, the source frame it shows (the closest one: the overlays differ little)."""
    return [int(np.argmin([np.abs(r - s).mean() for s in source])) for r in recorded]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live")
    # The face sways one way only over these frames, so every frame differs from the others.
    make_face_video(out / "clip.mp4", frames=FRAMES, fps=FPS, no_face=range(0))
    proc = run_app("--source", out / "clip.mp4", "--live", "--no-display", "--csv", out / "log.csv",
                   "--record", out / "rec.mp4")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_a_live_recording_lasts_as_long_as_the_source_with_frames_in_order(live_run):
    out, proc = live_run
    recorded, source = read_frames(out / "rec.mp4"), read_frames(out / "clip.mp4")
    assert len(recorded) == pytest.approx(FRAMES, rel=0.03)
    shown = source_order(recorded, source)
    assert shown == sorted(shown) and shown[-1] >= FRAMES - 2


def test_a_live_log_holds_frames_in_order_at_their_capture_times(live_run):
    out, proc = live_run
    rows = list(csv.DictReader(open(out / "log.csv")))
    frames = [int(r["frame"]) for r in rows]
    times = [float(r["timestamp_s"]) for r in rows]
    assert len(rows) > FRAMES / 3 and frames == sorted(set(frames)) and frames[-1] >= FRAMES - 2
    # Capture times follow the source's clock: frame n is grabbed about n / FPS after frame 0.
    for n, t in zip(frames, times, strict=True):
        assert t - times[0] == pytest.approx((n - frames[0]) / FPS, abs=0.1)
