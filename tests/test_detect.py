"""The MediaPipe face detector on real photos: boxes, keypoints, modes and bad model files."""

import cv2
import numpy as np
import pytest

from realtime.analysis.detect import MODELS, DetectorError, FaceDetector, merge_detections, tile_grid
from realtime.analysis.faces import Detection
from tests.media import astronaut_crowd_bgr
from tests.paths import VIDEOS

RIGHT_EYE, LEFT_EYE, NOSE, MOUTH = 0, 1, 2, 3


@pytest.fixture(scope="module")
def detector():
    with FaceDetector("short", video=False) as det:
        yield det


def head(astronaut_bgr):
    """A 200x200 cut around her head: the face fills half of it, as at a webcam."""
    return np.ascontiguousarray(astronaut_bgr[30:230, 130:330])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_bundled_models_load_and_find_the_face(model, astronaut_bgr):
    with FaceDetector(model, video=False) as det:
        faces = det.detect(astronaut_bgr)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert abs(x + w / 2 - 224) < 20 and abs(y + h / 2 - 125) < 25 and 70 < w < 140


def test_one_face_in_a_padded_scaled_photo(detector, astronaut_bgr):
    scaled = cv2.resize(astronaut_bgr, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    frame = cv2.copyMakeBorder(scaled, 40, 40, 100, 100, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    faces = detector.detect(frame)
    assert len(faces) == 1
    f = faces[0]
    x, y, w, h = f.box
    # Her face is centred near (224, 128) * 1.5 + (100, 40) and ~95 * 1.5 px wide.
    assert abs(x + w / 2 - 436) < 25 and abs(y + h / 2 - 232) < 30
    assert 110 < w < 200 and 110 < h < 200
    assert 0 <= x and 0 <= y and x + w <= frame.shape[1] and y + h <= frame.shape[0]
    assert 0.5 < f.score <= 1.0
    kp = f.keypoints
    assert kp.shape == (6, 2) and kp.dtype == np.float32
    assert np.all((kp[:4] >= (x, y)) & (kp[:4] <= (x + w, y + h)))  # eyes, nose and mouth lie in the box
    assert kp[RIGHT_EYE, 0] < kp[LEFT_EYE, 0]  # the subject's right eye is on the image's left
    assert max(kp[RIGHT_EYE, 1], kp[LEFT_EYE, 1]) < kp[NOSE, 1] < kp[MOUTH, 1]


def test_grayscale_frame_is_accepted(detector, astronaut_bgr):
    assert len(detector.detect(cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY))) == 1


@pytest.mark.parametrize("frame", [
    np.full((480, 640, 3), 128, np.uint8),
    np.clip(128 + 20 * np.random.default_rng(0).standard_normal((480, 640, 3)), 0, 255).astype(np.uint8),
], ids=["blank", "sensor-noise"])
def test_no_face(detector, frame):
    assert detector.detect(frame) == []


def test_colour_noise_scores_well_below_a_real_face(astronaut_bgr):
    # The short-range model gives i.i.d. colour noise up to ~0.67 (7 of 20 frames pass 0.5);
    # a real face scores > 0.9.
    with FaceDetector("short", video=False, min_confidence=0.2) as det:
        assert det.detect(astronaut_bgr)[0].score > 0.9
        for seed in range(5):
            frame = np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)
            assert all(d.score < 0.8 for d in det.detect(frame))


def test_two_faces_side_by_side(detector, astronaut_bgr):
    h = head(astronaut_bgr)
    faces = detector.detect(np.hstack([h, h]))
    assert len(faces) == 2
    centres = sorted(x + w / 2 for x, _, w, _ in (f.box for f in faces))
    assert centres[0] < 200 < centres[1]


def test_video_mode_tolerates_repeated_and_backward_timestamps(astronaut_bgr):
    frame = head(astronaut_bgr)
    with FaceDetector("short", video=True) as det:
        counts = [len(det.detect(frame, ts)) for ts in (0, 0, 33, 33, 10, 66)]
        counts.append(len(det.detect(frame)))  # default: the detector's own clock
    assert counts == [1] * 7


def test_missing_model_file(tmp_path):
    path = tmp_path / "nope.tflite"
    with pytest.raises(DetectorError, match="nope.tflite"):
        FaceDetector(str(path))


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "garbage.tflite"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DetectorError, match="garbage.tflite") as e:
        FaceDetector(str(path))
    assert "\n" not in str(e.value)


