"""Face crops: shape, upright rotation, frame edges, batching."""

import cv2
import numpy as np
import pytest

from realtime.analysis.crop import crop_face, crop_faces, crop_matrix
from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Detection

RIGHT_EYE, LEFT_EYE, MOUTH = 0, 1, 3
CENTRE = (224.0, 128.0)  # roughly her face centre in the 512x512 photo


@pytest.fixture(scope="module")
def detector():
    # The full-range model's keypoints follow a rolled head more closely than the short-range one's.
    with FaceDetector("full", video=False) as det:
        yield det


def rotate(img, degrees):
    m = cv2.getRotationMatrix2D(CENTRE, degrees, 1.0)
    return cv2.warpAffine(img, m, img.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def in_crop(points, detection):
    """Frame points (continuous pixel coordinates) mapped into the crop's."""
    inv = cv2.invertAffineTransform(crop_matrix(detection))
    return (points - 0.5) @ inv[:, :2].T + inv[:, 2] + 0.5


def correlation(a, b):
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_shape_and_dtype(detector, astronaut_bgr):
    d = detector.detect(astronaut_bgr)[0]
    for frame in (astronaut_bgr, cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)):
        c = crop_face(frame, d)
        assert c.shape == (48, 48) and c.dtype == np.uint8
    assert crop_face(astronaut_bgr, d, size=64).shape == (64, 64)


def test_color_and_gray_frames_give_the_same_crop(detector, astronaut_bgr):
    d = detector.detect(astronaut_bgr)[0]
    a = crop_face(astronaut_bgr, d).astype(int)
    b = crop_face(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY), d).astype(int)
    assert np.abs(a - b).max() <= 2


def test_face_is_framed_like_fer2013(detector, astronaut_bgr):
    d = detector.detect(astronaut_bgr)[0]
    eyes = in_crop(d.keypoints[[RIGHT_EYE, LEFT_EYE]], d)
    mouth = in_crop(d.keypoints[MOUTH], d)
    assert np.allclose(eyes[:, 1], eyes[0, 1], atol=0.01)  # level
    assert abs(eyes[:, 0].mean() - 24) < 1.5  # centred
    # On FER2013 PublicTest the eyes sit ~40% and the mouth ~78% of the way down (medians).
    assert 14 < eyes[0, 1] < 24 and 32 < mouth[1] < 42


@pytest.mark.parametrize("degrees", [20, -20])
def test_rotation_makes_a_tilted_face_upright(detector, astronaut_bgr, degrees):
    upright = crop_face(astronaut_bgr, detector.detect(astronaut_bgr)[0])
    tilted_frame = rotate(astronaut_bgr, degrees)
    d = detector.detect(tilted_frame)[0]
    tilted = crop_face(tilted_frame, d)
    eyes = in_crop(d.keypoints[[RIGHT_EYE, LEFT_EYE]], d)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.01 and eyes[0, 0] < eyes[1, 0]
    unrotated = crop_face(tilted_frame, Detection(d.box, d.score))  # box only: no rotation
    assert correlation(tilted, upright) > 0.85
    assert correlation(tilted, upright) > correlation(unrotated, upright) + 0.1


def test_face_at_the_frame_edge(detector, astronaut_bgr):
    frame = np.ascontiguousarray(astronaut_bgr[60:, 200:])  # cuts through the face's right half
    faces = detector.detect(frame)
    assert faces and faces[0].box[0] == 0
    c = crop_face(frame, faces[0])
    assert c.shape == (48, 48) and c.std() > 10
    # Beyond the frame the edge pixels repeat: same crop as from a frame padded that way.
    pad = 100
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    x, y, w, h = faces[0].box
    moved = Detection((x + pad, y + pad, w, h), faces[0].score, faces[0].keypoints + pad)
    assert np.abs(crop_face(padded, moved).astype(int) - c).max() <= 1


def test_crop_entirely_outside_the_frame_repeats_the_corner():
    frame = np.zeros((100, 100), np.uint8)
    frame[0, 0] = 200
    kp = np.array([[-230, -240], [-210, -240], [-220, -230], [-220, -220], [-240, -235], [-200, -235]], np.float32)
    c = crop_face(frame, Detection((0, 0, 1, 1), 0.9, kp))
    assert c.shape == (48, 48) and np.all(c == 200)


def test_crop_faces_batches(detector, astronaut_bgr):
    d = detector.detect(astronaut_bgr)
    assert crop_faces(astronaut_bgr, []).shape == (0, 48, 48)
    assert crop_faces(astronaut_bgr, []).dtype == np.uint8
    both = crop_faces(astronaut_bgr, d + d)
    assert both.shape == (2, 48, 48) and np.array_equal(both[0], crop_face(astronaut_bgr, d[0]))


def test_short_and_full_range_models_frame_the_face_alike(detector, astronaut_bgr):
    # Keypoint framing barely depends on where each model puts its box (bench/README.md):
    # here 0.91 correlation between the two models' crops, against 0.62 with box framing.
    with FaceDetector("short", video=False) as short:
        s = short.detect(astronaut_bgr)[0]
    f = detector.detect(astronaut_bgr)[0]
    by_keypoints = correlation(crop_face(astronaut_bgr, s), crop_face(astronaut_bgr, f))
    by_box = correlation(crop_face(astronaut_bgr, Detection(s.box, s.score)),
                         crop_face(astronaut_bgr, Detection(f.box, f.score)))
    assert by_keypoints > 0.85 and by_keypoints > by_box + 0.15
