"""Live runs: a video file played as a camera would be (--live), through run_webcam.py."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from realtime.analysis.pipeline import Pipeline, PipelineOptions
from realtime.analysis.worker import ClassifierChoice
from tests.media import make_face_video
from tests.paths import FAST_WEIGHTS, REPO, WEIGHTS
from tests.processes import children_of, gone
from tests.test_app import run_app

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")

FRAMES, FPS = 60, 30


def read_frames(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(image, (80, 60), interpolation=cv2.INTER_AREA).astype(np.float32))
    cap.release()
    return frames


def source_order(recorded: list[np.ndarray], source: list[np.ndarray]) -> list[int]:
    """For each recorded frame, the source frame it shows (the closest one: the overlays differ little)."""
    return [int(np.argmin([np.abs(r - s).mean() for s in source])) for r in recorded]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live")
    # The face sways one way only over these frames, so every frame differs from the others.
    make_face_video(out / "clip.mp4", frames=FRAMES, fps=FPS, no_face=range(0))
    proc = run_app("--source", out / "clip.mp4", "--live", "--no-display", "--csv", out / "log.csv",
                   "--record", out / "rec.mp4")
    assert proc.returncode == 0, proc.stderr
    return out, proc


@pytest.mark.slow
def test_a_live_recording_lasts_as_long_as_the_source_with_frames_in_order(live_run):
    out, proc = live_run
    recorded, source = read_frames(out / "rec.mp4"), read_frames(out / "clip.mp4")
    assert len(recorded) == pytest.approx(FRAMES, rel=0.03)
    shown = source_order(recorded, source)
    assert shown == sorted(shown) and shown[-1] >= FRAMES - 2


@pytest.mark.slow
def test_a_live_log_holds_frames_in_order_at_their_capture_times(live_run):
    out, proc = live_run
    rows = list(csv.DictReader(open(out / "log.csv")))
    frames = [int(r["frame"]) for r in rows]
    times = [float(r["timestamp_s"]) for r in rows]
    assert len(rows) > FRAMES / 3 and frames == sorted(set(frames)) and frames[-1] >= FRAMES - 2
    # Capture times follow the source's clock: frame n is grabbed about n / FPS after frame 0.
    for n, t in zip(frames, times, strict=True):
        assert t - times[0] == pytest.approx((n - frames[0]) / FPS, abs=0.1)


@pytest.mark.slow
def test_a_slow_analysis_does_not_slow_the_loop_or_the_recording(tmp_path):
    frames = 90
    make_face_video(tmp_path / "clip.mp4", frames=frames, fps=FPS, no_face=range(0))
    # Each analysis takes 80 ms more: at most ~10 a second, while the camera delivers 30 frames a second.
    proc = run_app("--source", tmp_path / "clip.mp4", "--live", "--analysis-delay", 80, "--no-display",
                   "--csv", tmp_path / "log.csv", "--record", tmp_path / "rec.mp4", "--stats-json", tmp_path / "s.json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    # The loop shows frames at the camera's pace, or near it on a busy machine (in series with the
    # analysis it could show at most ~10 FPS: a third of the frames).
    assert stats["frames"] >= 0.5 * frames and stats["fps"] > 15
    assert 2 <= stats["analyses"] <= frames / 2.5
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    analysed = [float(r["analysis_timestamp_s"]) for r in rows]
    shown = [float(r["timestamp_s"]) for r in rows]
    assert analysed == sorted(analysed) and all(a <= t for a, t in zip(analysed, shown, strict=True))
    assert len(set(analysed)) <= len(rows) / 2.5  # readings renewed at the analysis' rate, in order
    recorded = read_frames(tmp_path / "rec.mp4")
    assert len(recorded) == pytest.approx(frames, rel=0.03)
    order = source_order(recorded, read_frames(tmp_path / "clip.mp4"))
    assert order == sorted(order) and order[-1] >= frames - 2


@pytest.mark.parametrize("stop", [pytest.param("ctrl-c", marks=pytest.mark.slow),
                                  pytest.param("kill", marks=pytest.mark.slow), "end of file"])
def test_a_live_run_stopped_or_ended_finalises_its_files_and_leaves_no_worker(tmp_path, stop):
    frames = 120 if stop == "end of file" else 300
    make_face_video(tmp_path / "clip.mp4", frames=frames, fps=FPS, no_face=range(0))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "run_webcam.py", "--source", tmp_path / "clip.mp4", "--live",
                             "--no-display", "--record", out / "rec.mp4", "--csv", out / "log.csv"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    log = out / "log.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.is_file() or log.read_text().count("\n") < 21):
        time.sleep(0.1)  # 20 rows logged: a busy machine can take seconds to get there
    workers = children_of(proc.pid)
    assert workers  # the analysis process
    if stop == "ctrl-c":  # a terminal's Ctrl-C reaches the whole process group, the worker too
        os.killpg(proc.pid, signal.SIGINT)
    elif stop == "kill":  # a kill reaches the app alone
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    ended = "end of input" if stop == "end of file" else "interrupted"
    assert proc.returncode == 0 and f"ended by {ended}" in stdout, stdout + stderr
    assert "Traceback" not in stderr
    # The worker, and multiprocessing's resource tracker, which sees the app's end a moment later.
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(gone(pid) for pid in workers)
    rows = list(csv.DictReader(open(log)))
    assert len(rows) >= 20 and int(rows[-1]["frame"]) < frames
    # The file plays to its end (it was finalised), and holds every shown frame at least once.
    assert len(read_frames(out / "rec.mp4")) >= len(rows) - 1


@pytest.mark.skipif(not FAST_WEIGHTS.is_file(), reason="models/emotion_cnn_fast.pth not present")
@pytest.mark.parametrize("budget_s, switched", [(0.0, True), (60.0, False)], ids=["over budget", "within budget"])
def test_a_machine_too_slow_for_the_budget_gets_the_faster_classifier(astronaut_bgr, budget_s, switched):
    with Pipeline(PipelineOptions(landmarks=False)) as pipeline:
        default = pipeline.classifier
        choice = ClassifierChoice(pipeline, [FAST_WEIGHTS], budget_s=budget_s)
        for i in range(ClassifierChoice.WARM_UP + ClassifierChoice.MEASURED):
            t0 = time.perf_counter()
            result = pipeline.process(astronaut_bgr.copy(), i / 30)
            choice.observe(time.perf_counter() - t0, np.stack([f.crop for f in result.faces]))
        assert result.faces and choice.done
        # Over budget, chosen by the latencies measured on the same faces (the fast model is 2-3x as
        # fast per face on every CPU measured, but a busy machine can blur one measurement).
        if switched:
            switched = choice.latencies[str(FAST_WEIGHTS)] < 0.8 * choice.latencies["current"]
        else:
            assert not choice.latencies  # within budget: nothing else is even loaded
        assert (pipeline.classifier is not default) == switched
        assert bool(choice.note) == switched
        if switched:
            assert "faster classifier" in choice.note
            assert pipeline.process(astronaut_bgr.copy(), 1.0).faces[0].probs is not None


def test_a_reset_of_the_analysis_process_retires_every_face_and_its_id_never_returns(astronaut_bgr):
    from realtime.analysis.worker import AnalysisProcess

    frame = np.ascontiguousarray(astronaut_bgr)
    with AnalysisProcess(PipelineOptions(landmarks=False)) as analysis:
        analysis.offer(frame, 0.0, 0, "test")
        first, _ = analysis.latest(wait_s=120)
        old = first.faces[0].track_id
        analysis.reset()  # the mirror key
        analysis.offer(frame, 0.1, 1, "test")
        after, _ = analysis.latest(wait_s=120)
    assert after.retired == [old] and after.faces[0].track_id > old
