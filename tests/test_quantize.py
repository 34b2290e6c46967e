"""Int8 weights (written, reloaded exactly, chosen by 'auto', refused clearly)."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from models.checkpoint import CheckpointError, load_model, read_checkpoint
from models.device import cpu_has_bf16
from models.quantize import int8_supported, load_int8
from realtime.analysis.classify import EmotionClassifier
from realtime.analysis.crop import crop_faces
from realtime.analysis.detect import FaceDetector
from tests.paths import REPO, WEIGHTS
from train import evaluate
from train import quantize as quantize_cli

pytestmark = pytest.mark.skipif(not int8_supported(), reason="int8 needs an x86-64 CPU")


@pytest.fixture(scope="module")
def int8_checkpoint(tiny_checkpoint, tiny_fer, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "with_int8.pth"
    assert quantize_cli.cli(["--data", str(tiny_fer), "--weights", str(tiny_checkpoint), "--out", str(out),
                             "--calibration-images", "64"]) == 0
    return out


@pytest.fixture(scope="module")
def astronaut_crop(astronaut_bgr):
    with FaceDetector("short", video=False) as det:
        return crop_faces(astronaut_bgr, det.detect(astronaut_bgr))


def test_quantize_records_calibration_and_scores(int8_checkpoint, tiny_checkpoint):
    meta = read_checkpoint(int8_checkpoint)
    entry = meta["int8"]
    assert entry["calibration"] == {"split": "Training", "images": 64, "seed": 0,
                                    "data": entry["calibration"]["data"]}
    scores = entry["metrics"]["PublicTest"]
    assert scores["n"] == 56 and 0 <= scores["accuracy"] <= 1 and 0 <= scores["top1_agreement"] <= 1
    # The fp32 weights and metadata are untouched; only the int8 entry is added.
    before = read_checkpoint(tiny_checkpoint)
    assert before["training"] == meta["training"]
    assert all(torch.equal(before["state_dict"][k], meta["state_dict"][k]) for k in before["state_dict"])


def test_int8_reloads_exactly_without_data(int8_checkpoint, tiny_fer):
    # Rebuilt from the checkpoint alone, the int8 model reproduces the accuracy train.quantize recorded.
    recorded = read_checkpoint(int8_checkpoint)["int8"]["metrics"]["PublicTest"]["accuracy"]
    out = tiny_fer.parent / "int8_eval.json"
    assert evaluate.cli(["--data", str(tiny_fer / "test"), "--weights", str(int8_checkpoint), "--int8",
                         "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["int8"] is True and result["accuracy"] == pytest.approx(recorded, abs=1e-9)


def test_int8_follows_fp32_on_a_real_face(int8_checkpoint, astronaut_crop):
    fp32 = EmotionClassifier(str(int8_checkpoint), "cpu", precision="fp32").predict(astronaut_crop)
    int8 = EmotionClassifier(str(int8_checkpoint), "cpu", precision="int8").predict(astronaut_crop)
    assert int8.shape == fp32.shape == (1, 7)
    assert np.allclose(int8.sum(1), 1, atol=1e-5)
    assert np.abs(int8 - fp32).max() < 0.1


def test_auto_precision(int8_checkpoint, tiny_checkpoint):
    # The int8 entry wins on the CPU whenever present (fastest on AVX2 and AMX alike); without it,
    # bf16 where it is native, else fp32.
    assert EmotionClassifier(str(int8_checkpoint), "cpu").precision == "int8"
    assert EmotionClassifier(str(tiny_checkpoint), "cpu").precision == ("bf16" if cpu_has_bf16() else "fp32")


def test_missing_or_damaged_int8_is_one_clear_line(int8_checkpoint, tiny_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="has no int8 weights") as e:
        EmotionClassifier(str(tiny_checkpoint), "cpu", precision="int8")
    assert "\n" not in str(e.value)

    payload = torch.load(int8_checkpoint, weights_only=True)
    key = next(k for k in payload["int8"]["state_dict"] if k.endswith(".scale"))
    del payload["int8"]["state_dict"][key]
    damaged = tmp_path / "damaged.pth"
    torch.save(payload, damaged)
    with pytest.raises(CheckpointError, match="int8 weights do not fit") as e:
        load_int8(load_model(damaged), str(damaged))
    assert "\n" not in str(e.value)


def test_app_reports_missing_int8_and_exits(tiny_checkpoint, tmp_path, astronaut_bgr):
    photo = tmp_path / "face.png"  # a good source: the app checks it before it loads the weights
    cv2.imwrite(str(photo), astronaut_bgr)
    proc = subprocess.run([sys.executable, "run_webcam.py", "--weights", str(tiny_checkpoint), "--precision", "int8",
                           "--source", str(photo), "--no-display"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "has no int8 weights" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")
def test_shipped_weights_carry_int8_that_agrees_with_fp32(astronaut_crop):
    meta = read_checkpoint(WEIGHTS)
    assert meta["int8"]["calibration"]["split"] == "Training"
    assert meta["int8"]["metrics"]["PublicTest"]["top1_agreement"] > 0.95
    fp32 = EmotionClassifier(str(WEIGHTS), "cpu", precision="fp32").predict(astronaut_crop)
    int8 = EmotionClassifier(str(WEIGHTS), "cpu", precision="int8").predict(astronaut_crop)
    assert int8.argmax() == fp32.argmax() and np.abs(int8 - fp32).max() < 0.1

