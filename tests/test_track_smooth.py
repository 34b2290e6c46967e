"""Face IDs across frames and per-track probability smoothing (fast, no models)."""

import numpy as np
import pytest

from realtime.faces import Detection, Face
from realtime.smooth import ProbabilitySmoother
from realtime.track import FaceTracker, iou_matrix


def face(x, y, w=100, h=100, probs=None):
    p = np.full(7, 1 / 7, np.float32) if probs is None else np.asarray(probs, np.float32)
    return Face(Detection((x, y, w, h), 0.9), raw_probs=p)


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_ids_stay_with_moving_faces_and_survive_short_gaps():
    tracker = FaceTracker(max_missed=3)
    ids = []
    for i in range(10):
        faces = [] if i in (4, 5) else [face(10 + 8 * i, 50), face(400 - 8 * i, 60)]
        tracker.update(faces)
        ids.append([f.track_id for f in faces])
    assert ids[0] == [1, 2]
    assert all(row == [1, 2] for row in ids if row), ids


def test_fast_move_without_overlap_keeps_id_by_centre():
    tracker = FaceTracker()
    a = [face(100, 100)]
    tracker.update(a)
    b = [face(150, 100)]  # IoU 0.33 at 50 px; at 105 px the boxes no longer overlap
    tracker.update(b)
    c = [face(205, 100)]
    tracker.update(c)
    assert a[0].track_id == b[0].track_id == c[0].track_id


def test_new_face_gets_new_id_and_ids_are_not_reused():
    tracker = FaceTracker(max_missed=1)
    first = [face(0, 0)]
    tracker.update(first)
    for _ in range(3):
        tracker.update([])
    assert first[0].track_id not in [t.track_id for t in tracker.tracks]
    later = [face(0, 0)]
    tracker.update(later)
    assert later[0].track_id == 2


def test_smoothing_damps_flicker_and_zero_turns_it_off():
    happy, sad = np.eye(7)[3], np.eye(7)[5]
    smoother = ProbabilitySmoother(0.7)
    f1 = face(0, 0, probs=happy)
    f1.track_id = 1
    smoother.update([f1])
    f2 = face(0, 0, probs=sad)  # one frame of 'sad' amid 'happy'
    f2.track_id = 1
    smoother.update([f2])
    assert f2.probs.argmax() == 3 and f2.probs[3] == pytest.approx(0.7)
    assert f2.raw_probs.argmax() == 5

    off = ProbabilitySmoother(0.0)
    g1, g2 = face(0, 0, probs=happy), face(0, 0, probs=sad)
    g1.track_id = g2.track_id = 1
    off.update([g1])
    off.update([g2])
    assert g2.probs.argmax() == 5


def test_smoothing_state_is_per_track_and_forgotten_on_retire():
    smoother = ProbabilitySmoother(0.9)
    a, b = face(0, 0, probs=np.eye(7)[0]), face(0, 0, probs=np.eye(7)[6])
    a.track_id, b.track_id = 1, 2
    smoother.update([a, b])
    assert a.probs.argmax() == 0 and b.probs.argmax() == 6
    smoother.update([], retired=[1])
    c = face(0, 0, probs=np.eye(7)[3])
    c.track_id = 1
    smoother.update([c])
    assert c.probs.argmax() == 3  # a retired ID starts fresh


def test_smoothing_keeps_its_time_constant_at_any_frame_rate():
    happy, sad = np.eye(7)[3], np.eye(7)[5]

    def p_happy_after(seconds, fps):
        smoother = ProbabilitySmoother(0.7)
        for i in range(round(seconds * fps) + 1):
            f = face(0, 0, probs=happy if i == 0 else sad)
            f.track_id = 1
            smoother.update([f], timestamp_s=i / fps)
        return f.probs[3]

    # 0.7 per 1/30 s: after 0.2 s of 'sad', 0.7 ** 6 of 'happy' is left at 15, 30 or 60 FPS.
    for fps in (15, 30, 60):
        assert p_happy_after(0.2, fps) == pytest.approx(0.7 ** 6, rel=1e-4)


def test_a_longer_gap_leaves_less_of_the_old_estimate():
    smoother = ProbabilitySmoother(0.7)
    a, b = face(0, 0, probs=np.eye(7)[3]), face(0, 0, probs=np.eye(7)[5])
    a.track_id = b.track_id = 1
    smoother.update([a], timestamp_s=1.0)
    smoother.update([b], timestamp_s=1.5)  # half a second without the face
    assert b.probs[3] == pytest.approx(0.7 ** 15, rel=1e-4) and b.probs.argmax() == 5


def test_smoothing_rejects_out_of_range():
    with pytest.raises(ValueError):
        ProbabilitySmoother(1.0)
