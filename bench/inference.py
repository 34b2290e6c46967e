"""Classifier speed: latency per face (batch 1, one CPU thread) and batched throughput.

    python -m bench.inference [--weights models/emotion_cnn.pth]

Times the app's classifier (realtime.analysis.classify.EmotionClassifier: BatchNorm folded into the
convolutions, channels-last) in each precision this CPU runs well (fp32; bf16 where native;
int8 when the checkpoint carries it) and, for comparison, the plain checkpoint model; prints
the median of many runs, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from models.checkpoint import DEFAULT_WEIGHTS, load_model
from models.device import cpu_has_bf16
from models.quantize import has_int8_graph, int8_supported
from realtime.analysis.classify import EmotionClassifier


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


def cpu_description() -> str:
    """The CPU's model name and the vector ISA PyTorch uses on it (ATEN_CPU_CAPABILITY=avx2 lowers it)."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores, PyTorch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    p.add_argument("--repeats", type=int, default=300, help="timed calls per candidate, over all rounds")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    loaded = load_model(args.weights)
    plain = loaded.model.eval()
    params = sum(p.numel() for p in plain.parameters())
    print(f"CPU: {cpu_description()}")
    print(f"model: {params / 1e6:.2f}M parameters, {count_macs(plain) / 1e6:.1f}M multiply-adds per face")

    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (1, 48, 48), dtype=np.uint8)
    x1 = torch.from_numpy(one).float().unsqueeze(1)
    torch.set_num_threads(1)
    candidates = {"plain fp32 model": lambda: plain(x1)}
    for precision in available_precisions(loaded.meta):
        c = EmotionClassifier(args.weights, "cpu", cpu_threads=1, precision=precision)
        candidates[f"app classifier, {precision}"] = lambda c=c: c.predict(one)
    # Rounds interleave the candidates so that a noisy neighbour slows all of them alike.
    rounds = {name: [] for name in candidates}
    with torch.inference_mode():
        for _ in range(args.rounds):
            for name, fn in candidates.items():
                rounds[name].append(median_ms(fn, args.repeats // args.rounds))
    for name, ms in rounds.items():
        print(f"batch 1, 1 thread: {name}: {statistics.median(ms):.2f} ms/face "
              f"(rounds {min(ms):.2f}-{max(ms):.2f})")

    clf = EmotionClassifier(args.weights, "cpu", cpu_threads=1)
    print(f"batched, app classifier at its default precision here ({clf.precision}):")
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        for batch in (8, 64):
            crops = rng.integers(0, 256, (batch, 48, 48), dtype=np.uint8)
            ms = median_ms(lambda c=crops: clf.predict(c), max(20, args.repeats // batch))
            print(f"batch {batch:>2}, {threads} thread(s): {ms / batch:.2f} ms/face, {1000 * batch / ms:.0f} faces/s")


def available_precisions(meta: dict) -> list[str]:
    """fp32 always; bf16 only where it is native (emulated it is ~13x slower); int8 if the checkpoint has it."""
    out = ["fp32"]
    if cpu_has_bf16():
        out.append("bf16")
    if "int8" in meta and has_int8_graph(meta["model_config"]) and int8_supported():
        out.append("int8")
    return out

if __name__ == "__main__":
    main()
