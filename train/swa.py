"""Stochastic weight averaging (Izmailov et al., 2018) for `train.train --swa-epochs`.

The last epochs run at a constant learning rate, so the weights keep wandering around a wide
minimum instead of settling in one corner of it; the mean of their end-of-epoch weights sits
nearer its centre and usually generalises better than any one of them. BatchNorm statistics do
not average, so they are measured afresh for the averaged weights.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from models.device import autocast_for
from train.augment import normalize


class WeightAverage:
    """Running mean of a model's parameters, one update per epoch; resumable via state_dict()."""

    def __init__(self, state: dict | None = None):
        self.mean: dict[str, torch.Tensor] | None = state["mean"] if state else None
        self.count: int = state["count"] if state else 0

    def update(self, model: nn.Module) -> None:
        self.count += 1
        weights = {name: p.detach().float().cpu() for name, p in model.named_parameters()}
        if self.mean is None:
            self.mean = {name: w.clone() for name, w in weights.items()}
            return
        for name, w in weights.items():
            self.mean[name] += (w - self.mean[name]) / self.count

    def state_dict(self) -> dict:
        return {"mean": self.mean, "count": self.count}

    def averaged_model(self, model: nn.Module, images: np.ndarray, mean: float, std: float,
                       device: torch.device) -> nn.Module:
        """A copy of model holding the averaged weights, with BatchNorm statistics measured on images."""
        averaged = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in averaged.named_parameters():
                p.copy_(self.mean[name].to(p.device, p.dtype))
        recompute_batchnorm(averaged, images, mean, std, device)
        return averaged


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, images: np.ndarray, mean: float, std: float,
                        device: torch.device, batch_size: int = 256) -> None:
    """Replace every BatchNorm layer's running mean and variance by their averages over batches
    of images (uint8 [N, 48, 48], un-augmented, as at test time). The batches are of equal size
    (the ragged tail is left out), so the mean is exactly that of the images used. Dropout stays
    off meanwhile: the statistics must describe the activations the model sees at inference."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
        bn.train()
    batch_size = min(batch_size, len(images))
    for start in range(0, len(images) - batch_size + 1, batch_size):
        x = normalize(torch.from_numpy(images[start:start + batch_size]), mean, std)
        with autocast_for(device):
            model(x.to(device).contiguous(memory_format=torch.channels_last))
    for bn, momentum in zip(norms, momenta, strict=True):
        bn.momentum = momentum
    model.eval()
