"""Boxes that follow a face between two analyses (realtime/analysis/follow.py), on a real moving face."""

import cv2
import numpy as np

from realtime.analysis.capture import open_source
from realtime.analysis.follow import BoxFollower
from realtime.analysis.pipeline import Pipeline, PipelineOptions
from tests.media import make_face_video


def centre(box) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])


def test_a_box_follows_the_face_across_frames_the_analysis_skipped(tmp_path):
    make_face_video(tmp_path / "v.mp4", frames=24, no_face=range(0))  # the face sways ~130 px to the right
    with open_source(str(tmp_path / "v.mp4")) as src:
        frames = [f.image for f in src]
    with Pipeline(PipelineOptions(landmarks=False)) as pipe:
        first = pipe.process(frames[0], 0.0)
        last = pipe.process(frames[-1], 1.0)
    follower = BoxFollower()
    follower.restart(first.faces, cv2.cvtColor(frames[0], cv2.COLOR_BGR2GRAY))
    for image in frames[1:]:
        faces = follower.follow(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    assert len(faces) == len(first.faces) == len(last.faces) == 1
    moved, analysed, truth = centre(faces[0].box), centre(first.faces[0].box), centre(last.faces[0].box)
    assert np.linalg.norm(truth - analysed) > 80  # the face did move
    assert np.linalg.norm(truth - moved) < 0.2 * np.linalg.norm(truth - analysed)
    # Only the geometry moves: the readings are the analysis' own.
    assert faces[0].probs is first.faces[0].probs and faces[0].track_id == first.faces[0].track_id
    assert np.allclose(faces[0].detection.keypoints - first.faces[0].detection.keypoints,
                       np.subtract(faces[0].box[:2], first.faces[0].box[:2]), atol=1.0)
