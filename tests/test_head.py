"""Head pose, gaze and eye/mouth state from the real landmarker, on the astronaut photo and copies of it
mirrored, rotated and warped as a head turned away."""

import math

import cv2
import numpy as np
import pytest

from realtime.analysis.head import euler_degrees
from realtime.analysis.pipeline import Pipeline, PipelineOptions
from realtime.analysis.rows import HEAD_COLUMNS, face_rows

FACE_CENTRE = (224, 128)


@pytest.fixture(scope="module")
def pipe():
    with Pipeline(PipelineOptions(running_mode="image")) as p:
        yield p


def head(pipe, image):
    faces = [f for f in pipe.process(np.ascontiguousarray(image)).faces if f.mesh is not None]
    assert len(faces) == 1
    return faces[0]


def turned(image: np.ndarray, k: float) -> np.ndarray:
    """The face's image-left edge shrunk by k towards its middle height, as it looks on a head turned so
    that that side recedes (the nose towards the image's left)."""
    x0, x1, y0, y1 = 150, 300, 40, 230
    cy, h = (y0 + y1) / 2, (y1 - y0) / 2
    src = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    dst = np.float32([[x0 + (x1 - x0) * k / 2, cy - h * (1 - k)], [x1, y0], [x1, y1],
                      [x0 + (x1 - x0) * k / 2, cy + h * (1 - k)]])
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(src, dst), image.shape[1::-1],
                               borderMode=cv2.BORDER_REPLICATE)


def test_euler_angles_read_back_the_rotation_they_were_built_from():
    yaw, pitch, roll = np.radians([20.0, -10.0, 5.0])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    rz = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    assert np.allclose(euler_degrees(rx @ ry @ rz), (20.0, -10.0, 5.0))


def test_mirrored_astronaut_has_the_opposite_yaw_and_roll(pipe, astronaut_bgr):
    face, mirrored = head(pipe, astronaut_bgr), head(pipe, astronaut_bgr[:, ::-1])
    assert face.head_yaw * mirrored.head_yaw < 0 and face.head_roll * mirrored.head_roll < 0
    assert abs(face.head_yaw + mirrored.head_yaw) < 3 and abs(face.head_pitch - mirrored.head_pitch) < 3
    assert face.head_frontal == 1 and face.eyes_closed == 0 and face.mouth_open == 0


def test_a_head_turned_away_has_the_yaw_sign_of_its_side_and_the_mirror_the_other(pipe, astronaut_bgr):
    away = turned(astronaut_bgr, 0.3)
    face, mirrored = head(pipe, away), head(pipe, away[:, ::-1])
    # The image-left side recedes: the nose points to the image's left, which is positive yaw.
    assert face.head_yaw > 3 and mirrored.head_yaw < -3
    assert face.head_yaw > head(pipe, astronaut_bgr).head_yaw + 2


@pytest.mark.parametrize("degrees", [-20, 15])
def test_rotating_the_photo_changes_roll_by_the_rotation(pipe, astronaut_bgr, degrees):
    rotation = cv2.getRotationMatrix2D(FACE_CENTRE, degrees, 1.0)  # counter-clockwise for positive degrees
    rotated = cv2.warpAffine(astronaut_bgr, rotation, astronaut_bgr.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    before, after = head(pipe, astronaut_bgr), head(pipe, rotated)
    # Roll is positive clockwise in the image, so a counter-clockwise turn of the photo lowers it.
    assert after.head_roll - before.head_roll == pytest.approx(-degrees, abs=3)
    assert abs(after.head_yaw - before.head_yaw) < 4


def test_rows_carry_head_pose_and_leave_it_empty_without_a_mesh(pipe, astronaut_bgr):
    result = pipe.process(np.ascontiguousarray(astronaut_bgr))
    row = face_rows(result)[0]
    assert isinstance(row["head_yaw"], float) and row["head_frontal"] in (0, 1) and row["mouth_open"] in (0, 1)
    result.faces[0].mesh = None
    for name in HEAD_COLUMNS:
        setattr(result.faces[0], name, -1 if isinstance(getattr(result.faces[0], name), int) else math.nan)
    assert all(face_rows(result)[0][c] is None for c in HEAD_COLUMNS)


def test_the_report_sums_up_head_pose_and_hatches_turned_stretches(pipe, astronaut_bgr, tmp_path):
    from realtime.outputs.csvlog import CsvLogger
    from realtime.outputs.report import build_report, read_log

    log = tmp_path / "log.csv"
    with CsvLogger(log) as logger:
        for i in range(4):
            result = pipe.process(np.ascontiguousarray(astronaut_bgr))
            result.index, result.timestamp_s, result.source = i, i / 30, "clip.mp4"
            result.faces[0].head_frontal = int(i < 2)  # the last two rows as if the head had turned away
            logger.write(result)
    head = build_report(log, tmp_path / "report", progress=False)["faces"]["1"]["head"]
    assert head["head_frontal_share"] == 0.5 and head["mouth_open_share"] == 0.0
    assert head["head_yaw"]["min"] <= head["head_yaw"]["mean"] <= head["head_yaw"]["max"]
    assert read_log(log).head["head_frontal"].tolist() == [1, 1, 0, 0]
