"""Live facial-expression analysis: emotions, action units and valence/arousal for every face.

    python run_webcam.py                                # default webcam
    python run_webcam.py --source clip.mp4 --no-display --csv log.csv --record out.mp4
    python run_webcam.py --source clip.mp4 --live          # the clip played as a camera would be
    python run_webcam.py --source photos/ --report report/

Keys while running: q/Esc quit, r record, d dashboard, f/Tab next face, v valence-arousal plot,
p probability bars, a action units, l face mesh, b boxes, t timings, m mirror, space pause,
s snapshot, o head pose, c calibrate, 1-9 mark an event, h help.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from errors import OptionError, UserError
from realtime import quiet  # imports nothing heavy

# The libraries read their log levels as they load, which is before the arguments are parsed.
if "--verbose" not in sys.argv[1:]:
    quiet.set_library_log_levels()
# OpenCV's bundled Qt ships no fonts and warns at every window start; point it at the system's.
if os.path.isdir("/usr/share/fonts/truetype/dejavu"):
    os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts/truetype/dejavu")

from realtime.analysis.events import parse_event_labels, read_events  # noqa: E402
from realtime.cli import HelpFormatter, add_pipeline_arguments, pipeline_options  # noqa: E402
from realtime.window.app import AppConfig, run  # noqa: E402
from realtime.window.layout import Overlays  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    src = p.add_argument_group("input")
    src.add_argument("--source", default="0", help="webcam index, video file, image file, or folder of images")
    src.add_argument("--live", action="store_true",
                     help="play a video --source as a camera would: in real time at its own frame rate, the "
                          "analysis taking the newest frame and skipping what it cannot keep up with")
    src.add_argument("--width", type=int, help="requested camera width")
    src.add_argument("--height", type=int, help="requested camera height")
    src.add_argument("--fps", type=float, help="requested camera frame rate")
    add_pipeline_arguments(p)
    out = p.add_argument_group("output")
    out.add_argument("--record", help="write the annotated video here (.mp4, .avi, or .webm to play in a browser: "
                                                "slower to encode)")
    out.add_argument("--record-dashboard", action="store_true",
                     help="recordings (--record and the r key) hold the whole window: the video and, beside it, "
                          "the dashboard and the side column (default: the video with its overlays)")
    out.add_argument("--csv", help="log one row per face per frame here")
    out.add_argument("--report", help="write a session report (CSV, summary.json, plots) into this folder at the end")
    out.add_argument("--stats-json", metavar="PATH",
                     help="at the end, write the run's figures here as JSON: frames, FPS, the classifier's backend, "
                          "median milliseconds per stage (what bench/pipeline.py reads)")
    out.add_argument("--output-dir", default="recordings", help="where the r and s keys save recordings and snapshots")
    study = p.add_argument_group("study sessions (docs/research.md)")
    study.add_argument("--event-labels", metavar="KEY=LABEL,...",
                       help="labels of the events the number keys 1-9 mark, e.g. \"1=stimulus,2=response\" "
                            "(default: 'event N'); events go into the CSV's event column and <log>_events.csv")
    study.add_argument("--events", metavar="FILE",
                       help="events to mark on a recorded video: a CSV of time,label rows (seconds since it began)")
    study.add_argument("--calibrate", type=float, metavar="SECONDS",
                       help="at the start, record the first face seen at rest for this long (it should look "
                            "neutral) and correct its readings; the c key does the same for the selected face")
    view = p.add_argument_group("display")
    view.add_argument("--no-display", action="store_true", help="run headless with a progress bar")
    view.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                      help="flip the image horizontally (default: on for webcams)")
    view.add_argument("--probs", action="store_true", help="start with probability bars shown")
    view.add_argument("--aus", action="store_true", help="start with the action-unit panel shown")
    view.add_argument("--landmarks", action="store_true", help="start with the face mesh drawn")
    view.add_argument("--no-va", action="store_true", help="start with the valence-arousal plot hidden")
    view.add_argument("--head", action="store_true", help="start with head pose and gaze drawn on the faces")
    view.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=None,
                      help="the dashboard beside the video: the selected face's plots and bars, a 10 s timeline "
                           "(default: on when the window has room)")
    view.add_argument("--analysis-delay", type=float, default=0.0, metavar="MS",
                      help="live sources: add MS to each analysis, emulating a slower CPU (tests and benchmarks)")
    view.add_argument("--pipelined", action=argparse.BooleanOptionalAction, default=None,
                      help="with --no-display and a video file: find the faces (MediaPipe) in a second process "
                           "while this one classifies, draws, encodes and logs the frame before, so both cores "
                           "work (the same rows; default: on with two or more CPU cores)")
    view.add_argument("--verbose", action="store_true",
                      help="show the libraries' own log lines (FFmpeg, OpenCV, MediaPipe, Qt), hidden by default")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        pipeline = pipeline_options(args)
        event_labels = parse_event_labels(args.event_labels)
        events = read_events(args.events) if args.events else []
        if args.calibrate is not None and not args.calibrate > 0:
            raise OptionError(f"--calibrate needs a duration > 0 seconds, got {args.calibrate}")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg = AppConfig(
        source=args.source, live=args.live, width=args.width, height=args.height, fps=args.fps, pipeline=pipeline,
        record=args.record, csv=args.csv, report=args.report,
        output_dir=args.output_dir, display=not args.no_display, mirror=args.mirror,
        overlays=Overlays(probs=args.probs, aus=args.aus, landmarks=args.landmarks, va=not args.no_va,
                          dashboard=args.dashboard, head=args.head),
        record_dashboard=args.record_dashboard, stats_json=args.stats_json, event_labels=event_labels,
        events=events, calibrate_s=args.calibrate or AppConfig.calibrate_s,
        calibrate_at_start=args.calibrate is not None, analysis_delay_s=max(0.0, args.analysis_delay) / 1000,
        pipelined=args.pipelined,
    )
    with contextlib.nullcontext() if args.verbose else quiet.native_stderr_silenced():
        try:
            summary = run(cfg)
        except UserError as e:  # anything else is a bug, and keeps its traceback
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    skipped = ""
    if summary.skipped_files:
        names = ", ".join(summary.skipped_files[:3]) + (", ..." if len(summary.skipped_files) > 3 else "")
        skipped = f"; {len(summary.skipped_files)} unreadable image{'s' * (len(summary.skipped_files) > 1)} " \
                  f"skipped ({names})"
    elif summary.skipped_frames:
        skipped = f"; {summary.skipped_frames} unreadable frame{'s' * (summary.skipped_frames > 1)} skipped"
    print(f"{summary.frames} frames ({summary.frames_with_faces} with faces), {summary.rows} face rows, "
          f"{summary.fps:.1f} FPS; ended by {summary.ended_by}" + skipped
          + (f"; log: {cfg.csv}" if cfg.csv else "") + (f"; report: {cfg.report}" if cfg.report else ""))
    return 1 if summary.ended_by.startswith("camera") else 0

if __name__ == "__main__":
    sys.exit(main())
