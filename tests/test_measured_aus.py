"""Measured Action Units: the blendshape table, the per-person baseline, the landmarker stage, the app's CSV."""

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mappings import (
    AU_ORDER,
    BLENDSHAPE_NAMES,
    BLENDSHAPE_TO_AU_PATH,
    MappingError,
    affect,
    default_measured,
    measured_affect,
    read_blendshape_map,
)
from models import EMOTIONS
from realtime.analysis.action_units import BASELINE_MIN_FRAMES, MeasuredActionUnits
from realtime.analysis.detect import FaceDetector
from realtime.analysis.faces import Detection, Face, FaceMesh
from realtime.analysis.landmarks import FaceLandmarker, LandmarkerError
from realtime.analysis.rows import MEASURED_AU_COLUMNS, PROTOTYPE_AU_COLUMNS
from tests.media import astronaut_face_bgr
from tests.paths import REPO, VIDEOS, WEIGHTS

TABLE = read_blendshape_map()


def blendshapes(**scores) -> np.ndarray:
    out = np.zeros(len(BLENDSHAPE_NAMES), np.float32)
    for name, value in scores.items():
        out[BLENDSHAPE_NAMES.index(name)] = value
    return out


def smile(level: float) -> np.ndarray:
    return blendshapes(mouthSmileLeft=level, mouthSmileRight=level)


def face_with(scores: np.ndarray, track_id: int = 1) -> Face:
    return Face(Detection((0, 0, 10, 10), 1.0), mesh=FaceMesh(np.zeros((478, 2), np.float32), scores),
                track_id=track_id)


# -- the table ---------------------------------------------------------------------------------------
def test_shipped_table_is_calibrated_and_marks_the_blendshapes_this_model_barely_moves():
    assert {"AU01", "AU04", "AU12", "AU26", "AU45"} <= set(TABLE.au_order)
    assert TABLE.weak == {"AU06", "AU09"}
    assert (TABLE.rest <= TABLE.rest_max).all() and (TABLE.rest_max < 1).all()
    # Neutral faces rest with the lids somewhat squinted (eyeSquint ~0.2-0.4), but not smiling.
    assert TABLE.rest[TABLE.au_order.index("AU07")] > 0.1
    assert TABLE.rest[TABLE.au_order.index("AU12")] < 0.05
    assert TABLE.gain[[TABLE.au_order.index(au) for au in TABLE.weak]].tolist() == [0, 0]


def test_an_au_reads_the_mean_of_its_blendshapes_with_the_resting_level_taken_off():
    raw = TABLE.raw(blendshapes(mouthSmileLeft=0.8, mouthSmileRight=0.4)[None])
    j = TABLE.au_order.index("AU12")
    assert raw[0, j] == pytest.approx(0.6)
    rest = TABLE.rest.copy()
    at_rest = TABLE.intensities(rest[None])
    assert np.allclose(at_rest, 0)
    assert np.allclose(TABLE.intensities(np.ones((1, len(rest)))), 1)
    # A person's own baseline is capped at what resting faces of the population show.
    assert TABLE.intensities(np.full((1, len(rest)), 0.95), np.full(len(rest), 0.95)).min() > 0


