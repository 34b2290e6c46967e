"""The overlay layout on real faces' boxes: inside the frame, readable, clear of every other face.

The boxes come from the real detector on real face photos; the geometry is checked on the layout's
own rectangles (every text box drawn), then the drawing itself on the rendered canvas.
"""

import itertools

import numpy as np
import pytest

from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Face, FrameResult
from realtime.window.dashboard import Dashboard
from realtime.window.draw import Renderer
from realtime.window.layout import (
    _ASCENT,
    MAX_WINDOW,
    DashboardText,
    FaceSpec,
    Overlays,
    Rect,
    choose_dashboard,
    layout,
)
from tests.media import astronaut_crowd_bgr, four_faces_bgr, portrait_astronaut_bgr
from tests.paths import VIDEOS

AU_NAMES = ["AU15 Lip corner depressor", "AU12 Lip corner puller", "AU06 Cheek raiser", "AU01 Inner brow raiser",
            "AU26 Jaw drop", "AU45 Blink"]
HUD = ("52.3 FPS   cpu int8", [f"{s} {v:.1f}" for s, v in zip(
    ("decode", "detect", "landmarks", "crop", "classify", "track", "draw", "encode"),
    (0.5, 2.8, 8.7, 0.2, 3.0, 0.8, 1.6, 1.5), strict=True)] + ["ms"])


def detected_boxes(frame: np.ndarray, tiled: bool = False) -> list[tuple[int, int, int, int]]:
    with FaceDetector("short", 0.6, video=False, tiled=tiled) as det:
        return [d.box for d in det.detect(frame, 0)]


@pytest.fixture(scope="module")
def shapes():
    """The three frame shapes of the issue, each with its real faces' boxes."""
    portrait = portrait_astronaut_bgr()
    landscape = four_faces_bgr(VIDEOS)
    crowd, _ = astronaut_crowd_bgr()
    return {"portrait 405x720": (portrait, detected_boxes(portrait)),
            "640x480, four faces": (landscape, detected_boxes(landscape)),
            "1920x1080": (crowd, detected_boxes(crowd, tiled=True))}


def specs(boxes) -> list[FaceSpec]:
    return [FaceSpec(i + 1, b, f"#{i + 1} surprise 100%", AU_NAMES, "AUs measured") for i, b in enumerate(boxes)]


def check(lay, boxes) -> None:
    canvas = Rect(0, 0, *lay.canvas)
    for t in lay.frame_texts():
        assert t.box.inside(lay.frame), (t.text, t.box, lay.frame)
    for t in lay.texts():
        assert t.box.inside(canvas), (t.text, t.box, canvas)
        # On screen (the canvas shrunk into the window) every text is at least 12 px tall.
        assert t.scale * _ASCENT * lay.metrics.display >= 12 - 1e-6, t
    assert lay.window[0] <= MAX_WINDOW[0] and lay.window[1] <= MAX_WINDOW[1]
    boxes = [Rect(*b) for b in boxes]
    for fl in lay.faces:
        for panel in (fl.bars, fl.aus):
            if panel is None:
                continue
            assert panel.rect.inside(canvas)
            assert not any(panel.rect.intersects(b) for b in boxes), "a panel covers a face"
            if not fl.in_column:
                assert panel.rect.inside(lay.frame)
            for t in panel.texts():
                assert t.box.inside(panel.rect), (t.text, t.box, panel.rect)
        if fl.tag is not None:
            others = [b for b in boxes if b != fl.box]
            assert not any(fl.tag.rect.intersects(b) for b in others), "a label covers another face"
            near = Rect(fl.box.x - 1, fl.box.y - fl.tag.rect.h - 1, fl.box.w + 2, fl.box.h + 2 * fl.tag.rect.h + 2)
            assert fl.tag.rect.intersects(near), "the label stays attached to its box"
    # Nothing drawn on the frame overlaps anything else drawn on it.
    for a, b in itertools.combinations(lay.frame_panels(), 2):
        assert not a.intersects(b), (a, b)
    if lay.dashboard is not None:
        assert lay.dashboard.rect.x >= lay.frame.x1 and lay.dashboard.rect.inside(canvas)
    if lay.column is not None:
        assert lay.column.x >= lay.frame.x1


@pytest.mark.parametrize("dashboard", [True, False])
def test_every_overlay_fits_each_frame_shape(shapes, dashboard):
    for name, (frame, boxes) in shapes.items():
        assert boxes, name
        for probs, aus in ((True, False), (False, True), (True, True)):
            text = DashboardText("#1 surprise 100%", aus=AU_NAMES, au_title="AUs measured") if dashboard else None
            lay = layout(frame.shape[1], frame.shape[0], specs(boxes), Overlays(probs=probs, aus=aus), hud=HUD,
                         dashboard=text, rec=True)
            check(lay, boxes)


def test_four_real_faces_in_640x480_overlap_nothing(shapes):
    frame, boxes = shapes["640x480, four faces"]
    assert len(boxes) == 4
    for a, b in itertools.combinations(boxes, 2):
        assert not Rect(*a).intersects(Rect(*b))
    for dashboard, va in ((False, True), (True, True), (False, False)):
        lay = layout(640, 480, specs(boxes), Overlays(probs=True, aus=True, va=va), hud=HUD,
                     dashboard=DashboardText() if dashboard else None)
        check(lay, boxes)
        assert all(fl.tag is not None for fl in lay.faces)
        # Each face's panels are beside it, in the side column, or, where neither has room, named: in
        # the column's last line, or with the dashboard on in its "face N of 4" (f / Tab shows them).
        for fl in lay.faces:
            assert (fl.bars is not None and fl.aus is not None) or fl.track_id in lay.hidden
        if lay.hidden and not dashboard:
            assert all(f"#{i}" in lay.column_note.text for i in lay.hidden)


