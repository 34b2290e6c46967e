"""Where every overlay goes, as plain rectangles: no drawing here, so tests can check the geometry.

The canvas is the frame at (0, 0), and to its right, when needed, a side column (the per-face panels
that fit nowhere beside their face) and the dashboard. Sizes are chosen in screen pixels: the window
shows the canvas shrunk to fit MAX_WINDOW, so the text is SCREEN_TEXT_PX tall on screen at any frame
size (a 4K frame gets proportionally bigger text in its own pixels).

`layout(...)` returns a Layout: every text it will draw with its box, every panel's rectangle, the
canvas and window sizes. Faces are placed in order; a face's label tag goes above its box, else below,
else inside its top edge; its panels beside it (right, left, below, above) where they stay inside the
frame and clear of every face's box, tag and other panel, else into the side column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2

from models import EMOTIONS

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_WINDOW = (1280, 720)  # an HD webcam frame opens 1:1; bigger canvases open shrunk to fit
SCREEN_TEXT_PX = 15  # OpenCV's text height (ascent) on screen: capitals of ~12 px
SMALL = 0.85  # secondary text (HUD, plot labels): still 12.75 px
_ASCENT = cv2.getTextSize("H", FONT, 1.0, 1)[0][1]
BAR_VALUE, AU_VALUE = "100%", "0.00"  # the widest value each kind of bar shows
WIDEST_AU = "AU15 Lip corner depressor"  # the widest AU label: sizes every AU panel where none is given
AU_ROWS = 6  # AU panels reserve this many rows, so they do not jump in size as AUs come and go
KEYS = (
    ("q / Esc", "quit"),
    ("r", "start / stop recording"),
    ("d", "dashboard"),
    ("f / Tab", "next face (dashboard)"),
    ("v", "valence-arousal plot"),
    ("p", "probability bars"),
    ("a", "action units"),
    ("l", "face mesh landmarks"),
    ("b", "boxes and labels"),
    ("t", "timings (HUD)"),
    ("m", "mirror the image"),
    ("space", "pause / resume"),
    ("s", "snapshot (PNG)"),
    ("o", "head pose and gaze"),
    ("c", "calibrate the face (neutral)"),
    ("1 - 9", "mark an event"),
    ("h", "this help"),
)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    def intersects(self, other: Rect) -> bool:
        return self.x < other.x1 and other.x < self.x1 and self.y < other.y1 and other.y < self.y1

    def inside(self, other: Rect) -> bool:
        return self.x >= other.x and self.y >= other.y and self.x1 <= other.x1 and self.y1 <= other.y1

    def moved(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.w, self.h)


@dataclass(frozen=True)
class Text:
    text: str
    org: tuple[int, int]  # baseline start, as cv2.putText takes it
    scale: float
    thickness: int
    box: Rect  # what the glyphs cover, ascent to descent

    def moved(self, dx: int, dy: int) -> Text:
        return replace(self, org=(self.org[0] + dx, self.org[1] + dy), box=self.box.moved(dx, dy))


@lru_cache(maxsize=4096)  # the same labels are measured every frame
def _text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    (w, h), base = cv2.getTextSize(text, FONT, scale, thickness)
    return w, h, base + thickness // 2


class Metrics:
    """Text and spacing sizes in canvas pixels for a canvas shown at `display` screen pixels per pixel."""

    def __init__(self, display: float):
        self.display = display
        self.u = SCREEN_TEXT_PX / display  # text height, canvas pixels
        self.scale = self.u / _ASCENT
        self.thickness = max(1, round(0.8 / display))  # strokes stay visible on a canvas shrunk on screen
        self.row = round(1.4 * self.u)
        self.pad = max(2, round(0.4 * self.u))
        self.gap = max(3, round(0.5 * self.u))

    def size(self, text: str, k: float = 1.0) -> tuple[int, int, int]:
        """Width, ascent, descent of `text` at k times the base size."""
        return _text_size(text, self.scale * k, self.thickness)

    def text(self, text: str, x: int, top: int, k: float = 1.0, height: int | None = None) -> Text:
        """`text` with its box's top-left at (x, top); centred vertically in `height` when given."""
        w, asc, desc = self.size(text, k)
        _, row_asc, row_desc = self.size("Ag", k)  # one baseline for every text in a row
        if height is not None:
            top += max(0, (height - row_asc - row_desc) // 2)
        y = top + row_asc
        return Text(text, (x, y), self.scale * k, self.thickness, Rect(x, y - asc, w, asc + desc))

    def fit(self, text: str, width: int, k: float = 1.0) -> str:
        """`text`, cut short with '.' so that it is at most `width` wide."""
        if self.size(text, k)[0] <= width:
            return text
        while len(text) > 1 and self.size(text + ".", k)[0] > width:
            text = text[:-1]
        return text.rstrip() + "."


@dataclass
class BarRow:
    name: Text
    bar: Rect  # the full-length bar; a value of 1 fills it
    value: Text | None  # placed for the widest value (BAR_VALUE / AU_VALUE); the drawer writes the real one


@dataclass
class BarPanel:
    rect: Rect
    title: Text | None
    rows: list[BarRow]

    def moved(self, dx: int, dy: int) -> BarPanel:
        return BarPanel(self.rect.moved(dx, dy), self.title.moved(dx, dy) if self.title else None,
                        [BarRow(r.name.moved(dx, dy), r.bar.moved(dx, dy), r.value.moved(dx, dy) if r.value else None)
                         for r in self.rows])

    def texts(self) -> list[Text]:
        return ([self.title] if self.title else []) + [t for r in self.rows for t in (r.name, r.value) if t]


def bar_panel(m: Metrics, names: list[str], *, name_text: str, value_text: str, title: str | None = None,
              rows: int | None = None, width: int | None = None) -> BarPanel:
    """A panel of labelled bars at (0, 0): name column as wide as `name_text`, `rows` rows reserved
    (default: one per name); `width` fixes its width, cutting names and title short to fit."""
    name_w = m.size(name_text)[0] + m.gap
    value_w = m.size(value_text)[0]
    bar_w = round(5 * m.u)
    natural = 2 * m.pad + name_w + bar_w + m.gap + value_w
    if title is not None and width is None:
        natural = max(natural, m.size(title)[0] + 2 * m.pad)
    w = width or natural
    if w < natural:  # cut the names' column, then the bars, never the values
        name_w = max(name_w - (natural - w), round(2 * m.u))
        bar_w = max(round(1.5 * m.u), w - 2 * m.pad - name_w - m.gap - value_w)
    y = m.pad
    title_text = None
    if title is not None:
        title_text = m.text(m.fit(title, w - 2 * m.pad), m.pad, y, height=m.row)
        y += m.row
    out = []
    for i, name in enumerate(names):
        top = y + i * m.row
        bx = m.pad + name_w
        out.append(BarRow(m.text(m.fit(name, name_w - m.gap), m.pad, top, height=m.row),
                          Rect(bx, top + round(0.2 * m.row), bar_w, round(0.6 * m.row)),
                          m.text(value_text, bx + bar_w + m.gap, top, height=m.row)))
    h = y + m.row * (rows if rows is not None else len(names)) + m.pad
    return BarPanel(Rect(0, 0, w, h), title_text, out)


@dataclass
class Tag:
    rect: Rect
    text: Text


def tag(m: Metrics, text: str, max_width: int) -> Tag:
    text = m.fit(text, max_width - 2 * m.pad)
    w, _, _ = m.size(text)
    h = m.row
    return Tag(Rect(0, 0, w + 2 * m.pad, h), m.text(text, m.pad, 0, height=h))


@dataclass
class FaceSpec:
    """What the layout needs to know of one face: its box and the texts drawn for it."""

    track_id: int
    box: tuple[int, int, int, int]
    tag: str
    au_names: list[str] = field(default_factory=list)  # the AU panel's row labels, strongest first
    au_title: str = "AUs"


@dataclass
class FaceLayout:
    track_id: int
    box: Rect
    tag: Tag | None = None
    bars: BarPanel | None = None
    aus: BarPanel | None = None
    in_column: bool = False  # its panels are in the side column, under a "#id" title


@dataclass
class Hud:
    rect: Rect
    lines: list[Text]


@dataclass
class Help:
    rect: Rect
    title: Text
    keys: list[tuple[Text, Text]]


@dataclass
class Circumplex:
    rect: Rect
    centre: tuple[int, int]
    radius: int
    labels: list[Text]  # axis names and quadrant words


@dataclass
class DashboardLayout:
    rect: Rect
    title: Text
    hint: Text
    circumplex: Circumplex | None
    bars: BarPanel
    aus: BarPanel
    timeline: Rect  # the plot; probabilities stacked in its top part, valence and arousal below
    timeline_split: int  # y of the line between the two parts
    timeline_labels: list[Text]
    legend: list[tuple[Rect, str]]  # swatch and what it stands for ("valence", "arousal")

    def texts(self) -> list[Text]:
        c = self.circumplex.labels if self.circumplex else []
        return [self.title, self.hint, *c, *self.bars.texts(), *self.aus.texts(), *self.timeline_labels]


@dataclass
class Layout:
    frame: Rect
    canvas: tuple[int, int]  # width, height
    window: tuple[int, int]  # the window's size on screen
    metrics: Metrics
    faces: list[FaceLayout]
    hud: Hud | None = None
    rec: tuple[Rect, Text] | None = None  # the red dot's square and "REC"
    inset: Circumplex | None = None  # the valence-arousal inset on the frame
    column: Rect | None = None
    columns: int = 0  # 1 with a side column (the app keeps it once shown, so the canvas does not flicker)
    dashboard: DashboardLayout | None = None
    help: Help | None = None
    no_face: Tag | None = None
    column_note: Text | None = None  # names the faces whose panels found no room in the side column
    hidden: list[int] = field(default_factory=list)  # those faces, or with the dashboard on all without room

    def texts(self) -> list[Text]:
        """Every text drawn, with its box: tests check these lie inside their areas."""
        out = [t for f in self.faces for t in ((f.tag.text,) if f.tag else ())]
        out += [t for f in self.faces for p in (f.bars, f.aus) if p for t in p.texts()]
        out += self.hud.lines if self.hud else []
        out += [self.rec[1]] if self.rec else []
        out += self.inset.labels if self.inset else []
        out += self.dashboard.texts() if self.dashboard else []
        out += [self.no_face.text] if self.no_face else []
        out += [self.column_note] if self.column_note else []
        out += [self.help.title, *(t for pair in self.help.keys for t in pair)] if self.help else []
        return out

    def frame_texts(self) -> list[Text]:
        """The texts drawn over the frame: all of them but the side column's, the dashboard's and the help's."""
        out = [t for f in self.faces for t in ((f.tag.text,) if f.tag else ())]
        out += [t for f in self.faces if not f.in_column for p in (f.bars, f.aus) if p for t in p.texts()]
        out += self.hud.lines if self.hud else []
        out += [self.rec[1]] if self.rec else []
        out += self.inset.labels if self.inset and self.inset.rect.inside(self.frame) else []
        out += [self.no_face.text] if self.no_face else []
        return out

    def frame_panels(self) -> list[Rect]:
        """The rectangles drawn over the frame (tags, panels, HUD, inset, REC), help aside."""
        out = [r for f in self.faces for r in (f.tag.rect if f.tag else None,
                                                f.bars.rect if f.bars and not f.in_column else None,
                                                f.aus.rect if f.aus and not f.in_column else None) if r]
        out += [self.hud.rect] if self.hud else []
        out += [self.inset.rect] if self.inset and self.inset.rect.inside(self.frame) else []
        out += [self.rec[0]] if self.rec else []
        return out


def display_scale(frame_w: int, frame_h: int, side_w: int = 0) -> float:
    """Screen pixels per canvas pixel when the frame and a side area `side_w` screen pixels wide
    beside it are shown within MAX_WINDOW (never enlarged)."""
    return min(1.0, (MAX_WINDOW[0] - side_w) / frame_w, MAX_WINDOW[1] / frame_h)


# -- the dashboard's own geometry ------------------------------------------------------------------

def dashboard_size(m: Metrics, tall: bool, au_text: str) -> tuple[int, int]:
    """Width and height (canvas pixels) of the dashboard: `tall` stacks everything in one column,
    otherwise the circumplex and the bars sit side by side above the timeline."""
    return _dashboard_size(m.display, tall, au_text)


@lru_cache(maxsize=64)
def _dashboard_size(display: float, tall: bool, au_text: str) -> tuple[int, int]:
    d = dashboard_layout(Metrics(display), 0, 0, tall, au_text, [], "AUs", "")
    return d.rect.w, d.rect.h


def dashboard_layout(m: Metrics, x: int, y: int, tall: bool, au_text: str, au_names: list[str], au_title: str,
                     title: str, hint: str = "f / Tab: next face", va: bool = True) -> DashboardLayout:
    p, g = m.pad, m.gap
    bars = bar_panel(m, [], name_text=au_text, value_text=BAR_VALUE, rows=7)
    col_w = bars.rect.w
    circ_size = round((12 if tall else 14) * m.u)
    width = (max(col_w, circ_size) if tall else circ_size + g + col_w) + 2 * p
    title_t = m.text(m.fit(title, width - 2 * p), x + p, y + p, height=m.row)
    hint_t = m.text(m.fit(hint, width - 2 * p, SMALL), x + p, y + p + m.row, SMALL, height=m.row)
    top = y + p + 2 * m.row + g // 2
    cx = x + p + (width - 2 * p - circ_size) // 2 if tall else x + p
    circ = circumplex(m, Rect(cx, top, circ_size, circ_size)) if va else None
    if tall:
        bx, by = x + p + (width - 2 * p - col_w) // 2, top + (circ_size + g if va else 0)
    else:
        bx, by = x + p + circ_size + g, y + p
    bars = bar_panel(m, list(EMOTIONS), name_text=au_text, value_text=BAR_VALUE, width=col_w).moved(bx, by)
    aus = bar_panel(m, au_names, name_text=au_text, value_text=AU_VALUE, title=au_title, rows=AU_ROWS,
                    width=col_w).moved(bx, bars.rect.y1)
    below = max(aus.rect.y1, circ.rect.y1 if circ else top) + g
    label_h = m.row
    plot_h = round(6 * m.u)
    legend_y = below
    plot = Rect(x + p, legend_y + label_h, width - 2 * p, plot_h)
    texts = [m.text("last 10 s", plot.x, legend_y, SMALL, height=label_h)]
    legend = []
    lx = plot.x1
    for name in ("arousal", "valence"):
        w, _, _ = m.size(name, SMALL)
        lx -= w
        texts.append(m.text(name, lx, legend_y, SMALL, height=label_h))
        lx -= round(1.6 * m.u) + p
        legend.append((Rect(lx, legend_y + label_h // 2 - 1, round(1.4 * m.u), 3), name))
        lx -= g
    rect = Rect(x, y, width, plot.y1 + p - y)
    return DashboardLayout(rect, title_t, hint_t, circ, bars, aus, plot, plot.y + round(0.55 * plot_h), texts,
                           legend)


def circumplex(m: Metrics, rect: Rect) -> Circumplex:
    """Valence right, arousal up, in a square; the quadrant words in its corners, outside the circle."""
    cx, cy = rect.x + rect.w // 2, rect.y + rect.h // 2
    r = round(rect.w * 0.36)
    p = m.pad
    labels = []
    for word, (qx, qy) in (("excited", (1, 0)), ("stressed", (0, 0)), ("sad", (0, 1)), ("calm", (1, 1))):
        w, asc, desc = m.size(word, SMALL)
        tx = rect.x1 - p - w if qx else rect.x + p
        ty = rect.y1 - p - asc - desc if qy else rect.y + p
        labels.append(m.text(word, tx, ty, SMALL))
    w, asc, desc = m.size("valence", SMALL)
    labels.append(m.text("valence", rect.x1 - p - w, cy - 2 - asc - desc, SMALL))
    labels.append(m.text("arousal", cx + p, rect.y + p + asc + desc + 2, SMALL))
    return Circumplex(rect, (cx, cy), r, labels)


# -- the whole canvas --------------------------------------------------------------------------------

@dataclass
class Overlays:
    """Which overlays are on: the keys flip these. The HUD's and the dashboard's contents change every
    frame, so layout() takes them beside this."""

    boxes: bool = True
    probs: bool = False
    aus: bool = False
    landmarks: bool = False
    va: bool = True
    hud: bool = True
    help: bool = False
    head: bool = False  # head pose and gaze on each face
    dashboard: bool | None = None  # None: on when the window has room for it (decided at the first frame)


@dataclass(frozen=True)
class DashboardText:
    """The dashboard's texts for one frame: its face's tag, the hint under it, and that face's AU rows."""

    title: str = ""
    hint: str = "f / Tab: next face"
    aus: list[str] = field(default_factory=list)
    au_title: str = "AUs"


@lru_cache(maxsize=64)
def choose_dashboard(frame_w: int, frame_h: int, au_text: str) -> tuple[bool, bool]:
    """(tall, room): the dashboard shape that leaves the frame biggest on screen, and whether the
    window has room for it (the frame keeps at least half its size on screen, and the dashboard
    needs at most half the frame's height again below it)."""
    m1 = Metrics(1.0)
    alone = display_scale(frame_w, frame_h)
    best = None
    for tall in (True, False):
        w, h = dashboard_size(m1, tall, au_text)
        d = display_scale(frame_w, frame_h, w)
        padding = max(0, h - frame_h * d)
        score = (round(d, 2), -padding)
        if best is None or score > best[0]:
            best = (score, tall, d, padding, frame_h * d)
    _, tall, d, padding, shown_h = best
    return tall, d >= 0.5 * alone and padding <= 0.5 * shown_h


def layout(frame_w: int, frame_h: int, faces: list[FaceSpec], ov: Overlays, *,
           hud: tuple[str, list[str]] | None = None, dashboard: DashboardText | None = None, rec: bool = False,
           au_text: str = WIDEST_AU, columns: int = 0) -> Layout:
    """ov: what is on. hud: its first line, then items wrapped onto as many lines as needed; dashboard:
    its texts. These two are placed where given and left out where None, whatever ov says: the caller
    builds them only where they are on (and there is a dashboard to draw). au_text: the widest AU label,
    which sizes every AU panel. columns: 1 keeps the side column even where no panel needs it now."""
    tall = choose_dashboard(frame_w, frame_h, au_text)[0] if dashboard is not None else False
    m1 = Metrics(1.0)
    dash_w, dash_h = dashboard_size(m1, tall, au_text) if dashboard is not None else (0, 0)
    column_w = bar_panel(m1, [], name_text=au_text, value_text=AU_VALUE).rect.w + 2 * m1.gap
    for _ in range(2):  # a column shrinks the frame on screen, which can change what fits
        d = display_scale(frame_w, frame_h, dash_w + columns * column_w)
        out = _place(frame_w, frame_h, faces, ov, hud, dashboard, rec, au_text, Metrics(d), tall, columns)
        if out.columns <= columns:
            return out
        columns = out.columns
    return out


def _place(fw: int, fh: int, faces: list[FaceSpec], ov: Overlays, hud_text: tuple[str, list[str]] | None,
           dashboard: DashboardText | None, rec_on: bool, au_text: str, m: Metrics, tall: bool,
           columns: int) -> Layout:
    frame = Rect(0, 0, fw, fh)
    p, g = m.pad, m.gap
    taken: list[Rect] = []
    rec = None
    if rec_on:
        w, asc, desc = m.size("REC")
        dot = asc
        x = fw - p - w - g - dot
        rec = (Rect(x, p, dot, dot), m.text("REC", x + dot + g, p))
        taken.append(Rect(x, p, fw - p - x, max(dot, asc + desc)))
    hud = None
    if hud_text is not None:
        hud = _hud(m, hud_text, (rec[0].x - g if rec else fw) - p)
        taken.append(hud.rect)
    boxes = [Rect(*f.box) for f in faces]
    placed = [FaceLayout(f.track_id, b) for f, b in zip(faces, boxes, strict=True)]

    def free(r: Rect, own: int | None = None, own_box_ok: bool = False) -> bool:
        return r.inside(frame) and not any(r.intersects(t) for t in taken) and not any(
            r.intersects(b) for i, b in enumerate(boxes) if not (own_box_ok and i == own))

    if ov.boxes:
        for i, (f, fl) in enumerate(zip(faces, placed, strict=True)):
            t = tag(m, f.tag, fw)
            b = fl.box
            x = min(max(b.x, 0), fw - t.rect.w)
            spots = [(x, b.y - t.rect.h), (x, b.y1)]
            where = next((s for s in spots if free(t.rect.moved(*s), i)), None)
            if where is None:  # inside the top of its own box: attached, even where the frame is crowded
                where = (x, min(max(b.y, 0), fh - t.rect.h))
            fl.tag = Tag(t.rect.moved(*where), t.text.moved(*where))
            taken.append(fl.tag.rect)
    inset = None
    if ov.va and dashboard is None:
        big = min(max(round(0.34 * min(fw, fh)), round(10 * m.u)), min(fw, fh) - 2 * p)
        for size in (big, round(0.75 * big), round(8 * m.u)):
            corners = [(fw - size - p, fh - size - p), (p, fh - size - p), (fw - size - p, p), (p, p)]
            spot = next((c for c in corners if free(Rect(*c, size, size))), None)
            if spot is not None:
                inset = circumplex(m, Rect(*spot, size, size))
                taken.append(inset.rect)
                break
    homeless: list[tuple[FaceLayout, FaceSpec]] = []
    if ov.probs or ov.aus:
        for i, (f, fl) in enumerate(zip(faces, placed, strict=True)):
            panels = []
            if ov.probs:
                panels.append(("bars", bar_panel(m, list(EMOTIONS), name_text=au_text if ov.aus else "surprise",
                                                 value_text=BAR_VALUE)))
            if ov.aus:
                panels.append(("aus", bar_panel(m, f.au_names, name_text=au_text, value_text=AU_VALUE,
                                                title=f.au_title, rows=AU_ROWS)))
            spots = _beside(fl, panels, m, fw, fh, free, i, taken)
            if spots is None:
                homeless.append((fl, f))
                continue
            for (kind, panel), (x, y) in zip(panels, spots, strict=True):
                setattr(fl, kind, panel.moved(x, y))
                taken.append(getattr(fl, kind).rect)
    # The side column (one at most: more would squeeze the frame on screen): the panels that fit
    # nowhere beside their face, stacked face by face while they fit. With the dashboard on it takes
    # their place: it shows the selected face's, and f / Tab goes through the others.
    col_w = bar_panel(m, [], name_text=au_text, value_text=AU_VALUE).rect.w
    col_x, col_y = fw + g, g
    inset_in_column = ov.va and dashboard is None and inset is None  # no free corner on the frame
    if inset_in_column:
        inset = circumplex(m, Rect(col_x, col_y, col_w, col_w))
        col_y += col_w + g
    dash_h = dashboard_size(m, tall, au_text)[1] if dashboard is not None else 0
    height = max(fh, dash_h)
    hidden = [f.track_id for _, f in homeless] if dashboard is not None else []
    if dashboard is not None:
        homeless = []
    note = None
    for fl, f in homeless:
        stack = []
        if ov.probs:
            stack.append(("bars", bar_panel(m, list(EMOTIONS), name_text=au_text, value_text=BAR_VALUE,
                                            title=f.tag, width=col_w)))
        if ov.aus:
            stack.append(("aus", bar_panel(m, f.au_names, name_text=au_text, value_text=AU_VALUE,
                                           title=f"#{f.track_id} {f.au_title}" if not ov.probs else f.au_title,
                                           rows=AU_ROWS, width=col_w)))
        need = sum(s.rect.h for _, s in stack)
        if col_y + need + m.row > height and col_y > g:  # full: the rest are named under it
            hidden.append(f.track_id)
            continue
        fl.in_column = True
        for kind, panel in stack:
            setattr(fl, kind, panel.moved(col_x, col_y))
            col_y += panel.rect.h
        col_y += g
    if homeless and hidden:
        names = " ".join(f"#{i}" for i in hidden)
        note = m.text(m.fit(f"{names}: no room (d: dashboard)", col_w, SMALL), col_x, col_y, SMALL, height=m.row)
        col_y += m.row
    columns = max(columns, 1 if homeless or inset_in_column else 0)
    side_x = fw + (col_w + 2 * g if columns else 0)
    column = Rect(fw, 0, side_x - fw, height) if columns else None
    dash = None
    if dashboard is not None:
        dash = dashboard_layout(m, side_x, 0, tall, au_text, dashboard.aus, dashboard.au_title, dashboard.title,
                                dashboard.hint, ov.va)
    canvas_w = dash.rect.x1 if dash else side_x
    canvas_h = max(height, col_y if columns else 0)
    scale = min(1.0, MAX_WINDOW[0] / canvas_w, MAX_WINDOW[1] / canvas_h)
    window = (max(1, round(canvas_w * scale)), max(1, round(canvas_h * scale)))
    no_face = None
    if not faces:
        t = tag(m, "no face", fw)
        x, y = (fw - t.rect.w) // 2, fh - t.rect.h - 2 * g
        no_face = Tag(t.rect.moved(x, y), t.text.moved(x, y))
    out = Layout(frame, (canvas_w, canvas_h), window, m, placed, hud, rec, inset, column, columns, dash,
                 None, no_face, note, hidden)
    if ov.help:
        out.help = _help(m, frame, Rect(0, 0, canvas_w, canvas_h))
        out.canvas = (max(canvas_w, out.help.rect.x1), max(canvas_h, out.help.rect.y1))
        scale = min(1.0, MAX_WINDOW[0] / out.canvas[0], MAX_WINDOW[1] / out.canvas[1])
        out.window = (max(1, round(out.canvas[0] * scale)), max(1, round(out.canvas[1] * scale)))
    return out


def _beside(fl: FaceLayout, panels: list[tuple[str, BarPanel]], m: Metrics, fw: int, fh: int, free,
            own: int, taken: list[Rect]) -> list[tuple[int, int]] | None:
    """Top-left corners for a face's panels, stacked together right of its box, left of it, below or
    above it, as near its top as the other overlays (`taken`) leave room; None where no spot is free."""
    if not panels:
        return []
    g = m.gap
    w = max(pn.rect.w for _, pn in panels)
    h = sum(pn.rect.h for _, pn in panels)
    b, t = fl.box, fl.tag.rect if fl.tag else fl.box
    top, bottom = min(b.y, t.y), max(b.y1, t.y1)
    spots = []
    ys = [top, bottom - h, (top + bottom - h) // 2, 0, fh - h] + [y for r in taken for y in (r.y1 + g, r.y - g - h)]
    ys = sorted({min(max(y, 0), fh - h) for y in ys}, key=lambda y: abs(y - top))
    for x in (b.x1 + g, b.x - g - w):
        spots += [(x, y) for y in ys]
    for y in (bottom + g, top - g - h):
        for x in (b.x, b.x1 - w, b.x + (b.w - w) // 2):
            spots.append((min(max(x, 0), fw - w), y))
    for x, y in spots:
        if free(Rect(x, y, w, h), own):
            corners, yy = [], y
            for _, pn in panels:
                corners.append((x, yy))
                yy += pn.rect.h
            return corners
    return None


def _hud(m: Metrics, hud: tuple[str, list[str]], width: int) -> Hud:
    head, items = hud
    p = m.pad
    lines, line = [m.fit(head, width - 2 * p, SMALL)], ""
    for item in items:
        candidate = f"{line}  {item}" if line else item
        if line and m.size(candidate, SMALL)[0] > width - 2 * p:
            lines.append(line)
            candidate = item
        line = candidate
    if line:
        lines.append(m.fit(line, width - 2 * p, SMALL))
    texts = [m.text(t, p + p, p + i * m.row, SMALL, height=m.row) for i, t in enumerate(lines)]
    w = max(t.box.x1 for t in texts) + p
    return Hud(Rect(p, p, w - p, len(lines) * m.row + p), texts)


def _help(m: Metrics, frame: Rect, canvas: Rect) -> Help:
    """The keys in the fewest columns that fit the height, centred on the frame where they fit on it,
    else on the canvas; where nothing fits (a tiny frame), in one column that the canvas grows to hold."""
    p, g = m.pad, m.gap
    key_w = max(m.size(k)[0] for k, _ in KEYS) + 2 * g
    what_w = max(m.size(w)[0] for _, w in KEYS)
    col_w = key_w + what_w + 2 * g

    def size(cols: int) -> tuple[int, int, int]:
        per_col = math.ceil(len(KEYS) / cols)
        return cols * col_w + 2 * p, (per_col + 1) * m.row + 3 * p, per_col

    arrangements = [size(c) for c in range(1, len(KEYS) + 1)]
    on = next((area for area in (frame, canvas) for w, h, _ in arrangements if w <= area.w and h <= area.h), None)
    if on is None:
        w, h, per_col = arrangements[0]
        on = Rect(0, 0, max(canvas.w, w), max(canvas.h, h))
    else:
        w, h, per_col = next(a for a in arrangements if a[0] <= on.w and a[1] <= on.h)
    x0, y0 = on.x + (on.w - w) // 2, on.y + (on.h - h) // 2
    title = m.text("Keys", x0 + 2 * p, y0 + p, height=m.row)
    keys = []
    for i, (key, what) in enumerate(KEYS):
        cx = x0 + 2 * p + (i // per_col) * col_w
        top = y0 + p + m.row * (1 + i % per_col)
        keys.append((m.text(key, cx, top, height=m.row), m.text(what, cx + key_w, top, height=m.row)))
    return Help(Rect(x0, y0, w, h), title, keys)
