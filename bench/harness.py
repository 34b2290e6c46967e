"""What the benchmarks share: the CPU they name beside every figure, and the app run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    """The CPU's model, its widest vector level (the figures depend on it) and the core count."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    flags = fields.get("Flags", "")
    level = next((name for flag, name in (("avx512_bf16", "AVX-512-BF16"), ("avx512f", "AVX-512"),
                                          ("avx2", "AVX2")) if flag in flags.split()), "no AVX2")
    return f"{fields.get('Model name', '?').strip()}, {level}, {os.cpu_count()} cores"


def run_app(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`run_webcam.py ARGS` in its own process. If it fails, the benchmark ends as the app did: a user
    error (exit 2) with the app's one line, anything else with its stderr and exit 1."""
    proc = subprocess.run([sys.executable, str(REPO / "run_webcam.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1", **(env or {})})
    if proc.returncode == 2:
        print(proc.stderr.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    if proc.returncode != 0:
        sys.exit(f"the app failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
    return proc
