"""Training and evaluation on FER+ votes and on FER2013's original pixels, the prior adjustment, frozen-feature
head refits, the depthwise-separable student, and exact resume. Every side file is written here, so the
tests pass on a fresh clone without ../shared."""

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from models import EMOTIONS
from models.checkpoint import load_model, read_checkpoint
from models.emotion_cnn import ModelConfig, build_model
from models.quantize import int8_supported, quantize
from realtime.analysis.classify import EmotionClassifier
from tests.conftest import TINY
from train import evaluate, prior, train
from train import quantize as quantize_cli
from train.data import FERPLUS_COLUMNS, load, vote_distribution, with_original_pixels, with_votes
from train.predict import predict_probs

# Vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
FERPLUS_OF = {"neutral": "neutral", "happy": "happiness", "surprise": "surprise", "sad": "sadness",
              "angry": "anger", "disgust": "disgust", "fear": "fear"}


def votes_row(**counts) -> list[int]:
    return [counts.get(c, 0) for c in FERPLUS_COLUMNS]


def test_votes_map_to_the_seven_classes_and_drop_single_votes():
    shares = vote_distribution(np.array([votes_row(happiness=6, surprise=3, fear=1),
                                         votes_row(anger=5, disgust=2, contempt=2, unknown=1)]))
    happy, surprise, angry, disgust = (EMOTIONS.index(c) for c in ("happy", "surprise", "angry", "disgust"))
    assert shares[0, happy] == pytest.approx(6 / 9) and shares[0, surprise] == pytest.approx(3 / 9)
    assert shares[0, EMOTIONS.index("fear")] == 0  # one vote: an outlier, as in the FER+ paper's code
    # contempt is none of the seven: its votes are dropped, the seven renormalised
    assert shares[1, angry] == pytest.approx(5 / 7) and shares[1, disgust] == pytest.approx(2 / 7)
    assert shares.sum(1) == pytest.approx([1, 1])


@pytest.mark.parametrize("counts", [dict(NF=6, neutral=4), dict(unknown=4, sadness=4, neutral=2),
                                    dict(contempt=5, disgust=3, anger=2), dict(neutral=1, NF=1, unknown=1)])
def test_images_whose_majority_is_not_one_of_the_seven_have_no_votes(counts):
    assert vote_distribution(np.array([votes_row(**counts)])).sum() == 0


@pytest.fixture(scope="module")
def fer_plus(tiny_fer, tmp_path_factory):
    """tiny_fer with a ferplus_votes.csv and an original_pixels.npz: every image's votes agree with its
    folder except that each class's first training image is not a face, and the second has no original."""
    root = tmp_path_factory.mktemp("ferplus") / "fer2013"
    shutil.copytree(tiny_fer, root)
    rows, paths, pixels = [], [], []
    for img in sorted(root.rglob("*.jpg")):
        rel = img.relative_to(root).as_posix()
        cls, index = img.parent.name, int(img.stem.split("_")[1])
        training = rel.startswith("train/")
        votes = {"NF": 8, "neutral": 2} if training and index == 0 else {"neutral": 2, FERPLUS_OF[cls]: 8}
        counts = votes_row(**votes)
        rows.append([rel, 0, "exact", *counts])
        if not (training and index == 1):
            paths.append(rel)
            pixels.append(255 - cv2.imread(str(img), cv2.IMREAD_GRAYSCALE))  # recognisably not the JPEG's
    with open(root / "ferplus_votes.csv", "w", newline="") as f:
        csv.writer(f).writerows([["path", "fer2013_row", "match", *FERPLUS_COLUMNS], *rows])
    np.savez(root / "original_pixels.npz", path=np.array(paths), pixels=np.stack(pixels))
    return root


def test_votes_and_original_pixels_attach_by_path(fer_plus, tmp_path):
    splits = with_votes(load(fer_plus, tmp_path), fer_plus)
    train_split = splits["Training"]
    assert train_split.has_votes().sum() == len(train_split) - len(EMOTIONS)  # the not-a-face images
    voted = train_split.has_votes()
    assert (train_split.ferplus_majority()[voted] == train_split.labels[voted]).all()
    originals, dropped = with_original_pixels(splits, fer_plus)
    assert dropped == len(EMOTIONS)
    kept = originals["Training"]
    first = train_split.paths.index(kept.paths[0])
    assert np.array_equal(kept.images[0], 255 - train_split.images[first])
    assert np.array_equal(kept.votes[0], train_split.votes[first])


