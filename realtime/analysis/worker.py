"""The analysis in a process of its own, beside a live loop that keeps the camera's pace.

    with AnalysisProcess(PipelineOptions()) as analysis:
        analysis.offer(image, timestamp_s, index, source)    # every shown frame; never blocks
        result = analysis.latest()                           # the newest FrameResult not yet taken, or None

MediaPipe holds Python's interpreter lock while it runs, so a thread beside the loop gains nothing:
the Pipeline runs in a second process (on the second core), and a feeder thread here hands it the
newest offered frame as soon as it is free, so it is never idle while frames come. Frames it had no
time for are never analysed; each result is for the frame it names (its index and capture time).
The process ignores Ctrl-C (the loop stops it) and ends when the loop closes it or goes away.
With every_frame, it analyses every offered frame in order instead (a file analysed headless), one
frame ahead of the loop that draws, encodes and logs.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from errors import UserError
from realtime.analysis.faces import FrameResult

# The live targets: a face's emotion renewed at least 15 times a second, so an analysis may take
# 1/15 s before a faster classifier is looked for; the fast model ships beside the default one.
ANALYSIS_BUDGET_S = 1 / 15
FAST_WEIGHTS = "emotion_cnn_fast.pth"


@dataclass
class CalibrationStatus:
    """The analysis process's calibrations as of its last result (the fields of Calibrator the window reads)."""

    recording: dict[int, float] = field(default_factory=dict)  # track ID -> seconds left
    finished: list[int] = field(default_factory=list)  # ended at that result
    failed: list[int] = field(default_factory=list)

    def remaining_s(self, track_id: int) -> float | None:
        return self.recording.get(track_id)

    @classmethod
    def of(cls, calibrator) -> CalibrationStatus:
        return cls({i: calibrator.remaining_s(i) for i in calibrator.recording}, list(calibrator.finished),
                   list(calibrator.failed))


class AnalysisError(UserError):
    """The analysis process ended without being asked to; the message is one line for the user."""


class ClassifierChoice:
    """Where the machine cannot renew a face's emotion once every ANALYSIS_BUDGET_S with the default
    classifier, a faster one, by measured latency: after the first analyses (the models warm up),
    if the median time from one result to the next (the analysis, and the wait for a new frame and
    its hand-over: the rate the face's readings are renewed at) exceeds the budget, each candidate
    classifies the same faces and the fastest is kept where it saves at least a fifth of the
    classify time. Only when no weights were chosen."""

    WARM_UP, MEASURED, TRIALS = 5, 15, 10

    def __init__(self, pipeline, candidates: list[Path], budget_s: float = ANALYSIS_BUDGET_S):
        self.pipeline, self.candidates, self.budget_s = pipeline, [c for c in candidates if c.is_file()], budget_s
        self.precision = pipeline.options.precision
        self.seconds: list[float] = []
        self.note = ""  # for the HUD, once a faster classifier was chosen
        self.latencies: dict[str, float] = {}  # seconds per call on the same faces: "current", then each candidate
        self.done = not self.candidates

    def observe(self, seconds: float, crops: np.ndarray) -> None:
        if self.done:
            return
        self.seconds.append(seconds)
        if len(self.seconds) < self.WARM_UP + self.MEASURED or not len(crops):
            return
        self.done = True
        median = float(np.median(self.seconds[self.WARM_UP:]))
        if median <= self.budget_s:
            return
        from realtime.analysis.classify import EmotionClassifier

        current = self.pipeline.classifier
        best, best_s = current, _latency(current, crops, self.TRIALS)
        self.latencies["current"] = best_s
        for path in self.candidates:
            other = EmotionClassifier(str(path), device=current.device.type, precision=self.precision)
            other_s = self.latencies[str(path)] = _latency(other, crops, self.TRIALS)
            if other_s < 0.8 * best_s:
                best, best_s = other, other_s
        if best is not current:
            self.pipeline.classifier = best
            self.note = (f"faster classifier ({best.precision}, {1000 * best_s:.1f} ms): analyses came every "
                         f"{1000 * median:.0f} ms > {1000 * self.budget_s:.0f}")


