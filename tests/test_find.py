"""Where the faces are (realtime/analysis/find.py): the detector on one frame in N, the mesh carrying the
boxes in between, with the real MediaPipe models on a real face."""

import numpy as np
import pytest

from realtime.analysis.capture import open_source
from realtime.analysis.faces import Detection
from realtime.analysis.find import Anchor, FaceFinder
from realtime.analysis.pipeline import PipelineOptions
from tests.media import face_video_centre, make_face_video


def test_anchor_moves_the_detection_as_the_mesh_moved():
    mesh = np.float32([[40, 50], [60, 50], [50, 60], [50, 70], [30, 55], [70, 55]])
    detection = Detection((30, 40, 40, 40), 0.9, mesh[[0, 1, 2, 3]] + np.float32([1, -1]))
    anchor = Anchor(detection, mesh)
    angle, scale, shift = np.deg2rad(10), 1.5, np.float32([100, 20])
    rotation = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved_mesh = (mesh - 50) @ rotation.T * scale + 50 + shift
    carried = anchor.carried(moved_mesh, (480, 640))
    expected = (detection.keypoints - 50) @ rotation.T * scale + 50 + shift
    np.testing.assert_allclose(carried.keypoints, expected, atol=1e-3)
    x, y, w, h = carried.box
    centre = (np.float32([50, 60]) - 50) @ rotation.T * scale + 50 + shift
    assert (w, h) == (60, 60) and abs(x + w / 2 - centre[0]) <= 1 and abs(y + h / 2 - centre[1]) <= 1
    assert carried.score == detection.score
    assert anchor.carried(mesh + np.float32([2000, 0]), (480, 640)).box[0] <= 640  # clamped to the frame


def run_finder(path, detect_every):
    """Per frame: the faces' boxes and IDs, and whether the detector ran (its calls counted)."""
    calls = []
    with open_source(str(path)) as source, FaceFinder(PipelineOptions(detect_every=detect_every)) as finder:
        detect = finder.detector.detect
        finder.detector.detect = lambda *a: calls.append(1) or detect(*a)
        frames = []
        for captured in source:
            before = len(calls)
            found = finder.find(captured.image, captured.timestamp_s)
            frames.append(([f.box for f in found.faces], [f.track_id for f in found.faces], len(calls) > before))
    return frames


@pytest.mark.parametrize("every", [1, 5])
def test_detector_runs_one_frame_in_n_while_the_mesh_holds_and_at_once_after_a_loss(tmp_path, every):
    video = tmp_path / "clip.mp4"
    facts = make_face_video(video, frames=36, no_face=range(14, 18))
    carried, detected = run_finder(video, every), run_finder(video, 1)
    ran = [i for i, (_, _, d) in enumerate(carried) if d]
    if every == 1:
        assert ran == list(range(36))
        return
    # Frames 0, 5, 10; at 14 the face goes and its mesh with it: no face, and the detector looks on every
    # frame from 15 until it finds it again (18); then 23, 28, 33.
    assert ran == [0, 5, 10, 15, 16, 17, 18, 23, 28, 33]
    assert [i for i, (boxes, _, _) in enumerate(carried) if boxes] == facts["face_frames"]
    assert {ids[0] for boxes, ids, _ in carried[:14] if boxes} == {1}  # one face, one ID while carried
    # The carried boxes follow the swaying, scaling face as closely as the detector's own do.
    def offsets(run):
        return np.float32([np.float32(boxes[0][:2]) + np.float32(boxes[0][2:]) / 2 - face_video_centre(i)
                           for i, (boxes, _, _) in enumerate(run) if boxes])

    assert np.all(offsets(carried).std(axis=0) < 1.5 * offsets(detected).std(axis=0) + 1)
    sizes = np.float32([(boxes[0][2], reference[0][2]) for (boxes, _, _), (reference, _, _)
                        in zip(carried, detected, strict=True) if boxes])
    assert np.all(np.abs(sizes[:, 0] / sizes[:, 1] - 1) < 0.2)


def test_detect_every_is_checked():
    with pytest.raises(ValueError, match="at least 1"):
        PipelineOptions(detect_every=0)
