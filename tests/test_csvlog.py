"""The per-frame CSV log keeps raw probabilities, smoothed ones and the shown label (fast, no models)."""

import csv

import numpy as np
import pytest

from models import EMOTIONS
from realtime.analysis.faces import Detection, Face, FrameResult
from realtime.analysis.rows import COLUMNS, HEAD_COLUMNS
from realtime.analysis.temporal import TemporalModel
from realtime.outputs.csvlog import CsvLogger

HAPPY, SAD = EMOTIONS.index("happy"), EMOTIONS.index("sad")


def test_raw_smoothed_and_shown_columns(tmp_path):
    assert COLUMNS[:11] == ["frame", "timestamp_s", "analysis_timestamp_s", "source", "face_id", "x", "y", "w", "h",
                           "label", "confidence"]
    at = COLUMNS.index("shown_label")
    assert COLUMNS[at:at + 3 + len(HEAD_COLUMNS)] == ["shown_label", "shown_confidence", "skipped_frames",
                                                      *HEAD_COLUMNS]
    model = TemporalModel()
    image = np.zeros((10, 10, 3), np.uint8)
    # Happy for a second, then four frames of a clear sad: the smoothed top class turns sad at
    # once, the shown label holds happy until sad has led for the dwell time.
    sequence = [0.9 * np.eye(7)[HAPPY] + 0.1 / 7] * 30 + [0.95 * np.eye(7)[SAD] + 0.05 / 7] * 4
    with CsvLogger(tmp_path / "log.csv") as log:
        for i, p in enumerate(sequence):
            face = Face(Detection((1, 2, 3, 4), 0.9), raw_probs=np.asarray(p, np.float32), track_id=1)
            model.update([face], timestamp_s=i / 30)
            log.write(FrameResult(i, i / 30, "clip.mp4", image, [face]))
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert list(rows[0]) == COLUMNS and len(rows) == 34
    last = rows[-1]
    assert float(last["raw_p_sad"]) == pytest.approx(0.95 + 0.05 / 7, abs=1e-4)  # this frame's own
    assert 0.2 < float(last["p_sad"]) < 0.9  # smoothed: on its way
    assert last["shown_label"] == "happy" and last["label"] != "happy"
    assert float(last["shown_confidence"]) == pytest.approx(float(last["p_happy"]), abs=1e-4)
