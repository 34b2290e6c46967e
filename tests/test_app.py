"""The whole pipeline, headless, on real video and image files, through run_webcam.py."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from models import EMOTIONS
from realtime.analysis.rows import COLUMNS
from tests.media import astronaut_crowd_bgr, astronaut_face_bgr, make_face_video
from tests.paths import REPO, VIDEOS, WEIGHTS
from tests.processes import children_of, gone

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")


def run_app(*args, timeout=300):
    # As a user runs it: a developer's TQDM_DISABLE would hide the progress bar a test checks.
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    return subprocess.run([sys.executable, "run_webcam.py", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "astronaut.mp4"
    return path, make_face_video(path)


@pytest.fixture(scope="module")
def headless_run(face_video, tmp_path_factory):
    video, facts = face_video
    out = tmp_path_factory.mktemp("run")
    proc = run_app("--source", video, "--no-display", "--csv", out / "log.csv", "--record", out / "annotated.mp4",
                   "--report", out / "report", "--stats-json", out / "stats.json")
    return proc, out, facts


def test_headless_run_without_a_recording_logs_the_same_rows_and_draws_nothing(headless_run, face_video, tmp_path):
    _, out, _ = headless_run
    proc = run_app("--source", face_video[0], "--no-display", "--csv", tmp_path / "log.csv",
                   "--stats-json", tmp_path / "stats.json")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "log.csv").read_text() == (out / "log.csv").read_text()
    assert "draw" not in json.loads((tmp_path / "stats.json").read_text())["stage_ms"]


def test_headless_run_logs_every_face_frame_with_one_stable_id(headless_run):
    proc, out, facts = headless_run
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert list(rows[0]) == COLUMNS
    frames_with_face = sorted({int(r["frame"]) for r in rows})
    # The detector finds the face in (nearly) every frame that has one, and none in the empty frames.
    assert set(frames_with_face) <= set(facts["face_frames"])
    assert len(frames_with_face) >= 0.9 * len(facts["face_frames"])
    assert {r["face_id"] for r in rows} == {"1"}, "the face keeps one ID across the gap"
    for r in rows:
        probs = np.array([float(r[f"p_{e}"]) for e in EMOTIONS])
        assert probs.sum() == pytest.approx(1, abs=1e-3)
        assert r["label"] == EMOTIONS[int(probs.argmax())]
        raw = np.array([float(r[f"raw_p_{e}"]) for e in EMOTIONS])
        assert raw.sum() == pytest.approx(1, abs=1e-3)
        # The shown label (with hysteresis) need not be the top class; its confidence is its own probability.
        assert r["shown_label"] in EMOTIONS
        assert float(r["shown_confidence"]) == pytest.approx(float(r[f"p_{r['shown_label']}"]), abs=1e-4)
        assert -1 <= float(r["valence"]) <= 1 and -1 <= float(r["arousal"]) <= 1
    # The astronaut smiles broadly: the model should say so, and valence should be positive.
    assert sum(r["shown_label"] == "happy" for r in rows) > 0.8 * len(rows)
    assert np.mean([float(r["valence"]) for r in rows]) > 0.3


def test_headless_progress_bar_into_a_pipe_is_not_a_line_per_frame(headless_run):
    proc, out, facts = headless_run
    # stderr was a pipe, not a terminal: the bar redraws every few seconds, not for each of the frames.
    assert 1 <= proc.stderr.count("analysing") < facts["frames"] / 4, proc.stderr


def test_headless_run_records_a_playable_video_with_every_frame(headless_run):
    proc, out, facts = headless_run
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == facts["frames"]
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(facts["fps"])
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == facts["frames"]


def test_headless_run_writes_report(headless_run):
    proc, out, facts = headless_run
    report = out / "report"
    for name in ("frames.csv", "summary.json", "timeline.png", "va.png"):
        assert (report / name).is_file(), name
    summary = json.loads((report / "summary.json").read_text())
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert summary["faces"]["1"]["frames"] == len(rows)
    assert summary["faces"]["1"]["dominant_emotion"] == "happy"


def test_headless_run_writes_its_figures_for_scripts(headless_run):
    proc, out, facts = headless_run
    stats = json.loads((out / "stats.json").read_text())
    assert stats["frames"] == facts["frames"]
    assert stats["rows"] == len(list(csv.DictReader(open(out / "log.csv"))))
    assert f"{stats['fps']:.1f} FPS" in proc.stdout
    # Every stage the frame goes through, in its order, from decoding to encoding the recording.
    assert list(stats["stage_ms"])[0] == "decode" and list(stats["stage_ms"])[-1] == "encode"
    assert {"detect", "landmarks", "classify", "draw"} <= set(stats["stage_ms"])
    assert all(ms > 0 for ms in stats["stage_ms"].values())


def test_mirror_key_retires_every_face_and_each_holder_forgets_it(face_video):
    from contextlib import ExitStack

    from realtime.analysis.capture import open_source
    from realtime.analysis.pipeline import Pipeline, PipelineOptions, for_source
    from realtime.window.app import App, AppConfig

    video, _ = face_video
    with ExitStack() as stack:
        source = stack.enter_context(open_source(str(video)))
        pipe = stack.enter_context(Pipeline(for_source(PipelineOptions(), source)))
        app = App(AppConfig(source=str(video), display=False), source, pipe, stack)
        frames = iter(source)

        def step():
            captured = next(frames)
            return app.process(captured.image, captured.index, captured.timestamp_s, captured.source)

        old = [step() for _ in range(5)][-1].faces[0].track_id
        holders = {"temporal": pipe.temporal.state, "AU baselines": pipe.action_units.history,
                   "landmarker": pipe.finder.landmarker._by_track, "VA trails": app.renderer.va_plot.trails,
                   "dashboard": app.dashboard.history}
        assert all(set(held) == {old} for held in holders.values())
        assert app.handle_key(ord("m"), np.zeros((480, 640, 3), np.uint8)) and app.mirror
        after = [step() for _ in range(5)]
    new = after[-1].faces[0].track_id
    assert after[0].retired == [old] and new > old
    assert {f.track_id for r in after for f in r.faces} == {new}  # the old ID never comes back
    for name, held in holders.items():
        assert set(held) == {new}, name


def test_the_first_interrupt_asks_the_loop_to_stop_and_a_second_raises_at_once(monkeypatch):
    from realtime.window.app import _Interrupts

    monkeypatch.setattr(_Interrupts, "requested", False)
    _Interrupts.check()  # nothing asked yet
    _Interrupts.handle(signal.SIGINT, None)  # no exception inside whatever code was running
    with pytest.raises(KeyboardInterrupt):
        _Interrupts.check()  # the loop, between frames
    with pytest.raises(KeyboardInterrupt):
        _Interrupts.handle(signal.SIGINT, None)  # a loop stuck in a read: the second Ctrl-C


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_an_interrupted_run_finalises_recording_log_and_report(tmp_path, sig):
    video = tmp_path / "long.mp4"
    make_face_video(video, frames=3000, no_face=range(0))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "run_webcam.py", "--source", video, "--no-display", "--pipelined",
                             "--record", out / "annotated.mp4", "--report", out], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    log = out / "frames.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.is_file() or log.stat().st_size < 20_000):
        time.sleep(0.2)
    finders = children_of(proc.pid)
    assert finders  # the faces are found in a second process
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout + stderr
    assert all(gone(pid) for pid in finders)
    assert "Traceback" not in stderr and "ended by interrupted" in stdout
    summary_line = re.search(r"^(\d+) frames .*, (\d+) face rows, ([\d.]+) FPS; ended by interrupted", stdout, re.M)
    frames, face_rows, fps = int(summary_line[1]), int(summary_line[2]), float(summary_line[3])
    assert 0 < frames < 3000 and face_rows > 0.9 * frames
    assert 1 < fps < 2000  # measured over the run's true duration, not zero
    rows = list(csv.DictReader(open(log)))
    assert len(rows) == face_rows and int(rows[-1]["frame"]) < frames  # every processed face, to the last
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == frames  # the file plays to its last frame: the recording was closed properly
    summary = json.loads((out / "summary.json").read_text())
    assert sum(face["frames"] for face in summary["faces"].values()) == face_rows


def test_image_source_prints_the_summary(tmp_path):
    cv2.imwrite(str(tmp_path / "face.png"), astronaut_face_bgr())
    proc = run_app("--source", tmp_path / "face.png", "--no-display")
    assert proc.returncode == 0, proc.stderr
    for word in ("emotion: happy", "action units:", "AU12", "valence:", "arousal:"):
        assert word in proc.stdout


@pytest.mark.slow
def test_small_faces_in_a_large_photo_are_found_and_numbered_left_to_right(tmp_path):
    frame, centres = astronaut_crowd_bgr()
    cv2.imwrite(str(tmp_path / "crowd.png"), frame)
    proc = run_app("--source", tmp_path / "crowd.png", "--no-display", "--csv", tmp_path / "log.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["face_id"] for r in rows] == ["1", "2", "3"]
    xs = [int(r["x"]) + int(r["w"]) / 2 for r in rows]
    assert xs == sorted(xs) and np.allclose(xs, [c[0] for c in centres], atol=25)
    assert proc.stdout.count("emotion:") == 3


@pytest.mark.slow
def test_image_folder_report_has_contact_sheet(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    face = astronaut_face_bgr()
    cv2.imwrite(str(photos / "one.jpg"), face)
    cv2.imwrite(str(photos / "two.jpg"), np.hstack([face, face]))  # two faces in one image
    cv2.imwrite(str(photos / "none.jpg"), np.full((200, 200, 3), 128, np.uint8))
    proc = run_app("--source", photos, "--no-display", "--report", tmp_path / "rep")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "rep" / "frames.csv")))
    assert sorted(r["source"].rsplit("/", 1)[1] for r in rows) == ["one.jpg", "two.jpg", "two.jpg"]
    assert sorted(r["face_id"] for r in rows if r["source"].endswith("two.jpg")) == ["1", "2"]
    assert (tmp_path / "rep" / "contact_sheet.png").is_file()
    assert "no face found" in proc.stdout


@pytest.mark.parametrize("case", ["missing_file", "corrupt_weights", "bad_smoothing"] + [
    pytest.param(c, marks=pytest.mark.slow) for c in
    ("corrupt_video", "corrupt_image", "bad_camera", "missing_weights", "bad_detector", "bad_record_ext")])
def test_bad_input_is_one_line_and_nonzero(tmp_path, face_video, case):
    video = face_video[0]

    def garbage(name):
        path = tmp_path / name
        path.write_bytes(b"\x00\x01garbage" * 64)
        return path

    args = {
        "missing_file": lambda: ["--source", tmp_path / "nope.mp4"],
        "corrupt_video": lambda: ["--source", garbage("clip.mp4")],
        "corrupt_image": lambda: ["--source", garbage("photo.png")],
        "bad_camera": lambda: ["--source", "7"],
        "missing_weights": lambda: ["--source", video, "--weights", tmp_path / "none.pth"],
        "corrupt_weights": lambda: ["--source", video, "--weights", garbage("w.pth")],
        "bad_detector": lambda: ["--source", video, "--detector", garbage("d.tflite")],
        "bad_record_ext": lambda: ["--source", video, "--record", tmp_path / "out.xyz"],
        "bad_smoothing": lambda: ["--source", video, "--smoothing", "-1"],
    }[case]()
    proc = run_app(*args, "--no-display")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/videos not present")
def test_real_clips_face_then_none(tmp_path):
    clip = VIDEOS / "pyfeat_face_noface.mov"
    proc = run_app("--source", clip, "--no-display", "--csv", tmp_path / "log.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    cap = cv2.VideoCapture(str(clip))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = {int(r["frame"]) for r in rows}
    assert frames and len(frames) < total  # a face at first, then frames without one


@pytest.mark.slow
@pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/videos not present")
def test_real_clip_without_face_logs_almost_nothing(tmp_path):
    clip = VIDEOS / "pyfeat_no_face.mp4"
    proc = run_app("--source", clip, "--no-display", "--csv", tmp_path / "log.csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    # A cartoon character may pass for a face in an odd frame; more than that is a detector problem.
    assert len({r["frame"] for r in rows}) <= 2


def test_help_shows_only_real_defaults():
    from run_webcam import get_args_parser

    text = " ".join(get_args_parser().format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "--smoothing SECONDS time constant of the probability smoothing" in text
    assert "(default: 0.15)" in text
    assert "--weights WEIGHTS classifier checkpoint (default models/emotion_cnn.pth;" in text
