"""Overlays drawn with plain OpenCV calls, cheap enough for the live loop.

Each annotator draws one thing where realtime/window/layout.py put it, from the FrameResult's Face records,
and decides nothing; Renderer builds the layout for a frame and calls the annotators the keys
switched on (Overlays). The dashboard beside the video is realtime/window/dashboard.py.
"""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np

from models import EMOTIONS
from realtime.analysis.faces import Face, FaceMesh, FrameResult
from realtime.style import EMOTION_BGR, PANEL_BGR
from realtime.window.layout import (
    AU_ROWS,
    BarPanel,
    Circumplex,
    DashboardText,
    FaceSpec,
    Layout,
    Metrics,
    Overlays,
    Rect,
    Text,
    choose_dashboard,
    layout,
)

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
KEY_COLOR = (120, 220, 255)
AXIS, FAINT = (150, 150, 150), (110, 110, 110)


def shade(canvas: np.ndarray, r: Rect, alpha: float = 0.6) -> None:
    """Darken a rectangle in place, so text on it is readable over any background."""
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, r.x), max(0, r.y), min(w, r.x1), min(h, r.y1)
    if x1 > x0 and y1 > y0:
        roi = canvas[y0:y1, x0:x1]
        cv2.addWeighted(roi, 1 - alpha, np.full_like(roi, PANEL_BGR), alpha, 0, dst=roi)


def put(canvas: np.ndarray, t: Text, color=WHITE, text: str | None = None) -> None:
    cv2.putText(canvas, t.text if text is None else text, t.org, FONT, t.scale, color, t.thickness, cv2.LINE_AA)


