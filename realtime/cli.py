"""The command-line flags that choose what the analysis computes, shared by run_webcam.py and
python -m realtime.batch: each maps onto a PipelineOptions field."""

from __future__ import annotations

import argparse

from errors import OptionError
from realtime.analysis.classify import PRECISIONS
from realtime.analysis.pipeline import AU_SOURCES, PipelineOptions
from realtime.analysis.temporal import TemporalConfig

TEMPORAL = TemporalConfig()


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only: '(default: None)' or '(default: False)' tells the user nothing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    model = p.add_argument_group("models")
    model.add_argument("--weights", help="classifier checkpoint (default models/emotion_cnn.pth; "
                       "models/emotion_cnn_fast.pth is 3.7x as fast, better against FER+ votes, "
                       "worse on FER2013's labels)")
    model.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto picks CUDA if present")
    model.add_argument("--precision", default="auto", choices=["auto", *PRECISIONS],
                       help="classifier arithmetic; auto: int8 on x86 CPUs (checkpoint with int8 weights), "
                            "else bf16 where native (GPUs), else fp32")
    model.add_argument("--classifier-threads", type=int, default=1, metavar="N",
                       help="CPU threads for the classifier (more than one only pays on an idle machine; "
                            "bench/README.md, \"Classifier threads\")")
    model.add_argument("--detector", default="short",
                       help="'short' (faces within ~2 m), 'full' (up to ~5 m) or a .tflite path")
    model.add_argument("--landmarker", help="face landmarker .task bundle (default assets/face_landmarker.task)")
    model.add_argument("--no-landmarks", action="store_true",
                       help="skip the face mesh (no measured AUs; the pipeline runs about twice as fast)")
    model.add_argument("--mesh-every", type=int, default=1, metavar="N",
                       help="videos and cameras: measure each face's mesh on one frame in N, carrying it "
                            "with the box in between (faster, AUs sampled less often)")
    model.add_argument("--detect-every", type=int, default=PipelineOptions.detect_every, metavar="N",
                       help="videos and cameras: run the face detector on one frame in N while every face keeps "
                            "its mesh, which carries the boxes in between (at once after a face is lost)")
    model.add_argument("--min-detection", type=float, default=0.6, help="face detection confidence threshold")
    model.add_argument("--affect-mode", default="soft", choices=["soft", "argmax"],
                       help="prototype AUs from all class probabilities (soft) or from the top class only (argmax)")
    model.add_argument("--au-source", default="measured", choices=AU_SOURCES,
                       help="AUs shown (panel, report, valence/arousal): measured from the face mesh, or the "
                            "emotion's prototype; the CSV logs both")
    model.add_argument("--va-source", default="prototype", choices=AU_SOURCES,
                       help="valence/arousal shown and reported: from the prototype AUs (closer to the "
                            "circumplex on FER2013 and wild-dev, see bench/README.md) or the measured ones")
    model.add_argument("--neutral", metavar="PHOTO",
                       help="a photo of the participant with a neutral face: corrects every face's readings for "
                            "that person's resting face (for image folders of one person; docs/research.md)")
    temporal = p.add_argument_group("temporal model (per face; see realtime/analysis/temporal.py)")
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


def pipeline_options(args: argparse.Namespace) -> PipelineOptions:
    """The parsed flags as options; ValueError (one line) for values out of range."""
    if args.classifier_threads < 1:
        raise OptionError(f"--classifier-threads must be 1 or more, not {args.classifier_threads}")
    temporal = TemporalConfig(smoothing_s=args.smoothing, margin=args.label_margin, dwell_s=args.label_dwell,
                              min_cutoff_hz=args.signal_cutoff, beta=args.signal_beta)
    return PipelineOptions(
        weights=args.weights, device=args.device, precision=args.precision,
        classifier_threads=args.classifier_threads, detector=args.detector,
        landmarker=args.landmarker, landmarks=not args.no_landmarks, mesh_every=args.mesh_every,
        detect_every=args.detect_every,
        min_detection=args.min_detection, temporal=temporal, affect_mode=args.affect_mode,
        au_source=args.au_source, va_source=args.va_source, neutral=args.neutral)
