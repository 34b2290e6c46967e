"""Session reports built from CSV logs like the app writes: files, figures agreeing with the CSV, errors."""

import csv
import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from models import EMOTIONS
from realtime.outputs.report import ReportError, build_report, read_log

REPO = Path(__file__).resolve().parents[1]
AUS = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU15", "AU16", "AU20", "AU23",
       "AU26"]
HEADER = ["frame", "timestamp_s", "source", "face_id", "x", "y", "w", "h", "label", "confidence",
          *[f"p_{e}" for e in EMOTIONS], *[f"raw_p_{e}" for e in EMOTIONS], "valence", "arousal", *AUS]
FPS = 30.0
# Typical circumplex positions, so valence/arousal move with the probabilities as the app's would.
VA_ANCHORS = np.array([[-0.6, 0.7], [-0.7, 0.3], [-0.6, 0.8], [0.8, 0.5], [0.0, 0.0], [-0.7, -0.5], [0.3, 0.85]])


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def face_rows(face_id, frames, story, rng, source="clips/session.mp4", box=(200, 120, 160, 170)):
    """Rows for one face over `frames`; story: (emotion, peak frame) pairs whose logits rise and fall smoothly."""
    frames = np.asarray(frames)
    logits = np.zeros((len(frames), len(EMOTIONS)))
    logits[:, EMOTIONS.index("neutral")] = 1.0
    for emotion, peak in story:
        logits[:, EMOTIONS.index(emotion)] += 3.5 * np.exp(-((frames - peak) / 40.0) ** 2)
    probs = softmax(logits)
    raw = softmax(logits + rng.normal(0, 0.6, logits.shape))
    va = np.clip(probs @ VA_ANCHORS, -1, 1)
    au_weights = rng.uniform(0, 1, (len(EMOTIONS), len(AUS)))
    aus = np.clip(probs @ au_weights, 0, 1)
    rows = []
    for i, frame in enumerate(frames):
        k = int(probs[i].argmax())
        rows.append({
            "frame": int(frame), "timestamp_s": f"{frame / FPS:.4f}", "source": source, "face_id": face_id,
            "x": box[0] + int(5 * math.sin(frame / 15)), "y": box[1], "w": box[2], "h": box[3],
            "label": EMOTIONS[k], "confidence": f"{probs[i, k]:.6f}",
            **{f"p_{e}": f"{p:.6f}" for e, p in zip(EMOTIONS, probs[i], strict=True)},
            **{f"raw_p_{e}": f"{p:.6f}" for e, p in zip(EMOTIONS, raw[i], strict=True)},
            "valence": f"{va[i, 0]:.6f}", "arousal": f"{va[i, 1]:.6f}",
            **{au: f"{v:.6f}" for au, v in zip(AUS, aus[i], strict=True)},
        })
    return rows


def by_frame(rows):
    """In the order the app writes them: frame by frame, faces within a frame by ID."""
    return sorted(rows, key=lambda r: (r["frame"], r["face_id"]))


def write_log(path, rows, header=HEADER):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def two_face_rows():
    """Face 1 throughout 8 s; face 2 arrives later, leaves for 1.5 s and comes back."""
    rng = np.random.default_rng(0)
    return by_frame(face_rows(1, range(0, 240), [("happy", 90), ("surprise", 170)], rng)
                    + face_rows(2, [*range(30, 110), *range(155, 220)], [("sad", 60), ("angry", 180)], rng,
                                box=(520, 140, 150, 150)))


@pytest.fixture
def session_csv(tmp_path):
    return write_log(tmp_path / "session.csv", two_face_rows())


