"""Frame sources, the recorder and the CSV logger on real files."""

import csv
import threading

import cv2
import numpy as np
import pytest

from mappings import AU_ORDER
from realtime.analysis.capture import CameraSource, CaptureError, open_source
from realtime.analysis.faces import Detection, Face, FrameResult
from realtime.analysis.rows import COLUMNS
from realtime.outputs.csvlog import CsvLogger
from realtime.outputs.record import RecordError, VideoRecorder
from tests.media import astronaut_face_bgr, make_face_video


def test_video_file_yields_every_frame_with_timestamps(tmp_path):
    facts = make_face_video(tmp_path / "v.mp4", frames=12, fps=25)
    with open_source(str(tmp_path / "v.mp4")) as src:
        frames = list(src)
    assert src.kind == "video" and src.fps == pytest.approx(25) and src.frame_count == 12
    assert [f.index for f in frames] == list(range(facts["frames"]))
    assert frames[5].timestamp_s == pytest.approx(5 / 25)
    assert frames[0].image.shape == (480, 640, 3)


def test_image_folder_is_sorted_stills_and_skips_unreadable(tmp_path):
    face = astronaut_face_bgr()
    cv2.imwrite(str(tmp_path / "b.png"), face)
    cv2.imwrite(str(tmp_path / "a.jpg"), face)
    (tmp_path / "c.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(str(tmp_path)) as src:
        frames = list(src)
    assert src.stills and [f.source.rsplit("/", 1)[1] for f in frames] == ["a.jpg", "b.png"]
    assert src.skipped and src.skipped[0].endswith("c.jpg")


@pytest.mark.parametrize("make", ["missing", "not_video", "empty_dir", "bad_image"])
def test_bad_sources_raise_one_line(tmp_path, make):
    spec = {"missing": tmp_path / "nope.mp4", "not_video": tmp_path / "x.mp4", "empty_dir": tmp_path / "empty",
            "bad_image": tmp_path / "x.png"}[make]
    if make == "not_video":
        spec.write_bytes(b"\x00" * 1000)
    elif make == "empty_dir":
        spec.mkdir()
    elif make == "bad_image":
        spec.write_bytes(b"not png")
    with pytest.raises(CaptureError) as e:
        with open_source(str(spec)) as src:
            list(src)
    assert str(spec) in str(e.value) and "\n" not in str(e.value)


def test_missing_camera_is_one_line_error():
    with pytest.raises(CaptureError, match="cannot open camera 9"):
        open_source("9")


def test_camera_thread_hands_over_newest_frame_and_reports_loss(tmp_path):
    # A video file opened the way a camera is: the reader thread runs ahead of a slow consumer.
    make_face_video(tmp_path / "cam.mp4", frames=40)
    src = CameraSource(str(tmp_path / "cam.mp4"))
    seen = []
    with src:
        for frame in src:
            seen.append(frame.index)
            # A consumer slower than the reader: it comes back only once two more frames were grabbed
            # (or the file ended), whatever the machine's load, rather than after a fixed sleep.
            with src._cond:
                src._cond.wait_for(lambda n=src._latest_no: src._latest_no >= n + 2 or src._failed, timeout=30)
    assert 0 < len(seen) <= 40 // 2 + 1  # each hand-over after the first skipped a stale frame: none queued
    assert src.ended_by and "stopped delivering frames" in src.ended_by
    assert not any(t.name.startswith("camera-") and t.is_alive() for t in threading.enumerate())


def test_recorder_writes_playable_file_with_every_frame(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoRecorder(path, fps=20) as rec:
        for i in range(15):
            rec.write(np.full((240, 320, 3), i * 10, np.uint8))
        rec.write(np.zeros((100, 100, 3), np.uint8))  # a size change is resized, not fatal
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 16
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(20)
    cap.release()


def test_recorder_rejects_unknown_extension(tmp_path):
    with pytest.raises(RecordError, match="unsupported video extension"):
        VideoRecorder(tmp_path / "out.xyz", fps=30)


def test_csv_logger_columns_and_flush(tmp_path):
    path = tmp_path / "log.csv"
    probs = np.array([0.1, 0.0, 0.0, 0.7, 0.1, 0.05, 0.05], np.float32)
    f = Face(Detection((1, 2, 30, 40), 0.9), raw_probs=np.eye(7, dtype=np.float32)[0], track_id=3, probs=probs,
             prototype_aus={"AU12": 0.7}, valence=0.5, arousal=0.3)
    logger = CsvLogger(path)
    logger.write(FrameResult(7, 0.25, "cam", np.zeros((2, 2, 3), np.uint8), [f]))
    rows = list(csv.DictReader(open(path)))  # readable before close: rows are flushed as they go
    logger.close()
    assert list(rows[0]) == COLUMNS
    r = rows[0]
    assert (r["frame"], r["face_id"], r["label"], r["x"], r["h"]) == ("7", "3", "happy", "1", "40")
    assert float(r["p_happy"]) == pytest.approx(0.7) and float(r["raw_p_happy"]) == pytest.approx(0.0)
    assert float(r["prototype_AU12"]) == pytest.approx(0.7) and all(f"prototype_{c}" in r for c in AU_ORDER)
    assert r["au_measured"] == "0" and r["measured_AU12"] == "" and r["measured_valence"] == ""
    assert float(r["valence"]) == pytest.approx(0.5)
