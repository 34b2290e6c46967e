"""Live facial-expression analysis: emotions, action units and valence/arousal for every face.

    python run_webcam.py                                # default webcam
    python run_webcam.py --source clip.mp4 --no-display --csv log.csv --record out.mp4
    python run_webcam.py --source photos/ --report report/

Keys while running: q/Esc quit, r record, v valence-arousal plot, p probability bars,
a action units, l face mesh, b boxes, m mirror, space pause, s snapshot, h help.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from realtime import quiet  # imports nothing heavy

# The libraries read their log levels as they load, which is before the arguments are parsed.
if "--verbose" not in sys.argv[1:]:
    quiet.set_library_log_levels()
# OpenCV's bundled Qt ships no fonts and warns at every window start; point it at the system's.
if os.path.isdir("/usr/share/fonts/truetype/dejavu"):
    os.environ.setdefault("QT_QPA_FONTDIR", "/usr/share/fonts/truetype/dejavu")

from mappings import MappingError  # noqa: E402
from models.checkpoint import CheckpointError  # noqa: E402
from realtime.app import AppConfig, run  # noqa: E402
from realtime.capture import CaptureError  # noqa: E402
from realtime.classify import PRECISIONS  # noqa: E402
from realtime.csvlog import LogError  # noqa: E402
from realtime.detect import DetectorError  # noqa: E402
from realtime.draw import Overlays  # noqa: E402
from realtime.landmarks import LandmarkerError  # noqa: E402
from realtime.pipeline import AU_SOURCES, PipelineOptions  # noqa: E402
from realtime.preflight import PreflightError  # noqa: E402
from realtime.record import RecordError  # noqa: E402
from realtime.report import ReportError  # noqa: E402
from realtime.temporal import TemporalConfig  # noqa: E402

TEMPORAL = TemporalConfig()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only: '(default: None)' or '(default: False)' tells the user nothing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=_HelpFormatter)
    src = p.add_argument_group("input")
    src.add_argument("--source", default="0", help="webcam index, video file, image file, or folder of images")
    src.add_argument("--width", type=int, help="requested camera width")
    src.add_argument("--height", type=int, help="requested camera height")
    src.add_argument("--fps", type=float, help="requested camera frame rate")
    model = p.add_argument_group("models")
    model.add_argument("--weights", help="classifier checkpoint (default models/emotion_cnn.pth; "
                       "models/emotion_cnn_fast.pth is 2.3x as fast, 1.6 points less accurate)")
    model.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto picks CUDA if present")
    model.add_argument("--precision", default="auto", choices=["auto", *PRECISIONS],
                       help="classifier arithmetic; auto: int8 on x86 CPUs (checkpoint with int8 weights), "
                            "else bf16 where native (GPUs), else fp32")
    model.add_argument("--detector", default="short",
                       help="'short' (faces within ~2 m), 'full' (up to ~5 m) or a .tflite path")
    model.add_argument("--landmarker", help="face landmarker .task bundle (default assets/face_landmarker.task)")
    model.add_argument("--no-landmarks", action="store_true",
                       help="skip the face mesh (no measured AUs; the pipeline runs about twice as fast)")
    model.add_argument("--mesh-every", type=int, default=1, metavar="N",
                       help="videos and cameras: measure each face's mesh on one frame in N, carrying it "
                            "with the box in between (faster, AUs sampled less often)")
    model.add_argument("--min-detection", type=float, default=0.6, help="face detection confidence threshold")
    temporal = p.add_argument_group("temporal model (per face; see realtime/temporal.py)")
    temporal.add_argument("--smoothing", type=float, default=TEMPORAL.smoothing_s, metavar="SECONDS",
                          help="time constant of the probability smoothing; 0 turns the temporal model off "
                               "(per-frame labels and values)")
    temporal.add_argument("--label-margin", type=float, default=TEMPORAL.margin, metavar="P",
                          help="the shown label changes only when another class's smoothed probability leads "
                               "it by this much, for --label-dwell seconds")
    temporal.add_argument("--label-dwell", type=float, default=TEMPORAL.dwell_s, metavar="SECONDS",
                          help="how long a challenger must lead before it is shown")
    temporal.add_argument("--signal-cutoff", type=float, default=TEMPORAL.min_cutoff_hz, metavar="HZ",
                          help="One-Euro filter of valence, arousal and AUs: cutoff when the face is still")
    temporal.add_argument("--signal-beta", type=float, default=TEMPORAL.beta, metavar="BETA",
                          help="One-Euro filter: how fast the cutoff rises as the signal moves (0: a fixed "
                               "low-pass)")
    model.add_argument("--affect-mode", default="soft", choices=["soft", "argmax"],
                       help="prototype AUs from all class probabilities (soft) or from the top class only (argmax)")
    model.add_argument("--au-source", default="measured", choices=AU_SOURCES,
                       help="AUs shown (panel, report, valence/arousal): measured from the face mesh, or the "
                            "emotion's prototype; the CSV logs both")
    model.add_argument("--va-source", default="prototype", choices=AU_SOURCES,
                       help="valence/arousal shown and reported: from the prototype AUs (closer to the "
                            "circumplex on FER2013 and wild-dev, see bench/README.md) or the measured ones")
    out = p.add_argument_group("output")
    out.add_argument("--record", help="write the annotated video here (.mp4 or .avi)")
    out.add_argument("--csv", help="log one row per face per frame here")
    out.add_argument("--report", help="write a session report (CSV, summary.json, plots) into this folder at the end")
    out.add_argument("--output-dir", default="recordings", help="where the r and s keys save recordings and snapshots")
    view = p.add_argument_group("display")
    view.add_argument("--no-display", action="store_true", help="run headless with a progress bar")
    view.add_argument("--mirror", action=argparse.BooleanOptionalAction, default=None,
                      help="flip the image horizontally (default: on for webcams)")
    view.add_argument("--probs", action="store_true", help="start with probability bars shown")
    view.add_argument("--aus", action="store_true", help="start with the action-unit panel shown")
    view.add_argument("--landmarks", action="store_true", help="start with the face mesh drawn")
    view.add_argument("--no-va", action="store_true", help="start with the valence-arousal plot hidden")
    view.add_argument("--verbose", action="store_true",
                      help="show the libraries' own log lines (FFmpeg, OpenCV, MediaPipe, Qt), hidden by default")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        temporal = TemporalConfig(smoothing_s=args.smoothing, margin=args.label_margin, dwell_s=args.label_dwell,
                                  min_cutoff_hz=args.signal_cutoff, beta=args.signal_beta)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    pipeline = PipelineOptions(
        weights=args.weights, device=args.device, precision=args.precision, detector=args.detector,
        landmarker=args.landmarker, landmarks=not args.no_landmarks, mesh_every=args.mesh_every,
        min_detection=args.min_detection, temporal=temporal, affect_mode=args.affect_mode,
        au_source=args.au_source, va_source=args.va_source)
    cfg = AppConfig(
        source=args.source, width=args.width, height=args.height, fps=args.fps, pipeline=pipeline,
        record=args.record, csv=args.csv, report=args.report,
        output_dir=args.output_dir, display=not args.no_display, mirror=args.mirror,
        overlays=Overlays(probs=args.probs, aus=args.aus, landmarks=args.landmarks, va=not args.no_va),
    )
    with contextlib.nullcontext() if args.verbose else quiet.native_stderr_silenced():
        try:
            summary = run(cfg)
        except (CaptureError, CheckpointError, DetectorError, LandmarkerError, RecordError, LogError, ReportError,
                PreflightError, MappingError, ValueError) as e:
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
