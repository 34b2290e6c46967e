"""Both shipped checkpoints (the default and the fast one) on real FER2013 PublicTest (skipped without ../shared)."""

import numpy as np
import pytest
import torch

from models.checkpoint import load_model, read_checkpoint
from models.quantize import int8_supported, load_int8
from tests.paths import FAST_WEIGHTS, FER_ROOT, FER_TEST, WEIGHTS
from train.data import with_votes
from train.metrics import classification_report
from train.predict import predict_probs

# What each model is shipped for, as floors under its recorded scores (models/MODEL_CARD.md). The default
# learned from the FER+ votes mixed with FER2013's labels and keeps both (#37: FER2013-label macro-F1 >= 0.66,
# no class given up); the fast student is held to the votes, where it is level with the default, while its
# FER2013-label fear recall (0.21: FER+ annotators call many of those faces sad or neutral) is recorded.
FLOORS = {
    "default": {"PublicTest": (0.68, 0.665, 0.35), "PublicTest FER+ majority": (0.755, 0.67, 0.55)},
    "fast": {"PublicTest": (0.62, 0.565, 0.2), "PublicTest FER+ majority": (0.765, 0.67, 0.5)},
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not FER_TEST.is_dir(), reason="../shared/datasets/fer2013/test not present"),
    pytest.mark.parametrize("weights", [WEIGHTS, FAST_WEIGHTS], ids=["default", "fast"]),
]


def test_shipped_model_reproduces_its_publictest_score(weights, public_test_probs):
    split, probs = public_test_probs(weights)
    meta = read_checkpoint(weights)
    # Every PublicTest image, or every one with original pixels (10 have none) for a model trained on those.
    assert len(split) == (3589 if meta["training"]["pixels"] == "equalised" else 3579)
    assert np.isfinite(probs).all()
    voted = with_votes({"p": split}, FER_ROOT)["p"]
    keep = voted.has_votes()
    reports = {"PublicTest": classification_report(split.labels, probs.argmax(1)),
               "PublicTest FER+ majority": classification_report(voted.ferplus_majority()[keep],
                                                                 probs[keep].argmax(1))}
    floors = FLOORS["default" if weights == WEIGHTS else "fast"]
    for labels, report in reports.items():
        # The figure in the checkpoint and the model card is what this command reproduces.
        assert report["accuracy"] == pytest.approx(meta["metrics"][labels]["accuracy"], abs=0.005), labels
        accuracy, macro_f1, recall = floors[labels]
        assert report["accuracy"] >= accuracy and report["macro_f1"] >= macro_f1, labels
        assert min(c["recall"] for c in report["per_class"].values()) >= recall, labels


def test_shipped_int8_model_reproduces_its_publictest_score(weights, public_test_probs):
    if not int8_supported():
        pytest.skip("int8 needs an x86-64 CPU")
    loaded = load_model(weights)
    split, _ = public_test_probs(weights)
    probs = predict_probs(load_int8(loaded), split.images, loaded.mean, loaded.std, torch.device("cpu"),
                          autocast=False)
    accuracy = classification_report(split.labels, probs.argmax(1))["accuracy"]
    meta = read_checkpoint(weights)
    assert accuracy == pytest.approx(meta["int8"]["metrics"]["PublicTest"]["accuracy"], abs=0.005)
    # What the app runs on x86 CPUs gives up at most a point against the checkpoint.
    assert accuracy >= meta["metrics"]["PublicTest"]["accuracy"] - 0.01