def test_panels_go_to_the_side_column_on_a_portrait_frame(shapes):
    frame, boxes = shapes["portrait 405x720"]
    lay = layout(405, 720, specs(boxes), Overlays(probs=True, aus=True), hud=HUD)
    face = lay.faces[0]
    # The face is most of the frame's width: its panels cannot go beside it, nor over it.
    assert face.bars is not None and face.aus is not None
    check(lay, boxes)
    if face.in_column:
        assert lay.canvas[0] > 405 and lay.column is not None


def test_the_help_wraps_into_columns_on_a_short_frame():
    for (w, h), columns in (((640, 240), 2), ((405, 720), 1), ((320, 240), 1), ((1920, 1080), 1)):
        lay = layout(w, h, [], Overlays(help=True), hud=HUD)
        help_ = lay.help
        assert len({key.box.x for key, _ in help_.keys}) == columns, (w, h)
        for key, what in help_.keys:
            assert key.box.inside(help_.rect) and what.box.inside(help_.rect)
            assert not key.box.intersects(what.box)
        assert help_.rect.inside(Rect(0, 0, *lay.canvas))
        if (w, h) != (320, 240):
            assert help_.rect.inside(lay.frame)
        else:  # no room at a readable size: the canvas grows to hold it, below the frame
            assert lay.canvas[1] > 240 and lay.canvas[0] == 320


def test_dashboard_is_on_by_default_where_the_window_has_room():
    au = "AU15 Lip corner depressor"
    assert choose_dashboard(640, 480, au)[1]
    assert choose_dashboard(405, 720, au)[1]
    assert choose_dashboard(1920, 1080, au)[1]
    assert not choose_dashboard(320, 240, au)[1]


def face_at(box, track_id, p=3, t_valence=0.5) -> Face:
    from realtime.analysis.faces import Detection

    probs = np.full(7, 0.05)
    probs[p] = 0.7
    return Face(Detection(box, 0.9), track_id=track_id, probs=probs, valence=t_valence, arousal=0.2,
                aus={"AU12": 0.8, "AU06": 0.4}, au_source="measured")


def test_rendered_canvas_marks_the_selected_face_and_keeps_history_per_id():
    frame = four_faces_bgr(VIDEOS)
    boxes = detected_boxes(frame)
    dash = Dashboard(window_s=10.0)
    renderer = Renderer({"AU12": "Lip corner puller", "AU06": "Cheek raiser"}, frozenset(), "cpu int8", dash)
    for i in range(30):
        result = FrameResult(i, i / 10, "test", frame, [face_at(b, k + 1) for k, b in enumerate(boxes)])
        dash.update(result)
    assert {k: len(v) for k, v in dash.history.items()} == {1: 30, 2: 30, 3: 30, 4: 30}
    result = FrameResult(200, 20.0, "test", frame, [face_at(b, k + 1) for k, b in enumerate(boxes[:3])],
                         retired=[4])
    dash.update(result)
    assert len(dash.history[1]) == 1, "only the last 10 s are kept"
    assert 4 not in dash.history
    plain, lay = renderer.render(result, Overlays(dashboard=False, va=False))
    assert plain.shape[:2] == frame.shape[:2] and lay.dashboard is None
    with_dash, lay = renderer.render(result, Overlays(dashboard=True, va=False), selected=3)
    assert with_dash.shape[1] > 640 and lay.dashboard is not None
    assert lay.dashboard.title.text.startswith("#3 ")
    # The frame part differs only by the white frame around the selected face's box (no inset: va off).
    diff = np.abs(with_dash[:480, :640].astype(int) - plain.astype(int)).sum(axis=2) > 0
    b = Rect(*boxes[2])
    ys, xs = np.nonzero(diff)
    assert len(xs) and xs.min() >= b.x - 10 and xs.max() <= b.x1 + 10 and ys.min() >= b.y - 10
    dash.update(FrameResult(201, 20.1, "test", frame, [], retired=[1, 2, 3]))  # the mirror key retires all
    assert not dash.history


def test_ids_of_faces_with_the_same_affect_never_print_over_each_other_or_the_axis_labels():
    from realtime.window.draw import place_point_label

    lay = layout(640, 480, [], Overlays(va=True))
    canvas = np.zeros((480, 640, 3), np.uint8)
    inset = lay.inset
    taken = [t.box for t in inset.labels]
    point = (inset.centre[0] - inset.radius // 2, inset.centre[1] + inset.radius // 2)  # clear of the axis labels
    for track_id in range(1, 7):
        place_point_label(canvas, inset.rect, point, 4, f"#{track_id}", lay.metrics, taken)
    placed = taken[len(inset.labels):]
    assert 2 <= len(placed) <= 4, "one ID per free corner around the dot, the rest left out"
    for a, b in itertools.combinations(taken, 2):
        assert not a.intersects(b)
    assert all(box.inside(inset.rect) for box in placed)
