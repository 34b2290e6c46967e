"""The Pipeline on two cores, for files analysed frame by frame (the app headless, the API, batch).

    with SplitPipeline(options) as split:
        split.offer(image, timestamp_s, index, source)     # frame n+1, handed to the other process
        result, stage_seconds = split.next_result()        # frame n, read here meanwhile

The FaceFinder (find.py: detector, tracker, face mesh) runs in a process of its own, while this one
crops, classifies, filters, and whatever its caller does next (draw, encode, log) for the frame before:
MediaPipe holds Python's interpreter lock, so a thread would gain nothing. Each frame goes through the
same stages in the same order as Pipeline.process, so the results are the same: only where they run
differs. Every offered frame is analysed, in order.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import traceback
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from errors import UserError
from realtime.analysis.faces import FrameResult
from realtime.analysis.worker import AnalysisError, CalibrationStatus

QUEUED_FRAMES = 2  # offered and not yet sent: past this, offer() waits for the other process
REPO = Path(__file__).resolve().parents[2]


def _serve(frames: Connection, results: Connection) -> None:
    """The finding process: the options first, then ("frame", image, timestamp_s) -> ("found", Found);
    ("reset",); None ends it."""
    from realtime.analysis.find import FaceFinder

    try:
        options = frames.recv()
        finder = FaceFinder(options)
    except Exception as e:  # a bad model file (a user error) or not: the caller re-raises it as it is
        results.send(("error", e))
        return
    with finder:
        results.send(("ready",))
        while True:
            try:
                message = frames.recv()
            except EOFError:  # the caller went away without closing us
                return
            if message is None:
                return
            if message[0] == "reset":
                finder.reset()
                continue
            try:
                found = finder.find(message[1], message[2])
            except Exception as e:
                if not isinstance(e, UserError):
                    traceback.print_exc()  # a bug: its traceback stays here, the caller re-raises it bare
                results.send(("error", e))
                return
            results.send(("found", found))


class SplitPipeline:
    """A Pipeline (options, classifier: as Pipeline's) whose FaceFinder runs in a second process.

    The interface of worker.AnalysisProcess with every_frame, so that the app's headless loop takes either."""

    every_frame = True
    classifier_note = ""

    def __init__(self, options, classifier=None, start_timeout_s: float = 300.0):
        from realtime.analysis.pipeline import Pipeline

        # A fresh interpreter rather than multiprocessing's spawn, which re-runs the caller's main
        # script: an API user's script without an `if __name__ == "__main__"` guard would run twice.
        frames_in, frames_out = os.pipe()
        results_in, results_out = os.pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        # Its own session: a Ctrl-C at the terminal reaches the caller alone, which decides (and closes it).
        self.process = subprocess.Popen([sys.executable, "-m", "realtime.analysis.split", str(frames_in),
                                         str(results_out)], pass_fds=(frames_in, results_out), env=env,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(frames_in)
        os.close(results_out)
        self._frames = Connection(frames_out, readable=False)
        self._results = Connection(results_in, writable=False)
        self._frames.send(options)
        self._queue: queue.Queue = queue.Queue(QUEUED_FRAMES)
        self._sender = threading.Thread(target=self._send, name="find-sender", daemon=True)
        self._send_error: BaseException | None = None
        self._pending: deque[tuple[np.ndarray, float, int, str]] = deque()  # offered, not yet read
        self.pipeline = None
        try:
            self.pipeline = Pipeline(options, classifier=classifier, find=False)  # loads while the finder starts
            if not self._results.poll(start_timeout_s):
                raise AnalysisError(f"the face-finding process did not start within {start_timeout_s:.0f} s")
            kind, *value = self._recv()
            if kind == "error":
                raise value[0]
        except BaseException:
            self.close()
            raise
        self._sender.start()
        classifier = self.pipeline.classifier
        self.backend = f"{classifier.device.type} {classifier.precision}"

    def _recv(self) -> tuple:
        try:
            return self._results.recv()
        except (EOFError, OSError):
            try:
                code = self.process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            return "error", AnalysisError(f"the face-finding process ended unexpectedly (exit code {code})")

    def _send(self) -> None:
        while True:
            message = self._queue.get()
            try:
                self._frames.send(message)
            except (OSError, ValueError) as e:  # the process is gone; next_result says why
                self._send_error = e
                return
            if message is None:
                return

    def offer(self, image: np.ndarray, timestamp_s: float | None, index: int, source: str) -> None:
        """The next frame of the stream; its result comes, in turn, from next_result()."""
        timestamp_s = self.pipeline.timestamp(timestamp_s)
        self._pending.append((image, timestamp_s, index, source))
        while self._send_error is None:
            try:
                self._queue.put(("frame", image, timestamp_s), timeout=0.5)
                return
            except queue.Full:
                if self.process.poll() is not None:
                    return  # next_result reports it

    def next_result(self) -> tuple[FrameResult, dict[str, float]]:
        """The oldest offered frame's result, waiting for its faces, with its stage times."""
        image, timestamp_s, index, source = self._pending.popleft()
        kind, value = self._recv()
        if kind == "error":
            raise value
        result = self.pipeline.read(image, timestamp_s, value, index=index, source=source)
        return result, self.pipeline.stage_seconds

    def reset(self) -> None:
        """Retire every face from the next frame offered on."""
        self._queue.put(("reset",))

    def calibrate(self, track_id: int, seconds: float) -> None:
        self.pipeline.calibrate(track_id, seconds)

    @property
    def calibration(self) -> CalibrationStatus:
        return CalibrationStatus.of(self.pipeline.calibration)

    def close(self) -> None:
        """Stop the process: asked first (at once, if frames are still in it: it holds no files), then
        terminated; none is left behind."""
        if self._sender.ident is not None:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
        else:
            try:
                self._frames.send(None)
            except (OSError, ValueError):
                pass
        steps = ((None, 0.1 if self._pending else 5), (self.process.terminate, 5), (self.process.kill, None))
        for stop, wait_s in steps:
            if stop is not None:
                stop()
            try:
                self.process.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        if self._sender.ident is not None:
            self._sender.join(timeout=5)  # its send fails now that the process is gone
        self._frames.close()
        self._results.close()
        if self.pipeline is not None:
            self.pipeline.close()

    def __enter__(self) -> SplitPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