def test_truncated_model_file(tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(MODELS["short"].read_bytes()[:50_000])
    with pytest.raises(DetectorError, match="truncated.tflite"):
        FaceDetector(str(path), video=False)


def test_closed_detector_raises(astronaut_bgr):
    det = FaceDetector("short", video=False)
    det.close()
    det.close()  # idempotent
    with pytest.raises(DetectorError, match="closed"):
        det.detect(astronaut_bgr)


def test_tiles_find_small_faces_that_the_whole_frame_misses():
    frame, centres = astronaut_crowd_bgr()
    with FaceDetector("short", 0.6, video=False) as det:
        assert det.detect(frame) == []
    with FaceDetector("short", 0.6, video=False, tiled=True) as det:
        faces = det.detect(frame)
    assert len(faces) == 3  # each once, though several tiles and levels see it
    for face in faces:
        x, y, w, h = face.box
        assert min(np.hypot(x + w / 2 - cx, y + h / 2 - cy) for cx, cy in centres) < 0.3 * w
        assert np.all((face.keypoints[:4] >= (x, y)) & (face.keypoints[:4] <= (x + w, y + h)))
    assert sorted(f.box[2] for f in faces) == pytest.approx([38, 57, 95], rel=0.25)


def test_tiled_detection_still_finds_a_face_that_fills_the_frame(astronaut_bgr):
    # A 427 px face across the middle of a 900x600 frame: wider than half of the 600 px tiles,
    # so no tile holds it whole and only the whole-frame pass sees it.
    big = cv2.resize(head(astronaut_bgr), (842, 842))
    frame = np.full((600, 900, 3), 100, np.uint8)
    frame[:, 54:896] = big[100:700]
    with FaceDetector("short", 0.6, video=False, tiled=True) as det:
        assert len(det.detect(frame)) == 1


@pytest.mark.skipif(not (VIDEOS / "pyfeat_no_face.mp4").is_file(), reason="../shared/videos not present")
def test_tiles_add_no_false_faces_on_a_cartoon():
    # Frames where tiles found the llama's face at 0.61-0.71 before tile detections had to score 0.8.
    cap = cv2.VideoCapture(str(VIDEOS / "pyfeat_no_face.mp4"))
    frames = [cap.read()[1] for _ in range(88)]
    cap.release()
    with FaceDetector("short", 0.6, video=False, tiled=True) as det:
        assert [i for i in (12, 21, 33, 69, 78, 81, 84, 87) if det.detect(frames[i])] == []


def test_tiled_detection_is_for_images_only():
    with pytest.raises(ValueError, match="tiled"):
        FaceDetector("short", video=True, tiled=True)


@pytest.mark.parametrize("h, w", [(1080, 1920), (480, 640), (3000, 4000), (200, 200), (48, 48), (1000, 300)])
def test_tile_grid_covers_the_frame_at_every_level(h, w):
    tiles = tile_grid(h, w)
    sides = sorted({side for _, _, side in tiles}, reverse=True)
    smallest = max(256, 0.25 * min(h, w))
    assert sides[0] == min(h, w) and (len(sides) == 1 or sides[-1] >= smallest) and sides[-1] / 2 < smallest
    assert len(tiles) < 200
    rng = np.random.default_rng(0)
    for side in sides:
        level = [(x, y) for x, y, s in tiles if s == side]
        assert all(0 <= x <= w - side and 0 <= y <= h - side for x, y in level)
        # Any square at most half a tile wide lies whole inside some tile of the level.
        for _ in range(200):
            f = int(rng.integers(1, side // 2 + 1))
            fx, fy = int(rng.integers(0, w - f + 1)), int(rng.integers(0, h - f + 1))
            assert any(x <= fx and fx + f <= x + side and y <= fy and fy + f <= y + side for x, y in level)


def test_merge_keeps_one_box_per_face():
    kp = np.zeros((6, 2), np.float32)
    same_face = [Detection((100, 100, 60, 60), 0.8, kp), Detection((104, 98, 56, 58), 0.95, kp),
                 Detection((110, 110, 30, 30), 0.7, kp)]  # a part of it, found in a finer tile
    other = Detection((170, 100, 60, 60), 0.9, kp)  # beside it, touching
    merged = merge_detections([*same_face, other])
    assert [d.score for d in merged] == [0.95, 0.9]
