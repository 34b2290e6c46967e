"""Face mesh and blendshapes: MediaPipe Tasks' FaceLandmarker run on each detected face.

It runs on the detector's boxes rather than replacing the detector (bench/landmarks.py measured
both; bench/README.md, "Landmarks"): a square around each box is cut out and handed to the
landmarker, so every face the detector finds keeps its emotion even when the mesh fails, the
detector's options (--detector full, tiled search in photos) still apply, and any number of faces
works. For cameras and videos each track gets its own landmarker in VIDEO mode, whose tracking
follows the face from the previous frame's mesh instead of re-detecting it; photos use one in
IMAGE mode. The model bundle is assets/face_landmarker.task (assets/README.md).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from errors import OptionError, UserError
from mappings import BLENDSHAPE_NAMES
from realtime.analysis.detect import _native_stderr_to_file, _one_line
from realtime.analysis.faces import Face, FaceMesh

LANDMARKER_PATH = Path(__file__).resolve().parents[2] / "assets" / "face_landmarker.task"
BUNDLE_MEMBERS = {"face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite"}
# The square handed to the landmarker: CROP_SCALE box sides wide, resampled to CROP_PX. Its own
# detector needs context around the face: on 800 detected FER2013 PublicTest faces it found 91.0%,
# 94.3%, 95.9% and 96.7% at 1.3, 1.6, 2.0 and 2.5 box sides; 2.0 keeps neighbours out of crowded frames.
CROP_SCALE = 2.0
CROP_PX = 256
MIN_CONFIDENCE = 0.5


class LandmarkerError(UserError):
    """A face landmarker that cannot be used; the message is one line naming the model file."""


class FaceLandmarker:
    """Sets `face.mesh` (FaceMesh, or None where the landmarker finds no face) on detected faces.

    video=True: one VIDEO-mode landmarker per track ID (timestamps must increase; retire() frees
    a track's); video=False: one IMAGE-mode landmarker for independent images.
    every=N (video only): mesh each track on one frame in N; in between its last mesh is carried,
    moved and scaled with the face's box, with the same blendshapes. The mesh model is most of the
    pipeline's time (bench/README.md, "Whole pipeline"), so N=2 trades AU sampling rate for speed.
    """

    def __init__(self, path: str | Path = LANDMARKER_PATH, video: bool = True, every: int = 1):
        if every < 1:
            raise OptionError(f"the mesh must be measured at least every frame (every >= 1), got {every}")
        self.path, self.video, self.every = Path(path), video, every
        self._carried: dict[int, tuple[int, FaceMesh, tuple[int, int, int, int]]] = {}  # frames since, mesh, box
        if not self.path.is_file():
            raise LandmarkerError(f"{self.path}: face landmarker model not found")
        try:
            with zipfile.ZipFile(self.path) as bundle:
                members = set(bundle.namelist())
                bad = bundle.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise LandmarkerError(f"{self.path}: not a MediaPipe .task bundle (not a readable zip: "
                                  f"{_one_line(e)})") from None
        if bad is not None:
            raise LandmarkerError(f"{self.path}: damaged .task bundle ({bad} fails its checksum)")
        if not BUNDLE_MEMBERS <= members:
            raise LandmarkerError(f"{self.path}: not a face landmarker bundle with blendshapes (lacks "
                                  f"{', '.join(sorted(BUNDLE_MEMBERS - members))})")
        self._by_track: dict[int, vision.FaceLandmarker] = {}
        self._spare: list[vision.FaceLandmarker] = []
        self._last_ts = -1
        self._spare.append(self._create())  # fails here, with its one line, rather than at the first face

    def _create(self) -> vision.FaceLandmarker:
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.path)),
            running_mode=vision.RunningMode.VIDEO if self.video else vision.RunningMode.IMAGE,
            num_faces=1, output_face_blendshapes=True, output_facial_transformation_matrixes=True,
            min_face_detection_confidence=MIN_CONFIDENCE,
            min_face_presence_confidence=MIN_CONFIDENCE, min_tracking_confidence=MIN_CONFIDENCE)
        with _native_stderr_to_file():
            try:
                return vision.FaceLandmarker.create_from_options(options)
            except (ValueError, RuntimeError, OSError) as e:
                raise LandmarkerError(f"{self.path}: not a usable face landmarker model "
                                      f"({_one_line(e)[-160:]})") from None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        tasks = [*self._by_track.values(), *self._spare]
        self._by_track, self._spare = {}, []
        with _native_stderr_to_file():
            for task in tasks:
                task.close()

    def retire(self, track_ids: list[int]) -> None:
        """Hand the landmarkers of tracks that ended back to the pool (creating one costs ~50 ms)."""
        for track_id in track_ids:
            self._carried.pop(track_id, None)
            task = self._by_track.pop(track_id, None)
            if task is not None:
                self._spare.append(task)

    def measure(self, frame_bgr: np.ndarray, faces: list[Face], timestamp_ms: int | None = None) -> None:
        """Run the landmarker on each face's box; in video mode timestamp_ms must be given."""
        if self.video:
            self._last_ts = max(int(timestamp_ms), self._last_ts + 1)
        for face in faces:
            carried = self._carried.get(face.track_id) if self.video and self.every > 1 else None
            if carried is not None and carried[0] + 1 < self.every:
                face.mesh = _moved(carried[1], carried[2], face.box)
                self._carried[face.track_id] = (carried[0] + 1, carried[1], carried[2])
                continue
            face.mesh = self._measure_one(frame_bgr, face)
            if self.video and self.every > 1:
                if face.mesh is None:
                    self._carried.pop(face.track_id, None)
                else:
                    self._carried[face.track_id] = (0, face.mesh, face.box)

    def _task_for(self, track_id: int) -> vision.FaceLandmarker:
        if not self.video:
            return self._spare[0]
        task = self._by_track.get(track_id)
        if task is None:
            task = self._spare.pop() if self._spare else self._create()
            self._by_track[track_id] = task
        return task

    def _measure_one(self, frame_bgr: np.ndarray, face: Face) -> FaceMesh | None:
        x, y, w, h = face.box
        side = CROP_SCALE * max(w, h)
        x0, y0 = x + w / 2 - side / 2, y + h / 2 - side / 2
        k = side / CROP_PX
        to_frame = np.float64([[k, 0, x0 - 0.5 + k / 2], [0, k, y0 - 0.5 + k / 2]])
        crop = cv2.warpAffine(frame_bgr, to_frame, (CROP_PX, CROP_PX), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        code = cv2.COLOR_GRAY2RGB if crop.ndim == 2 else cv2.COLOR_BGR2RGB
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(crop, code))
        task = self._task_for(face.track_id)
        try:
            result = task.detect_for_video(image, self._last_ts) if self.video else task.detect(image)
        except (ValueError, RuntimeError) as e:
            raise LandmarkerError(f"{self.path}: landmark detection failed ({_one_line(e)[-200:]})") from None
        if not result.face_landmarks or not result.face_blendshapes:
            return None
        points = np.array([(p.x, p.y) for p in result.face_landmarks[0]], np.float32)
        points = np.float32([x0, y0]) + points * np.float32(side)  # continuous frame pixels
        nose = points[FaceMesh.NOSE_TIP]
        if not (x <= nose[0] <= x + w and y <= nose[1] <= y + h):
            return None  # a neighbouring face in the square, not this one
        scores = {c.category_name: c.score for c in result.face_blendshapes[0]}
        blendshapes = np.array([scores.get(name, 0.0) for name in BLENDSHAPE_NAMES], np.float32)
        return FaceMesh(points, blendshapes, _camera_rotation(result.facial_transformation_matrixes))


# MediaPipe's matrix is in OpenGL camera axes (y up, z towards the viewer); OpenFace's, used here,
# have y down and z away from the camera: the same rotation seen through this axis flip on both sides.
_GL_TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def _camera_rotation(matrices) -> np.ndarray | None:
    """The head's rotation (canonical face model -> camera), orthonormalised: the crop is only scaled
    and shifted, never rotated, so the rotation the landmarker sees in it is the frame's."""
    if not matrices:
        return None
    u, _, vt = np.linalg.svd(np.asarray(matrices[0], np.float64)[:3, :3])
    return _GL_TO_CAMERA @ (u @ vt) @ _GL_TO_CAMERA


def _moved(mesh: FaceMesh, old_box: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> FaceMesh:
    """The mesh carried from old_box to box: shifted with the box's centre, scaled with its size."""
    ox, oy, ow, oh = old_box
    x, y, w, h = box
    scale = max(w, h) / max(ow, oh, 1)
    centre_old, centre = np.float32([ox + ow / 2, oy + oh / 2]), np.float32([x + w / 2, y + h / 2])
    return FaceMesh(centre + (mesh.landmarks - centre_old) * np.float32(scale), mesh.blendshapes, mesh.rotation)
