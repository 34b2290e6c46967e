"""Head-only fine-tuning on frozen features (`train.train --init CKPT --freeze-features --no-augment`).

Without augmentation a frozen network maps each image to the same features every epoch, so they
are computed once, cached on disk (keyed by the checkpoint file and the images), and an epoch then
costs only the classifier head: seconds instead of the 7 M VGG's minutes of forward passes on a
2-core CPU. This is how the head of a trained net is refitted to new targets (the FER+ votes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.device import autocast_for
from models.emotion_cnn import INT8_ARCHITECTURES
from train.augment import normalize
from train.data import cached_arrays, default_cache_dir
from train.teacher import file_sha256


def feature_extractor(model: nn.Module) -> nn.Sequential:
    """Every layer before the classifier head, in order (stem and conv stages of cnn and sepcnn)."""
    if getattr(model, "cfg", None) is None or model.cfg.arch not in INT8_ARCHITECTURES:
        raise ValueError("frozen features need a cnn or sepcnn model")
    return nn.Sequential(*[m for name, m in model.named_children() if name != "classifier"])


@torch.inference_mode()
def compute_features(model: nn.Module, images: np.ndarray, mean: float, std: float, device: torch.device,
                     batch_size: int = 256) -> np.ndarray:
    extractor = feature_extractor(model).eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = normalize(torch.from_numpy(images[start:start + batch_size]), mean, std).to(device)
        with autocast_for(device):  # as predict_probs scores every checkpoint: bf16 where it is native
            out.append(extractor(x).float().cpu().numpy())
    return np.concatenate(out)


def cached_features(model: nn.Module, checkpoint: str | Path, images: np.ndarray, mean: float, std: float,
                    device: torch.device, cache_dir: Path | None) -> torch.Tensor:
    key = hashlib.sha1(f"{file_sha256(checkpoint)}|{images.shape}".encode() + images.tobytes()).hexdigest()[:16]
    path = (Path(cache_dir) if cache_dir else default_cache_dir()) / f"features-{key}.npz"
    arrays = cached_arrays(path, lambda: {"features": compute_features(model, images, mean, std, device)})
    return torch.from_numpy(arrays["features"])


@torch.inference_mode()
def head_probs(model: nn.Module, features: torch.Tensor, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Softmax probabilities of the classifier head alone on precomputed features."""
    model.eval()
    out = [torch.softmax(model.classifier(features[s:s + batch_size].to(device)).float(), dim=1).cpu()
           for s in range(0, len(features), batch_size)]
    return torch.cat(out).numpy()
