"""FER2013 loading: the Kaggle image-folder layout or the original fer2013.csv, decoded once
into a uint8 cache so that training epochs never touch JPEGs again.

Everything here returns plain numpy: `Split(images uint8 [N,48,48], labels int64 [N], paths)`.

Two files beside the Kaggle layout add what FER2013's folders lack (../shared/datasets/fer2013/README.md):
`ferplus_votes.csv`, Microsoft's FER+ ten-annotator votes (`with_votes`), and `original_pixels.npz`,
the pixels before histogram equalisation (`with_original_pixels`).
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from errors import UserError
from models import EMOTIONS
from realtime.analysis.capture import IMAGE_SUFFIXES  # the app's list: what OpenCV reads

SIZE = 48
# fer2013.csv numbers the classes 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral.
CSV_LABEL_TO_NAME = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SPLIT_PREFIXES = ("Training", "PublicTest", "PrivateTest")
CACHE_VERSION = 1
VOTES_FILE = "ferplus_votes.csv"
ORIGINALS_FILE = "original_pixels.npz"
# FER+ vote columns, and the project's class each of the first seven counts for. contempt (not one of
# the seven), unknown (the annotator could not tell) and NF (not a face) count for none.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                   "contempt", "unknown", "NF")
FERPLUS_TO_EMOTION = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                      "anger": "angry", "disgust": "disgust", "fear": "fear"}
PIXELS = ("equalised", "original")


class DataError(UserError):
    """A dataset problem that stops a run; its message is one line meant for the user."""


@dataclass
class Split:
    images: np.ndarray  # uint8 [N, 48, 48]
    labels: np.ndarray  # int64 [N], indices into EMOTIONS (FER2013's own label: the class folder)
    paths: list[str] = field(default_factory=list)
    votes: np.ndarray | None = None  # float32 [N, 7]: FER+ vote shares over EMOTIONS; all 0 = no usable votes

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(EMOTIONS))
        return {name: int(c) for name, c in zip(EMOTIONS, counts, strict=True)}

    def subset(self, index: np.ndarray) -> Split:
        votes = None if self.votes is None else self.votes[index]
        return Split(self.images[index], self.labels[index], [self.paths[i] for i in index], votes)

    def has_votes(self) -> np.ndarray:
        """bool [N]: the images with a usable FER+ vote distribution."""
        return np.zeros(len(self), bool) if self.votes is None else self.votes.sum(1) > 0

    def ferplus_majority(self) -> np.ndarray:
        """int64 [N]: the most-voted of the seven classes (ties: the first in EMOTIONS); -1 without votes."""
        return np.where(self.has_votes(), self.votes.argmax(1), -1) if self.votes is not None \
            else np.full(len(self), -1)


@dataclass
class LoadReport:
    """What loading found wrong but survived; printed by callers, asserted by tests."""

    unreadable: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    unknown_folders: list[str] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    bad_rows: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.unknown_folders:
            out.append(f"skipped {len(self.unknown_folders)} folder(s) that are not FER2013 classes: "
                       + ", ".join(self.unknown_folders[:5]))
        if self.empty_classes:
            out.append("class folder(s) with no images: " + ", ".join(self.empty_classes))
        if self.unreadable:
            out.append(f"skipped {len(self.unreadable)} unreadable image(s), e.g. {self.unreadable[0]}")
        if self.resized:
            out.append(f"resized {len(self.resized)} image(s) that were not {SIZE}x{SIZE}, e.g. {self.resized[0]}")
        if self.bad_rows:
            out.append(f"skipped {len(self.bad_rows)} malformed CSV row(s), e.g. {self.bad_rows[0]}")
        return out


def split_of(filename: str, default: str) -> str:
    """The FER2013 split a Kaggle file belongs to, from its name prefix (Training_, PublicTest_, ...)."""
    for prefix in SPLIT_PREFIXES:
        if filename.startswith(prefix + "_"):
            return prefix
    return default


def _decode(path: Path, report: LoadReport) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        report.unreadable.append(str(path))
        return None
    if img.shape != (SIZE, SIZE):
        report.resized.append(f"{path} ({img.shape[1]}x{img.shape[0]})")
        img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    return img


def _class_folders(root: Path, report: LoadReport) -> list[tuple[int, Path]]:
    """(class index, folder) for each class subfolder of root; unknown folders are reported."""
    found = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        name = sub.name.lower()
        if name in EMOTIONS:
            found.append((EMOTIONS.index(name), sub))
        else:
            report.unknown_folders.append(str(sub))
    if not found:
        raise DataError(f"{root}: no class folders found (expected subfolders named {', '.join(EMOTIONS)})")
    return found


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_class_folder(root: Path, default_split: str, report: LoadReport) -> dict[str, Split]:
    """A folder of class subfolders, split by file-name prefix (files without one go to default_split)."""
    buckets: dict[str, tuple[list, list, list]] = {}
    for label, folder in _class_folders(root, report):
        files = _list_images(folder)
        if not files:
            report.empty_classes.append(str(folder))
        for path in files:
            img = _decode(path, report)
            if img is None:
                continue
            imgs, labels, paths = buckets.setdefault(split_of(path.name, default_split), ([], [], []))
            imgs.append(img)
            labels.append(label)
            paths.append(str(path))
    return {name: _to_split(*b) for name, b in buckets.items()}


def _to_split(imgs: list, labels: list, paths: list) -> Split:
    images = np.stack(imgs) if imgs else np.zeros((0, SIZE, SIZE), np.uint8)
    return Split(images, np.asarray(labels, dtype=np.int64), paths)


def load_csv(path: Path, report: LoadReport) -> dict[str, Split]:
    """The original Kaggle fer2013.csv: columns emotion, pixels (2304 space-separated values), Usage."""
    buckets: dict[str, tuple[list, list, list]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"emotion", "pixels"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))} (expected emotion, pixels, Usage)")
        for row_no, row in enumerate(reader, start=2):
            try:
                label = EMOTIONS.index(CSV_LABEL_TO_NAME[int(row["emotion"])])
                pixels = np.asarray(row["pixels"].split(), dtype=np.uint8)
                img = pixels.reshape(SIZE, SIZE)
            except (ValueError, IndexError, TypeError, AttributeError):
                report.bad_rows.append(f"{path}:{row_no}")
                continue
            usage = (row.get("Usage") or "Training").strip()
            imgs, labels, paths = buckets.setdefault(usage, ([], [], []))
            imgs.append(img)
            labels.append(label)
            paths.append(f"{path}:{row_no}")
    if not buckets:
        raise DataError(f"{path}: no usable rows")
    return {name: _to_split(*b) for name, b in buckets.items()}


def load_source(source: str | os.PathLike, report: LoadReport | None = None) -> dict[str, Split]:
    """Load every split a source holds, without caching.

    A source is fer2013.csv, a Kaggle root holding train/ and test/, or one folder of class
    subfolders (its files split by name prefix, unprefixed ones counting as "test").
    """
    report = report if report is not None else LoadReport()
    root = Path(source)
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise DataError(f"{root}: expected fer2013.csv or a folder of class subfolders")
        return load_csv(root, report)
    if (root / "train").is_dir() or (root / "test").is_dir():
        splits: dict[str, Split] = {}
        for sub, default in (("train", "Training"), ("test", "test")):
            if (root / sub).is_dir():
                for name, split in load_class_folder(root / sub, default, report).items():
                    splits[name] = _concat(splits[name], split) if name in splits else split
        return splits
    return load_class_folder(root, "test", report)


def _concat(a: Split, b: Split) -> Split:
    votes = None if a.votes is None or b.votes is None else np.concatenate([a.votes, b.votes])
    return Split(np.concatenate([a.images, b.images]), np.concatenate([a.labels, b.labels]), a.paths + b.paths, votes)


def source_fingerprint(source: Path) -> str:
    """Changes whenever a file is added, removed, renamed, resized or touched under source."""
    h = hashlib.sha1(f"v{CACHE_VERSION}".encode())
    paths = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for p in paths:
        st = p.stat()
        h.update(f"{p.relative_to(source.parent)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "emotion-fer"))


def cached_arrays(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """build()'s named arrays through an .npz file: read back when it is there and whole, else built
    and written under a temporary name first, so an interrupted run never leaves half a cache."""
    if path.exists():
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a torn write from an interrupted run: rebuild it
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


def load(source: str | os.PathLike, cache_dir: Path | None = None,
         report: LoadReport | None = None) -> dict[str, Split]:
    """load_source() through an .npz cache keyed by the source's path and fingerprint."""
    source = Path(source).resolve()
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = hashlib.sha1(str(source).encode()).hexdigest()[:10]
    cache = cache_dir / f"fer-{key}-{source_fingerprint(source)}.npz"
    if cache.exists():
        try:
            return _read_cache(cache)
        except (OSError, ValueError, KeyError):
            cache.unlink(missing_ok=True)  # a torn write from an interrupted run: rebuild it
    splits = load_source(source, report)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"fer-{key}-*.npz"):
        stale.unlink(missing_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    arrays = {}
    for name, s in splits.items():
        arrays[f"{name}/images"] = s.images
        arrays[f"{name}/labels"] = s.labels
        arrays[f"{name}/paths"] = np.asarray(s.paths, dtype=str)
    np.savez(tmp, **arrays)
    os.replace(tmp, cache)
    return splits


def _read_cache(path: Path) -> dict[str, Split]:
    with np.load(path) as z:
        names = sorted({k.split("/")[0] for k in z.files})
        return {n: Split(z[f"{n}/images"], z[f"{n}/labels"], z[f"{n}/paths"].tolist()) for n in names}


def relative_key(path: str) -> str:
    """'.../fer2013/train/angry/Training_1.jpg' -> 'train/angry/Training_1.jpg', the key of both side files."""
    return "/".join(Path(path).parts[-3:])


def side_file(data: str | os.PathLike, name: str) -> Path:
    """`name` in the dataset root: `data` itself or, for data = the root's train/ or test/, its parent."""
    root = Path(data).resolve()
    for folder in (root, root.parent):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{root}: no {name} there or in its parent folder")


def vote_distribution(counts: np.ndarray) -> np.ndarray:
    """FER+ vote counts [N, 10] (FERPLUS_COLUMNS order) -> shares over EMOTIONS [N, 7], float32.

    As in the FER+ paper's code (Barsoum et al. 2016, ferplus.py), a class with a single vote is
    an outlier and dropped. An image whose most-voted category (after that) is not a face, unknown
    or contempt, ties included, has no right answer among the seven classes: its row is all zero
    (left out of training on votes and of the FER+ majority). Otherwise the seven classes' votes,
    renormalised, are the target; the other three categories' remaining votes are discarded.
    """
    counts = np.where(counts <= 1, 0, counts).astype(np.float32)
    top = counts.max(1, keepdims=True)
    seven = counts[:, :7]
    usable = (top[:, 0] > 0) & (counts[:, 7:] < top).all(1)
    order = [FERPLUS_COLUMNS.index(col) for col in (next(k for k, v in FERPLUS_TO_EMOTION.items() if v == e)
                                                    for e in EMOTIONS)]
    shares = seven[:, order] / np.maximum(seven.sum(1, keepdims=True), 1)
    return np.where(usable[:, None], shares, 0).astype(np.float32)


def read_votes(path: Path) -> dict[str, np.ndarray]:
    """relative image path -> its vote shares over EMOTIONS (all zero when unusable)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", *FERPLUS_COLUMNS} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    try:
        counts = np.array([[int(r[c]) for c in FERPLUS_COLUMNS] for r in rows])
    except ValueError as e:
        raise DataError(f"{path}: a vote count is not a whole number ({e})") from None
    shares = vote_distribution(counts.reshape(-1, len(FERPLUS_COLUMNS)))
    return {r["path"]: s for r, s in zip(rows, shares, strict=True)}


def with_votes(splits: dict[str, Split], data: str | os.PathLike) -> dict[str, Split]:
    """Each split with its FER+ vote shares (`Split.votes`); an image absent from the file has none."""
    votes = read_votes(side_file(data, VOTES_FILE))
    none = np.zeros(len(EMOTIONS), np.float32)
    return {name: replace(s, votes=np.stack([votes.get(relative_key(p), none) for p in s.paths])
                          if len(s) else np.zeros((0, len(EMOTIONS)), np.float32))
            for name, s in splits.items()}


def with_original_pixels(splits: dict[str, Split], data: str | os.PathLike) -> tuple[dict[str, Split], int]:
    """Each split with FER2013's original (un-equalised) pixels, and how many images were left out for
    having no known original (159 of this copy's, 12 of them blank: no stand-in would be faithful)."""
    with np.load(side_file(data, ORIGINALS_FILE)) as z:
        index = {p: i for i, p in enumerate(z["path"].tolist())}
        pixels = z["pixels"]
    out, dropped = {}, 0
    for name, s in splits.items():
        rows = np.array([index.get(relative_key(p), -1) for p in s.paths], dtype=np.int64)
        keep = np.flatnonzero(rows >= 0)
        dropped += len(s) - len(keep)
        kept = s.subset(keep)
        out[name] = replace(kept, images=pixels[rows[keep]])
    return out, dropped
