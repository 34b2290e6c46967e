"""The one checkpoint format: weights plus everything needed to use them without guessing.

A shipped checkpoint is a dict of plain types and tensors, so it loads with
`torch.load(..., weights_only=True)`:

    format        "emotion-cnn/1"
    model_config  ModelConfig as a dict (architecture and sizes)
    classes       output order, e.g. ["angry", ..., "surprise"]
    input         {"size": 48, "channels": 1, "mean": m, "std": s} (pixel/255, then (x-mean)/std)
    state_dict    the weights
    training      {"command", "data", "epochs", "wall_time_s", "seed", ...}
    metrics       {"PublicTest": {"accuracy", "macro_f1", ...}, ...}
    int8          optional: the int8 model the app runs on x86 CPUs (see models/quantize.py)
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from errors import UserError
from models import EMOTIONS
from models.emotion_cnn import ModelConfig, build_model

FORMAT = "emotion-cnn/1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "emotion_cnn.pth"


class CheckpointError(UserError):
    """A checkpoint that cannot be used; the message is one line naming the file and the problem."""


@dataclass
class LoadedModel:
    model: nn.Module
    classes: tuple[str, ...]
    mean: float
    std: float
    meta: dict


def save_checkpoint(path: str | os.PathLike, model: nn.Module, cfg: ModelConfig, mean: float, std: float,
                    training: dict | None = None, metrics: dict | None = None) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "model_config": cfg.to_dict(),
        "classes": list(EMOTIONS),
        "input": {"size": 48, "channels": 1, "mean": float(mean), "std": float(std)},
        "state_dict": state,
        # A JSON round trip keeps metadata to plain types, which weights_only loading requires.
        "training": json.loads(json.dumps(training or {}, default=str)),
        "metrics": json.loads(json.dumps(metrics or {}, default=str)),
    }
    write_checkpoint(path, payload)


def write_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write through a temporary file beside path; CheckpointError (one line) when it cannot be written."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Through a Python file: given a name, torch raises RuntimeError with C++ text instead of OSError.
        with open(tmp, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write ({e.strerror or e})") from None


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict, checked for shape; raises CheckpointError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        with warnings.catch_warnings():
            # Rebuilding the int8 entry's quantized tensors makes torch warn about its own deprecations.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason[:160]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an {FORMAT} checkpoint (was it made by train.train?)")
    for key in ("model_config", "classes", "input", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: checkpoint is missing '{key}'")
    return payload


def load_model(path: str | os.PathLike = DEFAULT_WEIGHTS, device: str | torch.device = "cpu") -> LoadedModel:
    payload = read_checkpoint(path)
    classes = tuple(payload["classes"])
    if classes != EMOTIONS:
        raise CheckpointError(f"{path}: class order {list(classes)} differs from {list(EMOTIONS)}")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
        model = build_model(cfg)
        model.load_state_dict(payload["state_dict"])
    except (ValueError, RuntimeError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: weights do not fit the declared architecture ({first[:160]})") from None
    model.eval().to(device)
    inp = payload["input"]
    return LoadedModel(model, classes, float(inp["mean"]), float(inp["std"]), payload)
