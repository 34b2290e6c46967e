"""bench.live's label-steadiness figure, read from an app CSV."""

import csv
import math

import pytest

from bench.live import shown_label_switches_per_s


def test_switches_count_per_face_between_consecutive_frames_only(tmp_path):
    log = tmp_path / "log.csv"
    rows = ([(f, "1", "happy" if f < 5 else "neutral") for f in range(10)]  # one switch, at frame 5
            + [(f, "2", "sad") for f in range(3)] + [(f, "2", "angry") for f in range(6, 9)]  # face lost between
            + [(f, "", "") for f in range(10, 12)])  # frames without a face
    with log.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["frame", "face_id", "shown_label"])
        writer.writerows(sorted(rows, key=lambda r: r[0]))
    # 16 face rows at 10 FPS: 1.6 s of face time; face 2's change across its gap is not a switch.
    assert shown_label_switches_per_s(log, fps=10) == pytest.approx(1 / 1.6)


def test_no_faces_is_not_a_number(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("frame,face_id,shown_label\n0,,\n")
    assert math.isnan(shown_label_switches_per_s(log, fps=30))
