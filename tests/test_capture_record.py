"""Frame sources, the recorder and the CSV logger on real files."""

import csv
import threading
import time

import cv2
import numpy as np
import pytest

from mappings import AU_ORDER
from realtime.analysis.capture import CameraSource, CaptureError, LiveSource, open_source
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
    # Frames are numbered as grabbed: the skipped ones leave gaps (but at the end, where the file ran out).
    assert seen == sorted(set(seen)) and all(b - a >= 2 for a, b in zip(seen, seen[1:-1], strict=False))
    assert src.ended_by and "stopped delivering frames" in src.ended_by
    assert not any(t.name.startswith("camera-") and t.is_alive() for t in threading.enumerate())


class ClockedCapture:
    """A VideoCapture-like camera: `frames` reads, one every `period` s, each noting when it returned;
    with `hang_at`, that read blocks until the test lets it go. It records a release() that came
    while a read was in progress."""

    def __init__(self, frames: int, period: float, hang_at: int | None = None):
        self.frames, self.period, self.hang_at = frames, period, hang_at
        self.returned: list[float] = []
        self.reading = False
        self.released_during_read = None
        self.hanging, self.let_go, self.released = threading.Event(), threading.Event(), threading.Event()

    def read(self):
        self.reading = True
        try:
            if len(self.returned) == self.hang_at:
                self.hanging.set()
                self.let_go.wait(30)
            if len(self.returned) >= self.frames:
                return False, None
            time.sleep(self.period)
            self.returned.append(time.monotonic())
            return True, np.full((8, 8, 3), len(self.returned), np.uint8)
        finally:
            self.reading = False

    def release(self):
        self.released_during_read = self.reading
        self.released.set()


def test_closing_while_a_read_is_blocked_never_releases_under_it():
    cap = ClockedCapture(frames=100, period=0.001, hang_at=1)
    src = LiveSource(cap, "hung", fps=30)
    frames = iter(src)
    assert next(frames).index == 0
    assert cap.hanging.wait(10)  # the reader is now inside a read that does not return
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 5  # a bounded wait, not a hang
    assert not cap.released.is_set()  # released under the blocked read would crash a real backend
    assert next(frames, None) is None  # iteration ends after close
    cap.let_go.set()  # the read returns: the reader stops and releases the capture itself
    assert cap.released.wait(10) and cap.released_during_read is False
    src._thread.join(10)
    assert not src._thread.is_alive()


def test_a_frame_carries_the_time_it_was_grabbed_not_when_it_was_taken():
    cap = ClockedCapture(frames=8, period=0.005, hang_at=5)  # frames 0-4 come at once, then the camera stalls
    with LiveSource(cap, "clocked", fps=30) as src:
        frames = iter(src)
        assert cap.hanging.wait(10)
        time.sleep(0.1)  # the consumer comes late
        frame = next(frames)
        taken = time.monotonic()
        assert frame.index == 4  # the newest, the stale ones skipped
        assert frame.timestamp_s == pytest.approx(cap.returned[4] - src._t0, abs=0.002)
        assert taken - src._t0 - frame.timestamp_s >= 0.1  # the stamp is when it was grabbed, not taken
        cap.let_go.set()
        rest = [f.index for f in frames]
        assert rest == sorted(set(rest)) and rest[-1] == 7 and rest[0] >= 5
    assert cap.released.is_set()


def test_a_live_video_plays_at_its_own_rate_and_hands_over_the_newest_frame(tmp_path):
    make_face_video(tmp_path / "v.mp4", frames=30, fps=30)
    with pytest.raises(CaptureError, match="cannot be played live"):
        open_source(str(tmp_path), live=True)
    t0 = time.monotonic()
    with open_source(str(tmp_path / "v.mp4"), live=True) as src:
        assert src.live and src.fps == pytest.approx(30)
        got = []
        for frame in src:
            got.append(frame)
            time.sleep(0.1)  # a consumer at ~10 FPS gets about one frame in three
    took = time.monotonic() - t0
    assert 0.9 <= took  # 30 frames at 30 FPS take a second in real time, not as fast as they decode
    assert len(got) < 20 and got[-1].index == 29 and src.ended_by is None
    indices = [f.index for f in got]
    assert indices == sorted(set(indices))
    for a, b in zip(got, got[1:], strict=False):  # grabbed at the file's pace: stamps follow the frame numbers
        assert b.timestamp_s - a.timestamp_s == pytest.approx((b.index - a.index) / 30, abs=0.05)


@pytest.mark.parametrize("clip,damage", [("v.avi", "cut"), ("v.mp4", "bytes")])
def test_a_damaged_live_video_reports_what_the_file_reader_reports(tmp_path, clip, damage):
    make_face_video(tmp_path / clip, frames=90, fps=30, no_face=range(0))
    data = bytearray((tmp_path / clip).read_bytes())
    if damage == "cut":  # a Motion-JPEG .avi plays up to the cut
        data = data[:int(0.4 * len(data))]
    else:  # random bytes in the middle: frames that do not decode
        i = len(data) // 2
        data[i:i + 20000] = np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    damaged = tmp_path / f"damaged{clip[-4:]}"
    damaged.write_bytes(bytes(data))
    with open_source(str(damaged)) as src:
        frames = list(src)
        expected = src.ended_by, src.skipped_frames
    if damage == "cut":
        assert expected[0].startswith("unreadable data after frame") and expected[0].endswith("or damaged)")
    else:
        assert expected[0] is None and expected[1] > 0
    with open_source(str(damaged), live=True) as src:
        got = list(src)  # a consumer that keeps up: every frame, or nearly
    assert (src.ended_by, src.skipped_frames) == expected
    assert len(got) >= 0.8 * len(frames)
    skipped = [f.skipped_frames for f in got]
    assert skipped == sorted(skipped) and skipped[-1] == expected[1]


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


def test_recorder_keeps_real_time_when_frames_were_skipped(tmp_path):
    # Capture times of a 30 FPS camera whose consumer took only some frames, one late and two in one slot.
    fps = 30
    taken = [0, 1, 2, 5, 6, 10, 11, 11.2, 17, 29]
    path = tmp_path / "live.mp4"
    with VideoRecorder(path, fps=fps) as rec:
        for n in taken:
            rec.write(np.full((120, 160, 3), 8 * int(n), np.uint8), timestamp_s=3.5 + n / fps)
    assert rec.frames == 30 and rec.left_out == 1 and rec.repeated == 30 - (len(taken) - 1)
    cap = cv2.VideoCapture(str(path))
    shown = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        shown.append(int(round(image.mean() / 8)))
    cap.release()
    # Each slot shows the newest frame taken by its time: the source's 30 frames last a second.
    assert shown == [max(int(n) for n in taken if n <= i) for i in range(30)]


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
