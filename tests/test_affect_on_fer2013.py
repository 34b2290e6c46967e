"""The affect mapping on real faces: with the shipped model, each FER2013 PublicTest class's mean
predicted (valence, arousal) lies in the quadrant of that class's circumplex point."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mappings.check_on_fer2013 import STEM, expected_quadrant, markdown_table, plot, quadrant_label, summarize
from models import EMOTIONS
from models.checkpoint import read_checkpoint
from tests.paths import FAST_WEIGHTS

REPO_ROOT = Path(__file__).resolve().parents[1]
FER_TEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "test"
SHIPPED_WEIGHTS = REPO_ROOT / "models" / "emotion_cnn.pth"


def test_expected_quadrants():
    assert expected_quadrant("neutral") is None
    assert expected_quadrant("happy") == (1, 1)
    assert expected_quadrant("sad") == (-1, -1)
    assert expected_quadrant("disgust") == (-1, 1)
    assert quadrant_label((-1, 1)) == "V<0, A>0"


def test_summary_flags_a_class_mean_in_the_wrong_quadrant(tmp_path):
    labels = np.repeat(np.arange(len(EMOTIONS)), 10)
    valence = np.where(labels == EMOTIONS.index("happy"), 0.5, -0.5)
    arousal = np.where(labels == EMOTIONS.index("sad"), -0.2, 0.4)
    rows = {r.emotion: r for r in summarize(valence, arousal, labels)}
    assert rows["happy"].ok and rows["sad"].ok and rows["angry"].ok
    assert rows["surprise"].ok is False  # V<0 where its point has V>0
    assert rows["neutral"].ok is None
    assert rows["fear"].n == 10 and rows["fear"].valence == pytest.approx(-0.5)
    table = markdown_table(list(rows.values()))
    assert "| surprise | 10 | -0.500 | +0.400 | (+0.40, +0.67) | V>0, A>0 | **NO** |" in table

    plot(valence, arousal, labels, list(rows.values()), tmp_path / f"{STEM}.png", "title", "subtitle")
    assert (tmp_path / f"{STEM}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_command_scores_a_checkpoint_and_reports_bad_input(tiny_fer, tiny_checkpoint, tmp_path, capsys):
    from mappings.check_on_fer2013 import main

    # A one-epoch tiny model puts most class means in the wrong quadrant: the check must say so.
    assert main(["--data", str(tiny_fer / "test"), "--weights", str(tiny_checkpoint), "--out", str(tmp_path)]) == 1
    printed = capsys.readouterr()
    assert "(56 faces)" in printed.out and "FAIL: class mean outside its quadrant" in printed.err
    assert (tmp_path / f"{STEM}.md").is_file() and (tmp_path / f"{STEM}.png").is_file()
    assert main(["--data", str(tiny_fer / "test"), "--weights", str(tmp_path / "missing.pth")]) == 2
    assert main(["--data", str(tiny_fer / "test"), "--weights", str(tiny_checkpoint), "--split", "PrivateTest",
                 "--out", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.skipif(not FER_TEST.is_dir(), reason=f"FER2013 test folder not found at {FER_TEST}")
@pytest.mark.skipif(not FAST_WEIGHTS.is_file(), reason="models/emotion_cnn_fast.pth not present")
def test_check_scores_a_checkpoint_on_the_pixels_it_was_trained_on(tmp_path):
    from mappings.check_on_fer2013 import run_check

    rows, report = run_check(FER_TEST, FAST_WEIGHTS, tmp_path)
    # The fast model learnt from FER2013's original pixels: the 10 PublicTest images without one are left
    # out, and its score is the one recorded for it (on the equalised JPEGs it would be another).
    assert sum(r.n for r in rows) == 3579
    recorded = read_checkpoint(FAST_WEIGHTS)["metrics"]["PublicTest"]["accuracy"]
    # Recorded in bf16 on an AVX-512-BF16 CPU; fp32 elsewhere moves it a few faces (63.4% against 63.2% on
    # an AVX2-only EPYC), as in tests/test_model_accuracy.py.
    reported = float(re.search(r"\(accuracy ([0-9.]+)%\)", report).group(1)) / 100
    assert reported == pytest.approx(recorded, abs=0.005)


# Classes whose mean is known to miss its quadrant with the shipped model; each has its own strict xfail below.
KNOWN_OUTSIDE = {"sad"}


@pytest.fixture(scope="module")
def public_test_check(tmp_path_factory, public_test_probs):
    from mappings.check_on_fer2013 import write_check

    out = tmp_path_factory.mktemp("affect")
    faces, probs = public_test_probs(SHIPPED_WEIGHTS)
    rows, report = write_check(probs, faces.labels, SHIPPED_WEIGHTS, out)
    return rows, report, out


@pytest.mark.slow
@pytest.mark.skipif(not FER_TEST.is_dir(), reason=f"FER2013 test folder not found at {FER_TEST}")
@pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason=f"shipped weights {SHIPPED_WEIGHTS} not present yet")
def test_class_means_fall_in_their_quadrants_on_public_test(public_test_check):
    rows, report, out = public_test_check
    assert sum(r.n for r in rows) > 0 and all(r.n > 0 for r in rows), report
    wrong = [r.emotion for r in rows if r.ok is False and r.emotion not in KNOWN_OUTSIDE]
    assert not wrong, f"class means outside their quadrant: {wrong}\n{report}"
    assert (out / f"{STEM}.md").read_text() == report
    assert (out / f"{STEM}.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.skipif(not FER_TEST.is_dir(), reason=f"FER2013 test folder not found at {FER_TEST}")
@pytest.mark.skipif(not SHIPPED_WEIGHTS.is_file(), reason=f"shipped weights {SHIPPED_WEIGHTS} not present yet")
@pytest.mark.xfail(strict=True, reason="sad: mean valence < 0 but mean arousal +0.063 with the shipped model, "
                                       "whose sad faces lean to fear/angry/neutral (mappings/README.md)")
def test_sad_mean_is_in_its_quadrant(public_test_check):
    rows, report, _ = public_test_check
    sad = next(r for r in rows if r.emotion == "sad")
    assert sad.valence < 0, report  # valence is right even now; only arousal is off
    assert sad.ok, report