def test_training_on_votes_and_original_pixels_records_its_data(fer_plus, tmp_path):
    out = tmp_path / "run"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "1", "--labels", "votes",
                      "--pixels", "original", "--gamma", "0.3", "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    meta = read_checkpoint(out / "best.pth")
    t = meta["training"]
    # 40 per class, less the not-a-face image and the one without an original
    assert (t["labels"], t["pixels"], t["train_images"]) == ("votes", "original", len(EMOTIONS) * 38)
    assert t["selection_labels"] == "FER+ majority" and t["augment"]["gamma"] == 0.3
    assert sum(t["prior"].values()) == pytest.approx(1) and t["prior"]["neutral"] > t["prior"]["happy"]


@pytest.mark.slow
def test_select_both_picks_the_epoch_by_the_mean_over_both_label_sets(fer_plus, tmp_path, capsys):
    out = tmp_path / "run"
    run = ["--data", str(fer_plus), "--out", str(out), "--epochs", "3", "--select", "both",
           "--cache-dir", str(tmp_path / "c"), *TINY]
    assert train.cli(run) == 0
    history = json.loads((out / "history.json").read_text())
    for row in history:
        by_labels = row["val_macro_f1_by_labels"]
        assert set(by_labels) == {"FER2013 labels", "FER+ majority"}
        assert row["val_score"] == pytest.approx(np.mean(list(by_labels.values())))
        assert row["val_macro_f1"] == by_labels["FER2013 labels"]  # the training labels' own set comes first
    meta = read_checkpoint(out / "best.pth")
    best = max(history, key=lambda r: r["val_score"])
    assert meta["training"]["select"] == "both" and meta["training"]["epoch"] == best["epoch"]
    assert meta["metrics"]["PublicTest FER+ majority"]["macro_f1"] == best["val_macro_f1_by_labels"]["FER+ majority"]
    assert meta["metrics"]["PublicTest"]["labels"] == "FER2013 labels"
    capsys.readouterr()
    assert train.cli([*run[:-len(TINY)], "--select", "labels", "--resume", *TINY]) == 2
    assert capsys.readouterr().err == "error: this run was started with --select both; resume it the same way\n"


def test_select_both_without_votes_is_a_one_line_error(tiny_fer, tmp_path, capsys):
    assert train.cli(["--data", str(tiny_fer), "--out", str(tmp_path / "run"), "--epochs", "1", "--select", "both",
                      "--cache-dir", str(tmp_path / "c"), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "ferplus_votes.csv" in err


def test_evaluate_scores_both_label_sets_on_the_checkpoints_pixels(fer_plus, tmp_path):
    out = tmp_path / "run"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "1", "--labels", "mix",
                      "--pixels", "original", "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    result_path = tmp_path / "eval.json"
    assert evaluate.cli(["--data", str(fer_plus / "test"), "--weights", str(out / "best.pth"),
                         "--json", str(result_path), "--cache-dir", str(tmp_path / "c")]) == 0
    result = json.loads(result_path.read_text())
    assert result["pixels"] == "original" and result["n"] == 8 * len(EMOTIONS)
    fp = result["ferplus"]
    assert fp["n"] == 8 * len(EMOTIONS) and fp["labels"] == "FER+ majority"
    assert set(fp["per_class"]) == set(EMOTIONS) and fp["calibration"]["nll"] > 0
    assert (tmp_path / "eval_confusion_ferplus.png").is_file()


@pytest.mark.slow
def test_prior_adjustment_folded_into_the_weights_equals_the_post_hoc_one(fer_plus, tmp_path):
    out = tmp_path / "run"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "1", "--labels", "votes",
                      "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    adjusted = tmp_path / "adjusted.pth"
    assert prior.cli(["--weights", str(out / "best.pth"), "--tau", "1", "--out", str(adjusted)]) == 0
    scores = {}
    for name, weights, tau in (("post hoc", out / "best.pth", "1"), ("folded", adjusted, "0")):
        path = tmp_path / f"{name}.json"
        assert evaluate.cli(["--data", str(fer_plus / "test"), "--weights", str(weights), "--prior-adjust", tau,
                             "--device", "cpu", "--json", str(path), "--cache-dir", str(tmp_path / "c")]) == 0
        scores[name] = json.loads(path.read_text())["ferplus"]
    assert scores["post hoc"]["confusion_matrix"] == scores["folded"]["confusion_matrix"]
    assert prior.cli(["--weights", str(adjusted), "--tau", "1", "--out", str(tmp_path / "twice.pth")]) == 2


@pytest.mark.slow
def test_head_refit_on_frozen_features_changes_only_the_head(fer_plus, tiny_checkpoint, tmp_path):
    out = tmp_path / "head"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "2", "--init", str(tiny_checkpoint),
                      "--freeze-features", "--no-augment", "--labels", "votes", "--cache-dir", str(tmp_path / "c"),
                      *TINY]) == 0
    before, after = read_checkpoint(tiny_checkpoint)["state_dict"], read_checkpoint(out / "best.pth")["state_dict"]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("classifier.") for k in changed)
    assert len(list((tmp_path / "c").glob("features-*.npz"))) == 2  # training and selection images


