"""Expression classification of 48x48 face crops: one batched forward pass per frame."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.fx.experimental.optimization import fuse

from errors import OptionError
from models import EMOTIONS
from models.checkpoint import DEFAULT_WEIGHTS, load_model
from models.device import bf16_is_fast, resolve_device
from models.quantize import has_int8_graph, int8_supported, load_int8

PRECISIONS = ("fp32", "bf16", "int8")


class EmotionClassifier:
    """Loads weights once; `predict(crops)` maps uint8 [N,48,48] to probabilities [N,7].

    precision: "fp32", "bf16", "int8" (the checkpoint's quantized model, x86 CPUs only), or
    "auto": bf16 on GPUs; on the CPU int8 when the checkpoint carries it, else bf16 where it is
    native, else fp32. int8 is the fastest on every x86 CPU measured (bench/README.md,
    "Classifier"): 1.7 ms against bf16 3.6 ms on an AMX (AVX-512-BF16) Xeon, 2.5 ms against
    fp32 4.4 ms on AVX2.

    cpu_threads: 1 by default. On an idle 2-core AVX2 CPU two threads shave ~1.4 ms off the
    classify stage, but when the cores are busy (another program, or MediaPipe's workers on an
    AVX-512-BF16 CPU) they spin against it and the whole pipeline runs 1.4-3x slower
    (bench/README.md, "Classifier threads"). They are set around each of the classifier's own
    calls and restored after, so torch's process-wide count (a notebook's other work) is left alone.
    """

    def __init__(self, weights: str = str(DEFAULT_WEIGHTS), device: str = "auto", cpu_threads: int = 1,
                 precision: str = "auto"):
        self.device = resolve_device(device)
        loaded = load_model(weights, self.device)
        self.meta = loaded.meta
        self.mean, self.std = loaded.mean, loaded.std
        if precision == "auto":
            precision = self._auto_precision()
        if precision not in PRECISIONS:
            raise OptionError(f"unknown precision '{precision}' (choose from auto, {', '.join(PRECISIONS)})")
        if precision == "int8" and self.device.type != "cpu":
            raise OptionError("int8 runs on the CPU only; use --device cpu or another precision")
        self.precision = precision
        self.cpu_threads = cpu_threads
        if precision == "int8":
            self.model = load_int8(loaded, str(weights))
            self.dtype = torch.float32  # the int8 graph quantizes its fp32 input itself
        else:
            model = loaded.model
            if self.device.type == "cpu" and has_int8_graph(loaded.meta["model_config"]):
                # Folding BatchNorm into the convolutions is exact in eval mode and saves a pass per layer.
                model = fuse(model)
            # bf16 weights: 1.3-1.8x faster per face than fp32 on CPUs with native bf16; the checkpoint's
            # accuracy was measured under bf16 autocast, and bench/inference.py reports every precision.
            self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            self.model = model.to(self.dtype).to(memory_format=torch.channels_last).eval()
        self.classes = EMOTIONS

    def _auto_precision(self) -> str:
        has_int8 = "int8" in self.meta and has_int8_graph(self.meta["model_config"])
        if self.device.type == "cpu" and has_int8 and int8_supported():
            return "int8"
        return "bf16" if bf16_is_fast(self.device) else "fp32"

    @contextmanager
    def _threads(self) -> Iterator[None]:
        """torch's CPU threads at cpu_threads for the duration, then back (setting them costs microseconds)."""
        if self.device.type != "cpu":
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.cpu_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    @torch.inference_mode()
    def predict(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)
        with self._threads():
            x = x.float().unsqueeze(1).div_(255.0).sub_(self.mean).div_(self.std).to(self.dtype)
            logits = self.model(x.contiguous(memory_format=torch.channels_last))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()
