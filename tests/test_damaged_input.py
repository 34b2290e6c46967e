"""Damaged input through the real app, headless and with no display in the environment: every run
completes or ends with one clear line (exit status 2), never a traceback or a library's chatter, and
the CSV holds one row per face for every frame that decoded, numbered and timed as in the source.

The damaged files are made here, from the astronaut clip and photo and from the shared real clips.
"""

import csv
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from realtime.analysis.capture import open_source
from realtime.analysis.rows import COLUMNS
from realtime.quiet import LIBRARY_LOG_LEVELS
from tests.media import astronaut_face_bgr, make_face_video
from tests.paths import REPO, VIDEOS, WEIGHTS

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")
needs_videos = pytest.mark.skipif(not VIDEOS.is_dir(), reason="../shared/videos not present")

FRAMES, FPS, NO_FACE = 90, 30.0, range(60, 66)
SUMMARY = re.compile(r"^(\d+) frames \((\d+) with faces\), (\d+) face rows, [\d.]+ FPS; ended by ([^;\n]*)"
                     r"(?:; (\d+) unreadable (?:frame|image)s? skipped)?", re.M)


def run_app(*args, env=None):
    # Importing run_webcam (another test does) sets the quiet log levels in this process: not inherited, so
    # that --verbose shows what the libraries say by default.
    dropped = {"DISPLAY", "WAYLAND_DISPLAY", *LIBRARY_LOG_LEVELS}
    env = {k: v for k, v in (env or os.environ).items() if k not in dropped}
    return subprocess.run([sys.executable, "run_webcam.py", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)


def stderr_lines(proc) -> list[str]:
    """stderr without the progress bar, which redraws itself with carriage returns."""
    pieces = re.split(r"[\r\n]", proc.stderr)
    return [p for p in pieces if p.strip() and not p.startswith("analysing")]


def assert_one_error_line(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for w in words:
        assert w in lines[0]


def completed(proc) -> dict:
    """The summary line's numbers, after checking the run ended cleanly and quietly."""
    assert proc.returncode == 0, proc.stderr
    assert stderr_lines(proc) == [], proc.stderr  # no FFmpeg, libjpeg or libpng lines
    m = SUMMARY.search(proc.stdout)
    assert m, proc.stdout
    return {"frames": int(m[1]), "with_faces": int(m[2]), "rows": int(m[3]), "ended_by": m[4],
            "skipped": int(m[5] or 0)}


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def decodable_frames(path) -> int:
    """Frames OpenCV decodes when it keeps reading past failed reads: an upper bound on what the app analyses
    (a frame handed over late, out of order, after the damage is not analysed)."""
    cap = cv2.VideoCapture(str(path))
    n = failed = 0
    while failed < 300:
        ok, _ = cap.read()
        n, failed = (n + 1, 0) if ok else (n, failed + 1)
    return n


def random_bytes(data: bytes, at: float, n: int) -> bytes:
    out = bytearray(data)
    i = int(len(out) * at)
    out[i:i + n] = np.random.default_rng(1).integers(0, 256, n, dtype=np.uint8).tobytes()
    return bytes(out)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Undamaged clips: the astronaut one in both containers, and the shared real ones when present."""
    folder = tmp_path_factory.mktemp("clips")
    out = {}
    for suffix in (".mp4", ".avi"):
        out[f"astronaut{suffix}"] = folder / f"astronaut{suffix}"
        make_face_video(out[f"astronaut{suffix}"], frames=FRAMES, no_face=NO_FACE, fps=FPS)
    for name in ("liveportrait_d18.mp4", "pyfeat_single_face.mp4"):
        out[name] = VIDEOS / name
    return out


# (clip, damage, what the run must do). An .mp4 keeps its index at the end, so a cut one cannot open; a
# Motion-JPEG .avi plays up to the cut. Random bytes in this .avi destroy a frame without a trace in the
# container's timestamps (FFmpeg numbers the frames after it one too low), so there only the counts hold.
# The quick suite keeps one case that reads past damage and one that cannot open; CI runs them all.
VIDEO_CASES = [
    ("astronaut.mp4", "bytes 0.5 20000", "completes, skipping"),
    pytest.param("astronaut.avi", "bytes 0.5 20000", "completes, numbered by the container", marks=pytest.mark.slow),
    pytest.param("astronaut.avi", "cut 0.4", "completes, truncated", marks=pytest.mark.slow),
    ("astronaut.mp4", "cut 0.5", "fails to open"),
    pytest.param("astronaut.mp4", "cut 0", "fails to open", marks=pytest.mark.slow),
    pytest.param("astronaut.avi", "cut 0.1", "completes, truncated", marks=pytest.mark.slow),
    pytest.param("astronaut.avi", "cut 0.999", "completes", marks=pytest.mark.slow),
    pytest.param("astronaut.mp4", "cut 0.999", "fails to open", marks=pytest.mark.slow),
    pytest.param("astronaut.mp4", "bytes 0.05 5000", "completes", marks=pytest.mark.slow),
    pytest.param("liveportrait_d18.mp4", "bytes 0.5 20000", "completes, skipping",
                 marks=[needs_videos, pytest.mark.slow]),
    pytest.param("liveportrait_d18.mp4", "bytes 0.05 5000", "completes, skipping",
                 marks=[needs_videos, pytest.mark.slow]),
    pytest.param("pyfeat_single_face.mp4", "bytes 0.5 20000", "completes, skipping",
                 marks=[needs_videos, pytest.mark.slow]),
    pytest.param("pyfeat_single_face.mp4", "cut 0.3", "fails to open", marks=[needs_videos, pytest.mark.slow]),
    pytest.param("liveportrait_d18.mp4", "cut 0.9", "fails to open", marks=[needs_videos, pytest.mark.slow]),
]


def damaged_copy(clip, damage: str, folder):
    """damage: "cut AT" keeps the first AT of the file's bytes; "bytes AT N" overwrites N bytes from AT."""
    data = clip.read_bytes()
    kind, *params = damage.split()
    damaged = folder / f"damaged{clip.suffix}"
    damaged.write_bytes(data[:int(len(data) * float(params[0]))] if kind == "cut"
                        else random_bytes(data, float(params[0]), int(params[1])))
    return damaged


@pytest.mark.parametrize("clip,damage,expect", VIDEO_CASES)
def test_damaged_video(clips, tmp_path, clip, damage, expect):
    damaged = damaged_copy(clips[clip], damage, tmp_path)
    cap = cv2.VideoCapture(str(clips[clip]))
    count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    proc = run_app("--source", damaged, "--no-display", "--report", tmp_path / "report")
    if expect == "fails to open":
        assert_one_error_line(proc, str(damaged), "cannot open as a video")
        return
    s = completed(proc)
    rows = read_rows(tmp_path / "report" / "frames.csv")
    frames = [int(r["frame"]) for r in rows]
    # One face in every clip: one row per frame with a face, in source order.
    assert len(rows) == s["rows"] == s["with_faces"] == len(set(frames)) and frames == sorted(frames)
    assert s["frames"] <= decodable_frames(damaged)
    last = frames[-1] if frames else -1
    if expect == "completes, truncated":
        assert "truncated or damaged" in s["ended_by"]
        assert last < count - fps
    elif expect == "completes, numbered by the container":
        assert s["ended_by"] == "end of input" and s["frames"] + s["skipped"] < count
    else:
        assert s["ended_by"] == "end of input"
        # Reading went on past the damage to the end: the frames analysed and skipped make up the clip.
        assert s["frames"] + s["skipped"] == count
    if expect == "completes, skipping":
        assert s["skipped"] > 0 and f"{s['skipped']} unreadable frames skipped" in proc.stdout
    skipped_column = [int(r["skipped_frames"]) for r in rows]
    assert skipped_column == sorted(skipped_column) and max(skipped_column, default=0) <= s["skipped"]
    if rows:
        summary = json.loads((tmp_path / "report" / "summary.json").read_text())
        assert summary["skipped_frames"] == s["skipped"] and summary["rows"] == len(rows)
    if clip.startswith("astronaut") and expect != "completes, numbered by the container":
        # Numbers and times are the source's, also after a gap: the face-free frames stay face-free.
        assert not set(frames) & set(NO_FACE)
        assert len(frames) >= 0.9 * (s["frames"] - len(NO_FACE))
        assert all(float(r["timestamp_s"]) == pytest.approx(int(r["frame"]) / FPS, abs=1e-3) for r in rows)


# --live plays the file as a camera would, yet reports its damage as the run without it does: the same
# summary line (how the file ended, the frames skipped) and exit status, its recording and log finalised.
@pytest.mark.parametrize("clip,damage", [("astronaut.avi", "cut 0.4"),
                                         pytest.param("astronaut.mp4", "bytes 0.5 20000", marks=pytest.mark.slow)])
def test_damaged_video_played_live(clips, tmp_path, clip, damage):
    damaged = damaged_copy(clips[clip], damage, tmp_path)
    with open_source(str(damaged)) as src:  # the reader the run without --live reports from
        decoded = sum(1 for _ in src)
        ended_by, skipped = src.ended_by or "end of input", src.skipped_frames
    assert ("truncated or damaged" in ended_by) if damage.startswith("cut") else skipped > 0
    proc = run_app("--source", damaged, "--live", "--no-display", "--csv", tmp_path / "log.csv",
                   "--record", tmp_path / "rec.mp4")
    s = completed(proc)
    assert s["ended_by"] == ended_by and s["skipped"] == skipped
    if skipped:
        assert f"; {skipped} unreadable frames skipped" in proc.stdout
    assert s["frames"] >= 0.5 * decoded  # the loop keeps the file's pace, dropping a few frames at most
    rows = read_rows(tmp_path / "log.csv")
    assert len(rows) == s["rows"] > 0
    skipped_column = [int(r["skipped_frames"]) for r in rows]
    assert skipped_column == sorted(skipped_column) and max(skipped_column) <= skipped
    recording = cv2.VideoCapture(str(tmp_path / "rec.mp4"))
    assert int(recording.get(cv2.CAP_PROP_FRAME_COUNT)) > 0 and recording.read()[0]  # finalised: it plays
    recording.release()


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) for c in
                                  ("zero_bytes", "image_that_is_text", "video_named_jpg", "png_named_mp4",
                                   "mp4_named_avi")])
