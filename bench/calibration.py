"""Participant calibration measured on the shared clips: the same person's neutral and other expressions,
before and after calibrating on their first resting half second.

    python -m bench.calibration --videos ../shared/videos --wild ../shared/datasets/wild-dev

The clips have no labels, so segments were labelled by eye from frames sampled every 6-25 frames
(SEGMENTS below; frames between a neutral face and an expression, pouts, cheek puffs and closed eyes
are left out). Each clip's calibration frames are its first CALIBRATION_S seconds of neutral face, which
are left out of the scoring. The pipeline runs once per clip (the app's defaults); the calibration is
then replayed on the logged raw probabilities for each setting of the two constants of
realtime/analysis/calibration.py, and the per-frame argmax is scored per labelled class.

The clips' people mostly read neutral already, so they barely tell the constants apart. wild-dev,
whose neutral photos read neutral a third of the time, is the harder case: its neutral photos with an
even index play one "resting face" (the whole population's), and every other photo is scored per
class with that calibration applied to all, for each setting: how far the correction goes before it
costs the other classes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models import EMOTIONS
from realtime.analysis.calibration import MAX_OFFSET as BOUND
from realtime.analysis.calibration import REST_NEUTRAL as REST
from realtime.analysis.calibration import calibrate

CALIBRATION_S = 0.5
# clip -> (label, first frame, last frame), by eye. liveportrait_d0 (25 FPS): neutral, a broad grin
# with the eyes to the side, neutral again. liveportrait_d18 (30 FPS): neutral between a pout, an "O"
# of surprise, a blink, a broad open-mouthed smile; pyfeat_single_face: neutral, then a smile.
# liveportrait_d9: neutral, long cheek puffs and pouts (left out), a smile, neutral.
SEGMENTS = {
    "liveportrait_d0.mp4": [("neutral", 0, 14), ("happy", 24, 62), ("neutral", 72, 77)],
    "liveportrait_d18.mp4": [("neutral", 0, 18), ("neutral", 48, 66), ("surprise", 72, 90), ("neutral", 104, 114),
                             ("happy", 118, 128), ("neutral", 200, 215)],
    "liveportrait_d9.mp4": [("neutral", 0, 60), ("happy", 300, 355), ("neutral", 375, 410)],
    "pyfeat_single_face.mp4": [("neutral", 0, 14), ("happy", 24, 71)],
}
REST_NEUTRAL = (0.4, 0.5, 0.6, 0.7, 0.8)
MAX_OFFSET = (1.0, 2.0, 3.0, 10.0)


def clip_probs(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Frame numbers, raw probabilities [N, 7] of the clip's biggest face per frame, and its frame rate."""
    from realtime.analysis.capture import open_source
    from realtime.analysis.pipeline import analyze_video

    with open_source(str(path)) as source:
        fps = source.fps
    best: dict[int, dict] = {}
    for row in analyze_video(path):
        if row["frame"] not in best or row["w"] * row["h"] > best[row["frame"]]["w"] * best[row["frame"]]["h"]:
            best[row["frame"]] = row
    frames = np.array(sorted(best))
    probs = np.array([[best[f][f"raw_p_{e}"] for e in EMOTIONS] for f in frames])
    return frames, probs, fps


def score(clips: dict, rest_neutral: float | None, max_offset: float) -> dict[str, tuple[int, int]]:
    """Per label: (frames read as that label, labelled frames), over every clip's scored frames."""
    out = {}
    for name, (frames, probs, fps) in clips.items():
        rest = frames < CALIBRATION_S * fps
        if rest_neutral is not None:
            probs = calibrate(probs[rest], rest_neutral=rest_neutral, max_offset=max_offset).apply(probs)
        pred = probs.argmax(axis=1)
        for label, lo, hi in SEGMENTS[name]:
            m = (frames >= lo) & (frames <= hi) & ~rest
            hit, n = out.get(label, (0, 0))
            out[label] = (hit + int(np.sum(pred[m] == EMOTIONS.index(label))), n + int(m.sum()))
    return out


def wild_probs(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and raw probabilities of the wild-dev photos with a face (the biggest), as the app reads photos."""
    import cv2

    from bench.wild_dev import photos
    from realtime.analysis.pipeline import Pipeline, PipelineOptions

    paths, labels = photos(root)
    keep, probs = [], []
    with Pipeline(PipelineOptions(running_mode="image")) as pipe:
        for i, path in enumerate(paths):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            faces = pipe.process(image).faces if image is not None else []
            if faces:
                keep.append(i)
                probs.append(max(faces, key=lambda f: f.box[2] * f.box[3]).raw_probs)
    return labels[keep], np.array(probs)


def wild_table(labels: np.ndarray, probs: np.ndarray) -> None:
    neutral = np.flatnonzero(labels == EMOTIONS.index("neutral"))
    rest = np.zeros(len(labels), bool)
    rest[neutral[::2]] = True
    present = [k for k in range(len(EMOTIONS)) if np.any(labels[~rest] == k)]
    print(f"\nwild-dev: {rest.sum()} neutral photos calibrate, {(~rest).sum()} scored; recall per class\n")
    print("| calibration | " + " | ".join(EMOTIONS[k] for k in present) + " | macro |")
    print("|---|" + "---:|" * (len(present) + 1))
    for rest_neutral, max_offset in [(None, 0.0)] + [(r, b) for r in REST_NEUTRAL for b in MAX_OFFSET]:
        p = probs if rest_neutral is None else calibrate(probs[rest], rest_neutral=rest_neutral,
                                                         max_offset=max_offset).apply(probs)
        pred = p.argmax(axis=1)
        recalls = [np.mean(pred[~rest & (labels == k)] == k) for k in present]
        name = "none" if rest_neutral is None else f"rest neutral {rest_neutral}, bound {max_offset:g}"
        print(f"| {name} | " + " | ".join(f"{r:.1%}" for r in recalls) + f" | {np.mean(recalls):.1%} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", default="../shared/videos")
    p.add_argument("--wild", default="../shared/datasets/wild-dev")
    args = p.parse_args(argv)
    clips = {name: clip_probs(Path(args.videos) / name) for name in SEGMENTS}
    labels = sorted({label for segments in SEGMENTS.values() for label, _, _ in segments})
    print("| calibration | " + " | ".join(f"{label} recall" for label in labels) + " | mean |")
    print("|---|" + "---:|" * (len(labels) + 1))
    settings = [(None, 0.0)] + [(r, b) for r in REST_NEUTRAL for b in MAX_OFFSET]
    for rest_neutral, max_offset in settings:
        s = score(clips, rest_neutral, max_offset)
        recalls = [s[label][0] / max(s[label][1], 1) for label in labels]
        name = "none" if rest_neutral is None else f"rest neutral {rest_neutral}, bound {max_offset:g}"
        cells = " | ".join(f"{r:.1%} ({s[label][0]}/{s[label][1]})" for r, label in zip(recalls, labels, strict=True))
        print(f"| {name} | {cells} | {np.mean(recalls):.1%} |")
    print(f"\nper clip, before -> after (rest neutral {REST}, bound {BOUND:g}):")
    for name in clips:
        before, after = score({name: clips[name]}, None, 0), score({name: clips[name]}, REST, BOUND)
        print(f"  {name}: " + ", ".join(f"{label} {before[label][0]}/{before[label][1]} -> {after[label][0]}"
                                         for label in before))
    wild_table(*wild_probs(Path(args.wild)))


if __name__ == "__main__":
    main()
