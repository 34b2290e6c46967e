"""Batch analysis: every video and image folder under a folder, one CSV log and report per input.

    python -m realtime.batch INPUT --out OUT [--workers N] [--force] [--cluster ADDRESS]

Inputs are the video files under INPUT (any depth) and the folders that hold images (each folder is
one input, its images analysed one by one, as `run_webcam.py --source FOLDER` does). Each input gets
OUT/<its path under INPUT>/ with:
    frames.csv   the app's CSV log (realtime/outputs/csvlog.py columns)
    report       summary.json, timeline.png, va.png (contact_sheet.png for images): realtime/outputs/report.py,
                 when at least one face was seen
    batch.json   the input's line of the batch summary, written last: an input with a batch.json
                 and no error is done, and skipped by the next run unless --force
and OUT/batch_summary.csv and OUT/batch_summary.json list every input: frames, face rows, faces
(distinct IDs; image folders: detections), dominant emotion, seconds, error.

Locally, one worker process per core (--workers), each loading the models once. With --cluster, the
same per-input task runs on a Dask distributed cluster (requirements-cluster.txt); INPUT and OUT must
then be paths that every worker sees (a shared folder). A failing input is reported, and the rest
carry on; the exit status is 1 if any input failed.
"""

from __future__ import annotations

import sys

from errors import OptionError, UserError
from realtime import quiet  # imports nothing heavy

# The libraries read their log levels as they load (workers inherit them): set before the imports below.
if __name__ == "__main__" and "--verbose" not in sys.argv[1:]:
    quiet.set_library_log_levels()

import argparse  # noqa: E402
import collections  # noqa: E402
import concurrent.futures  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import nullcontext  # noqa: E402
from dataclasses import asdict, dataclass, field, fields  # noqa: E402
from pathlib import Path  # noqa: E402

from tqdm import tqdm  # noqa: E402

from realtime.analysis.capture import IMAGE_SUFFIXES, CaptureError, open_source  # noqa: E402
from realtime.analysis.events import Event, events_for, read_events  # noqa: E402
from realtime.analysis.pipeline import Pipeline, PipelineOptions, analyze_source, load_classifier  # noqa: E402
from realtime.analysis.rows import face_rows  # noqa: E402
from realtime.cli import HelpFormatter, add_pipeline_arguments, pipeline_options  # noqa: E402
from realtime.outputs.csvlog import CsvLogger, LogError  # noqa: E402

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
MARKER = "batch.json"
SCHEDULER_TIMEOUT = "20s"  # how long --cluster waits for the scheduler to answer before giving up


class ClusterError(UserError):
    """--cluster cannot be used: Dask distributed is not installed, the address is malformed, or the
    scheduler does not answer."""


@dataclass
class Task:
    """One input and where its outputs go."""

    input: str  # a video file or a folder of images
    out_dir: str
    name: str  # its path under INPUT, as in the summary
    frames_hint: int  # frames (images) expected, for the progress bar; 0 when unknown
    events: list[Event] = field(default_factory=list)  # from --events: those that belong to this input


@dataclass
class FileResult:
    """One input's line of the batch summary."""

    name: str
    input: str
    frames: int = 0  # frames read (image folders: images), unreadable ones included
    skipped_frames: int = 0  # of frames: unreadable frames (image folders: files)
    face_rows: int = 0
    faces: int = 0  # distinct face IDs; image folders: faces detected over all images
    dominant_emotion: str = ""  # the most frequent label over the face rows
    seconds: float = 0.0
    error: str = ""
    skipped: bool = False  # done by an earlier run (not written to the summary files)


def find_inputs(root: Path, out: Path) -> list[Task]:
    """Every video under root and every folder with images, in path order; nothing under out."""
    root, out = root.resolve(), out.resolve()
    if root.is_file():
        return [_task(root, root.parent, out)]
    found = []
    for folder, dirs, files in os.walk(root):
        folder = Path(folder)
        dirs[:] = sorted(d for d in dirs if (folder / d).resolve() != out and not d.startswith("."))
        names = sorted(f for f in files if not f.startswith("."))
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in names):
            found.append(_task(folder, root.parent if folder == root else root, out))
        found += [_task(folder / f, root, out) for f in names if Path(f).suffix.lower() in VIDEO_SUFFIXES]
    return sorted(found, key=lambda t: t.name)


