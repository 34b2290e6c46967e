"""The frame loop: capture -> detect -> track -> landmarks -> crop -> classify -> affect (AUs,
valence/arousal) -> temporal -> draw -> record / log / show, with the keys that switch overlays.

Every resource (camera, detector, recorder, CSV) is owned by an ExitStack, so quitting,
Ctrl-C, the end of a file and a camera that drops out all finalise the recording and the log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mappings import default_measured, default_prototypes
from realtime.analysis.capture import DEFAULT_FPS, CapturedFrame, FrameSource, open_source
from realtime.analysis.events import EVENT_KEYS, Event, EventTimeline, default_labels
from realtime.analysis.faces import FrameResult
from realtime.analysis.follow import BoxFollower
from realtime.analysis.pipeline import PIPELINE_STAGES, Pipeline, PipelineOptions, for_source, load_classifier
from realtime.analysis.split import SplitPipeline
from realtime.analysis.timing import StageTimer
from realtime.analysis.worker import AnalysisProcess
from realtime.outputs.csvlog import CsvLogger, EventLog
from realtime.outputs.record import VideoRecorder
from realtime.window.dashboard import Dashboard
from realtime.window.draw import Renderer, selected_face, splash
from realtime.window.layout import MAX_WINDOW, Overlays
from realtime.window.preflight import check_display, check_outputs

WINDOW = "Facial expression"
NEXT_IMAGE_KEYS = (ord(" "), ord("n"), 13)  # image sources: space, n or Enter shows the next image
STAGES = ("decode", *PIPELINE_STAGES, "follow", "draw", "encode")  # follow: live boxes between analyses
ANALYSIS_WINDOW = 3600  # analyses whose latency the summary's median covers: two minutes at 30 a second


@dataclass
class AppConfig:
    source: str = "0"
    live: bool = False  # a video file played as a camera would be (real time, newest frame)
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)  # what the analysis computes
    record: str | None = None
    csv: str | None = None
    report: str | None = None
    output_dir: str = "recordings"
    display: bool = True
    mirror: bool | None = None  # default: on for cameras, off for files (live or not)
    overlays: Overlays = field(default_factory=Overlays)
    record_dashboard: bool = False  # record the whole window (dashboard, side column) rather than the video
    event_labels: dict[str, str] = field(default_factory=default_labels)  # number key -> event label
    events: list[Event] = field(default_factory=list)  # from --events, for recorded videos
    calibrate_s: float = 3.0  # how long the c key records a resting face
    calibrate_at_start: bool = False  # --calibrate: record the first face seen
    stats_json: str | None = None  # the RunSummary as JSON, written at the end (bench/pipeline.py reads it)
    analysis_delay_s: float = 0.0  # live sources: added to each analysis, emulating a slower CPU (tests, bench)
    pipelined: bool | None = None  # headless files: faces found in a second process (None: with 2+ cores)


@dataclass
class RunSummary:
    frames: int = 0
    frames_with_faces: int = 0
    rows: int = 0
    seconds: float = 0.0
    waiting_s: float = 0.0  # of seconds: a still or a paused frame on screen, waiting for a key
    ended_by: str = "end of input"
    skipped_frames: int = 0  # unreadable frames in a video; unreadable files in an image folder
    skipped_files: list[str] = field(default_factory=list)  # those files
    recordings: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    stage_ms: dict[str, float] = field(default_factory=dict)
    classifier: str = ""  # where and how it ran, e.g. "cpu int8"
    # Live sources, analysed beside the loop: analyses shown, and the median time from the capture of
    # an analysed frame to its analysis on screen (recent ones: the last ANALYSIS_WINDOW).
    analyses: int = 0
    analysis_latency_ms: float = 0.0

    @property
    def analysis_rate(self) -> float:
        """Analyses shown per second (live sources; with files every frame is analysed)."""
        return self.analyses / max(self.seconds - self.waiting_s, 1e-9)

    @property
    def fps(self) -> float:
        """Frames per second of work: time spent waiting for the user does not count."""
        return self.frames / max(self.seconds - self.waiting_s, 1e-9)

    def write_json(self, path: str) -> None:
        """Every field, the FPS, and stage_ms (median milliseconds per stage, in the frame's order)."""
        Path(path).write_text(json.dumps({**asdict(self), "fps": self.fps, "analysis_rate": self.analysis_rate},
                                         indent=1) + "\n")


def timestamp_name(prefix: str, suffix: str) -> str:
    return f"{prefix}_{datetime.now().strftime('%Y%m%d-%H%M%S')}{suffix}"


class App:
    """The window around a Pipeline: it owns the display, keys, drawing, recording and the CSV log."""

    def __init__(self, cfg: AppConfig, source: FrameSource, pipeline: Pipeline | None, stack: ExitStack,
                 analysis: AnalysisProcess | None = None):
        """pipeline: frames analysed here, one by one (files, images); analysis: beside the loop, in its
        own process (live sources), the boxes following the faces in between."""
        self.cfg, self.source, self.stack = cfg, source, stack
        self.pipeline, self.analysis = pipeline, analysis
        self.overlays = cfg.overlays
        if self.overlays.dashboard is None and not cfg.display:  # headless, nobody sees it: drawn only if recorded
            self.overlays.dashboard = cfg.record_dashboard
        self.mirror = cfg.mirror if cfg.mirror is not None else source.kind == "camera"
        measured = default_measured().table
        if pipeline is not None:
            backend = f"{pipeline.classifier.device.type} {pipeline.classifier.precision}"
        else:
            backend = analysis.backend
        self.follower = BoxFollower()
        self.analysed: FrameResult | None = None  # the newest analysis shown (live sources)
        self.grays: dict[int, np.ndarray] = {}  # recent frames, grey, by index: where an analysis' boxes start
        self.latencies: deque[float] = deque(maxlen=ANALYSIS_WINDOW)
        self.dashboard = Dashboard()
        self.renderer = Renderer(default_prototypes().au_names | measured.au_names, measured.weak, backend,
                                 self.dashboard)
        self.selected: int | None = None  # the dashboard's face (track ID); f / Tab moves to the next
        self.last: FrameResult | None = None
        self.recorder: VideoRecorder | None = None
        self.logger = stack.enter_context(CsvLogger(cfg.csv)) if cfg.csv else None
        self.events = EventTimeline(cfg.events)
        self.calibrate_pending = cfg.calibrate_at_start and not source.stills
        self.notice: tuple[str, float] | None = None  # a calibration's outcome, shown until a wall-clock time
        self.event_log = stack.enter_context(EventLog(events_path(cfg)))
        self.timer = StageTimer(STAGES)
        self.summary = RunSummary(classifier=backend)
        self.fps = 0.0
        self.paused = False
        self.window_size: tuple[int, int] | None = None
        self.output_dir = Path(cfg.output_dir)
        if cfg.record:
            self.start_recording(cfg.record)

    # -- recording -------------------------------------------------------------------------
    def start_recording(self, path: str | None = None) -> None:
        path = path or str(self.output_dir / timestamp_name("session", ".mp4"))
        self.recorder = VideoRecorder(path, self.source.fps)
        self.stack.callback(self.recorder.close)  # finalised on every exit path
        self.summary.recordings.append(path)

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
            rec = self.recorder
            repeats = f", {rec.repeated} of them repeats for frames the loop skipped" if rec.repeated else ""
            print(f"recording saved: {rec.path} ({rec.frames} frames at {rec.fps:g} FPS{repeats})")
            self.recorder = None

    # -- one frame ---------------------------------------------------------------------------
    def process(self, image: np.ndarray, index: int, timestamp_s: float, source: str) -> FrameResult:
        """The pipeline's analysis of the frame as shown (mirrored or not), and the plot's history."""
        if self.mirror:
            image = cv2.flip(image, 1)
        result = self.pipeline.process(image, timestamp_s, index=index, source=source)
        # A key pressed while a frame was on screen marks the next frame analysed: that one was logged already.
        result.events = [e.label for e in self.events.due(result.timestamp_s)]
        for stage, seconds in self.pipeline.stage_seconds.items():
            self.timer.add(stage, seconds)
        self.follow_calibration(result)
        # Both forget the faces the result retires (images: the previous image's), as the pipeline does.
        self.renderer.va_plot.update(result.faces, result.retired)
        self.dashboard.update(result)
        return result

    def follow(self, image: np.ndarray, index: int, timestamp_s: float, source: str) -> FrameResult:
        """A live frame: offered to the analysis beside the loop, shown with the newest analysis, its
        boxes moved onto this frame. Its timestamp stays the frame's own; analysis_timestamp_s says
        which frame the readings are from."""
        if self.mirror:
            image = cv2.flip(image, 1)
        t0 = time.perf_counter()
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        self.grays[index] = gray
        self.analysis.offer(image, timestamp_s, index, source)
        got = self.analysis.latest()
        if got is not None:
            analysed, stage_seconds = got
            for stage, seconds in stage_seconds.items():
                self.timer.add(stage, seconds)
            self.renderer.va_plot.update(analysed.faces, analysed.retired)
            self.dashboard.update(analysed)
            self.follower.restart(analysed.faces, self.grays.get(analysed.index, gray))
            self.analysed = analysed
            self.follow_calibration(analysed)
            self.summary.analyses += 1
            self.latencies.append(1000 * (self.source.clock() - analysed.timestamp_s))
        for old in [i for i in self.grays if i < (self.analysed.index if self.analysed else index - 1)]:
            del self.grays[old]  # frames older than the newest analysis: no result will start from them
        faces = self.follower.follow(gray)
        self.timer.add("follow", time.perf_counter() - t0)
        return FrameResult(index, timestamp_s, source, image, faces,
                           events=[e.label for e in self.events.due(timestamp_s)],
                           analysis_timestamp_s=self.analysed.timestamp_s if self.analysed else None)

    def analysis_note(self, result: FrameResult) -> str:
        """The HUD's word on a live analysis: how far the readings shown lag the frame shown."""
        if self.analysis is None or self.analysis.every_frame:
            return ""
        if self.analysed is None:
            return "analysis starting"
        note = self.analysis.classifier_note
        return f"analysis {1000 * (result.timestamp_s - result.analysis_timestamp_s):.0f} ms old" + (
            f"   {note}" if note else "")

    def render(self, result: FrameResult) -> np.ndarray:
        t0 = time.perf_counter()
        self.last = result
        canvas, _ = self.renderer.render(result, self.overlays, fps=self.fps, stage_ms=self.timer.recent(),
                                         recording=self.recorder is not None, paused=self.paused,
                                         selected=self.selected, notice=self.notice_text(),
                                         analysis=self.analysis_note(result))
        self.timer.add("draw", time.perf_counter() - t0)
        return canvas

    def emit(self, result: FrameResult, canvas: np.ndarray | None) -> None:
        t0 = time.perf_counter()
        if self.recorder is not None:
            h, w = result.image.shape[:2]
            # By capture time, so the recording lasts as long as the source did (stills have none).
            self.recorder.write(canvas if self.cfg.record_dashboard else canvas[:h, :w],
                                None if self.source.stills else result.timestamp_s)
        if self.logger is not None:
            self.logger.write(result)
        self.event_log.write(result)
        self.summary.frames += 1
        self.summary.frames_with_faces += bool(result.faces)
        self.summary.rows += len(result.faces)
        self.timer.add("encode", time.perf_counter() - t0)

    # -- calibration ---------------------------------------------------------------------------
    @property
    def calibration(self):
        """The calibrations' state: the pipeline's, or the live analysis process's as of its newest result."""
        return self.pipeline.calibration if self.pipeline is not None else self.analysis.calibration

    def start_calibration(self, faces) -> None:
        face = selected_face(faces, self.selected)
        (self.pipeline or self.analysis).calibrate(face.track_id, self.cfg.calibrate_s)
        print(f"calibration: face #{face.track_id}, look neutral for {self.cfg.calibrate_s:g} s")

    def follow_calibration(self, result: FrameResult) -> None:
        """Starts the --calibrate recording at the first face; reports recordings that ended."""
        if self.calibrate_pending and result.faces:
            self.calibrate_pending = False
            self.start_calibration(result.faces)
        calibration = self.calibration
        for track_id in calibration.finished:
            self.tell(f"face #{track_id} calibrated")
        for track_id in calibration.failed:
            self.tell(f"face #{track_id} lost: calibration cancelled (press c again)")

    def tell(self, text: str) -> None:
        print(text)
        self.notice = (text, time.monotonic() + 3.0)

    def notice_text(self) -> str | None:
        """The calibration prompt with its countdown while a face is being recorded, else a recent outcome."""
        calibration = self.calibration
        for track_id in calibration.recording:
            left = calibration.remaining_s(track_id)
            return f"#{track_id}: relax your face, look ahead  {left:.1f} s"
        if self.calibrate_pending:
            return "calibration: waiting for a face"
        if self.notice is not None and time.monotonic() < self.notice[1]:
            return self.notice[0]
        return None

    # -- keys --------------------------------------------------------------------------------
    def handle_key(self, key: int, canvas: np.ndarray) -> bool:
        """Apply a key press; False means quit."""
        if key in (ord("q"), 27):
            return False
        toggles = {ord("v"): "va", ord("p"): "probs", ord("a"): "aus", ord("b"): "boxes", ord("l"): "landmarks",
                   ord("h"): "help", ord("d"): "dashboard", ord("t"): "hud", ord("o"): "head"}
        if key in toggles:
            name = toggles[key]
            setattr(self.overlays, name, not getattr(self.overlays, name))
        elif key in (ord("f"), 9) and self.last is not None and self.last.faces:  # 9: Tab
            ids = sorted(f.track_id for f in self.last.faces)
            shown = selected_face(self.last.faces, self.selected).track_id
            self.selected = next((i for i in ids if i > shown), ids[0])
        elif key == ord("m"):
            self.mirror = not self.mirror
            # Boxes jump across the frame: every face is retired, then found afresh.
            if self.analysis is not None:
                self.analysis.reset()
                self.analysed = None
                self.follower.restart([], np.zeros((1, 1), np.uint8))
            else:
                self.pipeline.reset()
        elif key == ord(" "):
            self.paused = not self.paused
        elif key == ord("c"):
            if self.source.stills:
                self.tell("images have no tracks to calibrate: use --neutral PHOTO")
            elif self.last is not None and self.last.faces:
                self.start_calibration(self.last.faces)
            else:
                self.tell("calibration: no face in view")
        elif chr(key) in EVENT_KEYS:
            label = self.cfg.event_labels[chr(key)]
            self.events.mark(label)
            print(f"event: {label} (frame {self.last.index + 1 if self.last else 0})")
        elif key == ord("r"):
            self.stop_recording() if self.recorder is not None else self.start_recording()
        elif key == ord("s"):
            path = self.output_dir / timestamp_name(f"snapshot_{self.summary.frames:06d}", ".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), canvas)
            self.summary.snapshots.append(str(path))
            print(f"snapshot saved: {path}")
        return True

    # -- the loop ----------------------------------------------------------------------------
    def analysed_frames(self) -> Iterator[tuple[CapturedFrame, FrameResult]]:
        """Each frame read with its result, one of three ways: analysed here (files in a window,
        images); a live source, shown with the newest analysis from beside the loop; a file headless,
        analysed in the other process one frame ahead of the one drawn, encoded and logged here."""
        frames = iter(self.source)
        if self.analysis is None or self.analysis.every_frame:
            ahead: CapturedFrame | None = None  # every_frame: offered, its result not yet taken
            while True:
                t0 = time.perf_counter()
                captured = next(frames, None)
                if captured is not None:
                    self.timer.add("decode", time.perf_counter() - t0)
                if self.analysis is None:
                    if captured is None:
                        return
                    yield captured, self.process(captured.image, captured.index, captured.timestamp_s,
                                                 captured.source)
                    continue
                if captured is not None:
                    image = cv2.flip(captured.image, 1) if self.mirror else captured.image
                    self.analysis.offer(image, captured.timestamp_s, captured.index, captured.source)
                    captured.image = image
                if ahead is not None:
                    yield ahead, self.receive(ahead)
                if captured is None:
                    return
                ahead = captured
        for captured in frames:  # a live source: its own thread decodes, the wait is for the camera
            yield captured, self.follow(captured.image, captured.index, captured.timestamp_s, captured.source)

    def receive(self, captured: CapturedFrame) -> FrameResult:
        """The other process's analysis of this (already mirrored) frame, as process() gives it."""
        result, stage_seconds = self.analysis.next_result()
        result.image = captured.image
        result.events = [e.label for e in self.events.due(result.timestamp_s)]
        for stage, seconds in stage_seconds.items():
            self.timer.add(stage, seconds)
        self.follow_calibration(result)
        self.renderer.va_plot.update(result.faces, result.retired)
        self.dashboard.update(result)
        return result

    def run(self) -> RunSummary:
        start = time.perf_counter()
        bar = None
        if not self.cfg.display:
            # Into a log file or CI, every redraw is a line: there, one every few seconds.
            bar = self.stack.enter_context(tqdm(total=self.source.frame_count, unit="frame", desc="analysing",
                                                dynamic_ncols=True, file=sys.stderr,
                                                mininterval=0.1 if sys.stderr.isatty() else 5.0))
        results = self.analysed_frames()
        skipped = 0
        last_tick = time.perf_counter()
        try:
            while True:
                _Interrupts.check()
                captured, result = next(results, (None, None))
                if captured is None:
                    self.summary.ended_by = self.source.ended_by or "end of input"
                    break
                result.skipped_frames = captured.skipped_frames
                # Headless and not recording, nobody would see the drawing: the log needs none.
                canvas = self.render(result) if self.cfg.display or self.recorder is not None else None
                self.emit(result, canvas)
                if self.source.stills:
                    print_still_summary(result)
                now = time.perf_counter()
                dt, last_tick = now - last_tick, now
                self.fps = 1 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / max(dt, 1e-6)
                if bar is not None:
                    bar.update(1 + captured.skipped_frames - skipped)  # the skipped frames are behind us too
                    skipped = captured.skipped_frames
                    bar.set_postfix(fps=f"{self.fps:.1f}", faces=len(result.faces), refresh=False)
                elif not self.show(canvas, result):
                    self.summary.ended_by = "quit"
                    break
        finally:  # an interrupted run (Ctrl-C, kill) still reports its true duration and stage times
            self.summary.seconds = time.perf_counter() - start
            self.summary.stage_ms = self.timer.overall()
            self.summary.analysis_latency_ms = float(np.median(self.latencies)) if self.latencies else 0.0
            if self.analysis is not None and self.analysis.classifier_note:
                self.summary.classifier += f" ({self.analysis.classifier_note})"
            self.summary.skipped_frames = self.source.skipped_frames
            self.summary.skipped_files = list(self.source.skipped)
        return self.summary

    def show(self, canvas: np.ndarray, result: FrameResult) -> bool:
        """Display a frame and handle keys; stills and pauses wait here. False means quit."""
        self.display(canvas)
        while True:
            _Interrupts.check()
            waiting = self.source.stills or self.paused
            t0 = time.perf_counter()
            key = cv2.waitKey(50 if waiting else 1) & 0xFF
            if waiting:
                self.summary.waiting_s += time.perf_counter() - t0
            if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                return False  # the window was closed with the mouse
            if key == 255:
                if waiting:
                    continue
                return True
            if self.source.stills and key in NEXT_IMAGE_KEYS:
                return True
            if not self.handle_key(key, canvas):
                return False
            canvas = self.render(result)
            self.display(canvas)
            if not (self.source.stills or self.paused):
                return True

    def display(self, canvas: np.ndarray) -> None:
        # The window opens at the canvas's own size, then the user may resize it; it is sized afresh
        # when the canvas changes shape (the dashboard or the side column shown or hidden).
        if self.window_size != canvas.shape[:2]:
            self.window_size = canvas.shape[:2]
            cv2.resizeWindow(WINDOW, *initial_window_size(canvas.shape[1], canvas.shape[0]))
        cv2.imshow(WINDOW, canvas)


def events_path(cfg: AppConfig) -> Path:
    """Where the session's events go: beside the CSV log as <log>_events.csv, else into the output folder."""
    if cfg.csv:
        return Path(cfg.csv).with_name(Path(cfg.csv).stem + "_events.csv")
    return Path(cfg.output_dir) / timestamp_name("events", ".csv")


def initial_window_size(width: int, height: int) -> tuple[int, int]:
    """The frame's size, shrunk with its aspect ratio kept to fit MAX_WINDOW: a photo's full
    size can exceed the screen, and OpenCV cannot ask the screen's size."""
    scale = min(1.0, MAX_WINDOW[0] / width, MAX_WINDOW[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def print_still_summary(result: FrameResult) -> None:
    """The earlier project's terminal summary, one block per face."""
    if not result.faces:
        print(f"{result.source}: no face found")
    for f in result.faces:
        names = default_prototypes().au_names | default_measured().table.au_names
        aus = ", ".join(f"{k} {names[k]} ({v:.2f})" for k, v in sorted(f.aus.items(), key=lambda kv: -kv[1])
                        if v >= 0.05) or "none"
        kind = f.au_source + ("" if f.au_source == "measured" or f.measured_aus is not None else ", no mesh found")
        print(f"image: {result.source}  face #{f.track_id} at {f.box}\n"
              f"  emotion: {f.shown_label} ({100 * f.shown_confidence:.1f}%)\n"
              f"  action units: {aus}  [{kind}]\n"
              f"  valence: {f.valence:+.2f}  arousal: {f.arousal:+.2f}")


class _Interrupts:
    """Ctrl-C and kill ask the run to stop, and the loop stops between frames: a frame is written
    to the recording, the CSV and the counts together or not at all, and the exception never lands
    inside a library's code (a MediaPipe object cut off half built prints a traceback as it is
    collected). A second one, for a loop stuck in a read that hangs, raises at once."""

    requested = False

    @classmethod
    def handle(cls, signum, frame) -> None:
        if cls.requested:
            raise KeyboardInterrupt
        cls.requested = True

    @classmethod
    def check(cls) -> None:
        if cls.requested:
            raise KeyboardInterrupt


def run(cfg: AppConfig) -> RunSummary:
    """Build the pipeline, run it until the input ends or the user quits, and finalise outputs."""
    if cfg.display:
        check_display()
    # The r and s keys, which save into output_dir, exist only in the window.
    check_outputs({"--record": (cfg.record, False), "--csv": (cfg.csv, False), "--report": (cfg.report, True),
                   "--stats-json": (cfg.stats_json, False),
                   "--output-dir": (cfg.output_dir if cfg.display else None, True)})
    if cfg.record:
        VideoRecorder(cfg.record, DEFAULT_FPS)  # its extension, checked before anything loads
    if cfg.report:
        report_dir = Path(cfg.report)
        report_dir.mkdir(parents=True, exist_ok=True)
        cfg.csv = cfg.csv or str(report_dir / "frames.csv")
    _Interrupts.requested = False
    with ExitStack() as stack:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a kill finalises files like Ctrl-C does
            previous = signal.signal(sig, _Interrupts.handle)
            # Put back last, once the files are finalised (None: a handler not set from Python).
            stack.callback(signal.signal, sig, signal.SIG_DFL if previous is None else previous)
        source = stack.enter_context(open_source(cfg.source, cfg.width, cfg.height, cfg.fps, cfg.live))
        # Where the analysis runs: beside a live source's loop, in a process of its own; for a headless
        # file, split so that both cores work (--pipelined); else here. The classifier is loaded here
        # (before the window opens, for a bad checkpoint's one line) or in the analysis process.
        pipelined = (os.cpu_count() or 1) >= 2 if cfg.pipelined is None else cfg.pipelined
        split = pipelined and not (source.live or cfg.display or source.stills)
        classifier = None if source.live else load_classifier(cfg.pipeline)
        if cfg.display:  # opens while the face models load, saying so; the inputs are known good by now
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
            stack.callback(cv2.destroyAllWindows)
            cv2.imshow(WINDOW, splash("loading the models..."))
            cv2.waitKey(1)
        options = for_source(cfg.pipeline, source)
        if source.live:  # the analysis beside the loop, in a process of its own, so the loop keeps the camera's pace
            app = App(cfg, source, None, stack,
                      analysis=stack.enter_context(AnalysisProcess(options, delay_s=cfg.analysis_delay_s,
                                                                   frame_rate=source.fps)))
        elif split:  # a file headless: every frame, on both cores
            app = App(cfg, source, None, stack,
                      analysis=stack.enter_context(SplitPipeline(options, classifier=classifier)))
        else:
            app = App(cfg, source, stack.enter_context(Pipeline(options, classifier=classifier)), stack)
        try:
            summary = app.run()
        except KeyboardInterrupt:
            app.summary.ended_by = "interrupted"
            summary = app.summary
        if app.recorder is not None:
            app.stop_recording()
    if cfg.report:
        if summary.rows:
            from realtime.outputs.report import build_report  # matplotlib loads only when a report is wanted

            build_report(cfg.csv, cfg.report, progress=not cfg.display, skipped_frames=summary.skipped_frames)
        else:
            print(f"report: no face was seen, so {cfg.report} holds only the empty log", file=sys.stderr)
    if cfg.stats_json:
        summary.write_json(cfg.stats_json)
    return summary
