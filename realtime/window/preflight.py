"""Checks made before any model loads or any camera or file opens, so that a run does not fail at its
end, or abort, for a reason known at its start: every output can be written, and a window can open.

Both leave nothing behind: no folder is created and no file touched.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
from pathlib import Path

from errors import UserError

HEADLESS_HINT = "use --no-display (headless, with a progress bar)"


class PreflightError(UserError):
    """An output that cannot be written, or no display; the message is one line for the user."""


def check_outputs(outputs: dict[str, tuple[str | None, bool]]) -> None:
    """outputs: option name -> (path or None, whether it is a folder). Raises PreflightError for the first
    path that cannot be written: a folder where a file is wanted (or the reverse), or a place without
    write permission, read-only or not there (e.g. /proc)."""
    for option, (path, folder) in outputs.items():
        if path:
            problem = _unwritable(Path(path), folder)
            if problem:
                raise PreflightError(f"{option} {path}: {problem}")


def _unwritable(path: Path, folder: bool) -> str | None:
    if path.exists():
        if path.is_dir() != folder:
            return "is a folder, not a file" if path.is_dir() else "is not a folder"
        # Opening a file to append truncates nothing; in a folder, a nameless temporary file is the test.
        return _fails(lambda: tempfile.TemporaryFile(dir=path) if folder else open(path, "ab"), "cannot write")
    parent = path.parent
    while not parent.exists():  # the folders the run will create, up to the first that is there
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    return _fails(lambda: tempfile.TemporaryFile(dir=parent), f"cannot create it in {parent}")


def _fails(open_it, what: str) -> str | None:
    try:
        open_it().close()
    except OSError as e:
        return f"{what} ({e.strerror or e})"
    return None


def check_display() -> None:
    """On Linux, raise PreflightError unless a window can open. OpenCV's bundled Qt aborts the whole
    process, before anything is saved, when it finds no display (exit status 134)."""
    if not sys.platform.startswith("linux"):
        return
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith(("xcb", "wayland")):
        return  # offscreen, vnc, ...: a Qt platform that needs no display server
    display = os.environ.get("DISPLAY", "")
    if not display:
        if os.environ.get("WAYLAND_DISPLAY"):
            return
        raise PreflightError(f"no display found: {HEADLESS_HINT}")
    problem = _x_server_problem(display)
    if problem:
        raise PreflightError(f"no display found (cannot connect to X display {display!r}: {problem}): "
                             f"{HEADLESS_HINT}")


def _x_server_problem(display: str) -> str | None:
    """Why no X server answers at DISPLAY ([host]:number[.screen]), or None when one does."""
    m = re.fullmatch(r"(?P<host>[^:]*):(?P<number>\d+)(\.\d+)?", display)
    if not m:
        return "not of the form [host]:number"
    host, number = m["host"], int(m["number"])
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                try:
                    s.connect(f"/tmp/.X11-unix/X{number}")
                except OSError:
                    s.connect(f"\0/tmp/.X11-unix/X{number}")  # Linux's abstract socket, which some servers use
        else:
            socket.create_connection((host, 6000 + number), timeout=2).close()
    except OSError as e:
        return e.strerror or str(e) or type(e).__name__
    return None
