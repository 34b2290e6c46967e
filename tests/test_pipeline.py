"""The analysis as a Python API: the same rows as the app's CSV log, for videos and images."""

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from realtime.analysis.capture import CaptureError
from realtime.analysis.landmarks import LandmarkerError
from realtime.analysis.pipeline import PIPELINE_STAGES, Pipeline, PipelineOptions, analyze_images, analyze_video
from realtime.analysis.rows import COLUMNS, cell_text
from realtime.analysis.split import SplitPipeline
from tests.media import astronaut_crowd_bgr, make_face_video
from tests.paths import REPO


def app_csv(source, tmp_path, *args) -> list[dict]:
    log = tmp_path / "app.csv"
    proc = subprocess.run([sys.executable, "run_webcam.py", "--source", str(source), "--no-display", "--csv", log,
                           *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return list(csv.DictReader(open(log)))


def as_csv_text(rows: list[dict]) -> list[dict]:
    return [{k: str(cell_text(v)) for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("app_args", [[], pytest.param(["--no-pipelined"], marks=pytest.mark.slow)],
                         ids=["faces found in a second process", "in one process"])
def test_analyze_video_rows_equal_the_apps_csv_rows(tmp_path, app_args):
    video = tmp_path / "clip.mp4"
    facts = make_face_video(video, frames=40, no_face=range(15, 19))
    rows = analyze_video(video)
    assert list(rows[0]) == COLUMNS
    assert len(rows) == len(facts["face_frames"])
    assert {type(rows[0][c]) for c in ("frame", "face_id", "x", "au_measured", "skipped_frames")} == {int}
    assert isinstance(rows[0]["p_happy"], float) and rows[0]["source"] == str(video)
    assert as_csv_text(rows) == app_csv(video, tmp_path, *app_args)


def test_split_pipeline_gives_one_processs_rows_and_leaves_no_process(tmp_path):
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=30, no_face=range(10, 13))
    split = analyze_video(video, parallel=True)
    assert len(split) == 27 and as_csv_text(split) == as_csv_text(analyze_video(video, parallel=False))
    with SplitPipeline(PipelineOptions(landmarks=False)) as pipe:
        for i in range(3):  # offered, never read: closing must not wait for them
            pipe.offer(np.zeros((240, 320, 3), np.uint8), i / 30, i, "")
        process = pipe.process
    assert process.poll() is not None


def test_split_pipeline_reports_the_finders_errors_in_one_line(tmp_path):
    bad = tmp_path / "landmarker.task"
    bad.write_bytes(b"not a zip")
    with pytest.raises(LandmarkerError, match="not a MediaPipe .task bundle"):
        SplitPipeline(PipelineOptions(landmarker=str(bad)))


@pytest.mark.slow
def test_analyze_images_rows_equal_the_apps_csv_rows_folder_or_list(tmp_path, astronaut_bgr):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_astronaut.png"), astronaut_bgr)
    cv2.imwrite(str(folder / "b_crowd.jpg"), astronaut_crowd_bgr()[0])
    (folder / "c_broken.jpg").write_bytes(b"not an image")
    rows = analyze_images(folder)
    assert as_csv_text(rows) == app_csv(folder, tmp_path)
    assert [r["face_id"] for r in rows if r["source"].endswith("b_crowd.jpg")] == [1, 2, 3]  # left to right
    listed = analyze_images([folder / "b_crowd.jpg", folder / "a_astronaut.png"])
    assert [r["source"] for r in listed] == [str(folder / "b_crowd.jpg")] * 3 + [str(folder / "a_astronaut.png")]


def test_pipeline_per_frame_calls(astronaut_bgr):
    frame = np.ascontiguousarray(astronaut_bgr)
    with Pipeline(PipelineOptions(landmarks=False)) as pipe:
        results = [pipe.process(frame, i / 30, index=i) for i in range(5)]
        assert set(pipe.stage_seconds) == set(PIPELINE_STAGES)
        live = pipe.process(frame)  # no timestamp: the time since the first call
    assert all(len(r.faces) == 1 and r.faces[0].track_id == results[0].faces[0].track_id for r in results)
    face = results[-1].faces[0]
    assert face.shown_label == "happy" and face.measured_aus is None and face.au_source == "prototype"
    assert live.timestamp_s >= 0 and len(live.faces) == 1
    with Pipeline(PipelineOptions(running_mode="image")) as pipe:
        still, again = pipe.process(frame), pipe.process(frame)
    assert still.faces[0].track_id == 1 and still.faces[0].measured_aus is not None
    assert still.retired == [] and again.retired == [1]  # each image's faces end with it


def test_reset_retires_every_face_and_no_holder_keeps_it(astronaut_bgr):
    frame = np.ascontiguousarray(astronaut_bgr)
    with Pipeline(PipelineOptions(mesh_every=2)) as pipe:
        before = [pipe.process(frame, i / 30, index=i) for i in range(3)]
        old = before[-1].faces[0].track_id
        holders = {"temporal": pipe.temporal.state, "AU baselines": pipe.action_units.history,
                   "landmarker": pipe.finder.landmarker._by_track, "carried mesh": pipe.finder.landmarker._carried}
        assert all(old in held for held in holders.values())
        pipe.reset()
        after = [pipe.process(frame, i / 30, index=i) for i in range(3, 6)]
        new = after[0].faces[0].track_id
        assert after[0].retired == [old] and after[1].retired == []
        assert new > old and {r.faces[0].track_id for r in after} == {new}
        for name, held in holders.items():
            assert set(held) == {new}, name
        pipe.reset()
        pipe.reset()  # twice between frames: each face is retired once
        assert pipe.process(frame, 6 / 30, index=6).retired == [new]


def test_wrong_inputs_are_one_line_errors(tmp_path, astronaut_bgr):
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), astronaut_bgr)
    with pytest.raises(CaptureError, match="not a video file"):
        analyze_video(image)
    with pytest.raises(CaptureError, match="no such image"):
        analyze_images([tmp_path / "missing.jpg"])
    with pytest.raises(CaptureError, match="neither an image nor a folder"):
        analyze_images(tmp_path / "clip.mp4")
    with pytest.raises(ValueError, match="running_mode"):
        PipelineOptions(running_mode="stills")
    with pytest.raises(ValueError, match="au_source"):
        PipelineOptions(au_source="guessed")
