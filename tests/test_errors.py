"""One base class for the errors a user causes: every command prints those as one line and exits 2,
while anything else (a bug, such as a shape mismatch raising ValueError) keeps its traceback."""

import importlib
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from errors import OptionError, UserError
from mappings import MappingError
from models import EMOTIONS
from models.checkpoint import CheckpointError, save_checkpoint, write_checkpoint
from models.emotion_cnn import ModelConfig, build_model
from models.quantize import int8_supported
from realtime.analysis.calibration import CalibrationError
from realtime.analysis.capture import CaptureError
from realtime.analysis.detect import DetectorError
from realtime.analysis.events import EventsError
from realtime.analysis.landmarks import LandmarkerError
from realtime.analysis.worker import AnalysisError
from realtime.batch import ClusterError
from realtime.outputs.csvlog import LogError
from realtime.outputs.record import RecordError
from realtime.outputs.report import ReportError
from realtime.window.preflight import PreflightError
from tests.media import make_face_video
from tests.paths import FAST_WEIGHTS, REPO, WEIGHTS
from train.data import DataError

# A stage that fails as a bug would, patched in before the command's main() runs in the same process.
BUG = ("import sys\n"
       "import {module} as stage\n"
       "def failing(*args, **kwargs):\n"
       "    raise ValueError('operands could not be broadcast together with shapes (3,) (4,)')\n"
       "stage.{name} = failing\n"
       "import {command} as command\n"
       "sys.exit(command.main(sys.argv[1:]))\n")


