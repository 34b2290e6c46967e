"""Overlays drawn with plain OpenCV calls, cheap enough for the live loop.

Each annotator draws one thing onto a BGR canvas and decides nothing; the app switches them
on and off with the keys in KEYS.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from models import EMOTIONS
from realtime.faces import Face
from realtime.style import EMOTION_BGR

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
PANEL = (32, 32, 32)

KEYS = (
    ("q / Esc", "quit"),
    ("r", "start / stop recording"),
    ("v", "valence-arousal plot"),
    ("p", "probability bars"),
    ("a", "action units"),
    ("l", "face mesh landmarks"),
    ("b", "boxes and labels"),
    ("m", "mirror the image"),
    ("space", "pause / resume"),
    ("s", "snapshot (PNG)"),
    ("h", "this help"),
)


@dataclass
class Overlays:
    """Which overlays are on; the keys flip these."""

    boxes: bool = True
    probs: bool = False
    aus: bool = False
    landmarks: bool = False
    va: bool = True
    hud: bool = True
    help: bool = False


def text_scale(canvas: np.ndarray) -> float:
    """Font scale that stays legible from 320 px to 4K frames."""
    return float(np.clip(canvas.shape[0] / 720, 0.4, 1.6))


def shade(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.6) -> None:
    """Darken a rectangle in place, so text on it is readable over any background."""
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 > x0 and y1 > y0:
        roi = canvas[y0:y1, x0:x1]
        cv2.addWeighted(roi, 1 - alpha, np.full_like(roi, PANEL), alpha, 0, dst=roi)


def put_text(canvas, text, org, scale, color=WHITE, thickness=1) -> None:
    cv2.putText(canvas, text, org, FONT, scale, color, thickness, cv2.LINE_AA)


def label_of(face: Face) -> tuple[str, float]:
    """The shown label (it changes with hysteresis, see realtime/temporal.py) and its confidence."""
    return face.shown_label, face.shown_confidence


class BoxAnnotator:
    """Face box in the emotion's colour, with ID, label and confidence above it."""

    def annotate(self, canvas: np.ndarray, faces: list[Face]) -> None:
        s = text_scale(canvas)
        th = max(1, round(2 * s))
        for face in faces:
            x, y, w, h = face.box
            name, conf = label_of(face)
            color = EMOTION_BGR[name]
            cv2.rectangle(canvas, (x, y), (x + w, y + h), color, th, cv2.LINE_AA)
            text = f"#{face.track_id} {name} {100 * conf:.0f}%" if face.track_id >= 0 else f"{name} {100 * conf:.0f}%"
            (tw, tht), base = cv2.getTextSize(text, FONT, 0.7 * s, th)
            ty = y - 6 if y - tht - base - 6 > 0 else y + h + tht + 6
            cv2.rectangle(canvas, (x, ty - tht - base), (x + tw + 6, ty + base), color, -1)
            put_text(canvas, text, (x + 3, ty), 0.7 * s, BLACK, th)


class ProbabilityBarsAnnotator:
    """Seven bars beside each face: the smoothed probability of every emotion."""

    def annotate(self, canvas: np.ndarray, faces: list[Face]) -> None:
        s = text_scale(canvas)
        row = int(18 * s)
        bar_w = int(110 * s)
        name_w = int(70 * s)
        for face in faces:
            x, y, w, h = face.box
            px = x + w + 8 if x + w + 8 + name_w + bar_w < canvas.shape[1] else max(0, x - name_w - bar_w - 12)
            py = max(0, y)
            shade(canvas, px - 4, py - 4, px + name_w + bar_w + 4, py + row * len(EMOTIONS) + 4)
            for i, emo in enumerate(EMOTIONS):
                yy = py + i * row
                put_text(canvas, emo, (px, yy + row - 5), 0.45 * s)
                length = int(bar_w * float(face.probs[i]))
                cv2.rectangle(canvas, (px + name_w, yy + 3), (px + name_w + length, yy + row - 3), EMOTION_BGR[emo], -1)


