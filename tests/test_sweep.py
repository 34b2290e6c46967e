"""train.sweep: runs side by side, epochs sized by a timed trial, the best checkpoint kept."""

import pytest

from models.checkpoint import read_checkpoint
from tests.conftest import TINY
from train import sweep


@pytest.mark.slow
def test_sweep_keeps_the_best_run_and_reports_a_failed_one(tiny_fer, tmp_path, capsys):
    out = tmp_path / "sweep"
    tiny = " ".join(TINY)
    assert sweep.cli(["--data", str(tiny_fer), "--out", str(out), "--minutes", "0.01", "--trial-epochs", "1",
                      "--device", "cpu", "--cache-dir", str(tmp_path / "c"),
                      "--run", f"small={tiny}", "--run", f"wider={tiny} --hidden 48",
                      "--run", f"broken={tiny} --widths 8,x"]) == 0
    printed = capsys.readouterr().out
    assert "broken: trial failed (exit 2): error: --widths takes positive whole numbers" in printed
    assert "small: best selection score" in printed and "wider: best selection score" in printed
    for name in ("small", "wider"):
        assert (out / name / "best.pth").is_file() and not (out / name / "trial").exists()
        # A budget shorter than one epoch still trains one.
        assert read_checkpoint(out / name / "best.pth")["training"]["epochs"] == 1
    best = printed.split("best: ")[1].split(" ")[0]
    assert read_checkpoint(out / "best.pth")["model_config"] == read_checkpoint(out / best / "best.pth")["model_config"]


def test_run_specs_are_checked():
    assert sweep.parse_run('vgg=--widths 64,128 --gamma 0.2').args == ["--widths", "64,128", "--gamma", "0.2"]
    with pytest.raises(Exception, match="NAME="):
        sweep.parse_run("--widths 64,128")


def test_runs_of_the_same_name_are_an_option_error(tmp_path, capsys):
    assert sweep.cli(["--data", str(tmp_path), "--out", str(tmp_path / "sweep"), "--minutes", "1",
                      "--run", "a=--hidden 32", "--run", "a=--hidden 48"]) == 2
    assert capsys.readouterr().err == "error: --run names must differ, got ['a', 'a']\n"
    assert not (tmp_path / "sweep").exists()