def test_wrong_or_empty_file(clips, tmp_path, astronaut_bgr, case):
    if case == "zero_bytes":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif case == "image_that_is_text":
        path = tmp_path / "photo.jpg"
        path.write_text("this is not a photo\n" * 20)
    elif case == "video_named_jpg":
        path = tmp_path / "clip.jpg"
        path.write_bytes(clips["astronaut.mp4"].read_bytes())
    else:  # the contents decide, whatever the name says
        path = tmp_path / ("photo.mp4" if case == "png_named_mp4" else "clip.avi")
        if case == "png_named_mp4":
            cv2.imwrite(str(tmp_path / "photo.png"), astronaut_bgr)
            path.write_bytes((tmp_path / "photo.png").read_bytes())
        else:
            path.write_bytes(clips["astronaut.mp4"].read_bytes())
    proc = run_app("--source", path, "--no-display", "--csv", tmp_path / "log.csv")
    if case in ("png_named_mp4", "mp4_named_avi"):
        s = completed(proc)
        assert s["frames"] == (1 if case == "png_named_mp4" else FRAMES)
        assert len(read_rows(tmp_path / "log.csv")) == s["rows"] > 0
    else:
        what = "cannot open as a video" if case == "zero_bytes" else "cannot read as an image"
        assert_one_error_line(proc, str(path), what)


