"""The dashboard beside the video, for one face at a time (the `f` / Tab key picks which).

It shows the selected face's valence-arousal circumplex with the last few seconds as a fading trail,
its probability bars, its AU bars, and a timeline of the last ~10 s: emotion probabilities stacked
above, valence (solid) and arousal (dashed) below, in the session report's colours on the report's
light background. It keeps its own history per track ID, fed with each FrameResult; where the
geometry comes from is realtime/window/layout.py (`dashboard_layout`).
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

from models import EMOTIONS
from realtime.analysis.faces import Face, FrameResult
from realtime.style import AROUSAL_BGR, EMOTION_BGR, VALENCE_BGR
from realtime.window.draw import KEY_COLOR, ActionUnitAnnotator, draw_bars, draw_circumplex, label_of, put
from realtime.window.layout import DashboardLayout, Layout

PLOT_BG = 245  # grey level: the report's figures are white, so its colours read the same here
GRID = (200, 200, 200)
MUTED = (170, 170, 170)
COLORS = [EMOTION_BGR[e] for e in EMOTIONS]
EVENT_BGR = (40, 40, 40)  # event marks: dark on the light plot, beside the emotion colours


class Dashboard:
    def __init__(self, window_s: float = 10.0, trail_s: float = 3.0):
        self.window_s, self.trail_s = window_s, trail_s
        self.history: dict[int, deque] = {}  # track ID -> (t, probs, valence, arousal), oldest first
        self.events: deque[tuple[float, str]] = deque()  # (t, label) of the events marked in the window

    def update(self, result: FrameResult) -> None:
        for track_id in result.retired:
            self.history.pop(track_id, None)
        t = result.timestamp_s
        if self.events and t < self.events[-1][0]:
            self.events.clear()
        self.events.extend((t, label) for label in result.events)
        while self.events and self.events[0][0] < t - self.window_s:
            self.events.popleft()
        for f in result.faces:
            h = self.history.setdefault(f.track_id, deque())
            if h and t < h[-1][0]:  # time ran backwards: another source's frames under the same ID
                h.clear()
            h.append((t, np.asarray(f.probs, np.float32), float(f.valence), float(f.arousal)))
            while h[0][0] < t - self.window_s:
                h.popleft()

    def annotate(self, canvas: np.ndarray, lay: Layout, face: Face | None, au: ActionUnitAnnotator) -> None:
        d, m = lay.dashboard, lay.metrics
        color = EMOTION_BGR[label_of(face)[0]] if face else KEY_COLOR
        put(canvas, d.title, color)
        put(canvas, d.hint, MUTED)
        hist = list(self.history.get(face.track_id, ())) if face else []
        if d.circumplex is not None:
            now = hist[-1][0] if hist else 0.0
            trail = [(v, a) for t, _, v, a in hist if t >= now - self.trail_s]
            draw_circumplex(canvas, d.circumplex, m, [(trail, color, "")] if face else [], alpha=0)
        draw_bars(canvas, d.bars, face.probs if face else np.zeros(len(EMOTIONS)), COLORS, alpha=0)
        _, _, values, au_colors = au.rows(face) if face else ("", [], [], [])
        draw_bars(canvas, d.aus, values, au_colors, "{:.2f}", alpha=0, name_colors=au.name_colors(au_colors))
        self.timeline(canvas, d, hist)

    def timeline(self, canvas: np.ndarray, d: DashboardLayout, hist: list) -> None:
        r, split = d.timeline, d.timeline_split
        canvas[r.y:r.y1, r.x:r.x1] = PLOT_BG  # a scalar: filling with a colour tuple is ~10x slower
        for t in d.timeline_labels:
            put(canvas, t, MUTED)
        for swatch, name in d.legend:
            s = swatch
            canvas[s.y - 3:s.y1 + 3, s.x:s.x1] = PLOT_BG
            self._line(canvas, [(round(x), s.y + 1) for x in np.linspace(s.x + 1, s.x1 - 1, 8)], name)
        mid = (split + r.y1) // 2
        cv2.line(canvas, (r.x, split), (r.x1 - 1, split), GRID, 1)
        cv2.line(canvas, (r.x, mid), (r.x1 - 1, mid), GRID, 1)
        if not hist:
            return
        if len(hist) > r.w // 4:  # a point every 4 px shows all a person can read, at half the cost
            hist = [hist[i] for i in np.linspace(0, len(hist) - 1, r.w // 4).round().astype(int)]
        now = hist[-1][0]
        t = np.array([h[0] for h in hist])
        xs = r.x1 - 1 - (now - t) / self.window_s * (r.w - 1)
        probs = np.stack([h[1] for h in hist])
        va = np.array([(h[2], h[3]) for h in hist])
        if len(xs) == 1:  # a still: one sliver at "now"
            xs, probs, va = np.array([xs[0] - 3, xs[0]]), np.repeat(probs, 2, 0), np.repeat(va, 2, 0)
        cum = np.concatenate([np.zeros((len(xs), 1)), np.cumsum(probs, 1)], 1)
        ys = r.y + 1 + cum / max(cum[:, -1].max(), 1e-6) * (split - r.y - 2)
        for k in range(len(EMOTIONS)):
            poly = np.concatenate([np.stack([xs, ys[:, k]], 1), np.stack([xs, ys[:, k + 1]], 1)[::-1]])
            cv2.fillPoly(canvas, [poly.round().astype(np.int32)], COLORS[k])
        half = (r.y1 - split) / 2 - 2
        for i, name in enumerate(("valence", "arousal")):
            pts = np.stack([xs, mid - np.clip(va[:, i], -1, 1) * half], 1).round().astype(np.int32)
            self._line(canvas, pts, name)
        self.event_marks(canvas, r, now)

    def event_marks(self, canvas: np.ndarray, r, now: float) -> None:
        """A dark line across the timeline at each event, its label on a tag beside the line's top."""
        for t, label in self.events:
            if t > now:
                continue
            x = round(r.x1 - 1 - (now - t) / self.window_s * (r.w - 1))
            cv2.line(canvas, (x, r.y), (x, r.y1 - 1), EVENT_BGR, 2)
            (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
            tx = x + 3 if x + 3 + w < r.x1 else x - 3 - w
            cv2.rectangle(canvas, (tx - 1, r.y + 1), (tx + w + 1, r.y + h + 5), EVENT_BGR, -1)
            cv2.putText(canvas, label, (tx, r.y + h + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)

    @staticmethod
    def _line(canvas: np.ndarray, pts, name: str) -> None:
        """Valence solid, arousal dashed, as in the report."""
        pts = np.asarray(pts, np.int32)
        if name == "valence":
            cv2.polylines(canvas, [pts], False, VALENCE_BGR, 2, cv2.LINE_AA)
            return
        # Dashes of ~6 px along the line, however densely it is sampled.
        seg = np.diff(pts, axis=0)
        along = np.concatenate([[0], np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))])
        on = (along[:-1] // 6) % 2 == 0
        cv2.polylines(canvas, [pts[i:i + 2] for i in np.flatnonzero(on)], False, AROUSAL_BGR, 2, cv2.LINE_AA)
