"""A brief real training run on a tiny subset, evaluation of its output, resume, and checkpoints."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from models import EMOTIONS
from models.checkpoint import CheckpointError, load_model, read_checkpoint
from tests.conftest import TINY
from tests.paths import REPO
from train import evaluate, train
from train.data import load
from train.metrics import calibration_report, confusion_matrix
from train.predict import predict_probs


def test_train_evaluate_resume(tiny_fer, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(tiny_fer), "--out", str(out), "--epochs", "2", "--cache-dir", str(tmp_path / "c"), *TINY]
    assert train.cli(args) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (out / "curves.png").is_file() and (out / "best.pth").is_file()

    meta = read_checkpoint(out / "best.pth")
    assert meta["classes"] == list(EMOTIONS)
    assert meta["training"]["command"].startswith("python -m train.train")
    assert 0 < meta["input"]["std"] < 1

    # Resume continues the same run: two more epochs, history kept. best.pth is removed first, as when
    # last.pth alone is carried to another machine: the resumed run must write a best.pth again.
    (out / "best.pth").unlink()
    assert train.cli(args[:args.index("--epochs") + 1] + ["4"] + args[args.index("--epochs") + 2:] + ["--resume"]) == 0
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4]
    assert read_checkpoint(out / "best.pth")["training"]["epoch"] in (3, 4)

    result_path = tmp_path / "eval" / "metrics.json"
    assert evaluate.cli(["--data", str(tiny_fer / "test"), "--weights", str(out / "best.pth"),
                         "--json", str(result_path), "--cache-dir", str(tmp_path / "c")]) == 0
    result = json.loads(result_path.read_text())
    assert result["n"] == 8 * len(EMOTIONS)
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["macro_f1"] <= 1
    assert set(result["per_class"]) == set(EMOTIONS)
    assert np.array(result["confusion_matrix"]).sum() == result["n"]
    assert 0 <= result["calibration"]["ece"] <= 1 and result["calibration"]["nll"] > 0
    assert (tmp_path / "eval" / "metrics_confusion.png").is_file()


@pytest.mark.slow
def test_fine_tune_from_checkpoint_with_face_crops(tiny_fer, tiny_checkpoint, tmp_path):
    out = tmp_path / "tuned"
    # TINY's widths are for a new model; --init takes its architecture from the checkpoint.
    assert train.cli(["--data", str(tiny_fer), "--out", str(out), "--epochs", "1", "--init", str(tiny_checkpoint),
                      "--face-crops", "0.5", "--cache-dir", str(tmp_path / "c"),
                      "--widths", "16,16,16,16", *TINY[2:]]) == 0
    start, tuned = read_checkpoint(tiny_checkpoint), read_checkpoint(out / "best.pth")
    assert tuned["model_config"] == start["model_config"] and tuned["input"] == start["input"]
    assert tuned["training"]["args"]["face_crops"] == 0.5
    live = json.loads((out / "history.json").read_text())[0]["val_live_acc"]
    if live is None:  # the drawn stand-in images (no ../shared) hold no face to find
        assert "PublicTest live crops" not in tuned["metrics"]
    else:
        assert 0 <= live <= 1 and tuned["metrics"]["PublicTest live crops"]["accuracy"] == live
    assert len(list((tmp_path / "c").glob("face-detections-*.npz"))) == 2  # training and selection images


@pytest.mark.slow
def test_bad_init_checkpoint_is_one_line_error(tiny_fer, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "train.train", "--data", str(tiny_fer), "--out", str(tmp_path / "r"),
                           "--init", str(tmp_path / "none.pth"), *TINY], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "weights file not found" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_resume_without_checkpoint_is_one_line_error(tiny_fer, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "train.train", "--data", str(tiny_fer), "--out",
                           str(tmp_path / "none"), "--resume", *TINY], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_data_is_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "train.train", "--data", str(tmp_path / "absent"), "--out",
                           str(tmp_path / "r")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


def test_checkpoint_loads_with_weights_only(tiny_checkpoint):
    loaded = load_model(tiny_checkpoint)
    x = torch.zeros(2, 1, 48, 48)
    assert loaded.model(x).shape == (2, len(EMOTIONS))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "foreign", "mismatched", "missing"])
def test_bad_checkpoints_give_one_clear_line(tiny_checkpoint, tmp_path, damage):
    bad = tmp_path / "bad.pth"
    if damage == "truncated":
        bad.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    elif damage == "garbage":
        bad.write_bytes(b"\x00garbage" * 100)
    elif damage == "foreign":
        torch.save({"state_dict": {}}, bad)
    elif damage == "mismatched":
        payload = torch.load(tiny_checkpoint, weights_only=True)
        payload["model_config"]["widths"] = [16, 16, 16, 16]
        torch.save(payload, bad)
    with pytest.raises(CheckpointError) as e:
        load_model(bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.slow
def test_evaluate_cli_reports_bad_weights(tmp_path, tiny_fer):
    proc = subprocess.run([sys.executable, "-m", "train.evaluate", "--data", str(tiny_fer / "test"), "--weights",
                           str(tmp_path / "none.pth")], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "weights file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_scores_an_ensemble_as_the_mean_of_probabilities(tiny_fer, tiny_checkpoint, tmp_path):
    other = tmp_path / "seed1"
    assert train.cli(["--data", str(tiny_fer), "--out", str(other), "--epochs", "1", "--seed", "1",
                      "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    paths = [tiny_checkpoint, other / "best.pth"]
    assert evaluate.cli(["--data", str(tiny_fer / "test"), "--weights", *map(str, paths),
                         "--json", str(tmp_path / "ens.json"), "--cache-dir", str(tmp_path / "c")]) == 0
    result = json.loads((tmp_path / "ens.json").read_text())
    assert result["weights"] == [str(p) for p in paths]

    split = load(tiny_fer / "test", tmp_path / "c")["PublicTest"]
    probs = []
    for path in paths:
        loaded = load_model(path)
        probs.append(predict_probs(loaded.model, split.images, loaded.mean, loaded.std, torch.device("cpu")))
    singles = [confusion_matrix(split.labels, p.argmax(1)) for p in probs]
    expected = confusion_matrix(split.labels, (probs[0] + probs[1]).argmax(1))
    assert result["confusion_matrix"] == expected.tolist()
    assert any(not np.array_equal(expected, s) for s in singles)  # the two models differ, so this tests the mean


@pytest.mark.parametrize(("options", "message"), [
    (["--widths", "8,x", "--convs", "1,1"], "--widths takes positive whole numbers separated by commas, got '8,x'"),
    (["--widths", "8,16", "--convs", "1,0"], "--convs takes positive whole numbers separated by commas, got '1,0'"),
    (["--widths", "8,16,16", "--convs", "1,1"],
     "--widths and --convs name different numbers of stages (8,16,16 / 1,1)"),
    (["--mix-weight", "1.5"], "--mix-weight must be in [0, 1], got 1.5"),
    (["--freeze-features"], "--freeze-features needs --init (features to keep)"),
])
def test_bad_options_are_one_line_and_exit_2_as_argparse_does(tmp_path, capsys, options, message):
    # The options are checked before the data is read: the empty folder is never reached.
    assert train.cli(["--data", str(tmp_path), "--out", str(tmp_path / "run"), *options]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_calibration_report_measures_the_confidence_gap():
    y = np.array([0, 0, 1, 1])
    certain_and_right = np.eye(7)[y]
    assert calibration_report(y, certain_and_right) == {"ece": 0.0, "nll": pytest.approx(0.0), "bins": 15}
    # Always 90% sure, right half the time: a 0.4 gap; the true class gets 0.9 or 0.1/6.
    sure = np.full((4, 7), 0.1 / 6)
    sure[np.arange(4), [0, 1, 1, 0]] = 0.9
    report = calibration_report(y, sure)
    assert report["ece"] == pytest.approx(0.4)
    assert report["nll"] == pytest.approx((-np.log(0.9) - np.log(0.1 / 6)) / 2)


def test_trainer_imports_without_mediapipe():
    # GPU servers often lack MediaPipe; only --face-crops needs the detector.
    code = "import sys, train.train, train.sweep; sys.exit('mediapipe' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