def test_folder_mixing_good_and_broken_images(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    face = astronaut_face_bgr()
    cv2.imwrite(str(photos / "a_good.jpg"), face)
    cv2.imwrite(str(photos / "b_good.png"), face)
    png, jpg = (photos / "b_good.png").read_bytes(), (photos / "a_good.jpg").read_bytes()
    (photos / "c_cut.png").write_bytes(png[:len(png) // 2])
    (photos / "d_cut.jpg").write_bytes(jpg[:len(jpg) * 3 // 4])  # libjpeg decodes what is there, grey below
    (photos / "e_random_bytes.png").write_bytes(random_bytes(png, 0.5, 2000))
    (photos / "f_text.jpg").write_text("a shopping list, not a photo\n")
    (photos / "g_empty.png").write_bytes(b"")
    decodable = {p.name for p in photos.iterdir() if cv2.imread(str(p)) is not None}
    broken = len(list(photos.iterdir())) - len(decodable)
    assert {"a_good.jpg", "b_good.png"} <= decodable and broken >= 4
    proc = run_app("--source", photos, "--no-display", "--report", tmp_path / "report")
    s = completed(proc)
    assert s["frames"] == len(decodable) and s["skipped"] == broken
    assert f"{broken} unreadable images skipped" in proc.stdout and "f_text.jpg" in proc.stdout
    rows = read_rows(tmp_path / "report" / "frames.csv")
    names = [r["source"].rsplit("/", 1)[1] for r in rows]
    assert set(names) <= decodable and names.count("a_good.jpg") == names.count("b_good.png") == 1
    assert len(rows) == s["rows"]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["skipped_frames"] == broken
    assert (tmp_path / "report" / "contact_sheet.png").is_file()


@pytest.mark.slow
def test_folder_of_only_broken_images_is_one_line(tmp_path):
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_text("not an image")
    proc = run_app("--source", tmp_path, "--no-display")
    assert_one_error_line(proc, str(tmp_path), "none of its 2 images can be read")


@needs_videos
@pytest.mark.slow
def test_library_chatter_is_shown_only_with_verbose(tmp_path):
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(random_bytes((VIDEOS / "liveportrait_d18.mp4").read_bytes(), 0.5, 20000))
    quiet = completed(run_app("--source", damaged, "--no-display"))  # stderr: nothing but the progress bar
    verbose = run_app("--source", damaged, "--no-display", "--verbose")
    assert verbose.returncode == 0 and re.search(r"\[h264 @ 0x[0-9a-f]+\]", verbose.stderr), verbose.stderr
    m = SUMMARY.search(verbose.stdout)
    assert (int(m[1]), int(m[3]), int(m[5])) == (quiet["frames"], quiet["rows"], quiet["skipped"])
    # A file that cannot be read: the project's line still comes last, after FFmpeg's.
    (tmp_path / "cut.mp4").write_bytes((VIDEOS / "liveportrait_d18.mp4").read_bytes()[:50_000])
    proc = run_app("--source", tmp_path / "cut.mp4", "--no-display", "--verbose")
    assert proc.returncode == 2 and "moov atom not found" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