def run(command: str, args, bug: tuple[str, str] | None = None):
    """command: a module with main(argv), as `python -m` runs it (run_webcam: the script)."""
    if bug:
        argv = ["-c", BUG.format(module=bug[0], name=bug[1], command=command)]
    else:
        argv = ["run_webcam.py"] if command == "run_webcam" else ["-m", command]
    return subprocess.run([sys.executable, *argv, *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def assert_user_error(proc, text):
    assert proc.returncode == 2 and text in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr, proc.stderr


def assert_bug(proc):
    assert proc.returncode not in (0, 2), proc.stderr
    assert "Traceback" in proc.stderr and "ValueError: operands could not be broadcast" in proc.stderr, proc.stderr
    assert "error: operands" not in proc.stderr


def test_every_user_error_has_the_one_base():
    for error in (CaptureError, DetectorError, LandmarkerError, CheckpointError, MappingError, LogError, RecordError,
                  ReportError, PreflightError, DataError, OptionError, CalibrationError, EventsError, AnalysisError,
                  ClusterError):
        assert issubclass(error, UserError), error
    assert issubclass(OptionError, ValueError) and issubclass(MappingError, ValueError)  # for the API's callers


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")
def test_the_app_a_bug_keeps_its_traceback_a_user_error_is_one_line(tmp_path):
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=6, no_face=range(0))
    args = ["--source", video, "--no-display"]
    assert_bug(run("run_webcam", args, bug=("realtime.analysis.pipeline", "crop_faces")))
    assert_user_error(run("run_webcam", [*args, "--classifier-threads", "0"]), "--classifier-threads")


def test_batch_a_bug_keeps_its_traceback_a_user_error_is_one_line(tmp_path):
    args = [tmp_path, "--out", tmp_path / "out"]
    assert_bug(run("realtime.batch", args, bug=("realtime.batch", "run_batch")))
    assert_user_error(run("realtime.batch", [*args, "--workers", "0"]), "--workers")


@pytest.mark.parametrize(("address", "dask", "text"), [
    ("tcp://127.0.0.1:1", True, "cannot reach the Dask scheduler at tcp://127.0.0.1:1 (Timed out"),
    ("foo://host:8786", True, "--cluster foo://host:8786: not a scheduler address (unknown address scheme"),
    ("tcp://127.0.0.1:8786", False, "--cluster needs Dask distributed: pip install -r requirements-cluster.txt"),
])
def test_batch_a_cluster_it_cannot_use_is_one_line(address, dask, text, tmp_path, monkeypatch, capfd):
    from realtime import batch

    if dask:
        pytest.importorskip("distributed")
        monkeypatch.setattr(batch, "SCHEDULER_TIMEOUT", "1s")  # port 1 refuses: the wait is all timeout
    else:
        monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: its import fails
    (tmp_path / "stills").mkdir()
    (tmp_path / "stills" / "a.png").touch()  # an input to send; the cluster is met before it is read
    args = [tmp_path / "stills", "--out", tmp_path / "out", "--cluster", address, "--no-progress"]
    assert batch.main([str(a) for a in args]) == 2
    err = capfd.readouterr().err
    assert err.splitlines()[-1].startswith(f"error: {text}") and "Traceback" not in err, err


def test_report_a_bug_keeps_its_traceback_a_user_error_is_one_line(tmp_path):
    log = tmp_path / "frames.csv"
    log.write_text("frame,timestamp_s\n0,0.0\n")
    assert_bug(run("realtime.outputs.report", [log], bug=("realtime.outputs.report", "read_log")))
    assert_user_error(run("realtime.outputs.report", [log]), "missing 24 of the")


# Each train/ and mappings/ command, the function it calls first that can meet bad input, and arguments
# that reach it. A plain UserError (no subclass) stands in for that input: a command that catches only
# its own kind (DataError, CheckpointError) lets it out as a traceback.
COMMANDS = [
    ("train.train", "cli", "main", ["--data", "d", "--out", "{tmp}/run"]),
    ("train.evaluate", "cli", "evaluate", ["--data", "d"]),
    ("train.quantize", "cli", "run", ["--data", "d"]),
    ("train.prior", "cli", "read_checkpoint", ["--weights", "w.pth", "--tau", "1", "--out", "{tmp}/o.pth"]),
    ("train.prepare", "main", "load", ["d"]),
    ("train.sweep", "cli", "load", ["--data", "d", "--run", "a=", "--minutes", "1", "--out", "{tmp}/sweep"]),
    ("train.face_mesh", "main", "load", ["--data", "d"]),
    ("mappings.check_on_fer2013", "main", "run_check", ["--data", "d", "--out", "{tmp}"]),
    ("mappings.derive_au_to_va", "main", "read_prototypes", ["--out", "{tmp}/au_to_va.json"]),
    ("mappings.calibrate_measured", "main", "train.data.load", ["--data", "d", "--table", "{tmp}/table.json"]),
]


@pytest.mark.parametrize(("module", "entry", "stage", "args"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_training_and_mapping_command_prints_any_user_error_as_one_line(module, entry, stage, args, tmp_path,
                                                                             monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise UserError("stand-in: unreadable input")

    command = importlib.import_module(module)
    owner, _, name = stage.rpartition(".")
    monkeypatch.setattr(importlib.import_module(owner) if owner else command, name, failing)
    assert getattr(command, entry)([a.format(tmp=tmp_path) for a in args]) == 2
    assert capsys.readouterr().err == "error: stand-in: unreadable input\n"


@pytest.mark.parametrize(("name", "reason"), [("", "Is a directory"),
                                              ("missing/au_to_va.json", "No such file or directory")])
def test_derive_au_to_va_an_output_it_cannot_write_is_one_line(name, reason, tmp_path, capsys):
    from mappings import derive_au_to_va

    out = tmp_path / name
    assert derive_au_to_va.main(["--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot write ({reason})\n"


# Outputs of the train/ and mappings/ commands that cannot be written: the same one line as the app's.

@pytest.fixture
def untrained(tmp_path, monkeypatch):
    """An untrained tiny checkpoint that records a training prior, and one face per class in a Training
    and a PublicTest folder: enough for each command to reach its writes within seconds."""
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    cfg = ModelConfig(widths=(8, 16, 16, 32), convs_per_stage=(1, 1, 1, 1), hidden=32)
    weights = tmp_path / "untrained.pth"
    save_checkpoint(weights, build_model(cfg), cfg, 0.5, 0.25,
                    training={"prior": {c: 1 / len(EMOTIONS) for c in EMOTIONS}})
    for folder, prefix in (("train", "Training"), ("test", "PublicTest")):
        for i, c in enumerate(EMOTIONS):
            (tmp_path / "fer" / folder / c).mkdir(parents=True)
            cv2.imwrite(str(tmp_path / "fer" / folder / c / f"{prefix}_00000.jpg"), np.full((48, 48), 30 * i, np.uint8))
    return weights, tmp_path / "fer"


def under_a_file(tmp_path, name):
    (tmp_path / "file").write_text("")
    return tmp_path / "file" / name


@pytest.mark.parametrize(("name", "reason"), [("", "Is a directory"), ("file/x.pth", "File exists"),
                                              ("file/sub/x.pth", "Not a directory")])
def test_write_checkpoint_a_place_it_cannot_write_is_one_line_and_leaves_nothing(name, reason, tmp_path):
    (tmp_path / "file").write_text("")
    path = tmp_path / name
    with pytest.raises(CheckpointError) as raised:
        write_checkpoint(path, {"format": "emotion-cnn/1"})
    assert str(raised.value) == f"{path}: cannot write ({reason})"
    # No temporary file left behind (beside a folder given as the path, it is made in its parent).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert not path.with_suffix(path.suffix + ".tmp").exists()


@pytest.mark.parametrize(("command", "args"), [
    ("prior", ["--tau", "1"]),
    pytest.param("quantize", ["--data", "{data}"],
                 marks=pytest.mark.skipif(not int8_supported(), reason="int8 needs an x86-64 CPU")),
])
def test_prior_and_quantize_an_output_they_cannot_write_is_one_line(command, args, untrained, tmp_path, capsys):
    weights, data = untrained
    out = under_a_file(tmp_path, "x.pth")
    cli = importlib.import_module(f"train.{command}").cli
    assert cli(["--weights", str(weights), *(a.format(data=data) for a in args), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot write (File exists)\n"


@pytest.mark.parametrize("option", ["--json", "--png"])
def test_evaluate_an_output_it_cannot_write_is_one_line(option, untrained, tmp_path, capsys):
    from train import evaluate

    weights, data = untrained
    out = under_a_file(tmp_path, "x")
    args = ["--data", str(data / "test"), "--weights", str(weights), "--device", "cpu",
            "--json", str(tmp_path / "e.json")]
    assert evaluate.cli([*args, option, str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot write (File exists)\n"


def test_train_an_out_folder_it_cannot_make_is_one_line(untrained, tmp_path, capsys):
    from train import train

    _, data = untrained
    out = under_a_file(tmp_path, "run")
    assert train.cli(["--data", str(data), "--out", str(out), "--epochs", "1", "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot write (Not a directory)\n"


def test_evaluate_a_png_of_an_unknown_image_kind_is_one_line(untrained, tmp_path, capsys):
    from train import evaluate

    weights, data = untrained
    png = tmp_path / "confusion.xyz"
    assert evaluate.cli(["--data", str(data / "test"), "--weights", str(weights), "--png", str(png)]) == 2
    assert capsys.readouterr().err == f"error: --png {png}: unknown image kind .xyz (use .png, .svg, .pdf or .jpg)\n"
    assert not png.exists()


def test_check_on_fer2013_an_output_folder_it_cannot_write_is_one_line(untrained, tmp_path, capsys):
    from mappings import check_on_fer2013

    weights, data = untrained
    out = under_a_file(tmp_path, "affect")
    assert check_on_fer2013.main(["--data", str(data / "test"), "--weights", str(weights), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"error: {out}: cannot write (Not a directory)\n"


def test_calibrate_measured_a_table_it_can_no_longer_write_is_one_line(untrained, tmp_path, monkeypatch, capsys):
    from mappings import calibrate_measured
    from mappings.measured import BLENDSHAPE_TO_AU_PATH
    from train import face_mesh

    table = tmp_path / "mappings" / "blendshape_to_au.json"
    table.parent.mkdir()
    shutil.copy(BLENDSHAPE_TO_AU_PATH, table)

    def measured_while_the_folder_goes(images, progress=False):
        shutil.rmtree(table.parent)  # the table read at the start has no place left to be written back to
        n = len(images)
        return face_mesh.FaceMeshes(np.zeros((n, face_mesh.N_BLENDSHAPES), np.float32),
                                    np.zeros((n, 6, 2), np.float32), np.ones(n, bool))

    monkeypatch.setattr(face_mesh, "cached_meshes", measured_while_the_folder_goes)
    assert calibrate_measured.main(["--data", str(untrained[1]), "--table", str(table)]) == 2
    assert capsys.readouterr().err == f"error: {table}: cannot write (No such file or directory)\n"


# The bench scripts: the same one line and exit 2 for what the user gave them.

def test_bench_batch_a_failed_input_or_no_videos_is_one_line(tmp_path, monkeypatch, capsys):
    from bench import batch
    from realtime.batch import FileResult

    assert batch.main(["--videos", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}: no videos or image folders found\n"
    monkeypatch.setattr(batch, "single_runs", lambda videos: (1.0, 1, 10))
    monkeypatch.setattr(batch, "run_batch", lambda *args, **kwargs: [FileResult("a.mp4", "a.mp4", error="broken")])
    assert batch.main(["--videos", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: a.mp4: broken\n"


@pytest.mark.skipif(not FAST_WEIGHTS.is_file(), reason="models/emotion_cnn_fast.pth not present")
@pytest.mark.parametrize(("weights", "text"), [
    (FAST_WEIGHTS, "{tmp}/test: no such file or folder"),  # a whole model: scored, once there is data
    ("missing.pth", "missing.pth: weights file not found"),
])
def test_bench_refit_table_weights_or_data_it_cannot_use_are_one_line(weights, text, tmp_path, capsys):
    from bench import refit_table

    assert refit_table.main(["--fer", str(tmp_path), "--wild", str(tmp_path), "--weights", str(weights)]) == 2
    assert capsys.readouterr().err == f"error: {text.format(tmp=tmp_path)}\n"


@pytest.mark.skipif(not FAST_WEIGHTS.is_file(), reason="models/emotion_cnn_fast.pth not present")
def test_bench_refit_table_average_of_fewer_than_two_models_is_refused_before_any_scoring(tmp_path, capsys):
    from bench import refit_table

    args = ["--fer", str(tmp_path), "--wild", str(tmp_path), "--weights", str(FAST_WEIGHTS), "--average"]
    assert refit_table.main(args) == 2
    assert capsys.readouterr().err == ("error: --average needs two or more whole models (not head refits) "
                                       "trained on the same pixels\n")


@pytest.mark.parametrize("bench", [["bench.pipeline", "--frames", "5", "--no-naive", "--weights", "missing.pth"],
                                   ["bench.live", "--seconds", "0.2", "--", "--weights", "missing.pth"]],
                         ids=["pipeline", "live"])
def test_bench_an_app_run_ended_by_a_user_error_ends_the_bench_the_same_way(bench):
    proc = subprocess.run([sys.executable, "-m", *bench], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (2, "error: missing.pth: weights file not found\n")


def test_bench_long_session_a_video_without_frames_is_one_line(tmp_path, capsys):
    from bench import long_session

    video = tmp_path / "clip.mp4"
    video.write_text("not a video")
    assert long_session.main(["--video", str(video)]) == 2
    assert capsys.readouterr().err == f"error: {video}: no frame could be read\n"


def test_bench_report_memory_a_video_without_faces_is_one_line(tmp_path, monkeypatch, capsys):
    from bench import report_memory

    monkeypatch.setattr(report_memory, "analyze_video", lambda video: [])  # what a clip with no face gives
    assert report_memory.main(["--video", str(tmp_path / "clip.mp4")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'clip.mp4'}: no face found\n"


@pytest.mark.skipif(not FAST_WEIGHTS.is_file(), reason="models/emotion_cnn_fast.pth not present")
@pytest.mark.parametrize(("weights", "text"), [
    (FAST_WEIGHTS, "{tmp}/test: no such file or folder"),
    ("missing.pth", "missing.pth: weights file not found"),
])
def test_bench_label_frontier_weights_or_data_it_cannot_use_are_one_line(weights, text, tmp_path, capsys):
    from bench import label_frontier

    args = ["--fer", str(tmp_path), "--wild", str(tmp_path), "--weights", str(FAST_WEIGHTS), str(weights)]
    assert label_frontier.main(args) == 2
    assert capsys.readouterr().err == f"error: {text.format(tmp=tmp_path)}\n"
