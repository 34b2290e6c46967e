"""Batch throughput: the shared clips through `realtime.batch` with 1 worker and one per core, beside
the sum of single runs (`run_webcam.py --no-display --csv` once per clip, as before the batch
existed); with --engines, the same batch on a local Dask cluster and a local Ray cluster, the
measurement that chose Dask for --cluster.

    python -m bench.batch [--videos ../shared/videos] [--engines dask ray] [--repeats 1]

Prints files/minute and frames/second per way of running, median of --repeats runs; engines also
get their start-up time, the round trip of an empty task, and their installed size. Every run
writes into a fresh temporary folder; reports are skipped (--no-report), so the figures are the
analysis and the CSV logs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from bench.harness import cpu_name, run_app
from errors import UserError, exit_status
from realtime import quiet

quiet.set_library_log_levels()

from realtime.analysis.capture import CaptureError  # noqa: E402
from realtime.analysis.pipeline import PipelineOptions  # noqa: E402
from realtime.batch import analyze_task, find_inputs, run_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def timed_batch(videos: Path, workers: int | None = None, cluster: str | None = None) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = run_batch(videos, out, PipelineOptions(), workers=workers, cluster=cluster, report=False,
                            progress=False)
        seconds = time.perf_counter() - start
    failed = [r for r in results if r.error]
    if failed:
        raise UserError(f"{failed[0].name}: {failed[0].error}")
    return seconds, len(results), sum(r.frames for r in results)


def single_runs(videos: Path) -> tuple[float, int, int]:
    seconds, frames = 0.0, 0
    with tempfile.TemporaryDirectory() as out:
        tasks = find_inputs(videos, Path(out))
        if not tasks:  # checked here, the first way timed: the rates below would divide by zero seconds
            raise CaptureError(f"{videos}: no videos or image folders found")
        for i, task in enumerate(tasks):
            start = time.perf_counter()
            proc = run_app(["--source", task.input, "--no-display", "--csv", Path(out) / f"{i}.csv"])
            seconds += time.perf_counter() - start
            frames += int(re.search(r"^(\d+) frames", proc.stdout, re.M)[1])  # the app's closing line
    return seconds, len(tasks), frames


def installed_mb(*dists: str) -> float:
    total = 0
    for dist in dists:
        for f in metadata.distribution(dist).files or []:
            path = f.locate()
            if path.is_file():
                total += path.stat().st_size
    return total / 2**20


def _noop() -> int:
    return 0


def dask_engine(videos: Path, workers: int) -> dict:
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        up = time.perf_counter() - start
        client.submit(_noop, pure=False).result()
        trips = []
        for _ in range(20):
            t0 = time.perf_counter()
            client.submit(_noop, pure=False).result()
            trips.append(time.perf_counter() - t0)
        seconds, files, frames = timed_batch(videos, cluster=cluster.scheduler_address)
    return {"startup_s": up, "task_ms": 1000 * statistics.median(trips), "seconds": seconds, "files": files,
            "frames": frames, "mb": installed_mb("distributed", "dask")}


def ray_engine(videos: Path, workers: int) -> dict:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    try:
        up = time.perf_counter() - start
        noop = ray.remote(_noop)
        ray.get(noop.remote())
        trips = []
        for _ in range(20):
            t0 = time.perf_counter()
            ray.get(noop.remote())
            trips.append(time.perf_counter() - t0)
        analyze = ray.remote(num_cpus=1)(analyze_task)
        with tempfile.TemporaryDirectory() as out:
            tasks = find_inputs(videos, Path(out))
            t0 = time.perf_counter()
            results = ray.get([analyze.remote(t, PipelineOptions(), False) for t in tasks])
            seconds = time.perf_counter() - t0
        if any(r.error for r in results):
            raise UserError(f"ray: {[r.error for r in results if r.error][0]}")
    finally:
        ray.shutdown()
    return {"startup_s": up, "task_ms": 1000 * statistics.median(trips), "seconds": seconds, "files": len(results),
            "frames": sum(r.frames for r in results), "mb": installed_mb("ray")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=Path, default=REPO.parent / "shared" / "videos")
    p.add_argument("--repeats", type=int, default=1, help="runs of each way; the median is printed")
    p.add_argument("--engines", nargs="*", default=[], choices=["dask", "ray"],
                   help="also time these cluster engines (requirements-cluster.txt; ray: pip install ray)")
    args = p.parse_args(argv)
    return exit_status(run, args)


def run(args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 1
    print(f"{cpu_name()}; inputs: {args.videos}")
    ways = {"sum of single runs (run_webcam.py)": lambda: single_runs(args.videos),
            "batch, 1 worker": lambda: timed_batch(args.videos, workers=1),
            f"batch, {cores} workers": lambda: timed_batch(args.videos, workers=cores)}
    print(f"{'way':<38}{'files':>6}{'frames':>8}{'seconds':>9}{'files/min':>11}{'frames/s':>10}")
    for name, way in ways.items():
        runs = [way() for _ in range(args.repeats)]
        seconds = statistics.median(r[0] for r in runs)
        files, frames = runs[0][1], runs[0][2]
        print(f"{name:<38}{files:>6}{frames:>8}{seconds:>9.1f}{60 * files / seconds:>11.1f}{frames / seconds:>10.1f}")
    engines = {"dask": dask_engine, "ray": ray_engine}
    for name in args.engines:
        r = engines[name](args.videos, cores)
        print(f"{name} local cluster, {cores} workers: start {r['startup_s']:.1f} s, empty task round trip "
              f"{r['task_ms']:.1f} ms, batch {r['seconds']:.1f} s ({60 * r['files'] / r['seconds']:.1f} files/min, "
              f"{r['frames'] / r['seconds']:.1f} frames/s), installed {r['mb']:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
