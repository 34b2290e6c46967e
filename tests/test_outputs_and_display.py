"""Outputs that cannot be written, writes that fail mid-run, and no display: one line, exit status 2,
nothing lost that was written before; checked in the real app and in the stages."""

import csv
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.analysis.faces import Detection, Face, FrameResult
from realtime.analysis.rows import COLUMNS
from realtime.outputs import record
from realtime.outputs.csvlog import CsvLogger, LogError
from realtime.outputs.record import RecordError, VideoRecorder
from realtime.outputs.report import read_log
from realtime.window.preflight import PreflightError, check_display, check_outputs
from tests.media import make_face_video
from tests.paths import REPO, WEIGHTS

needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")
HEADLESS = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


def run_app(*args, env=None, preexec_fn=None):
    return subprocess.run([sys.executable, "run_webcam.py", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env or HEADLESS, preexec_fn=preexec_fn)


def error_line(proc) -> str:
    lines = [p for p in proc.stderr.replace("\r", "\n").splitlines() if p.strip() and not p.startswith("analysing")]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("media") / "astronaut.mp4"
    make_face_video(path)
    return path


# -- checked up front ------------------------------------------------------------------------------

@pytest.mark.parametrize("option,path,reason", [
    ("--csv", "/proc/x.csv", "cannot create it in /proc"),
    pytest.param("--report", "/proc/rep", "cannot create it in /proc", marks=pytest.mark.slow),
    pytest.param("--record", "/proc/x.mp4", "cannot create it in /proc", marks=pytest.mark.slow),
    ("--csv", "{tmp}", "is a folder, not a file"),
    pytest.param("--csv", "{tmp}/file/log.csv", "/file is not a folder", marks=pytest.mark.slow),
    pytest.param("--report", "{tmp}/file", "is not a folder", marks=pytest.mark.slow),
    pytest.param("--record", "{tmp}/out.xyz", "unsupported video extension", marks=pytest.mark.slow),
])
def test_unwritable_output_is_one_line_before_the_source_opens(tmp_path, option, path, reason):
    (tmp_path / "file").write_text("a file")
    path = path.format(tmp=tmp_path)
    before = sorted(tmp_path.rglob("*"))
    # The source does not exist: an error about the output shows it was checked before the source was opened.
    line = error_line(run_app("--source", tmp_path / "missing.mp4", "--no-display", option, path))
    assert path in line and reason in line
    assert sorted(tmp_path.rglob("*")) == before  # nothing created, and the existing file untouched
    assert (tmp_path / "file").read_text() == "a file"


def test_output_checks_create_nothing_and_truncate_nothing(tmp_path):
    (tmp_path / "old.csv").write_text("kept")
    check_outputs({"--csv": (str(tmp_path / "old.csv"), False), "--record": (str(tmp_path / "a/b/c.mp4"), False),
                   "--report": (str(tmp_path / "rep"), True), "--output-dir": (str(tmp_path), True)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"] and (tmp_path / "old.csv").read_text() == "kept"
    with pytest.raises(PreflightError, match="/sys: cannot write"):
        check_outputs({"--output-dir": ("/sys", True)})


@needs_weights
def test_output_dir_is_checked_when_a_window_would_open(tmp_path, clip):
    # offscreen: a Qt platform that needs no display, so only the folder can fail.
    proc = run_app("--source", clip, "--output-dir", "/proc/recordings",
                   env={**HEADLESS, "QT_QPA_PLATFORM": "offscreen"})
    assert "--output-dir /proc/recordings: cannot create it in /proc" in error_line(proc)


# -- no display ------------------------------------------------------------------------------------

@needs_weights
@pytest.mark.parametrize("display", [None, ":987"], ids=["unset", "no_server"])
@pytest.mark.slow
def test_no_display_is_one_line_with_the_fix(clip, tmp_path, display):
    env = HEADLESS if display is None else {**HEADLESS, "DISPLAY": display}
    proc = run_app("--source", clip, "--csv", tmp_path / "log.csv", env=env)
    line = error_line(proc)
    assert line.startswith("error: no display found") and line.endswith(
        "use --no-display (headless, with a progress bar)")
    assert display is None or "cannot connect to X display ':987'" in line
    assert not (tmp_path / "log.csv").exists()
    # --no-display is unaffected.
    assert run_app("--source", clip, "--no-display", env=env).returncode == 0


def test_check_display_accepts_what_can_show_a_window(monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("the check is for Linux")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PreflightError, match="^no display found: use --no-display"):
        check_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    check_display()
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", "not a display")
    with pytest.raises(PreflightError, match="not of the form"):
        check_display()
    # A listener on an X server's socket is all the check asks for (the server itself speaks later, to Qt).
    number = next(n for n in range(700, 800) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    Path("/tmp/.X11-unix").mkdir(exist_ok=True)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(f"/tmp/.X11-unix/X{number}")
        try:
            server.listen(1)
            monkeypatch.setenv("DISPLAY", f":{number}")
            check_display()
        finally:
            os.unlink(f"/tmp/.X11-unix/X{number}")
    with pytest.raises(PreflightError, match=f"cannot connect to X display ':{number}'"):
        check_display()


# -- failing while writing -------------------------------------------------------------------------

def _face_frame(index: int) -> FrameResult:
    probs = np.full(7, 1 / 7, np.float32)
    face = Face(Detection((1, 2, 30, 40), 0.9), raw_probs=probs, track_id=1, probs=probs)
    return FrameResult(index, index / 30, "cam", np.zeros((2, 2, 3), np.uint8), [face])


def test_csv_on_a_full_disk_is_a_log_error():
    with pytest.raises(LogError, match=r"/dev/full: cannot write \(No space left on device\)"):
        CsvLogger("/dev/full")


def test_csv_deleted_while_logging_is_a_log_error(tmp_path):
    logger = CsvLogger(tmp_path / "log.csv")
    logger.write(_face_frame(0))
    (tmp_path / "log.csv").unlink()
    with pytest.raises(LogError, match="deleted while the log was being written"):
        logger.write(_face_frame(1))
    logger.close()  # already closed: nothing more to say


@needs_weights
@pytest.mark.slow
def test_log_that_hits_a_size_limit_keeps_its_whole_rows(clip, tmp_path):
    def limit_file_size():  # a real write failure (EFBIG) part-way, as a full disk gives ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))

    log = tmp_path / "log.csv"
    line = error_line(run_app("--source", clip, "--no-display", "--csv", log, preexec_fn=limit_file_size))
    assert f"error: {log}: cannot write (File too large); the " in line
    kept = int(line.split("; the ")[1].split()[0])
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == COLUMNS and all(len(r) == len(COLUMNS) for r in rows) and len(rows) - 1 == kept > 5
    assert len(read_log(log)) == kept  # the report reads it


def test_recording_stops_playable_when_the_disk_fills(tmp_path, monkeypatch):
    rec = VideoRecorder(tmp_path / "out.mp4", fps=20)
    for i in range(5):
        rec.write(np.full((120, 160, 3), i * 40, np.uint8))
    monkeypatch.setattr(record, "MIN_FREE_BYTES", 2**62)  # far more than any disk holds: "full"
    with pytest.raises(RecordError, match="disk almost full .*: recording stopped after 5 frames, which play"):
        rec.write(np.zeros((120, 160, 3), np.uint8))
    rec.close()
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5


def test_recording_deleted_while_recording_is_an_error(tmp_path):
    rec = VideoRecorder(tmp_path / "out.mp4", fps=20)
    rec.write(np.zeros((120, 160, 3), np.uint8))
    (tmp_path / "out.mp4").unlink()
    with pytest.raises(RecordError, match="deleted while recording"):
        rec.write(np.zeros((120, 160, 3), np.uint8))


@needs_weights
@pytest.mark.slow
def test_log_folder_removed_mid_run_ends_with_one_line_and_a_playable_recording(tmp_path):
    video = tmp_path / "long.mp4"
    make_face_video(video, frames=1500, no_face=range(0))
    logs = tmp_path / "logs"
    proc = subprocess.Popen([sys.executable, "run_webcam.py", "--source", video, "--no-display", "--csv",
                             logs / "log.csv", "--record", tmp_path / "out.mp4"], cwd=REPO, env=HEADLESS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not ((logs / "log.csv").is_file() and (logs / "log.csv").stat().st_size > 20_000):
        time.sleep(0.1)
    (logs / "log.csv").unlink()
    logs.rmdir()
    stdout, stderr = proc.communicate(timeout=300)
    line = error_line(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    assert "log.csv: deleted while the log was being written" in line
    cap = cv2.VideoCapture(str(tmp_path / "out.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    assert 0 < n < 1500  # finalised: it plays to its last frame