def summary_from_csv(path):
    """What summary.json should say, recomputed straight from the CSV text."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_face = defaultdict(list)
    for r in rows:
        by_face[r["face_id"]].append(r)
    timestamps = [float(r["timestamp_s"]) for r in rows]
    expected = {"frames": len({r["frame"] for r in rows}), "duration_s": max(timestamps) - min(timestamps),
                "faces": {}}
    for fid, face in by_face.items():
        t = [float(r["timestamp_s"]) for r in face]
        labels = [r["label"] for r in face]
        stats = {
            "frames": len(face), "first_s": min(t), "last_s": max(t), "duration_s": max(t) - min(t),
            "emotion_share": {e: labels.count(e) / len(face) for e in EMOTIONS},
            "mean_probs": {e: np.mean([float(r[f"p_{e}"]) for r in face]) for e in EMOTIONS},
            "aus_mean": {au: np.mean([float(r[au]) for r in face]) for au in AUS},
        }
        for name in ("valence", "arousal"):
            v = np.array([float(r[name]) for r in face])
            stats[name] = {"mean": v.mean(), "std": v.std(), "min": v.min(), "max": v.max()}
        stats["dominant_emotion"] = max(EMOTIONS, key=lambda e: stats["emotion_share"][e])
        expected["faces"][fid] = stats
    return expected


def assert_close(actual, expected, where=""):
    if isinstance(expected, dict):
        assert set(actual) == set(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, str):
        assert actual == expected, where
    else:
        assert actual == pytest.approx(expected, abs=6e-5), where  # summary.json rounds to 4 decimals


def png_size(path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image.shape[1], image.shape[0]


def test_report_files_exist_and_folder_is_self_contained(session_csv, tmp_path):
    out = tmp_path / "report"
    summary = build_report(session_csv, out, progress=False)
    for name in ("summary.json", "timeline.png", "va.png", "frames.csv"):
        assert (out / name).is_file(), name
    assert not (out / "contact_sheet.png").exists()
    assert (out / "frames.csv").read_bytes() == session_csv.read_bytes()
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["files"] == {"timeline": "timeline.png", "va": "va.png", "contact_sheet": None}


def test_summary_agrees_with_csv(session_csv, tmp_path):
    summary = build_report(session_csv, tmp_path / "out", progress=False)
    expected = summary_from_csv(session_csv)
    assert summary["kind"] == "stream"
    assert summary["source"] == "clips/session.mp4"
    assert summary["rows"] == 240 + 145
    assert summary["frames"] == expected["frames"] == 240
    assert summary["duration_s"] == pytest.approx(expected["duration_s"], abs=6e-5)
    assert summary["aus"] == AUS
    assert_close(summary["faces"], expected["faces"], "faces")
    assert summary["plotted_faces"] == [1, 2]
    for face in summary["faces"].values():
        assert sum(face["emotion_share"].values()) == pytest.approx(1, abs=1e-3)


def test_the_report_uses_the_shown_label_where_the_log_has_one(tmp_path):
    rows = two_face_rows()
    for r in rows:  # the shown label, held by hysteresis, says neutral where the top class says otherwise
        r["shown_label"], r["shown_confidence"] = "neutral", r["p_neutral"]
    path = write_log(tmp_path / "shown.csv", rows, HEADER + ["shown_label", "shown_confidence"])
    log = read_log(path)
    assert set(log.label) == {EMOTIONS.index("neutral")}
    np.testing.assert_allclose(log.confidence, [float(r["p_neutral"]) for r in by_frame(rows)], atol=1e-6)
    summary = build_report(path, tmp_path / "out", progress=False)
    assert all(face["emotion_share"]["neutral"] == 1 for face in summary["faces"].values())
    assert {face["dominant_emotion"] for face in summary["faces"].values()} == {"neutral"}
    assert any(r["label"] != "neutral" for r in rows)  # what the older 'label' column would have given


def test_png_sizes_are_as_documented(session_csv, tmp_path):
    build_report(session_csv, tmp_path, progress=False)
    assert png_size(tmp_path / "timeline.png") == (1500, 120 + 580 * 2)
    assert png_size(tmp_path / "va.png") == (1500, 160 + 660 * 1)


def test_single_face_sizes(tmp_path):
    rows = face_rows(0, range(0, 90), [("fear", 45)], np.random.default_rng(1), source="0")
    summary = build_report(write_log(tmp_path / "frames.csv", rows), tmp_path, progress=False)
    assert summary["source"] == "0"
    assert png_size(tmp_path / "timeline.png") == (1500, 120 + 580)
    assert png_size(tmp_path / "va.png") == (1050, 1020)


def test_only_the_longest_seen_faces_are_plotted(tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for fid in range(8):  # face 7 is seen longest, faces 0 and 1 shortest
        rows += face_rows(fid, range(0, 20 + 10 * fid), [("happy", 10)], rng)
    summary = build_report(write_log(tmp_path / "log.csv", by_frame(rows)), tmp_path / "r", progress=False)
    assert len(summary["faces"]) == 8
    assert summary["plotted_faces"] == [2, 3, 4, 5, 6, 7]
    assert png_size(tmp_path / "r" / "timeline.png") == (1500, 120 + 580 * 6)
    assert png_size(tmp_path / "r" / "va.png") == (1500, 160 + 660 * 3)


def test_csv_already_in_the_report_folder_is_not_copied(session_csv, tmp_path):
    summary = build_report(session_csv, tmp_path, progress=False)
    assert summary["csv"] == "session.csv"
    assert not (tmp_path / "frames.csv").exists()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "realtime.outputs.report", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_builds_the_report(session_csv, tmp_path):
    out = tmp_path / "cli"
    result = run_cli(session_csv, "--out", out, "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "summary.json" in result.stdout
    for name in ("summary.json", "timeline.png", "va.png", "frames.csv"):
        assert (out / name).is_file(), name


def header_without(column):
    return [c for c in HEADER if c != column]


@pytest.mark.parametrize("content, problem", [
    ("", "empty file"),
    (",".join(HEADER) + "\n", "no data rows"),
    ("missing column", "missing column 'arousal'"),
    ("non-numeric", "line 3, column 'valence': 'high' is not a number"),
    (None, "file not found"),
])
def test_cli_rejects_bad_logs_with_one_line(tmp_path, content, problem):
    path = tmp_path / "bad.csv"
    rows = two_face_rows()[:5]
    if content == "missing column":
        write_log(path, rows, header_without("arousal"))
    elif content == "non-numeric":
        rows[1]["valence"] = "high"
        write_log(path, rows)
    elif content is not None:
        path.write_text(content)
    result = run_cli(path, "--out", tmp_path / "out")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: ")
    assert problem in lines[0]
    assert not (tmp_path / "out").exists()  # nothing is written for a log that cannot be read


@pytest.mark.parametrize("column, value, problem", [
    ("p_happy", "1.2", "line 2, column 'p_happy': 1.2 is outside [0, 1]"),
    ("raw_p_sad", "-0.1", "column 'raw_p_sad': -0.1 is outside [0, 1]"),
    ("arousal", "1.5", "column 'arousal': 1.5 is outside [-1, 1]"),
    ("AU12", "nan", "column 'AU12': 'nan' is not a finite number"),
    ("label", "contempt", "column 'label': unknown emotion 'contempt'"),
    ("frame", "1.5", "column 'frame': '1.5' is not an integer"),
    ("x", "", "column 'x': '' is not a number"),
])
def test_read_log_names_the_bad_value(tmp_path, column, value, problem):
    rows = two_face_rows()[:3]
    rows[0][column] = value
    path = write_log(tmp_path / "bad.csv", rows)
    with pytest.raises(ReportError, match="bad.csv") as info:
        read_log(path)
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


def test_read_log_rejects_a_short_row(tmp_path):
    path = write_log(tmp_path / "cut.csv", two_face_rows()[:3])
    with open(path, "a") as f:
        f.write("3,0.1,clips/session.mp4,1,200\n")
    with pytest.raises(ReportError, match=r"cut.csv: line 5: 5 fields, the header has 40"):
        read_log(path)


def test_read_log_sorts_rows_and_finds_every_au(tmp_path):
    rows = two_face_rows()
    path = tmp_path / "shuffled.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(reversed(rows))
    log = read_log(path)
    assert len(log) == len(rows)
    assert np.all(np.diff(log.frame) >= 0)
    assert log.au_names == AUS
    assert log.probs.shape == (len(rows), 7) and log.aus.shape == (len(rows), len(AUS))


@pytest.fixture
def image_folder_csv(tmp_path):
    """Three photos cut from skimage's astronaut, one with two faces, and the log the app would write."""
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)
    boxes = {"portrait.png": [(165, 40, 110, 130)], "wide.jpg": [(180, 60, 110, 130), (20, 300, 90, 90)],
             "edge.png": [(-20, -10, 100, 110)]}  # a box running off the image must still give a square crop
    crops = {"portrait.png": astronaut[:300, 60:380], "wide.jpg": astronaut[:400, :], "edge.png": astronaut[:260, 160:]}
    rows, stories = [], [("happy", 0), ("surprise", 0), ("sad", 0), ("fear", 0)]
    for frame, (name, image) in enumerate(crops.items()):
        cv2.imwrite(str(folder / name), image)
        for fid, box in enumerate(boxes[name]):
            row = face_rows(fid, [frame], [stories.pop(0)], rng, source=str(folder / name), box=box)[0]
            row["x"] = box[0]
            rows.append(row)
    return write_log(tmp_path / "frames.csv", rows)


