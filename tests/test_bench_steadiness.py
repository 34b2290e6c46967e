"""The steadiness benchmark's measures, its spliced clip, and one real run of it on a shared clip."""

import cv2
import numpy as np
import pytest

from bench.steadiness import SPLICE_FPS, Track, build_spliced, lag_frames, main, measure
from realtime.analysis.temporal import TemporalConfig
from tests.media import astronaut_face_bgr
from tests.paths import VIDEOS, WEIGHTS

HAPPY, NEUTRAL, SAD = 3, 4, 5


def test_lag_finds_the_shift_of_a_delayed_copy():
    rng = np.random.default_rng(0)
    signal = np.convolve(rng.normal(size=300), np.ones(5) / 5, mode="same")
    assert lag_frames(signal, signal) == pytest.approx(0, abs=0.05)
    assert lag_frames(signal, np.concatenate([np.zeros(4), signal[:-4]])) == pytest.approx(4, abs=0.05)
    half = (signal + np.concatenate([[0], signal[:-1]])) / 2  # half a frame late
    assert lag_frames(signal, half) == pytest.approx(0.5, abs=0.2)


def test_the_temporal_model_removes_flicker_and_jitter():
    rng = np.random.default_rng(1)
    happy, neutral = np.eye(7)[HAPPY], np.eye(7)[NEUTRAL]
    # A face that is mostly neutral with one-frame spikes of happy: flicker, not a change.
    probs = np.stack([0.35 * happy + 0.65 * neutral if rng.random() > 0.1 else 0.6 * happy + 0.4 * neutral
                      for _ in range(300)]).astype(np.float32)
    track = Track("clip", 1, np.arange(300), np.arange(300) / 30, 10.0, probs)
    s = measure([track], TemporalConfig())
    assert s.raw_switches_per_s > 2
    assert s.shown_switches_per_s == 0
    assert s.valence_jitter[1] < s.raw_valence_jitter[1] / 2


def test_lags_are_measured_from_the_change_points():
    # Neutral for 2 s, then sad for 2 s, then happy: clean steps, so the lags are the model's own.
    labels = [NEUTRAL] * 60 + [SAD] * 60 + [HAPPY] * 60
    probs = (0.1 + 0.6 * np.eye(7)[labels]).astype(np.float32) / 1.3
    track = Track("spliced", 1, np.arange(180), np.arange(180) / 30, 6.0, probs, changes=np.array([60, 120]))
    off = measure([track], TemporalConfig(smoothing_s=0))
    assert off.label_lag_ms == 0 and off.label_changes == (2, 2) and off.shown_switches_per_s == pytest.approx(2 / 6)
    assert off.valence_lag_ms == 0 and off.valence_changes == 2  # neutral -> sad, sad -> happy both move valence
    on = measure([track], TemporalConfig(smoothing_s=0.15, margin=0.1, dwell_s=0.1))
    assert 100 <= on.label_lag_ms <= 250 and on.label_changes == (2, 2)
    assert 0 < on.valence_lag_ms <= 150


def test_spliced_clip_holds_each_still_and_reports_its_change_points(tmp_path):
    stills = tmp_path / "stills"
    face = cv2.resize(astronaut_face_bgr(), (200, 200))
    for name, image in (("happy", face), ("sad", cv2.flip(face, 1)), ("neutral", face // 2)):
        (stills / name).mkdir(parents=True)
        cv2.imwrite(str(stills / name / "a.png"), image)
    (stills / "not_an_emotion").mkdir()
    changes = build_spliced(stills, tmp_path / "spliced.mp4", segments=4, segment_s=0.5)
    per_segment = round(0.5 * SPLICE_FPS)
    assert changes == [per_segment, 2 * per_segment, 3 * per_segment]
    cap = cv2.VideoCapture(str(tmp_path / "spliced.mp4"))
    frames = []
    while (frame := cap.read()[1]) is not None:
        frames.append(frame.astype(float))
    assert len(frames) == 4 * per_segment
    # Within a segment the frame sways a little; across a change point it changes a lot.
    within = np.abs(frames[per_segment - 1] - frames[per_segment - 2]).mean()
    across = np.abs(frames[per_segment] - frames[per_segment - 1]).mean()
    assert across > 3 * within


@pytest.mark.skipif(not (VIDEOS / "pyfeat_single_face.mp4").is_file() or not WEIGHTS.is_file(),
                    reason="../shared/videos or the shipped weights not present")
def test_runs_on_a_real_clip(tmp_path, capsys):
    assert main(["--videos", str(VIDEOS / "pyfeat_single_face.mp4"), "--stills", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "1 tracks, 2.4 s of face time in 1 clips" in out
    rows = [line for line in out.splitlines() if line.startswith("| pyfeat_single_face.mp4 | 2.4 |")]
    assert len(rows) == 1


def test_missing_videos_is_a_one_line_error(tmp_path, capsys):
    assert main(["--videos", str(tmp_path), "--stills", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no video clips")
