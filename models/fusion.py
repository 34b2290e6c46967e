"""The fusion head: the CNN's class probabilities plus the measured AU scores -> class probabilities.

A multinomial logistic regression on [log p_cnn (7), raw measured AU scores]; it starts as the
identity on the CNN's log-probabilities, so with no AU weight it gives the CNN's answer. Trained
by train/fusion.py. The file is a dict of tensors and plain types (torch.load weights_only=True):

    format "emotion-fusion/1", au_order [AU...], weight [7, 7 + len(au_order)], bias [7], training {...}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import CheckpointError

FORMAT = "emotion-fusion/1"


@dataclass
class FusionHead:
    au_order: tuple[str, ...]
    weight: np.ndarray  # [7, 7 + len(au_order)]
    bias: np.ndarray  # [7]
    training: dict

    def features(self, probs: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
        from mappings import default_measured

        table = default_measured().table
        if table.au_order != self.au_order:
            raise CheckpointError(f"fusion head was trained on AUs {', '.join(self.au_order)}, but "
                                  f"mappings/blendshape_to_au.json defines {', '.join(table.au_order)}")
        return np.hstack([np.log(np.clip(probs, 1e-6, 1)), table.raw(blendshapes)])

    def predict(self, probs: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
        """probs [N, 7] from the CNN and blendshapes [N, 52] -> fused probabilities [N, 7]."""
        z = self.features(probs, blendshapes) @ self.weight.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def save_fusion(head: FusionHead, path: str | os.PathLike) -> None:
    torch.save({"format": FORMAT, "au_order": list(head.au_order), "weight": torch.from_numpy(head.weight),
                "bias": torch.from_numpy(head.bias), "training": head.training}, path)


def load_fusion(path: str | os.PathLike) -> FusionHead:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: fusion head not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: not a readable fusion head ({type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a fusion head (expected format {FORMAT})")
    return FusionHead(tuple(data["au_order"]), data["weight"].double().numpy(), data["bias"].double().numpy(),
                      data.get("training", {}))
