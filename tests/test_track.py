"""Face IDs across frames (fast, no models); the per-track temporal model is in test_temporal.py."""

import numpy as np

from realtime.analysis.faces import Detection, Face
from realtime.analysis.track import FaceTracker, iou_matrix


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


def test_retire_all_ends_every_track_and_ids_are_not_reused():
    tracker = FaceTracker()
    faces = [face(0, 0), face(300, 0)]
    tracker.update(faces)
    assert sorted(tracker.retire_all()) == [1, 2] and tracker.tracks == []
    again = [face(0, 0)]
    assert tracker.update(again) == [] and again[0].track_id == 3


def test_a_face_carried_with_its_id_keeps_it_wherever_its_box_goes():
    tracker = FaceTracker()
    first = [face(10, 50), face(300, 50)]
    tracker.update(first)
    # Carried by their meshes (realtime/analysis/find.py): the two faces crossed, far from their old boxes.
    carried = [face(300, 50), face(10, 50)]
    carried[0].track_id, carried[1].track_id = first[0].track_id, first[1].track_id
    assert tracker.update(carried) == []
    assert [f.track_id for f in carried] == [1, 2]
    assert [t.box[0] for t in tracker.tracks] == [300, 10]
    stale = face(600, 300)
    stale.track_id = 99  # no live track has it: a new face like any other
    newcomer = [face(300, 50), face(10, 50), stale]
    newcomer[0].track_id, newcomer[1].track_id = 1, 2
    tracker.update(newcomer)
    assert [f.track_id for f in newcomer] == [1, 2, 3]
