"""Batched inference over in-memory uint8 images, shared by training and evaluation."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from models.device import autocast_for
from train.augment import normalize


@torch.inference_mode()
def predict_probs(model: torch.nn.Module, images: np.ndarray, mean: float, std: float,
                  device: torch.device, batch_size: int = 512, tta: bool = False,
                  autocast: bool = True) -> np.ndarray:
    """Softmax probabilities [N, classes] for uint8 images [N, 48, 48].

    tta averages the probabilities of the image and its mirror, plus four 2-pixel shifts.
    autocast=False keeps the input in fp32, as an int8 model (models/quantize.py) needs.
    """
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = normalize(torch.from_numpy(images[start:start + batch_size]), mean, std)
        views = [x]
        if tta:
            views.append(x.flip(3))
            for dy, dx in ((2, 0), (-2, 0), (0, 2), (0, -2)):
                views.append(_shift(x, dy, dx))
        probs = 0
        for v in views:
            v = v.to(device).contiguous(memory_format=torch.channels_last)
            with autocast_for(device) if autocast else nullcontext():
                logits = model(v)
            probs = probs + torch.softmax(logits.float(), dim=1)
        out.append((probs / len(views)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 7), np.float32)


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate by (dy, dx) pixels, repeating the edge rows/columns into the gap."""
    h, w = x.shape[-2:]
    rows = (torch.arange(h) - dy).clamp(0, h - 1)
    cols = (torch.arange(w) - dx).clamp(0, w - 1)
    return x[..., rows, :][..., cols]
