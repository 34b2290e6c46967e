"""Participant calibration: a resting face recorded per track corrects that person's readings; a photo
(--neutral) corrects every face; the state goes with the track."""

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from models import EMOTIONS
from realtime.analysis.calibration import MAX_OFFSET, NEUTRAL, CalibrationError, calibrate
from realtime.analysis.pipeline import Pipeline, PipelineOptions
from tests.media import astronaut_face_bgr
from tests.paths import REPO

SAD = EMOTIONS.index("sad")


def test_a_resting_face_read_as_sad_reads_neutral_after_calibration():
    rest = np.full((20, 7), 0.05)
    rest[:, SAD], rest[:, NEUTRAL] = 0.6, 0.1
    rest /= rest.sum(axis=1, keepdims=True)
    cal = calibrate(rest)
    assert cal.apply(rest).argmax(axis=1).tolist() == [NEUTRAL] * 20
    assert np.abs(cal.offsets).max() <= MAX_OFFSET + 1e-6
    # Bounded: a face far from rest keeps its reading.
    laughing = np.full(7, 0.01)
    laughing[EMOTIONS.index("happy")] = 0.94
    assert cal.apply(laughing).argmax() == EMOTIONS.index("happy")


def test_a_face_already_neutral_at_rest_is_not_made_less_neutral():
    rest = np.full((10, 7), 0.01)
    rest[:, NEUTRAL] = 0.94
    assert calibrate(rest).apply(rest)[:, NEUTRAL].min() >= 0.94 - 1e-3


@pytest.fixture(scope="module")
def frames():
    """A still of the astronaut (smiling: she reads happy) held for 20 frames of a 30 FPS video."""
    face = astronaut_face_bgr()
    frame = np.full((360, 480, 3), 90, np.uint8)
    frame[30:30 + face.shape[0], 120:120 + face.shape[1]] = face
    return [frame] * 20


def test_after_calibrating_on_a_face_it_reads_neutral_with_higher_probability(frames):
    with Pipeline(PipelineOptions()) as pipe:
        before = [pipe.process(f, i / 30).faces[0] for i, f in enumerate(frames[:6])]
        track = before[-1].track_id
        pipe.calibrate(track, 0.1)
        during = [pipe.process(f, (6 + i) / 30).faces[0] for i, f in enumerate(frames[6:12])]
        after = [pipe.process(f, (12 + i) / 30).faces[0] for i, f in enumerate(frames[12:])]
    assert {f.calibrated for f in before} == {0} and after[-1].calibrated == 1 and after[-1].track_id == track
    assert during[-1].calibrated == 1  # finished within the recording's frames
    raw_before = np.mean([f.raw_probs[NEUTRAL] for f in before])
    raw_after = np.mean([f.raw_probs[NEUTRAL] for f in after])
    # Offsets are bounded in log-probability, so the rise is a factor, whatever the model's confidence:
    # up to e^2 in neutral's odds against the top class (MAX_OFFSET each way).
    assert raw_after > 3 * raw_before
    assert after[-1].probs[NEUTRAL] > before[-1].probs[NEUTRAL]
    # Its AU baseline is the recorded rest: the resting face's measured AUs are about zero.
    assert max(after[-1].measured_aus.values()) < 0.15


def test_a_calibration_is_forgotten_with_its_track(frames):
    with Pipeline(PipelineOptions()) as pipe:
        track = pipe.process(frames[0], 0.0).faces[0].track_id
        pipe.calibrate(track, 0.05)
        for i in range(1, 5):
            face = pipe.process(frames[i], i / 30).faces[0]
        assert face.calibrated == 1 and track in pipe.calibration.by_track
        pipe.reset()  # the mirror key: every face retired
        result = pipe.process(frames[5], 5 / 30)
    assert track in result.retired and result.faces[0].track_id != track
    assert result.faces[0].calibrated == 0 and pipe.calibration.by_track == {}
    assert pipe.action_units.baseline(track) is None


def test_a_neutral_photo_calibrates_every_face_of_an_image_source(tmp_path):
    photo = tmp_path / "neutral.png"
    cv2.imwrite(str(photo), astronaut_face_bgr())
    with Pipeline(PipelineOptions(running_mode="image")) as plain, \
            Pipeline(PipelineOptions(running_mode="image", neutral=str(photo))) as calibrated:
        before = plain.process(astronaut_face_bgr()).faces[0]
        after = calibrated.process(astronaut_face_bgr()).faces[0]
    assert after.calibrated == 1 and before.calibrated == 0
    assert after.raw_probs[NEUTRAL] > 3 * before.raw_probs[NEUTRAL]  # a factor: offsets are bounded in log space


def test_neutral_photo_errors_raise_one_line(tmp_path):
    (tmp_path / "grey.png").write_bytes(cv2.imencode(".png", np.full((240, 320, 3), 128, np.uint8))[1].tobytes())
    for path, message in ((tmp_path / "missing.jpg", "not found"), (tmp_path / "grey.png", "no face found")):
        with pytest.raises(CalibrationError, match=message):
            Pipeline(PipelineOptions(neutral=str(path)))


@pytest.mark.parametrize("case", ["missing"] + [pytest.param(c, marks=pytest.mark.slow)
                                                 for c in ("faceless", "not an image")])
def test_neutral_flag_with_a_bad_photo_is_one_line_and_exit_2(tmp_path, case):
    path = tmp_path / ("missing.jpg" if case == "missing" else "photo.png")
    if case == "faceless":
        cv2.imwrite(str(path), np.full((240, 320, 3), 128, np.uint8))
    elif case == "not an image":
        path.write_text("hello")
    source = tmp_path / "face.png"
    cv2.imwrite(str(source), astronaut_face_bgr())
    proc = subprocess.run([sys.executable, "run_webcam.py", "--source", str(source), "--no-display",
                           "--neutral", str(path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and str(path) in proc.stderr


@pytest.mark.slow
def test_calibrate_flag_logs_the_calibrated_column(tmp_path):
    from tests.media import make_face_video

    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=30, no_face=range(0))
    log = tmp_path / "log.csv"
    proc = subprocess.run([sys.executable, "run_webcam.py", "--source", str(video), "--no-display", "--calibrate",
                           "0.2", "--csv", str(log)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    flags = [int(r["calibrated"]) for r in csv.DictReader(open(log))]
    assert flags[0] == 0 and flags[-1] == 1 and flags == sorted(flags)
    assert "calibrated" in proc.stdout