def _task(path: Path, base: Path, out: Path) -> Task:
    name = path.relative_to(base).as_posix()
    if path.is_dir():
        frames = sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        import cv2  # only here: the main process of a cluster run needs no OpenCV otherwise

        cap = cv2.VideoCapture(str(path))
        frames = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        cap.release()
    return Task(str(path), str(out / name), name, frames)


def is_done(task: Task) -> bool:
    marker = Path(task.out_dir) / MARKER
    try:
        return not json.loads(marker.read_text())["error"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


# ------------------------------------------------------------------------------------- the per-input task

_classifiers: dict[str, object] = {}  # per process: options -> loaded classifier, so each worker loads once


def _classifier(options: PipelineOptions):
    key = repr(options)
    if key not in _classifiers:
        _classifiers[key] = load_classifier(options)
    return _classifiers[key]


def analyze_task(task: Task, options: PipelineOptions, report: bool = True,
                 on_frames: Callable[[int], None] | None = None, parallel: bool = False) -> FileResult:
    """Analyse one input into its output folder; never raises for a bad input, it returns the error.
    parallel: find its faces in a second process (realtime/analysis/split.py): for a lone worker, whose
    machine has a core to spare; where each core has a worker, it would only take one from another."""
    from realtime.outputs.report import build_report  # matplotlib loads in the workers only

    start = time.perf_counter()
    result = FileResult(task.name, task.input)
    out = Path(task.out_dir)
    labels: collections.Counter[str] = collections.Counter()
    ids: set[int] = set()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).unlink(missing_ok=True)  # from here until the end, this input is not done
        with open_source(task.input) as source, CsvLogger(out / "frames.csv") as log:
            for frame in analyze_source(source, options, classifier=_classifier(options), on_frames=on_frames,
                                        events=task.events, parallel=parallel):
                log.write(frame)
                result.frames = frame.index + 1
                for row in face_rows(frame):
                    labels[row["label"]] += 1
                    ids.add(row["face_id"])
                result.face_rows += len(frame.faces)
            stills = source.stills
            result.skipped_frames = skipped = source.skipped_frames
            if stills:
                result.frames = source.frame_count  # an unreadable last image is read all the same
        result.faces = result.face_rows if stills else len(ids)
        result.dominant_emotion = labels.most_common(1)[0][0] if labels else ""
        if report and result.face_rows:
            build_report(out / "frames.csv", out, progress=False, skipped_frames=skipped)
    except (UserError, OSError) as e:  # the input's own fault: its one line
        result.error = str(e)
    except Exception as e:  # noqa: BLE001 - one input's failure must not stop the batch; the summary says why
        frame = traceback.extract_tb(e.__traceback__)[-1]
        result.error = f"{type(e).__name__}: {e} ({Path(frame.filename).name}:{frame.lineno})"
    result.seconds = round(time.perf_counter() - start, 3)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (MARKER + ".tmp")
        tmp.write_text(json.dumps(_summary_line(result), indent=2) + "\n")
        tmp.replace(out / MARKER)  # atomic: a batch.json is always whole
    except OSError as e:
        result.error = result.error or f"{out}: cannot write {MARKER} ({e.strerror or e})"
    return result


def _summary_line(result: FileResult) -> dict:
    line = asdict(result)
    del line["skipped"]
    return line


# ------------------------------------------------------------------------------------------- engines

_progress_queue = None  # a local worker's channel back to the main process's frame bar


def _init_local_worker(options: PipelineOptions, queue) -> None:
    global _progress_queue
    _progress_queue = queue
    _classifier(options)  # loaded once, before the first input arrives