@pytest.mark.slow
def test_student_trains_quantizes_and_the_app_runs_it_in_int8(fer_plus, tmp_path):
    out = tmp_path / "student"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "1", "--arch", "sepcnn",
                      "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    loaded = load_model(out / "best.pth")
    convs = [m for m in loaded.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert any(c.groups == c.in_channels > 1 for c in convs)  # depthwise
    if not int8_supported():
        pytest.skip("int8 needs an x86-64 CPU")
    assert quantize_cli.cli(["--data", str(fer_plus), "--weights", str(out / "best.pth"),
                             "--calibration-images", "64", "--cache-dir", str(tmp_path / "c")]) == 0
    clf = EmotionClassifier(str(out / "best.pth"), "cpu")
    assert clf.precision == "int8"
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    assert clf.predict(faces).sum(1) == pytest.approx(np.ones(3), abs=1e-4)


def test_student_int8_follows_its_fp32_model():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="sepcnn", widths=(8, 16, 16, 32), convs_per_stage=(1, 2, 1, 1),
                                    hidden=32)).eval()
    if not int8_supported():
        pytest.skip("int8 needs an x86-64 CPU")
    x = torch.randn(64, 1, 48, 48)
    with torch.no_grad():
        ref, q = model(x), quantize(model, x)(x)
    assert (ref.argmax(1) == q.argmax(1)).float().mean() >= 0.9


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(fer_plus, tmp_path, monkeypatch):
    def args(out):
        return ["--data", str(fer_plus), "--out", str(out), "--epochs", "3", "--labels", "votes", "--pixels",
                "original", "--arch", "sepcnn", "--cache-dir", str(tmp_path / "c"), *TINY]

    assert train.cli(args(tmp_path / "whole")) == 0
    whole = torch.load(tmp_path / "whole" / "last.pth", weights_only=True)

    # Ctrl-C while epoch 3 is scored (epoch 2's last.pth is written by then), then --resume.
    scored = []
    evaluation_loss = train.evaluation_loss

    def interrupt_third(probs, labels):
        scored.append(1)
        if len(scored) == 3:
            raise KeyboardInterrupt
        return evaluation_loss(probs, labels)
    monkeypatch.setattr(train, "evaluation_loss", interrupt_third)
    assert train.cli(args(tmp_path / "split")) == 130
    assert torch.load(tmp_path / "split" / "last.pth", weights_only=True)["epoch"] == 2
    monkeypatch.undo()
    assert train.cli(args(tmp_path / "split") + ["--resume"]) == 0
    resumed = torch.load(tmp_path / "split" / "last.pth", weights_only=True)
    for name, weight in whole["model"].items():  # augmentation and dropout generators are restored too
        assert torch.equal(weight, resumed["model"][name]), name