def test_measured_affect_of_a_smile_is_pleasant_and_has_only_the_smile_active():
    a = measured_affect({"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9})
    assert a.aus["AU12"] > 0.8
    assert max(v for k, v in a.aus.items() if k != "AU12") == 0
    assert a.valence > 0.3
    frown = measured_affect({"browDownLeft": 0.8, "browDownRight": 0.8})
    assert frown.valence < -0.2
    with pytest.raises(ValueError, match="unknown blendshape 'smile'"):
        measured_affect({"smile": 1.0})


def _edited(edit) -> str:
    document = json.loads(BLENDSHAPE_TO_AU_PATH.read_text())
    edit(document)
    return json.dumps(document)


def _au(name, field, value):
    return lambda d: d["action_units"][name].__setitem__(field, value)


MALFORMED = [
    (_au("AU12", "blendshapes", ["mouthSmile"]), "action_units.AU12.blendshapes: unknown blendshape 'mouthSmile'"),
    (_au("AU12", "blendshapes", []), "action_units.AU12.blendshapes: expected a non-empty list"),
    (_au("AU12", "blendshapes", "mouthSmileLeft"), "action_units.AU12.blendshapes: expected a non-empty list"),
    (_au("AU12", "blendshapes", ["_neutral"]), "action_units.AU12.blendshapes: unknown blendshape '_neutral'"),
    (_au("AU12", "gain", -1), "action_units.AU12.gain: -1 is out of range [0, 10]"),
    (_au("AU12", "rest", "0.1"), "action_units.AU12.rest: expected a number, got a string"),
    (_au("AU07", "rest", 0.9), "action_units.AU07.rest: 0.9 is above rest_max"),
    (_au("AU12", "weak", "yes"), "action_units.AU12.weak: expected true or false, got a string"),
    (_au("AU12", "intensity", 1.0), "action_units.AU12: unknown field 'intensity'"),
    (lambda d: d["action_units"]["AU12"].pop("name"), "action_units.AU12: missing field 'name'"),
    (lambda d: d["action_units"].__setitem__("AU6", {"name": "x", "blendshapes": ["jawOpen"]}),
     "action_units.AU6: not an action unit key"),
    (lambda d: d.pop("action_units"), "missing field 'action_units'"),
]


@pytest.mark.parametrize("edit,message", MALFORMED)
def test_a_malformed_table_is_rejected_naming_the_file_key_and_problem(tmp_path, edit, message):
    path = tmp_path / "blendshape_to_au.json"
    path.write_text(_edited(edit))
    with pytest.raises(MappingError) as caught:
        read_blendshape_map(path)
    assert str(caught.value).startswith(f"{path}: {message}")


@pytest.mark.slow
def test_the_app_rejects_a_malformed_table_in_one_line(tmp_path):
    """The shipped file broken in place (in a copy of the code) stops the app with exit 2, no traceback."""
    code = ("import sys, mappings.measured as m; m.load_measured.__defaults__ = (sys.argv[1], m.AU_TO_VA_PATH); "
            "import run_webcam; sys.exit(run_webcam.main(sys.argv[2:]))")
    bad = tmp_path / "table.json"
    bad.write_text(_edited(_au("AU12", "blendshapes", ["mouthSmile"])))
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut_face_bgr())
    proc = subprocess.run([sys.executable, "-c", code, str(bad), "--source", str(image), "--no-display"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: action_units.AU12.blendshapes")


# -- the per-person baseline -----------------------------------------------------------------------------
def test_a_person_who_rests_with_a_slight_smile_reads_zero_at_rest_and_high_when_smiling():
    aus = MeasuredActionUnits(TABLE)
    j = "AU12"
    for i in range(BASELINE_MIN_FRAMES + 5):
        f = face_with(smile(0.06))
        aus.update([f], timestamp_s=i / 30)
    assert f.measured_aus[j] == pytest.approx(0, abs=1e-6)
    f = face_with(smile(0.9))
    aus.update([f], timestamp_s=1.0)
    assert f.measured_aus[j] > 0.85


def test_a_person_who_smiles_all_along_still_reads_as_smiling():
    aus = MeasuredActionUnits(TABLE)
    for i in range(120):
        f = face_with(smile(0.9))
        aus.update([f], timestamp_s=i / 30)
    assert f.measured_aus["AU12"] > 0.8  # the baseline stops at the population's rest_max


def test_tracks_keep_their_own_baselines_and_a_retired_track_starts_clean():
    aus = MeasuredActionUnits(TABLE)
    for i in range(40):
        a, b = face_with(smile(0.06), 1), face_with(blendshapes(), 2)
        aus.update([a, b], timestamp_s=i / 30)
    assert aus.baseline(1)[TABLE.au_order.index("AU12")] == pytest.approx(0.06)
    assert aus.baseline(2)[TABLE.au_order.index("AU12")] == 0
    aus.update([], retired=[1], timestamp_s=2.0)
    assert aus.baseline(1) is None  # a new face under that ID would get the population's resting level


def test_photos_use_the_population_baseline_and_a_face_without_mesh_is_not_measured():
    aus = MeasuredActionUnits(TABLE, per_person=False)
    f, lost = face_with(smile(0.9)), Face(Detection((0, 0, 10, 10), 1.0), track_id=2)
    aus.update([f, lost])
    assert f.measured_aus == dict(zip(TABLE.au_order, TABLE.intensities(TABLE.raw(smile(0.9)[None]))[0].tolist(),
                                      strict=True))
    assert lost.measured_aus is None


# -- the landmarker on real faces ---------------------------------------------------------------------------
def test_the_astronaut_smiles_with_her_lip_corners_and_not_her_brows(astronaut_bgr):
    image = astronaut_bgr.copy()
    with FaceDetector(video=False) as detector, FaceLandmarker(video=False) as landmarker:
        faces = [Face(d, track_id=1) for d in detector.detect(image)]
        landmarker.measure(image, faces)
    assert len(faces) == 1 and faces[0].mesh is not None
    x, y, w, h = faces[0].box
    assert ((faces[0].mesh.landmarks >= [x - w, y - h]) & (faces[0].mesh.landmarks <= [x + 2 * w, y + 2 * h])).all()
    kp = faces[0].mesh.keypoints()
    assert kp[0, 0] < kp[1, 0], "the subject's right eye is on the image's left"
    assert np.linalg.norm(kp[:2] - faces[0].detection.keypoints[:2], axis=1).max() < 0.1 * w
    aus = MeasuredActionUnits(TABLE, per_person=False)
    aus.update(faces)
    assert faces[0].measured_aus["AU12"] > 0.6
    assert faces[0].measured_aus["AU04"] < 0.15


def test_a_box_with_no_face_in_it_gets_no_mesh(astronaut_bgr):
    blank = np.full((480, 640, 3), 90, np.uint8)
    with FaceLandmarker(video=True) as landmarker:
        faces = [Face(Detection((200, 150, 120, 120), 0.9), track_id=7)]
        landmarker.measure(blank, faces, 0)
        assert faces[0].mesh is None
        landmarker.retire([7])
        # The retired track's landmarker serves the next track, and finds the real face.
        frame = blank.copy()
        face = astronaut_face_bgr()
        frame[50:350, 100:330] = face
        with FaceDetector(video=False) as detector:
            found = [Face(d, track_id=8) for d in detector.detect(frame)]
        landmarker.measure(frame, found, 33)
        assert found[0].mesh is not None


@pytest.mark.parametrize("content,message", [
    pytest.param(None, "face landmarker model not found", marks=pytest.mark.slow),  # starts the app
    (b"", "not a MediaPipe .task bundle"),
    (b"hello, not a model", "not a MediaPipe .task bundle"),
    pytest.param("truncated", "not a MediaPipe .task bundle", marks=pytest.mark.slow),  # starts the app
    ("detector", "not a face landmarker bundle with blendshapes"),
])
def test_a_missing_truncated_or_wrong_task_file_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "model.task"
    shipped = REPO / "assets" / "face_landmarker.task"
    if content == "truncated":
        path.write_bytes(shipped.read_bytes()[:2_000_000])
    elif content == "detector":
        path.write_bytes((REPO / "assets" / "face_detection_short_range.tflite").read_bytes())
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(LandmarkerError, match=message):
        FaceLandmarker(path)
    if content in (None, "truncated"):
        image = tmp_path / "face.png"
        cv2.imwrite(str(image), astronaut_face_bgr())
        proc = subprocess.run([sys.executable, "run_webcam.py", "--source", str(image), "--no-display",
                               "--landmarker", str(path)], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == f"error: {path}: {message}" + (
            "" if content is None else proc.stderr.strip().splitlines()[-1].split(message, 1)[1])


# -- the app ---------------------------------------------------------------------------------------------------
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")


def run_app(*args):
    return subprocess.run([sys.executable, "run_webcam.py", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


@needs_weights
@pytest.mark.parametrize("au_source", ["measured", pytest.param("prototype", marks=pytest.mark.slow)])
@pytest.mark.slow
def test_the_csv_carries_both_kinds_of_aus_and_the_chosen_kind_drives_what_is_shown(tmp_path, au_source):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut_face_bgr())
    proc = run_app("--source", image, "--no-display", "--csv", tmp_path / "log.csv", "--au-source", au_source)
    assert proc.returncode == 0, proc.stderr
    assert f"[{au_source}]" in proc.stdout
    (row,) = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert row["au_source"] == au_source and row["au_measured"] == "1"
    assert all(row[c] != "" for c in PROTOTYPE_AU_COLUMNS + MEASURED_AU_COLUMNS)
    assert float(row["measured_AU12"]) > 0.6
    # Prototype AUs and valence/arousal are exactly the earlier project's mapping of the probabilities.
    expected = affect([float(row[f"p_{e}"]) for e in EMOTIONS])
    for au in AU_ORDER:
        assert float(row[f"prototype_{au}"]) == pytest.approx(expected.aus[au], abs=2e-4)
    assert row["va_source"] == "prototype"
    assert float(row["valence"]) == pytest.approx(expected.valence, abs=2e-4)
    assert float(row["prototype_arousal"]) == pytest.approx(expected.arousal, abs=2e-4)
    aus = np.array([[float(row[c]) for c in MEASURED_AU_COLUMNS]])
    valence, _ = default_measured().valence_arousal(aus)
    assert float(row["measured_valence"]) == pytest.approx(valence[0], abs=5e-4)


@needs_weights
@pytest.mark.slow
@pytest.mark.skipif(not (VIDEOS / "liveportrait_d0.mp4").is_file(), reason="../shared/videos not present")
def test_a_real_clip_s_measured_smile_rises_where_the_man_smiles(tmp_path):
    """liveportrait_d0: the man is straight-faced for the first ~0.7 s, then grins broadly until ~2.6 s."""
    proc = run_app("--source", VIDEOS / "liveportrait_d0.mp4", "--no-display", "--csv", tmp_path / "log.csv",
                   "--report", tmp_path / "report")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert all(r["au_measured"] == "1" for r in rows)
    au12 = {int(r["frame"]): float(r["measured_AU12"]) for r in rows}
    rest = np.median([au12[i] for i in range(0, 16) if i in au12])
    grin = np.median([au12[i] for i in range(28, 61) if i in au12])
    assert rest < 0.15 and grin > 0.6
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["au_source"] == "measured" and "AU45" in summary["aus"]
    assert summary["faces"]["1"]["aus_mean"]["AU12"] > 0.3


@needs_weights
@pytest.mark.slow
def test_without_landmarks_every_face_keeps_its_emotion_and_says_it_was_not_measured(tmp_path):
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), astronaut_face_bgr())
    proc = run_app("--source", image, "--no-display", "--csv", tmp_path / "log.csv", "--no-landmarks")
    assert proc.returncode == 0, proc.stderr
    assert "[prototype, no mesh found]" in proc.stdout
    (row,) = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert row["label"] == "happy" and row["au_measured"] == "0" and row["au_source"] == "prototype"
    assert all(row[c] == "" for c in MEASURED_AU_COLUMNS) and row["measured_valence"] == ""
    assert float(row["prototype_AU12"]) > 0.5


def test_mesh_every_other_frame_carries_the_last_mesh_with_the_box(astronaut_bgr):
    image = astronaut_bgr.copy()
    with FaceDetector(video=False) as detector:
        (detection,) = detector.detect(image)
    x, y, w, h = detection.box
    moved = Detection((x + 10, y + 4, w, h), detection.score, detection.keypoints + np.float32([10, 4]))
    shifted = np.roll(image, (4, 10), axis=(0, 1))
    with FaceLandmarker(video=True, every=2) as landmarker:
        first = Face(detection, track_id=1)
        landmarker.measure(image, [first], 0)
        carried = Face(moved, track_id=1)
        landmarker.measure(shifted, [carried], 33)
        assert np.array_equal(carried.mesh.blendshapes, first.mesh.blendshapes)
        assert np.allclose(carried.mesh.landmarks - first.mesh.landmarks, [10, 4], atol=1e-3)
        landmarker.retire([1])
        # A retired track is measured again at once: on the unshifted photo its mesh stays where the
        # face is, where a carried one would have moved with the (moved) box.
        fresh = Face(moved, track_id=1)
        landmarker.measure(image, [fresh], 66)
        assert np.abs(fresh.mesh.landmarks - first.mesh.landmarks).mean() < 2
    with pytest.raises(ValueError, match="every >= 1"):
        FaceLandmarker(every=0)