class ActionUnitAnnotator:
    """The strongest action units under each face as bars, e.g. 'AU12 Lip corner puller [=====  ] 0.81',
    under a title saying which kind they are: measured from the mesh, or the emotion's prototype.
    AUs this blendshape model barely moves (`weak`) are drawn grey and marked '~'."""

    def __init__(self, au_names: dict[str, str], weak: frozenset[str] = frozenset(), top: int = 6,
                 min_intensity: float = 0.05):
        self.au_names, self.weak, self.top, self.min_intensity = au_names, weak, top, min_intensity

    def annotate(self, canvas: np.ndarray, faces: list[Face]) -> None:
        s = text_scale(canvas)
        row, fs = int(18 * s), 0.42 * s
        bar_w = int(80 * s)
        for face in faces:
            x, y, w, h = face.box
            active = sorted(((v, k) for k, v in face.aus.items() if v >= self.min_intensity), reverse=True)[:self.top]
            names = [f"{'~' if face.au_source == 'measured' and k in self.weak else ''}{k} {self.au_names.get(k, '')}"
                     for _, k in active]
            title = f"AUs {face.au_source}" + ("" if active else ": none active")
            name_w = max(cv2.getTextSize(t, FONT, fs, 1)[0][0] for t in [*names, ""]) + int(8 * s)
            value_w = cv2.getTextSize("0.00", FONT, fs, 1)[0][0] + int(6 * s)
            width = max(name_w + bar_w + value_w, cv2.getTextSize(title, FONT, fs, 1)[0][0])
            height = row * (len(active) + 1)
            px = int(np.clip(x, 4, max(4, canvas.shape[1] - width - 6)))
            py = y + h + int(12 * s) if y + h + int(12 * s) + height < canvas.shape[0] else max(0, y - height - row)
            shade(canvas, px - 4, py, px + width + 4, py + height + 6)
            put_text(canvas, title, (px, py + row - 4), fs, (120, 220, 255))
            for i, ((v, k), name) in enumerate(zip(active, names, strict=True)):
                top = py + (i + 1) * row
                color = (150, 150, 150) if face.au_source == "measured" and k in self.weak else (90, 200, 90)
                put_text(canvas, name, (px, top + row - 5), fs, WHITE if color[0] < 150 else color)
                bx = px + name_w
                cv2.rectangle(canvas, (bx, top + 4), (bx + bar_w, top + row - 3), (80, 80, 80), 1)
                cv2.rectangle(canvas, (bx, top + 4), (bx + int(bar_w * min(v, 1.0)), top + row - 3), color, -1)
                put_text(canvas, f"{v:.2f}", (bx + bar_w + int(4 * s), top + row - 5), fs)


class LandmarkAnnotator:
    """The landmarker's 478 mesh points on each face where it found one."""

    COLOR = np.array((255, 220, 120), np.uint8)

    def annotate(self, canvas: np.ndarray, faces: list[Face]) -> None:
        h, w = canvas.shape[:2]
        dot = 2 if h >= 720 else 1
        for face in faces:
            if face.mesh is None:
                continue
            # Plain pixel writes: 478 cv2.circle calls would cost several ms a face.
            p = np.floor(face.mesh.landmarks).astype(int)
            for dy in range(dot):
                for dx in range(dot):
                    xs, ys = p[:, 0] + dx, p[:, 1] + dy
                    keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
                    canvas[ys[keep], xs[keep]] = self.COLOR


