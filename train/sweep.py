"""Train several configurations side by side within a wall-clock budget, and keep the best.

    python -m train.sweep --data ../shared/datasets/fer2013 --out runs/sweep --minutes 60 --device cuda \\
        --run vgg="--widths 64,128,256,512 --convs 2,2,2,2 --hidden 512 --dropout 0.3" \\
        --run vgg_votes="--widths 64,128,256,512 --convs 2,2,2,2 --hidden 512 --dropout 0.3 --labels votes"

Made for a GPU, which one run of a 48x48 net leaves mostly idle: the runs are train.train
processes working at the same time. A cosine schedule needs its length up front, so each run
first trains a short trial, all of them at once, to time an epoch under that shared load; each
real run then gets as many epochs as fit in --minutes. The end prints every run's best
selection score (what train.train selects on: --select) and copies the best checkpoint to <out>/best.pth.
Runs on different --labels select against different label sets, so compare those with train.evaluate.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from errors import OptionError, UserError
from train.data import LoadReport, load


@dataclass
class Run:
    name: str
    args: list[str]


def parse_run(text: str) -> Run:
    name, sep, rest = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=\"TRAIN ARGS\", got {text!r}")
    return Run(name, shlex.split(rest))


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train several configurations at once within a time budget.")
    p.add_argument("--data", required=True, help="as for train.train")
    p.add_argument("--out", type=Path, default=Path("runs/sweep"), help="one subfolder per run, and best.pth")
    p.add_argument("--run", type=parse_run, action="append", required=True, metavar='NAME="ARGS"',
                   help="a run's name and its train.train arguments (repeat for each run)")
    p.add_argument("--minutes", type=float, required=True, help="wall-clock budget of the real runs")
    p.add_argument("--trial-epochs", type=int, default=2,
                   help="epochs of the timing trial; the last one is timed (the first pays the warm-up)")
    p.add_argument("--max-epochs", type=int, default=400)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cache-dir", type=Path, default=None)
    return p


def launch(runs: list[Run], epochs: dict[str, int], folder: str, args: argparse.Namespace) -> dict[str, int]:
    """Start every run as a train.train process, wait for all of them; their exit codes by name."""
    procs = {}
    for run in runs:
        out = args.out / run.name / folder
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "train.train", "--data", str(args.data), "--out", str(out),
               "--epochs", str(epochs[run.name]), "--device", args.device, "--quiet", *run.args]
        if args.cache_dir:
            cmd += ["--cache-dir", str(args.cache_dir)]
        if "--threads" not in run.args:  # the CPU's cores shared out, not each run claiming all of them
            cmd += ["--threads", str(max(1, (os.cpu_count() or 1) // len(runs)))]
        log = open(out / "train.log", "w")  # noqa: SIM115 - held open while the process runs
        procs[run.name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    codes = {}
    for name, (proc, log) in procs.items():
        codes[name] = proc.wait()
        log.close()
    return codes


def selection_score(row: dict) -> float:
    """What train.train picked its best.pth on (histories from before --select have only the macro-F1)."""
    return row.get("val_score", row["val_macro_f1"])


def best_of(history_path: Path) -> dict | None:
    if not history_path.is_file():
        return None
    history = json.loads(history_path.read_text())
    return max(history, key=selection_score) if history else None


def main(args: argparse.Namespace) -> int:
    names = [r.name for r in args.run]
    if len(set(names)) != len(names):
        raise OptionError(f"--run names must differ, got {names}")
    # Decode the dataset into its cache once, here: runs started together would all build it.
    load(args.data, args.cache_dir, LoadReport())

    t0 = time.time()
    codes = launch(args.run, {r.name: args.trial_epochs for r in args.run}, "trial", args)
    epochs = {}
    for run in args.run:
        trial = args.out / run.name / "trial"
        history = json.loads((trial / "history.json").read_text()) if codes[run.name] == 0 else []
        if len(history) < args.trial_epochs:
            tail = (trial / "train.log").read_text().strip().splitlines()[-1:]
            print(f"{run.name}: trial failed (exit {codes[run.name]}): {tail[0] if tail else 'no output'}; "
                  f"see {trial / 'train.log'}")
            continue
        # The process's time outside its epochs (start-up, loading) is paid once by the real run too.
        overhead = max(0.0, (time.time() - t0) - sum(h["seconds"] for h in history))
        per_epoch = history[-1]["seconds"]
        epochs[run.name] = max(1, min(args.max_epochs, int((args.minutes * 60 - overhead) / per_epoch)))
        print(f"{run.name}: {per_epoch:.1f} s per epoch with {len(args.run)} runs at once -> "
              f"{epochs[run.name]} epoch{'s' if epochs[run.name] > 1 else ''} in {args.minutes:g} min")
        shutil.rmtree(trial)
    runs = [r for r in args.run if r.name in epochs]
    if not runs:
        print("error: every trial failed", file=sys.stderr)
        return 1

    t0 = time.time()
    codes = launch(runs, epochs, "", args)
    print(f"runs done in {(time.time() - t0) / 60:.1f} min")
    results = []
    for run in runs:
        best = best_of(args.out / run.name / "history.json")
        status = "" if codes[run.name] == 0 else f" (exit {codes[run.name]}; see its train.log)"
        if best is None:
            print(f"{run.name}: no finished epoch{status}")
            continue
        score = selection_score(best)
        results.append((score, best["val_acc"], run.name))  # ties go to the better accuracy
        print(f"{run.name}: best selection score {score:.4f} (macro-F1 {best['val_macro_f1']:.4f}, accuracy "
              f"{100 * best['val_acc']:.2f}%) at epoch {best['epoch']} of {epochs[run.name]}{status}")
    if not results:
        return 1
    score, _, name = max(results)
    shutil.copy(args.out / name / "best.pth", args.out / "best.pth")
    print(f"best: {name} (selection score {score:.4f}), copied to {args.out / 'best.pth'}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return main(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: each run's last finished epoch is in its last.pth", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
