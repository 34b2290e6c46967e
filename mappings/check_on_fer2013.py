"""Check the affect mapping on real faces: mean predicted (valence, arousal) per true FER2013 class.

    python -m mappings.check_on_fer2013 --data ../shared/datasets/fer2013/test \\
        [--weights models/emotion_cnn.pth] [--mode soft] --out assets/readme

Runs the classifier on the split, maps every face's probabilities through `affect_batch`, and
writes affect_on_fer2013.md (per-class table) and affect_on_fer2013.png (per-face scatter over
the circumplex) into --out. Exits 1 if a class mean lies outside the quadrant of that class's
circumplex point (neutral has none and is only reported), 2 if the data or weights are unusable.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from errors import UserError
from mappings.derive_au_to_va import TARGETS
from mappings.mapper import MODES, affect_batch
from models import EMOTIONS

REPO_ROOT = Path(__file__).resolve().parents[1]
STEM = "affect_on_fer2013"
# Where each class name sits next to its circumplex point (points, alignment): angry and fear are close.
LABEL_OFFSETS = {
    "angry": ((0, 15), "center"), "disgust": ((-12, 0), "right"), "fear": ((-12, 0), "right"),
    "happy": ((0, 15), "center"), "neutral": ((12, -10), "left"), "sad": ((-12, 0), "right"),
    "surprise": ((0, 15), "center"),
}


@dataclass(frozen=True)
class ClassSummary:
    emotion: str
    n: int
    valence: float  # mean over the class's faces
    arousal: float
    expected: tuple[int, int] | None  # signs (valence, arousal) of the circumplex point; None for neutral

    @property
    def ok(self) -> bool | None:
        if self.expected is None or self.n == 0:
            return None
        return (np.sign(self.valence), np.sign(self.arousal)) == self.expected


def expected_quadrant(emotion: str) -> tuple[int, int] | None:
    if emotion == "neutral":
        return None
    valence, arousal = TARGETS[emotion]
    return int(np.sign(valence)), int(np.sign(arousal))


def quadrant_label(signs: tuple[int, int] | None) -> str:
    if signs is None:
        return "none"
    return f"V{'>' if signs[0] > 0 else '<'}0, A{'>' if signs[1] > 0 else '<'}0"


def summarize(valence: np.ndarray, arousal: np.ndarray, labels: np.ndarray) -> list[ClassSummary]:
    rows = []
    for index, emotion in enumerate(EMOTIONS):
        mask = labels == index
        n = int(mask.sum())
        mean_v = float(valence[mask].mean()) if n else float("nan")
        mean_a = float(arousal[mask].mean()) if n else float("nan")
        rows.append(ClassSummary(emotion, n, mean_v, mean_a, expected_quadrant(emotion)))
    return rows


def markdown_table(rows: list[ClassSummary]) -> str:
    lines = ["| true class | n | mean valence | mean arousal | circumplex point | expected quadrant | in quadrant |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        verdict = {True: "yes", False: "**NO**", None: "n/a"}[r.ok]
        target = "({:+.2f}, {:+.2f})".format(*TARGETS[r.emotion])
        lines.append(f"| {r.emotion} | {r.n} | {r.valence:+.3f} | {r.arousal:+.3f} | {target} "
                     f"| {quadrant_label(r.expected)} | {verdict} |")
    return "\n".join(lines)


def plot(valence: np.ndarray, arousal: np.ndarray, labels: np.ndarray, rows: list[ClassSummary],
         path: Path, title: str, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from realtime.style import emotion_rgb01

    fig, ax = plt.subplots(figsize=(8, 8), dpi=130)
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="0.55", lw=1.2, ls="--"))
    ax.axhline(0, color="0.35", lw=0.9)
    ax.axvline(0, color="0.35", lw=0.9)
    corners = {(1, 1): "pleasant, activated", (-1, 1): "unpleasant, activated",
               (-1, -1): "unpleasant, deactivated", (1, -1): "pleasant, deactivated"}
    for (sx, sy), text in corners.items():
        ax.text(sx * 1.02, sy * 1.02, text, ha="right" if sx > 0 else "left", va="top" if sy > 0 else "bottom",
                fontsize=10, color="0.4", style="italic")

    colours = np.array([emotion_rgb01(e) for e in EMOTIONS])
    order = np.random.default_rng(0).permutation(len(labels))  # no class buried under the last one drawn
    ax.scatter(valence[order], arousal[order], s=7, c=colours[labels[order]], alpha=0.22, linewidths=0,
               rasterized=True)

    for r in rows:
        if r.n == 0:
            continue
        colour = emotion_rgb01(r.emotion)
        target = TARGETS[r.emotion]
        ax.plot([r.valence, target[0]], [r.arousal, target[1]], color=colour, lw=1.3, zorder=3)
        ax.scatter(*target, s=150, facecolors="white", edgecolors=colour, linewidths=2.4, zorder=4)
        ax.scatter(r.valence, r.arousal, s=230, color=colour, edgecolors="black", linewidths=1.3, zorder=5)
        (dx, dy), align = LABEL_OFFSETS[r.emotion]
        ax.annotate(r.emotion, target, xytext=(dx, dy), textcoords="offset points", ha=align, va="center",
                    fontsize=11, weight="bold", color=colour, zorder=6)

    face = Line2D([], [], ls="", marker="o", ms=5, color="0.5", alpha=0.5, label="one face (colour: true class)")
    mean = Line2D([], [], ls="", marker="o", ms=12, color="0.6", markeredgecolor="black", label="mean of a true class")
    point = Line2D([], [], ls="", marker="o", ms=10, markerfacecolor="white", markeredgecolor="0.3", mew=2,
                   label="its circumplex point\n(Russell & Mehrabian 1977)")
    ax.legend(handles=[face, mean, point], loc="lower right", fontsize=9.5, framealpha=0.92,
              bbox_to_anchor=(1.0, 0.06))

    ax.set_xlim(-1.08, 1.08)
    ax.set_ylim(-1.08, 1.08)
    ax.set_aspect("equal")
    ax.set_xlabel("valence (unpleasant \u2192 pleasant)", fontsize=11)
    ax.set_ylabel("arousal (calm \u2192 activated)", fontsize=11)
    ax.set_title(f"{title}\n{subtitle}", fontsize=11.5)
    ax.grid(alpha=0.15)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _shown(path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def run_check(data: str | os.PathLike, weights: str | os.PathLike, out: str | os.PathLike,
              mode: str = "soft", split: str = "PublicTest") -> tuple[list[ClassSummary], str]:
    """Predict, map, summarise and write the two files; returns the per-class rows and the markdown."""
    import torch

    from models.checkpoint import load_model
    from train.data import DataError, load, with_original_pixels
    from train.predict import predict_probs

    splits = load(data)
    if split not in splits:
        raise DataError(f"{data}: no {split} images (found: {', '.join(sorted(splits)) or 'none'})")
    faces = splits[split]
    loaded = load_model(weights, device="cpu")
    if loaded.meta.get("training", {}).get("pixels", "equalised") == "original":  # the pixels it learnt from
        faces = with_original_pixels({split: faces}, data)[0][split]
    probs = predict_probs(loaded.model, faces.images, loaded.mean, loaded.std, torch.device("cpu"))
    return write_check(probs, faces.labels, weights, out, mode, split)


def write_check(probs: np.ndarray, labels: np.ndarray, weights: str | os.PathLike, out: str | os.PathLike,
                mode: str = "soft", split: str = "PublicTest") -> tuple[list[ClassSummary], str]:
    """Map a checkpoint's class probabilities on labelled faces, summarise per true class and write
    the table and the plot; returns the per-class rows and the markdown."""
    _, valence, arousal = affect_batch(probs, mode=mode)
    rows = summarize(valence, arousal, labels)
    accuracy = float((probs.argmax(axis=1) == labels).mean())

    out = Path(out)
    checkpoint = _shown(Path(weights))
    title = f"Predicted valence/arousal, FER2013 {split} ({len(labels)} faces)"
    subtitle = f"`{mode}` mode, checkpoint {checkpoint} (accuracy {accuracy:.1%})"
    report = (f"Mean predicted (valence, arousal) per true class on FER2013 {split} ({len(labels)} faces), "
              f"{subtitle}. Made by `python -m mappings.check_on_fer2013`.\n\n"
              f"{markdown_table(rows)}\n")
    try:
        out.mkdir(parents=True, exist_ok=True)
        plot(valence, arousal, labels, rows, out / f"{STEM}.png", title, subtitle.replace("`", ""))
        (out / f"{STEM}.md").write_text(report)
    except OSError as e:
        raise UserError(f"{out}: cannot write ({e.strerror or e})") from None
    return rows, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="FER2013 test folder (class subfolders) or CSV")
    parser.add_argument("--weights", type=Path, default=REPO_ROOT / "models" / "emotion_cnn.pth")
    parser.add_argument("--mode", choices=MODES, default="soft")
    parser.add_argument("--split", default="PublicTest", help="split to check (default: PublicTest)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "assets" / "readme",
                        help=f"folder for {STEM}.md and {STEM}.png")
    args = parser.parse_args(argv)


    try:
        rows, report = run_check(args.data, args.weights, args.out, args.mode, args.split)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report)
    wrong = [r.emotion for r in rows if r.ok is False]
    if wrong:
        print(f"FAIL: class mean outside its quadrant for {', '.join(wrong)}", file=sys.stderr)
        return 1
    print(f"ok: every class mean lies in its quadrant; wrote {STEM}.md and {STEM}.png to {_shown(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
