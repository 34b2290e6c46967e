"""Batch analysis of a folder: one log and report per input, resumable, a broken input reported while
the others complete, and the same results on a local Dask cluster (loopback only)."""

import csv
import json
import shutil
import subprocess
import sys

import cv2
import pytest

from realtime.analysis.rows import COLUMNS
from realtime.batch import find_inputs, run_batch
from tests.media import astronaut_crowd_bgr, make_face_video
from tests.paths import REPO, VIDEOS


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut_bgr):
    root = tmp_path_factory.mktemp("study")
    make_face_video(root / "session1.mp4", frames=30, no_face=range(10, 13))
    (root / "interviews").mkdir()
    if (VIDEOS / "pyfeat_single_face.mp4").is_file():
        shutil.copy(VIDEOS / "pyfeat_single_face.mp4", root / "interviews" / "real.mp4")
    else:
        make_face_video(root / "interviews" / "real.mp4", frames=30)
    (root / "interviews" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000)
    (root / "photos").mkdir()
    cv2.imwrite(str(root / "photos" / "astronaut.png"), astronaut_bgr)
    cv2.imwrite(str(root / "photos" / "crowd.jpg"), astronaut_crowd_bgr()[0])
    (root / "notes.txt").write_text("not an input")
    return root


def batch(inputs, out, *extra):
    return subprocess.run([sys.executable, "-m", "realtime.batch", str(inputs), "--out", str(out), "--no-progress",
                           *extra], cwd=REPO, capture_output=True, text=True, timeout=600)


def summary(out) -> dict[str, dict]:
    return {r["name"]: r for r in csv.DictReader(open(out / "batch_summary.csv"))}


def test_inputs_are_videos_and_image_folders(inputs, tmp_path):
    names = [t.name for t in find_inputs(inputs, tmp_path)]
    assert names == ["interviews/broken.mp4", "interviews/real.mp4", "photos", "session1.mp4"]


@pytest.fixture(scope="module")
def first_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    proc = batch(inputs, out, "--workers", "2")
    return proc, out, summary(out)  # the summary as this run left it; later tests write it again


@pytest.mark.slow
def test_batch_writes_a_log_and_report_per_input_and_reports_the_broken_one(inputs, first_run):
    proc, out, lines = first_run
    assert proc.returncode == 1, proc.stderr  # one input failed
    assert "Traceback" not in proc.stderr + proc.stdout
    assert set(lines) == {"interviews/broken.mp4", "interviews/real.mp4", "photos", "session1.mp4"}
    assert "cannot open as a video" in lines["interviews/broken.mp4"]["error"]
    assert "interviews/broken.mp4" in proc.stdout and "3 analysed" not in proc.stdout
    for name in ("interviews/real.mp4", "photos", "session1.mp4"):
        line = lines[name]
        assert line["error"] == "" and int(line["face_rows"]) > 0, line
        folder = out / name
        rows = list(csv.DictReader(open(folder / "frames.csv")))
        assert list(rows[0]) == COLUMNS and len(rows) == int(line["face_rows"])
        report = json.loads((folder / "summary.json").read_text())
        assert report["rows"] == len(rows)
        assert json.loads((folder / "batch.json").read_text())["error"] == ""
    assert lines["session1.mp4"] | {"seconds": ""} == {
        "name": "session1.mp4", "input": str(inputs / "session1.mp4"), "frames": "30",
        "skipped_frames": "0", "face_rows": "27", "faces": "1", "dominant_emotion": "happy", "seconds": "",
        "error": ""}
    assert lines["photos"]["frames"] == "2" and lines["photos"]["faces"] == "4"  # 1 + the crowd's 3


@pytest.mark.slow
def test_a_second_run_skips_what_is_done_and_force_redoes_it(inputs, first_run):
    _, out, _ = first_run
    log = out / "session1.mp4" / "frames.csv"
    before = log.stat().st_mtime_ns
    proc = batch(inputs, out, "--workers", "1")
    assert proc.returncode == 1  # the broken input is tried again, and fails again
    assert proc.stdout.count("done before, skipped") == 3 and "1 analysed, 3 skipped, 1 failed" in proc.stdout
    assert log.stat().st_mtime_ns == before
    assert summary(out)["session1.mp4"]["face_rows"] == "27"  # the summary still lists the skipped inputs
    proc = batch(inputs / "session1.mp4", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert log.stat().st_mtime_ns > before


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_local_results(inputs, first_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    _, local, local_lines = first_run
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        results = run_batch(inputs, tmp_path, cluster=cluster.scheduler_address, progress=False)
    assert [r.name for r in results] == sorted(local_lines)
    for r in results:
        if not r.error:
            assert (tmp_path / r.name / "frames.csv").read_bytes() == (local / r.name / "frames.csv").read_bytes()
    drop = {"seconds"}
    assert ([{k: v for k, v in line.items() if k not in drop} for line in summary(tmp_path).values()]
            == [{k: v for k, v in line.items() if k not in drop} for line in local_lines.values()])


def test_a_bad_model_option_is_one_line_before_any_worker_starts(inputs, tmp_path):
    proc = batch(inputs, tmp_path / "out", "--weights", tmp_path / "missing.pth")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == \
        f"error: {tmp_path / 'missing.pth'}: weights file not found"
    assert not (tmp_path / "out" / "session1.mp4").exists()
