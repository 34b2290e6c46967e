"""Shared fixtures."""

import hashlib
import os
import shutil

import cv2
import numpy as np
import pytest
import torch
from filelock import FileLock
from skimage import data as skdata

from models import EMOTIONS
from models.checkpoint import load_model
from tests.paths import FER_ROOT, FER_TEST
from train import train
from train.data import Split, load, with_original_pixels
from train.predict import predict_probs


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (512x512, one upright face of ~95 px around x=224, y=128) as BGR uint8.

    Session-scoped and shared: copy it before drawing on it.
    """
    img = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    img.flags.writeable = False
    return img


TINY = ["--widths", "8,16,16,32", "--convs", "1,1,1,1", "--hidden", "32", "--batch-size", "32", "--threads", "1",
        "--quiet"]


@pytest.fixture(scope="session")
def tiny_fer(tmp_path_factory):
    """A Kaggle-layout folder: 40 real FER2013 faces per class when ../shared is there, else drawn ones."""
    root = tmp_path_factory.mktemp("fer")
    rng = np.random.default_rng(0)
    for ci, c in enumerate(EMOTIONS):
        real = sorted((FER_ROOT / "train" / c).glob("*.jpg"))[:40] if FER_ROOT.is_dir() else []
        test_real = sorted((FER_ROOT / "test" / c).glob("*.jpg"))[:8] if FER_ROOT.is_dir() else []
        for split, files, prefix, n in (("train", real, "Training", 40), ("test", test_real, "PublicTest", 8)):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                dst = root / split / c / f"{prefix}_{i:05d}.jpg"
                if files:
                    shutil.copy(files[i], dst)
                else:  # class-dependent stripes, learnable in a few steps
                    img = (rng.random((48, 48)) * 60).astype(np.uint8)
                    img[:, ci * 6:(ci + 1) * 6] = 230
                    cv2.imwrite(str(dst), img)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_fer, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    assert train.cli(["--data", str(tiny_fer), "--out", str(out), "--epochs", "1", *TINY]) == 0
    return out / "best.pth"


@pytest.fixture(scope="session")
def public_test_probs(tmp_path_factory):
    """weights -> (FER2013 PublicTest in the pixels that checkpoint was trained on, its fp32 probabilities
    on it), each computed once per test run: several slow tests in different files score the shipped
    models there, and one pass takes about a minute (on an AVX2-only CPU). Under pytest-xdist the test
    processes share the probabilities through the run's temporary folder, the first one computing
    them while the others wait (`--dist loadgroup` would keep the tests together instead, but it stopped
    grouping with pytest 9.2: pytest-xdist#1386)."""
    cache_dir = tmp_path_factory.mktemp("fer_cache")
    shared = tmp_path_factory.getbasetemp().parent if os.environ.get("PYTEST_XDIST_WORKER") else cache_dir
    splits: dict[str, Split] = {}
    probs: dict[str, np.ndarray] = {}

    def get(weights) -> tuple[Split, np.ndarray]:
        loaded = load_model(weights)
        pixels = loaded.meta.get("training", {}).get("pixels", "equalised")
        if not splits:
            splits["equalised"] = load(FER_TEST, cache_dir)["PublicTest"]
        if pixels not in splits:
            splits[pixels] = with_original_pixels({"p": splits["equalised"]}, FER_ROOT)[0]["p"]
        key = str(weights)
        if key not in probs:
            path = shared / f"publictest_probs_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
            with FileLock(f"{path}.lock"):
                if not path.is_file():
                    np.save(path, predict_probs(loaded.model, splits[pixels].images, loaded.mean, loaded.std,
                                                torch.device("cpu")))
                probs[key] = np.load(path)
        return splits[pixels], probs[key]
    return get
