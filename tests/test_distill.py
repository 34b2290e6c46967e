"""Knowledge distillation: soft targets from a real (tiny) trained checkpoint, the loss, resume, and soft
targets carried in a file (train.soft_targets)."""

import shutil

import numpy as np
import pytest
import torch

from models.checkpoint import read_checkpoint
from tests.conftest import TINY
from train import soft_targets, train
from train.teacher import distillation_loss, file_sha256


def test_distillation_loss_is_zero_only_when_the_student_matches():
    teacher = torch.log_softmax(torch.tensor([[2.0, 0.5, -1.0, 0.0, 0.3, -0.2, 1.0]]), dim=1)
    for temperature in (1.0, 2.0, 4.0):
        assert distillation_loss(teacher + 3.0, teacher, temperature).item() == pytest.approx(0, abs=1e-6)
        assert distillation_loss(teacher.flip(1), teacher, temperature).item() > 0.01


def test_distillation_loss_pulls_the_student_toward_the_teacher():
    teacher = torch.log_softmax(torch.tensor([[3.0, 0, 0, 0, 0, 0, 0]]), dim=1)
    student = torch.zeros(1, 7, requires_grad=True)
    distillation_loss(student, teacher, 2.0).backward()
    assert student.grad[0, 0] < 0 and (student.grad[0, 1:] > 0).all()  # descent raises class 0 only


def test_distilled_run_records_its_teacher_and_resumes_without_it(tiny_fer, tiny_checkpoint, tmp_path, capsys):
    teacher = tmp_path / "teacher.pth"
    shutil.copy(tiny_checkpoint, teacher)
    out = tmp_path / "student"
    args = ["--data", str(tiny_fer), "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--teacher", str(teacher),
            "--distill-weight", "0.7", *TINY]
    assert train.cli([*args, "--epochs", "1"]) == 0
    assert "teachers: 1 checkpoint(s), soft targets for 280 images" in capsys.readouterr().out

    distillation = read_checkpoint(out / "best.pth")["training"]["distillation"]
    assert distillation["weight"] == 0.7 and distillation["temperature"] == 2.0
    assert distillation["teachers"][0]["sha256"] == file_sha256(teacher)
    saved = torch.load(out / "last.pth", weights_only=True)["teacher_log_probs"]
    assert saved.shape == (280, 7) and torch.allclose(saved.exp().sum(1), torch.ones(280), atol=1e-3)

    teacher.unlink()  # the soft targets travel in last.pth
    assert train.cli([*args, "--epochs", "2", "--resume"]) == 0
    after = torch.load(out / "last.pth", weights_only=True)
    assert after["epoch"] == 2 and torch.equal(after["teacher_log_probs"], saved)


def test_resume_must_keep_the_teacher_setting(tiny_fer, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "student"
    base = ["--data", str(tiny_fer), "--out", str(out), "--cache-dir", str(tmp_path / "c"), *TINY]
    assert train.cli([*base, "--epochs", "1", "--teacher", str(tiny_checkpoint)]) == 0
    capsys.readouterr()
    assert train.cli([*base, "--epochs", "2", "--resume"]) == 2
    assert capsys.readouterr().err == "error: this run was started with --teacher; resume it the same way\n"


def test_unusable_teacher_is_one_line_error(tiny_fer, tmp_path, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    base = ["--data", str(tiny_fer), "--out", str(tmp_path / "s"), "--cache-dir", str(tmp_path / "c"), *TINY]
    assert train.cli([*base, "--teacher", str(junk)]) == 2
    assert train.cli([*base, "--teacher", str(tmp_path / "missing.pth")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "not a readable checkpoint" in lines[0] and "not found" in lines[1]


def test_soft_targets_from_a_file_train_exactly_as_the_teacher_does(tiny_fer, tiny_checkpoint, tmp_path, capsys):
    soft = tmp_path / "soft"  # no .npz suffix: the file is still written where asked
    assert soft_targets.cli(["--data", str(tiny_fer), "--teacher", str(tiny_checkpoint), "--out", str(soft),
                             "--cache-dir", str(tmp_path / "c")]) == 0
    assert soft.is_file() and "soft targets of 1 teacher(s) for 280 training images" in capsys.readouterr().out
    base = ["--data", str(tiny_fer), "--epochs", "1", "--cache-dir", str(tmp_path / "c"), *TINY]
    assert train.cli([*base, "--out", str(tmp_path / "teacher"), "--teacher", str(tiny_checkpoint)]) == 0
    assert train.cli([*base, "--out", str(tmp_path / "file"), "--soft-targets", str(soft)]) == 0
    by_teacher, by_file = (torch.load(tmp_path / run / "last.pth", weights_only=True) for run in ("teacher", "file"))
    assert torch.equal(by_teacher["teacher_log_probs"], by_file["teacher_log_probs"])
    assert by_teacher["teachers"] == by_file["teachers"]
    for name, weight in by_teacher["model"].items():
        assert torch.equal(weight, by_file["model"][name]), name


def test_soft_targets_that_miss_training_images_are_a_one_line_error(tiny_fer, tiny_checkpoint, tmp_path, capsys):
    soft = tmp_path / "soft.npz"
    assert soft_targets.cli(["--data", str(tiny_fer), "--teacher", str(tiny_checkpoint), "--out", str(soft),
                             "--cache-dir", str(tmp_path / "c")]) == 0
    with np.load(soft) as z:  # one training image short, as a file written for other data would be
        np.savez(soft, key=z["key"][1:], log_probs=z["log_probs"][1:], teachers=z["teachers"])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a file of soft targets")
    base = ["--data", str(tiny_fer), "--out", str(tmp_path / "s"), "--epochs", "1", "--cache-dir", str(tmp_path / "c"),
            *TINY]
    capsys.readouterr()
    assert train.cli([*base, "--soft-targets", str(soft)]) == 2
    assert train.cli([*base, "--soft-targets", str(junk)]) == 2
    assert train.cli([*base, "--soft-targets", str(tmp_path / "missing.npz")]) == 2
    assert train.cli([*base, "--soft-targets", str(junk), "--teacher", str(tiny_checkpoint)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and "no soft target for 1 of the 280 training images" in lines[0]
    assert "not a soft-targets file" in lines[1] and "not found" in lines[2]
    assert lines[3] == "error: give --teacher or --soft-targets, not both"
