"""Soft targets from trained checkpoints, for knowledge distillation (`train.train --teacher`).

The teachers' probabilities for every training image are computed once, before the first
epoch, on the un-augmented image, and averaged over the teachers. Running the teachers on each
augmented batch instead would cost two or three extra forward passes per step, which on a
2-core CPU adds hours to a run, while the augmentations here (small rotations, shifts,
flips, erasing) do not change what expression a face shows. A teacher whose head was refitted on
frozen features (`--freeze-features`) reuses the features cached for that refit, so it costs no
forward pass of its (large) network at all.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import CheckpointError, load_model
from train.predict import predict_probs


@dataclass(frozen=True)
class Teacher:
    path: str
    sha256: str
    selection_accuracy: float | None  # its own recorded PublicTest accuracy, for the record


@dataclass(frozen=True)
class SoftTargets:
    log_probs: torch.Tensor  # [N, classes] float32: log of the teachers' mean probabilities
    teachers: tuple[Teacher, ...]

    def describe(self) -> list[dict]:
        return [{"path": t.path, "sha256": t.sha256, "selection_accuracy": t.selection_accuracy}
                for t in self.teachers]


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def soft_targets(paths: list[str | os.PathLike], images: dict[str, np.ndarray], device: torch.device,
                 cache_dir: Path | None = None) -> SoftTargets:
    """Mean teacher probabilities over the same faces, given as uint8 [N, 48, 48] under each pixel kind
    at hand ("equalised", "original"): each teacher sees the kind it was trained on when it is there
    (else the first kind given). CheckpointError if a teacher is unusable."""
    if not paths:
        raise ValueError("no teacher checkpoints given")
    # Building the teachers draws from torch's global generator: keep the student's draws (dropout) the
    # same whether its soft targets come from here or from a file (train.soft_targets).
    with torch.random.fork_rng(devices=[]):
        return _mean_of_teachers(paths, images, device, cache_dir)


def _mean_of_teachers(paths, images, device, cache_dir) -> SoftTargets:
    total = None
    teachers = []
    for path in paths:
        loaded = load_model(path, device=device)
        training = loaded.meta.get("training", {})
        faces = images.get(training.get("pixels", "equalised"), next(iter(images.values())))
        init = training.get("args", {}).get("init")
        if training.get("args", {}).get("freeze_features") and init and Path(init).is_file():
            # A refitted head on frozen features: those of its starting checkpoint, cached when it was trained.
            from train.frozen import cached_features, head_probs

            start = load_model(init, device=device)
            features = cached_features(start.model, init, faces, start.mean, start.std, device, cache_dir)
            probs = head_probs(loaded.model, features, device)
        else:
            probs = predict_probs(loaded.model, faces, loaded.mean, loaded.std, device)
        total = probs if total is None else total + probs
        accuracy = next((m.get("accuracy") for m in loaded.meta.get("metrics", {}).values()
                         if isinstance(m, dict) and "accuracy" in m), None)
        teachers.append(Teacher(str(path), file_sha256(path), accuracy))
    mean = np.clip(total / len(paths), 1e-6, 1.0)
    return SoftTargets(torch.from_numpy(np.log(mean).astype(np.float32)), tuple(teachers))


def write_soft_targets(path: str | os.PathLike, keys: list[str], soft: SoftTargets) -> None:
    """The soft targets of the images named by `keys` (their paths within the dataset), with the teachers' record."""
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a name without it
        np.savez_compressed(f, key=np.array(keys), log_probs=soft.log_probs.numpy(),
                            teachers=np.array(json.dumps(soft.describe())))


def read_soft_targets(path: str | os.PathLike, keys: list[str]) -> SoftTargets:
    """The soft targets written by write_soft_targets, in the order of `keys`. CheckpointError if the
    file is unreadable or lacks any of them (written for other images or pixels)."""
    try:
        with np.load(path) as z:
            stored, log_probs, teachers = z["key"].tolist(), z["log_probs"], json.loads(str(z["teachers"]))
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: not a soft-targets file written by train.soft_targets ({e})") from None
    index = {k: i for i, k in enumerate(stored)}
    missing = [k for k in keys if k not in index]
    if missing:
        raise CheckpointError(f"{path}: no soft target for {len(missing)} of the {len(keys)} training images "
                              f"(first: {missing[0]}); write it for the same data and --pixels")
    rows = np.array([index[k] for k in keys], dtype=np.int64)
    return SoftTargets(torch.from_numpy(log_probs[rows].astype(np.float32)),
                       tuple(Teacher(t["path"], t["sha256"], t["selection_accuracy"]) for t in teachers))


def distillation_loss(logits: torch.Tensor, teacher_log_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton et al. (2015): KL(teacher || student) at temperature T, scaled by T^2 so that its
    gradients keep their size as T changes."""
    student = torch.log_softmax(logits / temperature, dim=1)
    target = torch.log_softmax(teacher_log_probs / temperature, dim=1)
    return torch.nn.functional.kl_div(student, target, reduction="batchmean", log_target=True) * temperature ** 2


def check_teacher_files(paths: list[str]) -> None:
    """Fail before loading any data when a teacher path is plainly wrong."""
    for path in paths:
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: teacher weights file not found")
