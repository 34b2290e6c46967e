"""FER2013-style images through the real detector and crop path, as train --face-crops uses them."""

import cv2
import numpy as np
import pytest

from realtime.analysis import crop
from train import face_crops


@pytest.fixture(scope="module")
def fer_like(astronaut_bgr) -> np.ndarray:
    """Two 48x48 grayscale images: the astronaut's face framed like FER2013, and a blank one."""
    face = cv2.cvtColor(astronaut_bgr[55:205, 150:300], cv2.COLOR_BGR2GRAY)
    return np.stack([cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA), np.full((48, 48), 128, np.uint8)])


def test_detect_and_crop_reframes_faces_and_keeps_the_rest(fer_like):
    result = face_crops.detect_and_crop(fer_like)
    assert result.found.tolist() == [True, False]
    assert result.crops.shape == (2, 48, 48) and result.crops.dtype == np.uint8
    assert np.array_equal(result.crops[1], fer_like[1])  # no face: the image itself
    # Re-framed, not copied, and still a whole face: the detector finds it again.
    assert np.abs(result.crops[0].astype(int) - fer_like[0]).mean() > 1
    assert face_crops.detect_and_crop(result.crops[:1]).found.tolist() == [True]


def test_detections_are_cached_by_content(fer_like, tmp_path, monkeypatch):
    first = face_crops.cached_detections(fer_like, tmp_path)
    assert first.found.tolist() == [True, False] and len(list(tmp_path.glob("face-detections-*.npz"))) == 1

    def no_detector(*_):
        raise AssertionError("the cache was not used")
    monkeypatch.setattr(face_crops, "detect", no_detector)
    again = face_crops.cached_detections(fer_like, tmp_path)
    for name in ("boxes", "keypoints", "found"):
        assert np.array_equal(getattr(again, name), getattr(first, name), equal_nan=True)
    with pytest.raises(AssertionError, match="cache was not used"):  # other images: a new entry
        face_crops.cached_detections(fer_like[::-1].copy(), tmp_path)


def test_crops_follow_each_images_framing(fer_like):
    dets = face_crops.detect(fer_like)
    twice = dets.subset(np.array([0, 0]))
    wide, tight = face_crops.crop_detected(fer_like[[0, 0]], twice, margin=np.array([0.4, 0.0]), offset=-0.06).crops
    assert np.abs(wide.astype(int) - tight).mean() > 1
    assert np.array_equal(tight, face_crops.crop_detected(fer_like[:1], dets.subset([0]), 0.0, -0.06).crops[0])
    # At the default framing, exactly the app's own crop of that detection.
    app = crop.crop_face(face_crops.canvas(fer_like[0]), dets.detection(0))
    assert np.array_equal(face_crops.crop_detected(fer_like, dets).crops[0], app)


def test_missing_keypoints_fall_back_to_the_box(fer_like):
    dets = face_crops.detect(fer_like[:1])
    assert dets.detection(0).keypoints.shape == (6, 2)
    no_kp = face_crops.FaceDetections(dets.boxes, np.full_like(dets.keypoints, np.nan), dets.found)
    assert no_kp.detection(0).keypoints.shape == (0, 2)
    assert not np.array_equal(face_crops.crop_detected(fer_like[:1], no_kp).crops,
                              face_crops.crop_detected(fer_like[:1], dets).crops)