def splash(message: str, size: tuple[int, int] = (400, 300)) -> np.ndarray:
    """What the window shows while the models load (at Qt's default window size): one centred line."""
    w, h = size
    canvas = np.full((h, w, 3), PANEL_BGR, np.uint8)
    (tw, th), _ = cv2.getTextSize(message, FONT, 0.6, 1)
    cv2.putText(canvas, message, ((w - tw) // 2, (h + th) // 2), FONT, 0.6, WHITE, 1, cv2.LINE_AA)
    return canvas


def label_of(face: Face) -> tuple[str, float]:
    """The shown label (it changes with hysteresis, see realtime/analysis/temporal.py) and its confidence."""
    return face.shown_label, face.shown_confidence


def tag_text(face: Face) -> str:
    name, conf = label_of(face)
    return f"#{face.track_id} {name} {100 * conf:.0f}%" if face.track_id >= 0 else f"{name} {100 * conf:.0f}%"


def draw_bars(canvas: np.ndarray, panel: BarPanel, values, colors, fmt: str = "{:.0%}", title_color=KEY_COLOR,
              alpha: float = 0.6, name_colors=None) -> None:
    """A bar panel from the layout, with a value (0-1) and a colour per row (and per name)."""
    if alpha:
        shade(canvas, panel.rect, alpha)
    if panel.title is not None:
        put(canvas, panel.title, title_color)
    for i, (row, v, color) in enumerate(zip(panel.rows, values, colors, strict=False)):
        put(canvas, row.name, name_colors[i] if name_colors else WHITE)
        b = row.bar
        cv2.rectangle(canvas, (b.x, b.y), (b.x1, b.y1), (80, 80, 80), 1)
        length = round(b.w * min(max(float(v), 0.0), 1.0))
        if length:
            cv2.rectangle(canvas, (b.x, b.y), (b.x + length, b.y1), color, -1)
        if row.value is not None:
            put(canvas, row.value, WHITE, fmt.format(float(v)))


def draw_circumplex(canvas: np.ndarray, c: Circumplex, m: Metrics, trails, alpha: float = 0.7) -> None:
    """The valence-arousal circle with each (points, colour, label) trail fading into the panel."""
    if alpha:
        shade(canvas, c.rect, alpha)
    (cx, cy), r = c.centre, c.radius
    cv2.circle(canvas, (cx, cy), r, FAINT, 1, cv2.LINE_AA)
    cv2.line(canvas, (cx - r - 4, cy), (cx + r + 4, cy), AXIS, 1)
    cv2.line(canvas, (cx, cy - r - 4), (cx, cy + r + 4), AXIS, 1)
    for t in c.labels:
        put(canvas, t, (190, 190, 190))
    width = max(1, round(m.u / 8))
    dot = max(3, round(m.u / 3))
    taken = [t.box for t in c.labels]  # the axis labels, then each face's placed label
    for points, color, label in trails:
        if not len(points):
            continue
        va = np.clip(np.asarray(points, float).reshape(-1, 2), -1, 1)
        pts = [tuple(p) for p in np.stack([cx + va[:, 0] * r, cy - va[:, 1] * r], 1).astype(int).tolist()]
        fade = (np.arange(len(pts)) / len(pts))[:, None]  # older segments blend into the panel
        cols = (np.array(color, float) * fade + np.array(PANEL_BGR, float) * (1 - fade)).astype(int).tolist()
        for i in range(1, len(pts)):
            cv2.line(canvas, pts[i - 1], pts[i], cols[i], width, cv2.LINE_AA)
        cv2.circle(canvas, pts[-1], dot, tuple(int(x) for x in color), -1, cv2.LINE_AA)
        cv2.circle(canvas, pts[-1], dot, WHITE, 1, cv2.LINE_AA)
        if label:
            place_point_label(canvas, c.rect, pts[-1], dot, label, m, taken)


def place_point_label(canvas: np.ndarray, panel: Rect, point: tuple[int, int], dot: int, label: str, m: Metrics,
                      taken: list[Rect]) -> None:
    """A face's ID beside its dot, at the first corner around it clear of every text already there:
    faces with the same affect put their dots together, and their IDs must not print over each other.
    With no clear corner the ID is left out; the dot's colour still says the emotion."""
    w, asc, desc = m.size(label, 0.85)
    px, py = point
    for x, top in ((px + dot + 2, py - dot - asc - desc), (px - dot - 2 - w, py - dot - asc - desc),
                   (px + dot + 2, py + dot), (px - dot - 2 - w, py + dot)):
        box = Rect(x, top, w, asc + desc)
        if box.inside(panel) and not any(box.intersects(t) for t in taken):
            taken.append(box)
            cv2.putText(canvas, label, (x, top + asc), FONT, m.scale * 0.85, WHITE, m.thickness, cv2.LINE_AA)
            return


class BoxAnnotator:
    """Face box in the emotion's colour, with its ID, label and confidence on a tag attached to it;
    the dashboard's face gets a white frame around its box."""

    def annotate(self, canvas: np.ndarray, faces: list[Face], lay: Layout, selected: int | None = None) -> None:
        th = max(1, round(lay.metrics.u / 7))
        for face, fl in zip(faces, lay.faces, strict=True):
            b = fl.box
            color = EMOTION_BGR[label_of(face)[0]]
            if face.track_id == selected:
                cv2.rectangle(canvas, (b.x - 2 * th, b.y - 2 * th), (b.x1 + 2 * th, b.y1 + 2 * th), WHITE, th)
            cv2.rectangle(canvas, (b.x, b.y), (b.x1, b.y1), color, th, cv2.LINE_AA)
            if fl.tag is not None:
                t = fl.tag.rect
                cv2.rectangle(canvas, (t.x, t.y), (t.x1 - 1, t.y1 - 1), color, -1)
                put(canvas, fl.tag.text, BLACK)


class ProbabilityBarsAnnotator:
    """Seven bars beside each face (or in the side column): the smoothed probability of every emotion."""

    COLORS = [EMOTION_BGR[e] for e in EMOTIONS]

    def annotate(self, canvas: np.ndarray, faces: list[Face], lay: Layout) -> None:
        for face, fl in zip(faces, lay.faces, strict=True):
            if fl.bars is not None:
                draw_bars(canvas, fl.bars, face.probs, self.COLORS, title_color=EMOTION_BGR[label_of(face)[0]])


class ActionUnitAnnotator:
    """The strongest action units of each face as bars, e.g. 'AU12 Lip corner puller [=====  ] 0.81',
    under a title saying which kind they are: measured from the mesh, or the emotion's prototype.
    AUs this blendshape model barely moves (`weak`) are drawn grey and marked '~'."""

    STRONG, WEAK = (90, 200, 90), (150, 150, 150)

    def __init__(self, au_names: dict[str, str], weak: frozenset[str] = frozenset(), top: int = AU_ROWS,
                 min_intensity: float = 0.05):
        self.au_names, self.weak, self.top, self.min_intensity = au_names, weak, top, min_intensity
        self.widest = max((f"~{k} {v}" for k, v in au_names.items()), key=len, default="AU00")

    def rows(self, face: Face) -> tuple[str, list[str], list[float], list[tuple]]:
        """Title, labels, values and colours of the face's AU bars, strongest first."""
        active = sorted(((v, k) for k, v in face.aus.items() if v >= self.min_intensity), reverse=True)[:self.top]
        weak = [face.au_source == "measured" and k in self.weak for _, k in active]
        names = [f"{'~' if w else ''}{k} {self.au_names.get(k, '')}" for (_, k), w in zip(active, weak, strict=True)]
        title = f"AUs {face.au_source}" + ("" if active else ": none active")
        return title, names, [v for v, _ in active], [self.WEAK if w else self.STRONG for w in weak]

    def annotate(self, canvas: np.ndarray, faces: list[Face], lay: Layout) -> None:
        for face, fl in zip(faces, lay.faces, strict=True):
            if fl.aus is not None:
                _, _, values, colors = self.rows(face)
                draw_bars(canvas, fl.aus, values, colors, "{:.2f}", name_colors=self.name_colors(colors))

    def name_colors(self, colors: list[tuple]) -> list[tuple]:
        return [self.WEAK if c == self.WEAK else WHITE for c in colors]


class LandmarkAnnotator:
    """The landmarker's 478 mesh points on each face where it found one."""

    COLOR = np.array((255, 220, 120), np.uint8)

    def annotate(self, canvas: np.ndarray, faces: list[Face], frame: Rect) -> None:
        h, w = frame.h, frame.w
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


class HeadPoseAnnotator:
    """Where each meshed face points: its nose's direction (orange) and its gaze (cyan) as lines from
    the nose tip and from between the eyes, and its yaw, pitch and roll under the box, marked
    'turned' where the head is past the limits within which expressions read true."""

    NOSE, GAZE, TURNED = (0, 140, 255), (255, 230, 0), (80, 80, 255)

    def annotate(self, canvas: np.ndarray, faces: list[Face], lay: Layout) -> None:
        m = lay.metrics
        width = max(2, round(m.u / 5))
        for face in faces:
            mesh = face.mesh
            if mesh is None or mesh.rotation is None or math.isnan(face.head_yaw):
                continue
            length = 0.8 * face.box[2]
            # The face's forward direction is the model's -z: seen from the camera, x right and y down.
            forward = -mesh.rotation[:, 2]
            nose = mesh.landmarks[FaceMesh.NOSE_TIP]
            self._arrow(canvas, nose, nose + forward[:2] * length, self.NOSE, width)
            yaw, pitch = math.radians(face.gaze_yaw), math.radians(face.gaze_pitch)
            gaze = np.array([-math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
            eyes = (mesh.landmarks[FaceMesh.RIGHT_IRIS] + mesh.landmarks[FaceMesh.LEFT_IRIS]) / 2
            self._arrow(canvas, eyes, eyes + gaze * length, self.GAZE, width)
            text = f"yaw {face.head_yaw:+.0f} pitch {face.head_pitch:+.0f} roll {face.head_roll:+.0f}"
            text += "  turned" if face.head_frontal == 0 else ""
            x, y, w, h = face.box
            t = m.text(text, x, y + h + m.pad, 0.85)
            shade(canvas, Rect(t.box.x - m.pad, t.box.y - m.pad, t.box.w + 2 * m.pad, t.box.h + 2 * m.pad))
            put(canvas, t, self.TURNED if face.head_frontal == 0 else WHITE)

    @staticmethod
    def _arrow(canvas: np.ndarray, start, end, color, width: int) -> None:
        a, b = tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end)
        cv2.circle(canvas, a, 2 * width, color, -1, cv2.LINE_AA)  # seen even on a face turned straight at the camera
        cv2.arrowedLine(canvas, a, b, color, width, cv2.LINE_AA, tipLength=0.2)


def draw_notice(canvas: np.ndarray, frame: Rect, m: Metrics, text: str) -> None:
    """A prompt across the bottom of the video (the calibration's), in large text on a dark band,
    smaller where the frame is too narrow for it."""
    k = min(1.3, 1.3 * (frame.w - 2 * m.pad) / max(m.size(text, 1.3)[0], 1))
    t = m.text(text, 0, 0, k)
    x = frame.x + max(m.pad, (frame.w - t.box.w) // 2)
    y = frame.y1 - t.box.h - 3 * m.pad
    t = m.text(text, x, y, k)
    shade(canvas, Rect(frame.x, y - 2 * m.pad, frame.w, t.box.h + 4 * m.pad), 0.75)
    put(canvas, t, KEY_COLOR)


class ValenceArousalAnnotator:
    """The inset circumplex on the frame (valence right, arousal up) with a fading trail per face."""

    def __init__(self, trail: int = 45):
        self.trails: dict[int, deque] = {}
        self.trail = trail

    def update(self, faces: list[Face], retired: list[int] = ()) -> None:
        for track_id in retired:
            self.trails.pop(track_id, None)
        for face in faces:
            self.trails.setdefault(face.track_id, deque(maxlen=self.trail)).append((face.valence, face.arousal))

    def annotate(self, canvas: np.ndarray, faces: list[Face], lay: Layout) -> None:
        trails = [(self.trails.get(f.track_id, ()), EMOTION_BGR[label_of(f)[0]], f"#{f.track_id}") for f in faces]
        draw_circumplex(canvas, lay.inset, lay.metrics, trails)


def hud_lines(fps: float, backend: str, stage_ms: dict[str, float], paused: bool,
              analysis: str = "") -> tuple[str, list[str]]:
    """The HUD's first line (FPS, where the classifier runs, e.g. "cpu int8", a live analysis' age,
    paused) and its stage timings."""
    head = ((f"{fps:5.1f} FPS   " if fps > 0 else "") + backend + (f"   {analysis}" if analysis else "")
            + ("   PAUSED" if paused else ""))
    return head, [f"{k} {v:.1f}" for k, v in stage_ms.items()] + (["ms"] if stage_ms else [])


class HudAnnotator:
    """FPS, backend and per-stage latency, top left (wrapped to the frame), and the REC marker, top right."""

    def annotate(self, canvas: np.ndarray, lay: Layout) -> None:
        if lay.hud is not None:
            shade(canvas, lay.hud.rect)
            for t in lay.hud.lines:
                put(canvas, t)
        if lay.rec is not None:
            dot, text = lay.rec
            cv2.circle(canvas, (dot.x + dot.w // 2, dot.y + dot.h // 2), dot.w // 2, (0, 0, 255), -1, cv2.LINE_AA)
            put(canvas, text, (0, 0, 255))


class HelpAnnotator:
    def annotate(self, canvas: np.ndarray, lay: Layout) -> None:
        r = lay.help.rect
        shade(canvas, r, 0.9)
        cv2.rectangle(canvas, (r.x, r.y), (r.x1 - 1, r.y1 - 1), AXIS, 1)
        put(canvas, lay.help.title)
        for key, what in lay.help.keys:
            put(canvas, key, KEY_COLOR)
            put(canvas, what)


def no_face_hint(canvas: np.ndarray, lay: Layout) -> None:
    shade(canvas, lay.no_face.rect)
    put(canvas, lay.no_face.text, KEY_COLOR)


def selected_face(faces: list[Face], selected: int | None) -> Face | None:
    """The face the dashboard follows: the selected ID while it is in view, else the lowest ID."""
    return next((f for f in faces if f.track_id == selected), min(faces, key=lambda f: f.track_id, default=None))


class Renderer:
    """One frame's canvas: the layout for what is on, then each annotator in turn. It keeps the side
    column's width from frame to frame (columns only grow until the frame size or the panels change)."""

    def __init__(self, au_names: dict[str, str], weak: frozenset[str], backend: str, dashboard=None):
        self.boxes, self.bars = BoxAnnotator(), ProbabilityBarsAnnotator()
        self.au_list = ActionUnitAnnotator(au_names, weak)
        self.va_plot, self.mesh = ValenceArousalAnnotator(), LandmarkAnnotator()
        self.hud, self.help, self.head = HudAnnotator(), HelpAnnotator(), HeadPoseAnnotator()
        self.backend, self.dashboard = backend, dashboard
        self.columns, self._column_key = 0, None
        self._background: np.ndarray | None = None

    def has_room(self, image: np.ndarray) -> bool:
        """Whether the window has room for the dashboard beside this frame."""
        return choose_dashboard(image.shape[1], image.shape[0], self.au_list.widest)[1]

    def layout(self, result: FrameResult, ov: Overlays, *, fps: float = 0.0, stage_ms: dict | None = None,
               recording: bool = False, paused: bool = False, selected: int | None = None,
               analysis: str = "") -> Layout:
        fh, fw = result.image.shape[:2]
        dash = bool(ov.dashboard) and self.dashboard is not None
        key = (fw, fh, ov.probs, ov.aus, dash)
        if key != self._column_key:
            self.columns, self._column_key = 0, key
        specs = []
        for f in result.faces:
            title, names, _, _ = self.au_list.rows(f)
            specs.append(FaceSpec(f.track_id, f.box, tag_text(f), names, title))
        text = None
        if dash:
            face = selected_face(result.faces, selected)
            if face:
                ids = sorted(f.track_id for f in result.faces)
                hint = f"face {ids.index(face.track_id) + 1} of {len(ids)}   f / Tab: next"
                au_title, aus, _, _ = self.au_list.rows(face)
                text = DashboardText(tag_text(face), hint, aus, au_title)
            else:
                text = DashboardText("no face in view")
        hud = hud_lines(fps, self.backend, stage_ms or {}, paused, analysis) if ov.hud else None
        lay = layout(fw, fh, specs, ov, hud=hud, dashboard=text, rec=recording, au_text=self.au_list.widest,
                     columns=self.columns)
        self.columns = lay.columns
        return lay

    def render(self, result: FrameResult, ov: Overlays, notice: str | None = None,
               **state) -> tuple[np.ndarray, Layout]:
        """notice: a prompt drawn across the bottom of the video (the calibration's countdown)."""
        if ov.dashboard is None:
            ov.dashboard = self.has_room(result.image)
        lay = self.layout(result, ov, **state)
        image, faces = result.image, result.faces
        fh, fw = image.shape[:2]
        if lay.canvas == (fw, fh):
            canvas = image.copy()
        else:
            if self._background is None or self._background.shape[:2] != lay.canvas[::-1]:
                self._background = np.full((lay.canvas[1], lay.canvas[0], 3), PANEL_BGR, np.uint8)
            canvas = self._background.copy()  # far cheaper than filling with a colour each frame
            canvas[:fh, :fw] = image
        if not faces:
            no_face_hint(canvas, lay)
        if ov.landmarks:
            self.mesh.annotate(canvas, faces, lay.frame)
        shown = selected_face(faces, state.get("selected")) if lay.dashboard is not None else None
        if ov.boxes:
            self.boxes.annotate(canvas, faces, lay, shown.track_id if shown else None)
        if ov.probs:
            self.bars.annotate(canvas, faces, lay)
        if ov.aus:
            self.au_list.annotate(canvas, faces, lay)
        if ov.head:
            self.head.annotate(canvas, faces, lay)
        if lay.inset is not None:
            self.va_plot.annotate(canvas, faces, lay)
        if lay.dashboard is not None:
            self.dashboard.annotate(canvas, lay, shown, self.au_list)
        if lay.column_note is not None:
            put(canvas, lay.column_note, AXIS)
        if notice:  # over the inset: a prompt to the person in front of the camera comes first
            draw_notice(canvas, lay.frame, lay.metrics, notice)
        self.hud.annotate(canvas, lay)
        if lay.help is not None:
            self.help.annotate(canvas, lay)
        return canvas, lay