@pytest.mark.slow
def test_cnn_rnn_hybrid_trains_on_the_new_data_options(fer_plus, tmp_path):
    out = tmp_path / "hybrid"
    assert train.cli(["--data", str(fer_plus), "--out", str(out), "--epochs", "1", "--arch", "cnn_rnn", "--labels",
                      "mix", "--pixels", "original", "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    meta = read_checkpoint(out / "best.pth")
    assert meta["model_config"]["arch"] == "cnn_rnn" and meta["training"]["labels"] == "mix"


@pytest.mark.slow
def test_a_head_refit_teacher_reuses_its_cached_features(fer_plus, tiny_checkpoint, tmp_path):
    cache = tmp_path / "c"
    head = tmp_path / "head"
    assert train.cli(["--data", str(fer_plus), "--out", str(head), "--epochs", "1", "--init", str(tiny_checkpoint),
                      "--freeze-features", "--no-augment", "--labels", "votes", "--cache-dir", str(cache), *TINY]) == 0
    cached = sorted(cache.glob("features-*.npz"))
    student = tmp_path / "student"
    assert train.cli(["--data", str(fer_plus), "--out", str(student), "--epochs", "1", "--arch", "sepcnn", "--labels",
                      "votes", "--teacher", str(head / "best.pth"), "--cache-dir", str(cache), *TINY]) == 0
    assert sorted(cache.glob("features-*.npz")) == cached  # no new forward pass of the teacher's features
    targets = torch.load(student / "last.pth", weights_only=True)["teacher_log_probs"]
    voted = with_votes(load(fer_plus, cache), fer_plus)["Training"]
    voted = voted.subset(np.flatnonzero(voted.has_votes()))
    teacher = load_model(head / "best.pth")
    direct = predict_probs(teacher.model, voted.images, teacher.mean, teacher.std, torch.device("cpu"), autocast=False)
    assert torch.allclose(targets.exp(), torch.from_numpy(direct).clamp(1e-6, 1), atol=2e-2)


def test_data_packed_for_a_gpu_machine_trains_as_the_original_does(fer_plus, tiny_checkpoint, tmp_path):
    from train import device_transfer

    assert device_transfer.cli(["pack", str(fer_plus), str(tmp_path / "packed")]) == 0
    assert device_transfer.cli(["unpack", str(tmp_path / "packed"), str(tmp_path / "fer2013")]) == 0
    def training_data(root, cache):
        return with_original_pixels(with_votes(load(root, cache), root), root)[0]

    here, there = training_data(fer_plus, tmp_path / "a"), training_data(tmp_path / "fer2013", tmp_path / "b")
    assert sorted(here) == sorted(there)
    for name in here:
        assert np.array_equal(here[name].images, there[name].images)
        assert np.array_equal(here[name].labels, there[name].labels)
        assert np.array_equal(here[name].votes, there[name].votes)

    (tmp_path / "sweep" / "run1").mkdir(parents=True)
    shutil.copy(tiny_checkpoint, tmp_path / "sweep" / "run1" / "best.pth")
    (tmp_path / "back").mkdir()
    assert device_transfer.cli(["halve", str(tmp_path / "sweep"), str(tmp_path / "back")]) == 0
    assert device_transfer.cli(["restore", str(tmp_path / "back"), str(tmp_path / "runs")]) == 0
    before, after = load_model(tiny_checkpoint), load_model(tmp_path / "runs" / "run1" / "best.pth")
    for (k, a), b in zip(before.model.state_dict().items(), after.model.state_dict().values(), strict=True):
        assert b.dtype == a.dtype and torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-4), k


def test_packing_data_without_its_originals_is_a_one_line_error(tiny_fer, tmp_path, capsys):
    from train import device_transfer

    assert device_transfer.cli(["pack", str(tiny_fer), str(tmp_path / "packed")]) == 2
    assert "original_pixels.npz" in capsys.readouterr().err


def test_label_agreement_scores_the_fer_plus_majority_against_fer2013s_labels(fer_plus, tiny_fer, tmp_path, capsys):
    from bench import label_agreement

    assert label_agreement.main(["--fer", str(fer_plus), "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # Every voted image's majority is its folder's class here, so the two label sets agree fully.
    assert "Training: 273 of 280 images with a FER+ majority" in out
    assert "| FER+ majority | FER2013 labels | 100.0% | 1.000 |" in out
    assert label_agreement.main(["--fer", str(tiny_fer), "--cache-dir", str(tmp_path)]) == 2
    assert "ferplus_votes.csv" in capsys.readouterr().err