class ValenceArousalAnnotator:
    """An inset circumplex (valence right, arousal up) with a fading trail per face."""

    def __init__(self, trail: int = 45):
        self.trails: dict[int, deque] = {}
        self.trail = trail

    def update(self, faces: list[Face], retired: list[int] = ()) -> None:
        for track_id in retired:
            self.trails.pop(track_id, None)
        for face in faces:
            self.trails.setdefault(face.track_id, deque(maxlen=self.trail)).append((face.valence, face.arousal))

    def reset(self) -> None:
        self.trails.clear()

    def annotate(self, canvas: np.ndarray, faces: list[Face]) -> None:
        hgt, wid = canvas.shape[:2]
        s = text_scale(canvas)
        size = int(min(hgt, wid) * 0.34)
        x0, y0 = wid - size - 10, hgt - size - 10
        shade(canvas, x0, y0, x0 + size, y0 + size, 0.7)
        cx, cy, r = x0 + size // 2, y0 + size // 2, int(size * 0.4)

        def to_px(v: float, a: float) -> tuple[int, int]:
            return int(cx + np.clip(v, -1, 1) * r), int(cy - np.clip(a, -1, 1) * r)

        cv2.circle(canvas, (cx, cy), r, (110, 110, 110), 1, cv2.LINE_AA)
        cv2.line(canvas, (cx - r - 4, cy), (cx + r + 4, cy), (150, 150, 150), 1)
        cv2.line(canvas, (cx, cy - r - 4), (cx, cy + r + 4), (150, 150, 150), 1)
        fs = 0.33 * s
        put_text(canvas, "arousal", (cx + 4, y0 + int(12 * s)), fs, (200, 200, 200))
        put_text(canvas, "valence", (x0 + size - int(52 * s), cy - 4), fs, (200, 200, 200))
        for text, (qx, qy) in (("excited", (1, -1)), ("stressed", (-1, -1)), ("sad", (-1, 1)), ("calm", (1, 1))):
            (tw, _), _ = cv2.getTextSize(text, FONT, fs, 1)
            tx = cx + qx * int(r * 0.72) - tw // 2
            put_text(canvas, text, (tx, cy + qy * int(r * 0.72) + 4), fs, (170, 170, 170))
        visible = {f.track_id: f for f in faces}
        for track_id, trail in self.trails.items():
            face = visible.get(track_id)
            if face is None:
                continue
            color = np.array(EMOTION_BGR[label_of(face)[0]], float)
            pts = [to_px(v, a) for v, a in trail]
            for i in range(1, len(pts)):
                fade = i / len(pts)  # older segments blend into the panel
                c = tuple(int(v) for v in color * fade + np.array(PANEL) * (1 - fade))
                cv2.line(canvas, pts[i - 1], pts[i], c, max(1, round(2 * s)), cv2.LINE_AA)
            cv2.circle(canvas, pts[-1], max(3, int(6 * s)), tuple(int(v) for v in color), -1, cv2.LINE_AA)
            cv2.circle(canvas, pts[-1], max(3, int(6 * s)), WHITE, 1, cv2.LINE_AA)
            put_text(canvas, f"#{track_id}", (pts[-1][0] + 8, pts[-1][1] - 6), fs, WHITE)


class HudAnnotator:
    """FPS, where the classifier runs (e.g. "cpu int8"), per-stage latency, and the recording /
    paused state, top left."""

    def __init__(self, backend: str = ""):
        self.backend = backend

    def annotate(self, canvas: np.ndarray, fps: float, stage_ms: dict[str, float], recording: bool,
                 paused: bool) -> None:
        s = text_scale(canvas)
        lines = [(f"{fps:5.1f} FPS   " if fps > 0 else "") + self.backend + ("   PAUSED" if paused else "")]
        lines.append("  ".join(f"{k} {v:.1f}" for k, v in stage_ms.items()) + " ms")
        row = int(22 * s)
        width = max(cv2.getTextSize(t, FONT, 0.5 * s, 1)[0][0] for t in lines)
        shade(canvas, 0, 0, width + 20, row * len(lines) + 10)
        for i, t in enumerate(lines):
            put_text(canvas, t, (8, row * (i + 1)), 0.5 * s)
        if recording:
            x = canvas.shape[1] - int(80 * s)
            cv2.circle(canvas, (x, int(20 * s)), int(8 * s), (0, 0, 255), -1, cv2.LINE_AA)
            put_text(canvas, "REC", (x + int(14 * s), int(27 * s)), 0.6 * s, (0, 0, 255), max(1, round(2 * s)))


class HelpAnnotator:
    def annotate(self, canvas: np.ndarray) -> None:
        s = text_scale(canvas)
        row = int(26 * s)
        w = int(360 * s)
        h = row * (len(KEYS) + 2)
        x0 = max(0, (canvas.shape[1] - w) // 2)
        y0 = max(0, (canvas.shape[0] - h) // 2)
        shade(canvas, x0, y0, x0 + w, y0 + h, 0.8)
        put_text(canvas, "Keys", (x0 + 14, y0 + row), 0.7 * s, WHITE, max(1, round(2 * s)))
        for i, (key, what) in enumerate(KEYS):
            y = y0 + row * (i + 2)
            put_text(canvas, key, (x0 + 14, y), 0.55 * s, (120, 220, 255))
            put_text(canvas, what, (x0 + int(110 * s), y), 0.55 * s)


def no_face_hint(canvas: np.ndarray) -> None:
    s = text_scale(canvas)
    text = "no face"
    (tw, th), _ = cv2.getTextSize(text, FONT, 0.9 * s, 2)
    x, y = (canvas.shape[1] - tw) // 2, canvas.shape[0] - int(30 * s)
    shade(canvas, x - 12, y - th - 12, x + tw + 12, y + 12)
    put_text(canvas, text, (x, y), 0.9 * s, (120, 220, 255), max(1, round(2 * s)))
