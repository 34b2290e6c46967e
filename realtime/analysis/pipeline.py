"""The analysis with no window: one frame in, the frame's face records out.

    from realtime.analysis.pipeline import Pipeline, PipelineOptions, analyze_video, analyze_images

    with Pipeline(PipelineOptions(landmarks=False)) as pipe:        # a video or a camera
        for t, frame in frames:                                     # BGR uint8, t in seconds
            result = pipe.process(frame, t)                         # FrameResult: result.faces

    rows = analyze_video("clip.mp4", progress=True)                 # one dict per face per frame,
    rows = analyze_images("photos/")                                # the columns of the app's CSV

Per frame, one way: detect -> track (images: number faces left to right) -> face mesh, head pose and
gaze -> crop -> classify -> affect (measured AUs, prototype AUs, both kinds of valence/arousal) ->
temporal model (then the kind shown is picked from the filtered signals); the first three stages are
find.py's FaceFinder, which split.py can run in a second process. The window app
(realtime/window/app.py), the batch runner (realtime/batch.py), the benchmarks and the tests all call
`Pipeline.process`, so what the app shows and logs is what a script gets.

The rows are plain dicts rather than a pandas DataFrame: pandas is not otherwise needed by the
app, and `pandas.DataFrame(rows)` makes one in a line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from errors import OptionError
from mappings import default_measured
from realtime.analysis.action_units import MeasuredActionUnits
from realtime.analysis.affect import AU_SOURCES, AffectEstimator
from realtime.analysis.calibration import Calibration, CalibrationError, Calibrator, calibrate
from realtime.analysis.capture import IMAGE_SUFFIXES, CapturedFrame, CaptureError, FrameSource, ImageSource, open_source
from realtime.analysis.classify import EmotionClassifier
from realtime.analysis.crop import alignment, crop_faces
from realtime.analysis.events import Event, EventTimeline, events_for, read_events
from realtime.analysis.faces import FrameResult
from realtime.analysis.find import FIND_STAGES, FaceFinder, Found
from realtime.analysis.rows import face_rows
from realtime.analysis.split import SplitPipeline
from realtime.analysis.temporal import TemporalConfig, TemporalModel

# Each stage times what it is named for: "landmarks" is the face mesh with head pose and gaze;
# "affect" a calibrated face's correction, the measured AUs (with their per-person baselines) and both
# kinds of AUs and valence/arousal; "temporal" the smoothing and filtering.
PIPELINE_STAGES = (*FIND_STAGES, "crop", "classify", "affect", "temporal")
# As MediaPipe's RunningMode: "video" frames are consecutive (tracking, smoothing, per-person AU
# baselines; increasing timestamps); "image" frames each stand alone (faces numbered left to right,
# large images searched in tiles).
RUNNING_MODES = ("video", "image")


@dataclass
class PipelineOptions:
    """Everything that changes what the analysis returns (run_webcam.py's "models" and "temporal" flags)."""

    weights: str | None = None  # classifier checkpoint; default models/emotion_cnn.pth
    device: str = "auto"
    precision: str = "auto"
    classifier_threads: int = 1  # see realtime/analysis/classify.py before raising it
    detector: str = "short"
    min_detection: float = 0.6
    landmarker: str | None = None  # .task bundle; default assets/face_landmarker.task
    landmarks: bool = True  # False: no face mesh, so no measured AUs, for speed
    mesh_every: int = 1  # videos and cameras: mesh each face on one frame in this many (realtime/analysis/landmarks.py)
    # Videos and cameras, with a mesh on every frame: the detector on one frame in this many while every
    # face keeps its mesh, which carries the boxes in between (realtime/analysis/find.py)
    detect_every: int = 1
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    affect_mode: str = "soft"
    au_source: str = "measured"  # the AUs shown and reported; the rows hold both kinds
    va_source: str = "prototype"  # the valence/arousal shown and reported (bench/measured_aus.py chose it)
    running_mode: str = "video"  # RUNNING_MODES; for a FrameSource, `for_source` sets it
    neutral: str | None = None  # a photo of the participant at rest: calibrates every face (calibration.py)

    def __post_init__(self):
        if self.running_mode not in RUNNING_MODES:
            raise OptionError(f"running_mode must be one of {', '.join(RUNNING_MODES)}, not {self.running_mode!r}")
        for name in ("au_source", "va_source"):
            if getattr(self, name) not in AU_SOURCES:
                raise OptionError(f"{name} must be one of {', '.join(AU_SOURCES)}, not {getattr(self, name)!r}")
        if self.detect_every < 1 or self.mesh_every < 1:
            raise OptionError("detect_every and mesh_every must be at least 1")
        if self.affect_mode not in ("soft", "argmax"):
            raise OptionError(f"affect_mode must be soft or argmax, not {self.affect_mode!r}")


def for_source(options: PipelineOptions | None, source: FrameSource) -> PipelineOptions:
    """The options with the running mode the source's frames need (an image folder: "image")."""
    return replace(options or PipelineOptions(), running_mode="image" if source.stills else "video")


def load_classifier(options: PipelineOptions) -> EmotionClassifier:
    """The classifier alone: the slow part to load, shared by every Pipeline a batch worker builds."""
    weights = {"weights": options.weights} if options.weights else {}
    return EmotionClassifier(device=options.device, precision=options.precision,
                             cpu_threads=options.classifier_threads, **weights)


class Pipeline:
    """The per-frame analysis; a context manager that owns the MediaPipe tasks.

    options.running_mode "video": frames are consecutive, and `process` needs increasing timestamps;
    "image": every frame is an independent image (no tracking, smoothing or per-person AU
    baselines; faces numbered left to right; large images searched in tiles).
    classifier: an already loaded one to share; by default it is loaded from the options.
    """

    def __init__(self, options: PipelineOptions | None = None, classifier: EmotionClassifier | None = None,
                 find: bool = True):
        self.options = options = options or PipelineOptions()
        self.stills = stills = options.running_mode == "image"
        self.classifier = classifier or load_classifier(options)
        # find=False: the faces come from a FaceFinder elsewhere (split.py), handed to `read`.
        self.finder = FaceFinder(options) if find else None
        self.measured = default_measured()
        self.affect = AffectEstimator(self.measured, options.affect_mode, options.au_source, options.va_source)
        # The per-face state: each forgets a face from the IDs in FrameResult.retired, and so must
        # whoever else keeps state per face (the window's trails and dashboard).
        self.temporal = TemporalModel(TemporalConfig(smoothing_s=0.0) if stills else options.temporal)
        self.action_units = MeasuredActionUnits(self.measured.table, per_person=not stills)
        self.calibration = Calibrator(au_raw=lambda blendshapes: self.measured.table.raw(blendshapes[None])[0])
        self.action_units.calibrated = self.calibration.baseline
        if options.neutral:
            try:
                self.calibration.everyone = self.neutral_calibration(options.neutral)
            except BaseException:
                self.close()
                raise
        self.stage_seconds: dict[str, float] = {}  # the last frame's time per stage, PIPELINE_STAGES
        self._clock_start: float | None = None

    def reset(self) -> None:
        """Retire every face (the app's mirror key): the next frame's result lists their IDs as
        retired, and its faces get new IDs, with fresh smoothing and AU baselines."""
        self.finder.reset()

    def timestamp(self, timestamp_s: float | None) -> float:
        """A frame's time as process() takes it: None is the time since the first call (a live feed);
        images are all at 0."""
        if self.stills:
            return 0.0
        if timestamp_s is None:
            now = time.monotonic()
            self._clock_start = now if self._clock_start is None else self._clock_start
            return now - self._clock_start
        return timestamp_s

    def process(self, frame_bgr: np.ndarray, timestamp_s: float | None = None, *, index: int = 0,
                source: str = "") -> FrameResult:
        """Analyse one BGR uint8 frame. timestamp_s: seconds since the stream began, increasing;
        None takes the time since the first call (a live feed). Images ignore it."""
        timestamp_s = self.timestamp(timestamp_s)
        return self.read(frame_bgr, timestamp_s, self.finder.find(frame_bgr, timestamp_s), index=index, source=source)

    def read(self, frame_bgr: np.ndarray, timestamp_s: float, found: Found, *, index: int = 0,
             source: str = "") -> FrameResult:
        """The expression half of process(): crop -> classify -> affect -> temporal, on the faces a
        FaceFinder found in this frame."""
        faces, retired = found.faces, found.retired
        t = time.perf_counter
        t3 = t()
        crops = crop_faces(frame_bgr, [alignment(f) for f in faces])
        for f, c in zip(faces, crops, strict=True):
            f.crop = c
        t4 = t()
        for f, p in zip(faces, self.classifier.predict(crops), strict=True):
            f.raw_probs = p
        t5 = t()
        self.calibration.update(faces, retired, timestamp_s)  # corrects the calibrated faces' raw_probs
        self.action_units.update(faces, retired, timestamp_s)
        for f in faces:
            self.affect.estimate(f)
        t6 = t()
        self.temporal.update(faces, retired, timestamp_s)
        for f in faces:
            self.affect.show(f)  # from the filtered signals
        t7 = t()
        self.stage_seconds = {**found.seconds, "crop": t4 - t3, "classify": t5 - t4, "affect": t6 - t5,
                              "temporal": t7 - t6}
        return FrameResult(index, timestamp_s, source, frame_bgr, faces, retired=retired)

    def calibrate(self, track_id: int, seconds: float) -> None:
        """Record this face at rest for the next `seconds` of its frames, then correct it (the app's c key)."""
        self.calibration.start(track_id, seconds)

    def neutral_calibration(self, path: str | Path) -> Calibration:
        """The calibration from a photo of the person at rest (its biggest face); CalibrationError if
        the photo is missing, unreadable or shows no face."""
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if Path(path).is_file() else None
        if image is None:
            raise CalibrationError(f"{path}: neutral photo " + ("not readable as an image" if Path(path).is_file()
                                                                else "not found"))
        with Pipeline(replace(self.options, running_mode="image", neutral=None), classifier=self.classifier) as still:
            faces = still.process(image).faces
        if not faces:
            raise CalibrationError(f"{path}: no face found in the neutral photo")
        face = max(faces, key=lambda f: f.box[2] * f.box[3])
        aus = [self.measured.table.raw(face.mesh.blendshapes[None])[0]] if face.mesh is not None else []
        return calibrate(face.raw_probs[None], aus)

    def close(self) -> None:
        if self.finder is not None:
            self.finder.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def analyze_source(source: FrameSource, options: PipelineOptions | None = None, progress: bool = False,
                   classifier: EmotionClassifier | None = None,
                   on_frames: Callable[[int], None] | None = None,
                   events: Iterable[Event] = (), parallel: bool | None = None) -> Iterator[FrameResult]:
    """Every frame of an open source through one Pipeline, as FrameResults. progress: a tqdm bar;
    on_frames(n) is told of every n frames read (unreadable ones included), for a caller's own bar;
    events: each is attached to the first frame at or after its time (FrameResult.events);
    parallel: find the faces in a second process while this one reads the frame before (split.py; the
    same results), None: where there are two or more CPU cores."""
    timeline = EventTimeline(list(events))
    options = for_source(options, source)
    parallel = (os.cpu_count() or 1) >= 2 if parallel is None else parallel
    with (SplitPipeline(options, classifier) if parallel else Pipeline(options, classifier=classifier)) as pipe, \
            tqdm(total=source.frame_count, unit="frame", desc=Path(source.name).name, leave=False,
                 disable=not progress) as bar:
        read = 0
        for captured, result in _analysed(pipe, source):
            result.skipped_frames = captured.skipped_frames
            result.events = [e.label for e in timeline.due(result.timestamp_s)]
            yield result
            # Indices count the unreadable frames (image sources: files) skipped before this one.
            step, read = captured.index + 1 - read, captured.index + 1
            bar.update(step)
            if on_frames is not None:
                on_frames(step)


def _analysed(pipe: Pipeline | SplitPipeline, source: FrameSource) -> Iterator[tuple[CapturedFrame, FrameResult]]:
    """Each frame with its result; a SplitPipeline is handed each frame while it reads the one before."""
    if isinstance(pipe, Pipeline):
        for captured in source:
            yield captured, pipe.process(captured.image, captured.timestamp_s, index=captured.index,
                                         source=captured.source)
        return
    ahead = None
    for captured in source:
        pipe.offer(captured.image, captured.timestamp_s, captured.index, captured.source)
        if ahead is not None:
            yield ahead, pipe.next_result()[0]
        ahead = captured
    if ahead is not None:
        yield ahead, pipe.next_result()[0]


def analyze_video(path: str | Path, options: PipelineOptions | None = None, progress: bool = False,
                  events: str | Path | Iterable[Event] | None = None, parallel: bool | None = None) -> list[dict]:
    """One row per face per frame of a video file, with the columns of the app's CSV log
    (realtime.analysis.rows.COLUMNS): `pandas.DataFrame(analyze_video("clip.mp4"))`.
    events: an events file (time,label rows; realtime/analysis/events.py) or Event records; the rows of
    the first frame at or after each event's time carry its label in `event`. parallel: as analyze_source's."""
    if Path(path).is_dir() or Path(path).suffix.lower() in IMAGE_SUFFIXES:
        raise CaptureError(f"{path}: not a video file (for images, use analyze_images)")
    marked = events_for(read_events(events) if isinstance(events, (str, Path)) else list(events or ()), path)
    with open_source(str(path)) as source:
        return [row for result in analyze_source(source, options, progress, events=marked, parallel=parallel)
                for row in face_rows(result)]


def analyze_images(paths_or_folder: str | Path | Iterable[str | Path], options: PipelineOptions | None = None,
                   progress: bool = False, parallel: bool | None = None) -> list[dict]:
    """One row per face per image, each image on its own (faces numbered left to right), with the
    app's CSV columns. Takes a folder (its images, sorted) or a list of image paths; an unreadable
    image is skipped and counted in `skipped_frames`."""
    if isinstance(paths_or_folder, (str, Path)):
        if not Path(paths_or_folder).is_dir() and Path(paths_or_folder).suffix.lower() not in IMAGE_SUFFIXES:
            raise CaptureError(f"{paths_or_folder}: neither an image nor a folder of images")
        source = open_source(str(paths_or_folder))
    else:
        paths = [Path(p) for p in paths_or_folder]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing or not paths:
            raise CaptureError(f"{missing[0]}: no such image" if missing else "no images given")
        source = ImageSource(paths, str(paths[0].parent))
    with source:
        return [row for result in analyze_source(source, options, progress, parallel=parallel)
                for row in face_rows(result)]