def _latency(classifier, crops: np.ndarray, trials: int) -> float:
    classifier.predict(crops)  # its first pass allocates
    times = []
    for _ in range(trials):
        t0 = time.perf_counter()
        classifier.predict(crops)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _serve(conn: Connection, options, delay_s: float, choose_classifier: bool, budget_s: float) -> None:
    """The analysis process: a Pipeline answering ("frame", ...) with ("result", FrameResult, stage
    seconds, the HUD's note on the classifier, CalibrationStatus); ("reset",) and ("calibrate", ...)
    go to the Pipeline's own methods."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the loop decides
    from models.checkpoint import DEFAULT_WEIGHTS
    from realtime.analysis.pipeline import Pipeline

    try:
        pipeline = Pipeline(options)
    except Exception as e:  # a user error (a bad model file) or not: the loop re-raises it as it is
        conn.send(("error", e))
        return
    with pipeline:
        classifier = pipeline.classifier
        conn.send(("ready", f"{classifier.device.type} {classifier.precision}"))
        fast = [DEFAULT_WEIGHTS.with_name(FAST_WEIGHTS)] if choose_classifier and not options.weights else []
        choice = ClassifierChoice(pipeline, fast, budget_s)
        last_result: float | None = None
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the loop went away without closing us
                return
            if message is None:
                return
            if message[0] == "reset":
                pipeline.reset()
                continue
            if message[0] == "calibrate":
                pipeline.calibrate(*message[1:])
                continue
            _, image, timestamp_s, index, source = message
            try:
                result = pipeline.process(image, timestamp_s, index=index, source=source)
            except Exception as e:
                conn.send(("error", e))
                return
            if delay_s:
                time.sleep(delay_s)  # a slower CPU, emulated (tests and benchmarks)
            now = time.perf_counter()
            if last_result is not None:  # a period from one result to the next
                choice.observe(now - last_result, np.stack([f.crop for f in result.faces]) if result.faces
                               else np.zeros((0, 48, 48), np.uint8))
            last_result = now
            result.image = None  # the loop has the frame: only the analysis travels back
            conn.send(("result", result, pipeline.stage_seconds, choice.note,
                       CalibrationStatus.of(pipeline.calibration)))


class AnalysisProcess:
    """A Pipeline in its own process, fed the newest offered frame whenever it is free.

    every_frame: every offered frame is analysed, in order, and next_result() hands the results over
    in order (a file analysed headless: the loop decodes, draws, encodes and logs one frame while
    this process analyses the next, so the two cores share the work).
    delay_s: added to each analysis, to emulate a slower CPU (tests, benchmarks).
    frame_rate: the source's, for the renewal rate a faster classifier is looked for below (ClassifierChoice).
    """

    def __init__(self, options, delay_s: float = 0.0, start_timeout_s: float = 300.0, every_frame: bool = False,
                 frame_rate: float = 30.0):
        self.every_frame = every_frame
        # A camera slower than 30 FPS cannot renew readings 15 times a second: there, every other frame.
        budget_s = max(ANALYSIS_BUDGET_S, 2 / frame_rate)
        ctx = multiprocessing.get_context("spawn")  # never fork a process that holds MediaPipe's threads
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, options, delay_s, not every_frame, budget_s),
                                   name="analysis", daemon=True)
        self.process.start()
        child.close()
        if not self._conn.poll(start_timeout_s):
            self.close()
            raise AnalysisError(f"the analysis process did not start within {start_timeout_s:.0f} s")
        kind, value = self._recv()
        if kind == "error":
            self.close()
            raise value
        self.backend = value  # where and how the classifier runs, e.g. "cpu int8"
        self.classifier_note = ""  # set if the process switched to a faster classifier, and why
        self.calibration = CalibrationStatus()  # as of the newest result
        self._cond = threading.Condition()
        self._queue: deque[tuple] = deque()  # frames offered and not yet sent (at most one unless every_frame)
        self._commands: list[tuple] = []  # to send before the next frame: ("reset",), ("calibrate", ...)
        self._generation = 0  # resets so far: a result from before the last one is dropped
        self._results: list[tuple[FrameResult, dict[str, float]]] = []
        # Track IDs retired in results that were dropped: handed over with the next result taken, so
        # every holder of per-face state still hears of each (FrameResult.retired).
        self._retired_unseen: list[int] = []
        self._error: BaseException | None = None
        self._closing = False
        self._feeder = threading.Thread(target=self._feed, name="analysis-feeder", daemon=True)
        self._feeder.start()

    def _recv(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self.process.join(5)
            code = self.process.exitcode
            return "error", AnalysisError(f"the analysis process ended unexpectedly (exit code {code})")

    def _feed(self) -> None:
        """Send the newest offered frame, wait for its result, repeat: one frame in flight at a time."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._commands or self._closing)
                if self._closing:
                    return
                commands, self._commands = self._commands, []
                message = self._queue.popleft() if self._queue else None
                generation = self._generation
            try:
                for command in commands:
                    self._conn.send(command)
                if message is None:
                    continue
                self._conn.send(message)
                kind, *value = self._recv()
            except (OSError, ValueError):
                kind, *value = self._recv()  # the process is gone: its exit code says why
            with self._cond:
                if kind == "error":
                    self._error = value[0]
                elif generation == self._generation:  # not from before a reset
                    self._results.append((value[0], value[1]))
                else:
                    self._retired_unseen += value[0].retired
                if kind == "result":
                    self.classifier_note = value[2] or self.classifier_note
                    self.calibration = value[3]
                self._cond.notify_all()
                if kind == "error":
                    return

    def offer(self, image: np.ndarray, timestamp_s: float, index: int, source: str) -> None:
        """The newest frame, for the analysis when it is free; it replaces a frame offered before and not
        sent (every_frame: it waits its turn behind them)."""
        with self._cond:
            if not self.every_frame:
                self._queue.clear()
            self._queue.append(("frame", image, timestamp_s, index, source))
            self._cond.notify_all()

    def reset(self) -> None:
        """Forget every face (the mirror key): frames offered from now on are analysed afresh, and no
        result for a frame offered before is handed over."""
        with self._cond:
            self._queue.clear()
            self._retired_unseen += [i for result, _ in self._results for i in result.retired]
            self._results.clear()
            self._commands.append(("reset",))
            self._generation += 1
            self._cond.notify_all()

    def calibrate(self, track_id: int, seconds: float) -> None:
        """Record a face at rest for `seconds` from the next frame sent (Pipeline.calibrate)."""
        with self._cond:
            self._commands.append(("calibrate", track_id, seconds))
            self._cond.notify_all()

    def latest(self, wait_s: float = 0.0) -> tuple[FrameResult, dict[str, float]] | None:
        """The newest result not yet taken, with its stage times, or None; results older than it are
        dropped. wait_s: how long to wait for one."""
        with self._cond:
            if wait_s > 0:
                self._cond.wait_for(lambda: self._results or self._error is not None, timeout=wait_s)
            if self._error is not None:
                raise self._error
            if not self._results:
                return None
            retired = self._retired_unseen + [i for result, _ in self._results for i in result.retired]
            newest, self._results, self._retired_unseen = self._results[-1], [], []
            newest[0].retired = list(dict.fromkeys(retired))
            return newest

    def next_result(self) -> tuple[FrameResult, dict[str, float]]:
        """every_frame: the oldest result not yet taken, waiting for it, with its stage times."""
        with self._cond:
            self._cond.wait_for(lambda: self._results or self._error is not None)
            if self._error is not None:
                raise self._error
            return self._results.pop(0)

    def close(self) -> None:
        """Stop the process: asked first, then terminated; none is left behind."""
        if hasattr(self, "_cond"):
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._feeder.join(timeout=10)
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()

    def __enter__(self) -> AnalysisProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
