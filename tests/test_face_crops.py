"""FER2013-style images through the real detector and crop path, as train --face-crops uses them."""

import cv2
import numpy as np
import pytest

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


def test_crops_are_cached_by_content(fer_like, tmp_path, monkeypatch):
    first = face_crops.cached_face_crops(fer_like, tmp_path)
    assert len(list(tmp_path.glob("face-crops-*.npz"))) == 1

    def no_detector(*_):
        raise AssertionError("the cache was not used")
    monkeypatch.setattr(face_crops, "detect_and_crop", no_detector)
    again = face_crops.cached_face_crops(fer_like, tmp_path)
    assert np.array_equal(again.crops, first.crops) and np.array_equal(again.found, first.found)
    with pytest.raises(AssertionError, match="cache was not used"):  # other images: a new entry
        face_crops.cached_face_crops(fer_like[::-1].copy(), tmp_path)