def _local_task(task: Task, options: PipelineOptions, report: bool, parallel: bool) -> FileResult:
    return analyze_task(task, options, report, on_frames=_progress_queue.put, parallel=parallel)


def run_local(tasks: list[Task], options: PipelineOptions, workers: int, report: bool,
              frames_bar: tqdm) -> Iterator[FileResult]:
    """The tasks on a pool of worker processes (spawned: MediaPipe and torch threads do not survive fork)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Manager().Queue()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_local_worker,
                                                initargs=(options, queue)) as pool:
        pending = {pool.submit(_local_task, t, options, report, workers == 1): t for t in tasks}
        while pending:
            done, _ = concurrent.futures.wait(pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED)
            while not queue.empty():
                frames_bar.update(queue.get())
            for future in done:
                task = pending.pop(future)
                try:
                    yield future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    yield FileResult(task.name, task.input, error="its worker process died (out of memory, or a "
                                                                  "crash in a native library)")
                    for other in pending:
                        other.cancel()
                    for other in pending.values():
                        yield FileResult(other.name, other.input, error="not run: a worker process died")
                    return


def run_cluster(tasks: list[Task], options: PipelineOptions, address: str, report: bool,
                frames_bar: tqdm) -> Iterator[FileResult]:
    """The tasks on a Dask distributed cluster; each worker process keeps its classifier between tasks."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ClusterError("--cluster needs Dask distributed: pip install -r requirements-cluster.txt") from None
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT)
    except ValueError as e:  # Dask's own check of the address: an unknown scheme, no port
        raise ClusterError(f"--cluster {address}: not a scheduler address ({e})") from None
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({e})") from None
    with client:
        futures = {client.submit(analyze_task, t, options, report, key=f"analyze-{i}-{t.name}", pure=False): t
                   for i, t in enumerate(tasks)}
        for future in as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 - a lost worker or unpicklable error: reported, not raised
                message = (str(e).splitlines() or [""])[0]
                if "deserialization" in message:  # the scheduler or a worker cannot import this project
                    message += " (start the scheduler and the workers with the project on PYTHONPATH)"
                result = FileResult(task.name, task.input, error=f"cluster: {type(e).__name__}: {message}")
            frames_bar.update(result.frames)
            yield result


# --------------------------------------------------------------------------------------------- the run

