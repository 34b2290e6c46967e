"""Batched augmentation on uint8 image tensors already in memory.

One affine warp (rotation, scale, shift, flip) for the whole batch through `affine_grid` /
`grid_sample`, then photometric jitter (gamma, contrast, brightness) and random erasing, all as
tensor ops: a per-image PIL pipeline would starve two CPU cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    max_rotation_deg: float = 15.0
    scale_range: tuple[float, float] = (0.85, 1.15)
    max_shift: float = 0.1  # fraction of the image side
    flip_prob: float = 0.5
    brightness: float = 0.25  # additive, in [0, 1] pixel units
    contrast: float = 0.25  # multiplicative, around the image mean
    gamma: float = 0.0  # pixel ** g with log(g) uniform in [-gamma, gamma]: a camera's tone curve, exposure
    erase_prob: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.15)


def normalize(images_u8: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 [B,H,W] or [B,1,H,W] -> float [B,1,H,W] scaled as the model expects."""
    x = images_u8.float().div_(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x.sub_(mean).div_(std)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: float [B,1,H,W] in [0, 1], on any device. Returns a new augmented tensor of the same shape.

    The random draws come from the CPU generator whatever x's device, so a run draws the same
    augmentations on CPU and GPU and --resume replays them; only the pixel work runs on x's device.
    """
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator) * (hi - lo) + lo).to(x.device)

    angle = uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg) * math.pi / 180
    scale = uniform(*cfg.scale_range)
    flip = torch.where(torch.rand(b, generator=generator) < cfg.flip_prob, -1.0, 1.0).to(x.device)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([
        torch.stack([cos * flip, -sin, uniform(-cfg.max_shift, cfg.max_shift) * 2], dim=1),
        torch.stack([sin * flip, cos, uniform(-cfg.max_shift, cfg.max_shift) * 2], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Border padding repeats edge pixels: black wedges would be a cue no real crop has.
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if cfg.gamma > 0:
        g = torch.exp(uniform(-cfg.gamma, cfg.gamma)).view(b, 1, 1, 1)
        out = out.clamp(1e-4, 1).pow(g)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(b, 1, 1, 1)
    brightness = uniform(-cfg.brightness, cfg.brightness).view(b, 1, 1, 1)
    out = ((out - mean) * contrast + mean + brightness).clamp_(0, 1)

    if cfg.erase_prob > 0:
        out = random_erase(out, cfg, generator)
    return out


def random_erase(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Fill one random rectangle per chosen image with noise (occlusion by hands, glasses, hair)."""
    b, _, h, w = x.shape
    chosen = torch.rand(b, generator=generator) < cfg.erase_prob
    area = (torch.rand(b, generator=generator) * (cfg.erase_area[1] - cfg.erase_area[0]) + cfg.erase_area[0]) * h * w
    aspect = torch.exp(torch.rand(b, generator=generator) * 2 * math.log(3) - math.log(3))
    eh = (area * aspect).sqrt().clamp(1, h - 1)
    ew = (area / aspect).sqrt().clamp(1, w - 1)
    top = torch.rand(b, generator=generator) * (h - eh)
    left = torch.rand(b, generator=generator) * (w - ew)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    mask = ((rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
            & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1)) & chosen.view(b, 1, 1))
    noise = torch.rand(x.shape, generator=generator)
    return torch.where(mask.unsqueeze(1).to(x.device), noise.to(x.device), x)
