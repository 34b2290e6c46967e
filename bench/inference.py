"""Classifier speed: latency per face (batch 1, one CPU thread) and batched throughput.

    python -m bench.inference [--weights models/emotion_cnn.pth]

Times the app's classifier (realtime.classify.EmotionClassifier: BatchNorm folded into the
convolutions, channels-last, fp32) and, for comparison, the plain checkpoint model; prints
the median of many runs, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from models.checkpoint import DEFAULT_WEIGHTS, load_model
from realtime.classify import EmotionClassifier


def median_ms(fn, repeats: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def count_macs(model: torch.nn.Module) -> int:
    """Multiply-accumulates of one 48x48 forward pass, from the conv and linear layers."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * module.in_channels * kh * kw // module.groups
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d,
                                                                                           torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 1, 48, 48))
    for h in handles:
        h.remove()
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--repeats", type=int, default=300)
    args = p.parse_args()
    plain = load_model(args.weights).model.eval()
    params = sum(p.numel() for p in plain.parameters())
    print(f"model: {params / 1e6:.2f}M parameters, {count_macs(plain) / 1e6:.1f}M multiply-adds per face")

    clf = EmotionClassifier(args.weights, "cpu", cpu_threads=1)
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, 48, 48), dtype=np.uint8)
    x1 = torch.from_numpy(one).float().unsqueeze(1)
    with torch.inference_mode():
        plain_ms = median_ms(lambda: plain(x1), args.repeats)
    app_ms = median_ms(lambda: clf.predict(one), args.repeats)
    print(f"batch 1, 1 thread: app classifier {app_ms:.2f} ms/face (plain model {plain_ms:.2f} ms)")

    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for batch in (8, 64):
            crops = rng.integers(0, 256, (batch, 48, 48), dtype=np.uint8)
            ms = median_ms(lambda c=crops: clf.predict(c), max(20, args.repeats // batch))
            print(f"batch {batch:>2}, {threads} thread(s): {ms / batch:.2f} ms/face, {1000 * batch / ms:.0f} faces/s")


if __name__ == "__main__":
    main()
