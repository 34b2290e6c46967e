"""Keeping the libraries' own log lines out of the user's terminal: FFmpeg (through OpenCV) prints a
line per damaged packet, libjpeg and libpng one per broken image, OpenCV, MediaPipe, LiteRT, absl
and Qt their warnings. The app's own messages go through Python's sys.stderr and stay.

    set_library_log_levels()       # before cv2 or mediapipe is imported: they read these on loading
    with native_stderr_silenced():  # everything written to file descriptor 2 by C/C++ code vanishes
        ...
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

LIBRARY_LOG_LEVELS = {
    "OPENCV_LOG_LEVEL": "OFF",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # AV_LOG_QUIET
    "GLOG_minloglevel": "2",  # MediaPipe: errors only
    "TF_CPP_MIN_LOG_LEVEL": "2",  # LiteRT: errors only
}


def set_library_log_levels() -> None:
    """Quieten what can be quietened by setting: less output to throw away. A level set by the user wins."""
    for name, value in LIBRARY_LOG_LEVELS.items():
        os.environ.setdefault(name, value)


@contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null, and sys.stderr at a copy of the real one.

    libjpeg, libpng, OpenCV's AVI reader and Qt write straight to the descriptor, whatever the log
    levels say; Python's own output (messages, progress bars, tracebacks) keeps reaching the terminal.
    """
    try:
        terminal = os.dup(2)
    except OSError:  # no descriptor 2 at all (e.g. pythonw): nothing to silence
        yield
        return
    saved = sys.stderr
    saved.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = open(terminal, "w", buffering=1, encoding=saved.encoding, errors="backslashreplace")
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr.close()  # closes the copy, not descriptor 2
        sys.stderr = saved
