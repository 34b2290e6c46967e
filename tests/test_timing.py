"""Stage timings (realtime/analysis/timing.py): the session's median in constant memory."""

import numpy as np
import pytest

from realtime.analysis.timing import SessionMedian, StageTimer


@pytest.mark.parametrize("seed", range(3))
def test_the_session_median_is_within_a_bin_of_the_true_one(seed):
    ms = np.random.default_rng(seed).lognormal(np.log(3.0), 0.6, 20_001)  # a stage's skewed times
    m = SessionMedian()
    for v in ms:
        m.add(float(v))
    assert m.median() == pytest.approx(float(np.median(ms)), rel=0.01)
    assert m.n == len(ms) and m.counts.sum() == len(ms)


def test_memory_does_not_grow_with_the_session():
    timer = StageTimer(("detect", "classify"), window=60)
    sizes = []
    for frames in (100, 10_000):
        for i in range(frames):
            timer.add("detect", 0.002 + i % 7 * 1e-4)
        sizes.append((len(timer.samples["detect"]), timer.session["detect"].counts.nbytes))
    assert sizes[0] == sizes[1] == (60, sizes[0][1])
    assert timer.overall()["detect"] == pytest.approx(2.3, rel=0.01)  # the middle of 2.0 ... 2.6 ms
    assert timer.recent()["detect"] == pytest.approx(np.median([2.0 + i % 7 * 0.1 for i in range(9_940, 10_000)]))
    assert "classify" not in timer.overall()  # no sample, no figure
    out_of_range = SessionMedian()
    for v in (0.0, 0.0, 1e9):
        out_of_range.add(v)
    assert 0 < out_of_range.median() < 1e-3
