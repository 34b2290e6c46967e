"""Where the model runs and in which precision, shared by training, evaluation and the live app."""

from __future__ import annotations

import torch

from errors import OptionError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one raises ValueError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("--device cuda requested but no CUDA device is available")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX-512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 pays on GPUs and on CPUs with native bf16; on an AVX2-only CPU it is ~13x slower than fp32."""
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())


def autocast_for(device: torch.device):
    """bf16 autocast where it is fast (2-5x over fp32 on AVX-512-BF16 CPUs), plain fp32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_is_fast(device))
