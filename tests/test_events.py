"""Event markers: number keys in the app, events files for recorded videos, the CSV's event column and the report."""

import csv
import subprocess
import sys
from contextlib import ExitStack

import pytest

from realtime.analysis.capture import open_source
from realtime.analysis.events import Event, EventsError, EventTimeline, events_for, parse_event_labels, read_events
from realtime.analysis.pipeline import Pipeline, PipelineOptions, analyze_video
from realtime.outputs.report import build_report
from realtime.window.app import App, AppConfig
from tests.media import make_face_video
from tests.paths import REPO

FAST = PipelineOptions(landmarks=False)


def test_event_labels_name_the_number_keys_and_bad_ones_are_one_line():
    labels = parse_event_labels("1=stimulus, 2=response")
    assert labels["1"] == "stimulus" and labels["2"] == "response" and labels["3"] == "event 3"
    for bad in ("0=start", "stimulus", "1=", "1=a,b=2", "1=a;b"):
        with pytest.raises(EventsError, match="--event-labels"):
            parse_event_labels(bad)


def test_events_files_with_and_without_header_and_their_errors(tmp_path):
    (tmp_path / "plain.csv").write_text("2.5,response\n0.5,stimulus\n")
    assert read_events(tmp_path / "plain.csv") == [Event(0.5, "stimulus"), Event(2.5, "response")]
    (tmp_path / "head.csv").write_text("label,time_s,source\nstart,1.0,a.mp4\nend,3,\n")
    events = read_events(tmp_path / "head.csv")
    assert events == [Event(1.0, "start", "a.mp4"), Event(3.0, "end")]
    assert events_for(events, "x/a.mp4") == events and events_for(events, "x/b.mp4") == [Event(3.0, "end")]
    (tmp_path / "bad.csv").write_text("time,label\n1.0,start\nsoon,end\n")
    with pytest.raises(EventsError, match=r"bad.csv: line 3"):
        read_events(tmp_path / "bad.csv")
    with pytest.raises(EventsError, match="not found"):
        read_events(tmp_path / "missing.csv")


def test_the_timeline_hands_each_event_to_the_first_frame_at_or_after_it():
    timeline = EventTimeline([Event(0.1, "a"), Event(0.1, "b"), Event(0.5, "c")])
    assert timeline.due(0.0) == [] and [e.label for e in timeline.due(0.12)] == ["a", "b"]
    timeline.mark("key")  # a key press: the next frame
    assert [e.label for e in timeline.due(0.2)] == ["key"] and [e.label for e in timeline.due(9)] == ["c"]


@pytest.mark.slow
def test_an_event_key_marks_the_next_frame_in_the_csv_the_events_file_and_the_report(tmp_path):
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=12)
    log = tmp_path / "log.csv"
    cfg = AppConfig(source=str(video), csv=str(log), display=False, output_dir=str(tmp_path), pipeline=FAST,
                    event_labels=parse_event_labels("2=stimulus"))
    with ExitStack() as stack:
        source = stack.enter_context(open_source(cfg.source))
        app = App(cfg, source, stack.enter_context(Pipeline(cfg.pipeline)), stack)
        for captured in source:  # the app's own loop, with the key pressed while frame 4 is on screen
            result = app.process(captured.image, captured.index, captured.timestamp_s, captured.source)
            canvas = app.render(result)
            app.emit(result, canvas)
            if captured.index == 4:
                assert app.handle_key(ord("2"), canvas)
    rows = list(csv.DictReader(open(log)))
    assert {r["frame"]: r["event"] for r in rows if r["event"]} == {"5": "stimulus"}
    events = list(csv.DictReader(open(tmp_path / "log_events.csv")))
    frame5 = next(r for r in rows if r["frame"] == "5")
    assert events == [{"time_s": frame5["timestamp_s"], "frame": "5", "label": "stimulus"}]
    summary = build_report(log, tmp_path / "report", progress=False)
    assert summary["events"] == [{"time_s": float(frame5["timestamp_s"]), "frame": 5, "label": "stimulus"}]
    assert app.dashboard.events[0][1] == "stimulus"


@pytest.mark.slow
def test_an_events_file_marks_the_rows_of_a_recorded_video(tmp_path):
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=15)
    events = tmp_path / "events.csv"
    events.write_text("time,label\n0.12,stimulus\n0.3,response\n")
    rows = analyze_video(video, FAST, events=events)
    # 30 FPS: 0.12 s falls between frames 3 and 4, 0.3 s on frame 9.
    assert {r["frame"]: r["event"] for r in rows if r["event"]} == {4: "stimulus", 9: "response"}
    proc = subprocess.run([sys.executable, "run_webcam.py", "--source", str(video), "--no-display", "--no-landmarks",
                           "--events", str(events), "--csv", str(tmp_path / "app.csv")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    app_rows = list(csv.DictReader(open(tmp_path / "app.csv")))
    assert {r["frame"]: r["event"] for r in app_rows if r["event"]} == {"4": "stimulus", "9": "response"}


@pytest.mark.parametrize("args", [["--event-labels", "x=start"],
                                  pytest.param(["--events", "missing.csv"], marks=pytest.mark.slow)])
def test_bad_event_flags_are_one_line_and_exit_2(tmp_path, args):
    args = [str(tmp_path / a) if a == "missing.csv" else a for a in args]
    proc = subprocess.run([sys.executable, "run_webcam.py", "--source", "0", "--no-display", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_batch_events_file_errors_are_one_line(tmp_path):
    (tmp_path / "events.csv").write_text("time,label\nlater,start\n")
    proc = subprocess.run([sys.executable, "-m", "realtime.batch", str(tmp_path), "--out", str(tmp_path / "out"),
                           "--events", str(tmp_path / "events.csv")], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "line 2" in proc.stderr


@pytest.mark.slow
def test_a_batch_marks_each_video_with_its_own_events(tmp_path):
    from realtime.batch import run_batch

    study = tmp_path / "study"
    study.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_face_video(study / name, frames=10)
    events = tmp_path / "events.csv"
    events.write_text("time,label,source\n0.11,start,a.mp4\n0.21,all,\n")
    results = run_batch(study, tmp_path / "out", FAST, workers=1, report=False, progress=False,
                        events=read_events(events))
    assert not any(r.error for r in results)

    def marked(name):
        return {r["frame"]: r["event"] for r in csv.DictReader(open(tmp_path / "out" / name / "frames.csv"))
                if r["event"]}

    assert marked("a.mp4") == {"4": "start", "7": "all"} and marked("b.mp4") == {"7": "all"}