def test_contact_sheet_for_an_image_folder(image_folder_csv, tmp_path):
    summary = build_report(image_folder_csv, tmp_path, progress=False)
    assert summary["kind"] == "images"
    assert summary["source"] == str(tmp_path / "photos")
    assert summary["frames"] == 3 and summary["rows"] == 4
    assert summary["files"]["contact_sheet"] == "contact_sheet.png"
    assert png_size(tmp_path / "contact_sheet.png") == (1500, 110 + 360 * 1)
    assert png_size(tmp_path / "timeline.png") == (1500, 120 + 580)
    assert png_size(tmp_path / "va.png") == (1050, 1020)
    assert list(summary["faces"]) == ["all"]
    pooled = summary["faces"]["all"]
    assert pooled["frames"] == 3 and pooled["detections"] == 4
    assert [len(faces) for faces in summary["images"].values()] == [1, 2, 1]
    wide = summary["images"][str(tmp_path / "photos" / "wide.jpg")]
    assert [f["face_id"] for f in wide] == [0, 1]
    assert wide[1]["box"] == [20, 300, 90, 90]
    labels = [f["label"] for faces in summary["images"].values() for f in faces]
    assert pooled["emotion_share"] == {e: labels.count(e) / 4 for e in EMOTIONS}


def test_contact_sheet_marks_a_missing_image_and_skips_when_none_exist(image_folder_csv, tmp_path):
    (tmp_path / "photos" / "edge.png").unlink()
    summary = build_report(image_folder_csv, tmp_path / "some_missing", progress=False)
    assert summary["files"]["contact_sheet"] == "contact_sheet.png"
    for image in (tmp_path / "photos").iterdir():
        image.unlink()
    summary = build_report(image_folder_csv, tmp_path / "some_missing", progress=False)
    assert summary["files"]["contact_sheet"] is None
    assert not (tmp_path / "some_missing" / "contact_sheet.png").exists()


@pytest.mark.slow
def test_contact_sheet_stops_at_sixty_faces(tmp_path):
    image = tmp_path / "still.png"
    cv2.imwrite(str(image), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    rows = face_rows(0, range(65), [("happy", 30)], np.random.default_rng(4), source=str(image))
    summary = build_report(write_log(tmp_path / "frames.csv", rows), tmp_path, progress=False)
    assert summary["faces"]["all"]["detections"] == 65
    assert png_size(tmp_path / "contact_sheet.png") == (1500, 110 + 360 * 12)