def run_batch(input_dir: str | Path, out: str | Path, options: PipelineOptions | None = None,
              workers: int | None = None, force: bool = False, cluster: str | None = None, report: bool = True,
              progress: bool = True, events: list[Event] = ()) -> list[FileResult]:
    """Analyse every input under input_dir into out; returns one FileResult per input, in path order
    (skipped=True for those an earlier run finished). Writes out/batch_summary.csv and .json.
    events: marked on the videos they belong to (realtime/analysis/events.py, `events_for`)."""
    options = options or PipelineOptions()
    input_dir, out = Path(input_dir), Path(out)
    if not input_dir.exists():
        raise CaptureError(f"{input_dir}: no such file or folder")
    tasks = find_inputs(input_dir, out)
    if not tasks:
        raise CaptureError(f"{input_dir}: holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                           "and no folders of images")
    for task in tasks:
        if not Path(task.input).is_dir():
            task.events = events_for(list(events), task.input, input_dir if input_dir.is_dir() else None)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LogError(f"{out}: cannot write ({e.strerror or e})") from None
    results: dict[str, FileResult] = {}
    todo = []
    for task in tasks:
        if not force and is_done(task):
            line = json.loads((Path(task.out_dir) / MARKER).read_text())
            results[task.name] = FileResult(**{f.name: line[f.name] for f in fields(FileResult) if f.name in line},
                                            skipped=True)
        else:
            todo.append(task)
    if todo and not cluster:
        # A bad checkpoint or model path, found here as one line instead of in every worker's start.
        with Pipeline(options):
            pass
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    where = f"cluster {cluster}" if cluster else f"{workers} worker{'s' * (workers > 1)}"
    print(f"{len(tasks)} inputs under {input_dir}: {len(tasks) - len(todo)} done before, {len(todo)} to analyse "
          f"on {where}", file=sys.stderr)
    bars = dict(disable=None if progress else True, file=sys.stderr, dynamic_ncols=True)
    with tqdm(total=len(todo), unit="file", desc="files", position=0, **bars) as files_bar, \
            tqdm(total=sum(t.frames_hint for t in todo) or None, unit="frame", desc="frames", position=1,
                 **bars) as frames_bar:
        engine = (run_cluster(todo, options, cluster, report, frames_bar) if cluster
                  else run_local(todo, options, workers, report, frames_bar))
        for result in engine:
            results[result.name] = result
            files_bar.update(1)
            if result.error:
                tqdm.write(f"failed: {result.name}: {result.error}", file=sys.stderr)
            write_summary(out, [results[t.name] for t in tasks if t.name in results])
    ordered = [results[t.name] for t in tasks]
    write_summary(out, ordered)
    return ordered


def write_summary(out: Path, results: list[FileResult]) -> None:
    lines = [_summary_line(r) for r in results]
    columns = list(_summary_line(FileResult("", "")))
    with open(out / "batch_summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(lines)
    (out / "batch_summary.json").write_text(json.dumps(lines, indent=2) + "\n")


def print_summary(results: list[FileResult], seconds: float) -> None:
    width = max([len(r.name) for r in results] + [5])
    row = "{:<" + str(width) + "}  {:>7}  {:>4}  {:>6}  {:>5}  {:<9}  {:>8}  {}"
    print(row.format("input", "frames", "bad", "rows", "faces", "dominant", "seconds", "error"))
    for r in results:
        note = r.error or ("done before, skipped" if r.skipped else "")
        print(row.format(r.name, r.frames, r.skipped_frames, r.face_rows, r.faces, r.dominant_emotion or "-",
                         f"{r.seconds:.1f}", note))
    ran = [r for r in results if not r.skipped]
    frames = sum(r.frames for r in ran)
    failed = sum(bool(r.error) for r in results)
    rate = max(seconds, 1e-9)
    print(f"{len(ran)} analysed, {len(results) - len(ran)} skipped, {failed} failed; {frames} frames in "
          f"{seconds:.1f} s ({60 * len(ran) / rate:.1f} files/min, {frames / rate:.1f} frames/s)")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m realtime.batch", description=__doc__.splitlines()[0],
                                formatter_class=HelpFormatter)
    p.add_argument("input", help="a folder of videos and image folders (searched at any depth), or one video")
    p.add_argument("--out", required=True, help="output folder: one subfolder per input, and the batch summary")
    p.add_argument("--workers", type=int, help="local worker processes (default: one per CPU core)")
    p.add_argument("--force", action="store_true", help="analyse again the inputs an earlier run finished")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on this Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of local workers; "
                        "INPUT and --out must be paths that every worker can read and write")
    p.add_argument("--no-report", action="store_true", help="write only the CSV logs, no plots")
    p.add_argument("--events", metavar="FILE",
                   help="events to mark on the videos: a CSV of time,label rows (seconds since the video began), "
                        "with an optional source column naming the video (file name or path under INPUT)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="show the libraries' own log lines, hidden by default")
    add_pipeline_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        options = pipeline_options(args)
        events = read_events(args.events) if args.events else []
        if args.workers is not None and args.workers < 1:
            raise OptionError("--workers must be at least 1")
        # The workers inherit the silenced descriptor; their errors come back in the results.
        with nullcontext() if args.verbose else quiet.native_stderr_silenced():
            results = run_batch(args.input, args.out, options, args.workers, args.force, args.cluster,
                                report=not args.no_report, progress=not args.no_progress, events=events)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: inputs finished so far are kept; run again to go on", file=sys.stderr)
        return 130
    print_summary(results, time.perf_counter() - start)
    print(f"summary: {Path(args.out) / 'batch_summary.csv'}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
