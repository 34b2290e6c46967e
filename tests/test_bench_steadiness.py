"""The steadiness benchmark's measures, and one real run of it on a shared clip."""

import numpy as np
import pytest

from bench.steadiness import Track, count_flickers, lag_frames, main, measure
from tests.paths import VIDEOS, WEIGHTS


def test_flickers_are_short_runs_between_two_others():
    labels = np.array([0] * 10 + [1] * 2 + [0] * 10 + [2] * 20)
    assert count_flickers(labels, max_frames=2) == 1
    assert count_flickers(labels, max_frames=1) == 0
    # The first and last runs are cut by the track's ends, so they never count.
    assert count_flickers(np.array([1, 0, 0, 0, 0, 2]), max_frames=3) == 0
    assert count_flickers(np.array([3, 3, 3]), max_frames=3) == 0


def test_lag_finds_the_shift_of_a_delayed_copy():
    rng = np.random.default_rng(0)
    signal = np.convolve(rng.normal(size=300), np.ones(5) / 5, mode="same")
    assert lag_frames(signal, signal) == pytest.approx(0, abs=0.05)
    assert lag_frames(signal, np.concatenate([np.zeros(4), signal[:-4]])) == pytest.approx(4, abs=0.05)
    half = (signal + np.concatenate([[0], signal[:-1]])) / 2  # half a frame late
    assert lag_frames(signal, half) == pytest.approx(0.5, abs=0.2)


def test_smoothing_removes_flicker_and_jitter():
    rng = np.random.default_rng(1)
    happy, neutral = np.eye(7)[3], np.eye(7)[4]
    # A face that is mostly neutral with one-frame spikes of happy: flicker, not a change.
    probs = np.stack([0.35 * happy + 0.65 * neutral if rng.random() > 0.1 else 0.6 * happy + 0.4 * neutral
                      for _ in range(300)]).astype(np.float32)
    track = Track("clip", 1, np.arange(300), np.arange(300) / 30, 10.0, probs)
    raw, smoothed = measure([track], 0.0, 9), measure([track], 0.7, 9)
    assert raw.flickers_per_s > 1
    assert smoothed.flickers_per_s < raw.flickers_per_s / 5
    assert smoothed.valence_step[1] < raw.valence_step[1] / 2


@pytest.mark.skipif(not (VIDEOS / "pyfeat_single_face.mp4").is_file() or not WEIGHTS.is_file(),
                    reason="../shared/videos or the shipped weights not present")
def test_runs_on_a_real_clip(capsys):
    assert main(["--videos", str(VIDEOS / "pyfeat_single_face.mp4"), "--alphas", "0", "0.7"]) == 0
    out = capsys.readouterr().out
    assert "1 tracks, 2.4 s of face time in 1 clips" in out
    rows = [line for line in out.splitlines() if line.startswith("| 0")]
    assert len(rows) == 2


def test_missing_videos_is_a_one_line_error(tmp_path, capsys):
    assert main(["--videos", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no video clips")
