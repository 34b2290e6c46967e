"""FER2013 loading from the folder layout and the CSV, the cache, and bad data."""

import csv
import os

import cv2
import numpy as np
import pytest

from models import EMOTIONS
from train import prepare
from train.data import DataError, LoadReport, load, load_source


def write_img(path, value=128, size=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((size, size), value, np.uint8))


def kaggle_tree(root, per_class=2):
    for c in EMOTIONS:
        for i in range(per_class):
            write_img(root / "train" / c / f"Training_{c}{i}.jpg")
            write_img(root / "test" / c / f"PublicTest_{c}{i}.jpg")
        write_img(root / "test" / c / f"PrivateTest_{c}0.jpg")
    return root


def test_folder_layout_splits_by_prefix(tmp_path):
    splits = load_source(kaggle_tree(tmp_path / "fer"))
    assert set(splits) == {"Training", "PublicTest", "PrivateTest"}
    assert len(splits["Training"]) == 14 and len(splits["PublicTest"]) == 14 and len(splits["PrivateTest"]) == 7
    assert splits["Training"].images.dtype == np.uint8 and splits["Training"].images.shape[1:] == (48, 48)
    assert all(n == 1 for n in splits["PrivateTest"].class_counts().values())


def test_single_class_folder_without_prefixes_is_one_test_split(tmp_path):
    for c in ("happy", "sad"):
        write_img(tmp_path / c / "a.png")
    splits = load_source(tmp_path)
    assert list(splits) == ["test"]
    assert splits["test"].class_counts()["happy"] == 1


def test_csv_maps_original_label_order(tmp_path):
    # fer2013.csv: 4 = Sad, 6 = Neutral, 3 = Happy
    path = tmp_path / "fer2013.csv"
    pixels = " ".join(["7"] * 2304)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerow([4, pixels, "Training"])
        w.writerow([6, pixels, "PublicTest"])
        w.writerow([3, pixels, "PrivateTest"])
        w.writerow([3, "1 2 3", "Training"])  # wrong pixel count
    report = LoadReport()
    splits = load_source(path, report)
    assert EMOTIONS[splits["Training"].labels[0]] == "sad"
    assert EMOTIONS[splits["PublicTest"].labels[0]] == "neutral"
    assert EMOTIONS[splits["PrivateTest"].labels[0]] == "happy"
    assert splits["Training"].images[0, 0, 0] == 7
    assert len(report.bad_rows) == 1


def test_csv_missing_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("label,data\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        load_source(path)


def test_bad_data_is_reported_not_fatal(tmp_path):
    root = tmp_path / "d"
    write_img(root / "happy" / "ok.jpg")
    write_img(root / "happy" / "big.jpg", size=96)
    (root / "happy" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "sad").mkdir()
    write_img(root / "smiling" / "x.jpg")
    report = LoadReport()
    split = load_source(root, report)["test"]
    assert len(split) == 2
    assert len(report.unreadable) == 1 and "broken.jpg" in report.unreadable[0]
    assert len(report.resized) == 1
    assert any("smiling" in u for u in report.unknown_folders)
    assert any(e.endswith("sad") for e in report.empty_classes)
    text = "\n".join(report.lines())
    assert "unreadable" in text and "resized" in text and "not FER2013 classes" in text


@pytest.mark.parametrize("make", ["missing", "no_classes"])
def test_unusable_sources_raise_one_line(tmp_path, make):
    src = tmp_path / "nothing"
    if make == "no_classes":
        src.mkdir()
        (src / "misc").mkdir()
    with pytest.raises(DataError) as e:
        load_source(src)
    assert "\n" not in str(e.value) and str(src) in str(e.value)


def test_cache_is_rebuilt_when_source_changes(tmp_path):
    root = kaggle_tree(tmp_path / "fer", per_class=1)
    cache = tmp_path / "cache"
    first = load(root, cache)
    assert len(list(cache.glob("*.npz"))) == 1
    assert len(load(root, cache)["Training"]) == len(first["Training"])  # served from the cache
    write_img(root / "train" / "happy" / "Training_new.jpg", value=3)
    os.utime(root / "train" / "happy")
    again = load(root, cache)
    assert len(again["Training"]) == len(first["Training"]) + 1
    assert len(list(cache.glob("*.npz"))) == 1  # the stale cache was replaced


def test_prepare_command_prints_counts_and_problems(tmp_path, capsys):
    root = kaggle_tree(tmp_path / "fer", per_class=1)
    (root / "train" / "happy" / "Training_bad.jpg").write_bytes(b"")
    assert prepare.main([str(root), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "Training" in out and "PublicTest" in out and "PrivateTest" in out
    assert "unreadable" in out
    assert prepare.main([str(tmp_path / "absent")]) == 2
