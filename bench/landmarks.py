"""Should the face landmarker replace the BlazeFace stage, or run on its boxes? Both, measured.

    python -m bench.landmarks [--fer ../shared/datasets/fer2013] [--wild ../shared/datasets/wild-dev] [--frames 300]

  replace   one MediaPipe FaceLandmarker on the whole frame, its own detector inside (VIDEO mode
            with num_faces=4 for videos, so new faces are searched every frame; IMAGE mode for photos);
  on boxes  what the app runs (realtime/analysis/landmarks.py): BlazeFace on the frame, then per face a
            VIDEO-mode landmarker per track on a square around the box (IMAGE mode for photos).

Prints, for generated 640x480 videos of 1 and 4 faces, the median milliseconds per frame of
each way (BlazeFace included in "on boxes") and the share of face-frames with a mesh; and, with
--fer / --wild, the share of FER2013 PublicTest faces (upscaled on a canvas) and wild-dev photos
each way finds a mesh on.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision

from bench.pipeline import make_video
from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Face
from realtime.analysis.landmarks import LANDMARKER_PATH, FaceLandmarker
from realtime.analysis.track import FaceTracker


def whole_frame_landmarker(video: bool, faces: int) -> vision.FaceLandmarker:
    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(LANDMARKER_PATH)),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE, num_faces=faces,
        output_face_blendshapes=True))


def frames_of(path: Path) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(path)), []
    while (ok_frame := cap.read())[0]:
        out.append(ok_frame[1])
    return out


def time_video(frames: list[np.ndarray], faces: int) -> dict[str, tuple[float, float]]:
    out = {}
    task, ms, found = whole_frame_landmarker(True, 4), [], 0
    for i, f in enumerate(frames):
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        t0 = time.perf_counter()
        found += len(task.detect_for_video(image, i * 33).face_landmarks)
        ms.append(1000 * (time.perf_counter() - t0))
    task.close()
    out["replace"] = (statistics.median(ms[10:]), found / (faces * len(frames)))
    ms, found, tracker = [], 0, FaceTracker()
    with FaceDetector(video=True) as det, FaceLandmarker(video=True) as lm:
        for i, f in enumerate(frames):
            t0 = time.perf_counter()
            found_faces = [Face(d) for d in det.detect(f, i * 33)]
            lm.retire(tracker.update(found_faces))
            lm.measure(f, found_faces, i * 33)
            ms.append(1000 * (time.perf_counter() - t0))
            found += sum(x.mesh is not None for x in found_faces)
    out["on boxes"] = (statistics.median(ms[10:]), found / (faces * len(frames)))
    return out


def photo_hits(images: list[np.ndarray]) -> dict[str, float]:
    task = whole_frame_landmarker(False, 1)
    replace = sum(bool(task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(
        im if im.ndim == 3 else cv2.cvtColor(im, cv2.COLOR_GRAY2BGR), cv2.COLOR_BGR2RGB))).face_landmarks)
        for im in images)
    task.close()
    boxes = 0
    with FaceDetector(video=False, tiled=True) as det, FaceLandmarker(video=False) as lm:
        for im in images:
            found = det.detect(im)
            if found:
                face = Face(max(found, key=lambda d: d.box[2] * d.box[3]), track_id=1)
                lm.measure(im, [face])
                boxes += face.mesh is not None
    return {"replace": replace / len(images), "on boxes": boxes / len(images)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--fer", type=Path, help="FER2013 root: score the PublicTest faces too")
    p.add_argument("--wild", type=Path, help="wild-dev folder: score its photos too")
    args = p.parse_args(argv)
    print("| input | way | ms per frame (median) | faces with a mesh |\n|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for faces in (1, 4):
            path = Path(tmp) / f"{faces}.mp4"
            make_video(path, args.frames, faces)
            for way, (ms, hit) in time_video(frames_of(path), faces).items():
                print(f"| 640x480 video, {faces} face{'s' if faces > 1 else ''} | {way} | {ms:.2f} | {hit:.1%} |")
    photo_sets = {}
    if args.fer:
        from train.data import load
        from train.face_crops import canvas

        split = load(args.fer / "test" if (args.fer / "test").is_dir() else args.fer)["PublicTest"]
        photo_sets["FER2013 PublicTest, upscaled on a canvas"] = [canvas(im) for im in split.images]
    if args.wild:
        from bench.wild_dev import photos

        photo_sets["wild-dev photos"] = [cv2.imread(str(path)) for path in photos(args.wild)[0]]
    for name, images in photo_sets.items():
        for way, hit in photo_hits(images).items():
            print(f"| {name} ({len(images)}) | {way} | | {hit:.1%} |")


if __name__ == "__main__":
    main()
