"""The real OpenCV window under Xvfb: keys sent with xdotool, what a person sees checked in screenshots."""

import csv
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from tests.media import astronaut_crowd_bgr, four_faces_bgr, make_face_video, portrait_astronaut_bgr
from tests.paths import REPO, VIDEOS, WEIGHTS
from tests.test_live import children_of, gone

TOOLS = ("Xvfb", "xdotool", "import")
pytestmark = [
    pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS), reason="needs Xvfb, xdotool and imagemagick"),
    pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present"),
]
WINDOW = "Facial expression"


@pytest.fixture(scope="module")
def display():
    # -displayfd: the server picks a free display number and writes it once it accepts clients, so
    # test processes running side by side (pytest -n) each get their own. -noreset: by default the
    # server resets when its last client leaves, and an app starting at that moment cannot connect.
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp",
                             "-noreset"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=(write_end,))
    os.close(write_end)
    with os.fdopen(read_end) as reply:
        ready, _, _ = select.select([reply], [], [], 60)
        number = reply.readline().strip() if ready else ""  # empty too if the server exited
    if not number:
        xvfb.kill()
        pytest.fail("Xvfb did not start")
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


class Window:
    """The app running in its own process, with its X window found by title."""

    def __init__(self, display: str, args: list, tmp: Path):
        self.env = {**os.environ, "DISPLAY": display}
        self.tmp = tmp
        self.proc = subprocess.Popen([sys.executable, "run_webcam.py", *map(str, args)], cwd=REPO, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.wid = self.find(timeout=180)
        # Before the first frame the window is blank (Qt's grey and black) or the grey "loading"
        # splash, and keys sent then can be lost: on a busy 2-core machine that first frame can take
        # many seconds. A drawn frame has colour (every source here does, and so do the overlays).
        def drawn(s: np.ndarray) -> bool:
            return s is not None and (s.max(axis=2).astype(int) - s.min(axis=2) > 40).mean() > 0.01

        try:
            deadline = time.time() + 180
            while not drawn(first := self.shot_when("first_frame", drawn, timeout=5)):
                assert time.time() < deadline, "the window never showed a drawn frame"
                if first is not None and first.max() == 0:
                    self.remap()  # harmless on a window that Qt was about to paint
        except BaseException:
            self.proc.kill()  # a failed test must not leave the app running
            raise

    def find(self, timeout: float) -> str:
        """The id of the app's window, by title and by this app's process: a window of the previous
        test's app can linger for a moment after it quit."""
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                pytest.fail(f"no window appeared: {self.proc.communicate()[1][-2000:]}")
            # --onlyvisible: Qt can replace its X window when the window is resized, leaving the old one unmapped.
            found = subprocess.run(["xdotool", "search", "--onlyvisible", "--all", "--pid", str(self.proc.pid),
                                    "--name", WINDOW],
                                   env=self.env, capture_output=True, text=True).stdout.split()
            if found:
                return found[-1]
            time.sleep(0.3)

    def remap(self) -> None:
        """Unmap and map the window, as a window manager would map it. Under a bare Xvfb on a busy
        machine, the Qt that opencv-contrib bundles sometimes never gets its new window's MapNotify
        and never paints it: the window stays black (Qt itself paints grey). A five-line cv2 script
        (namedWindow, imshow, waitKey) does this in about 1 start in 5 beside two busy loops, with
        no resize, so the app cannot avoid it; a remap heals it."""
        for action in ("windowunmap", "windowmap"):
            subprocess.run(["xdotool", action, "--sync", self.wid], env=self.env, check=True, timeout=30)

    def key(self, name: str) -> None:
        """Send a key; the caller waits for the state it expects (shot_when, wait_for), not for a time."""
        subprocess.run(["xdotool", "key", "--window", self.wid, name], env=self.env, check=True)

    def shot(self, name: str) -> np.ndarray:
        path = self.tmp / f"{name}.png"
        self.wid = self.find(timeout=30)
        try:
            # import can hang for good on a window that is going away: bound it, then try again.
            subprocess.run(["import", "-window", self.wid, str(path)], env=self.env, check=True, capture_output=True,
                           text=True, timeout=20)
        except subprocess.TimeoutExpired:
            raise subprocess.CalledProcessError(-1, "import", stderr="import timed out") from None
        return cv2.imread(str(path))

    def shot_when(self, name: str, ready, timeout: float = 180) -> np.ndarray:
        """The first screenshot for which ready(shot) holds, or the last one at the timeout: on a busy
        machine the first processed frame can come well after the window maps."""
        deadline = time.time() + timeout
        while True:
            try:
                shot = self.shot(name)
            except subprocess.CalledProcessError as e:
                if time.time() > deadline:
                    raise AssertionError(f"screenshot failed: {e.stderr.strip()}") from None
                shot = None  # a window that went away (the previous app's) or is not mapped yet
                self.wid = self.find(timeout=max(deadline - time.time(), 5))
            if (shot is not None and ready(shot)) or time.time() > deadline:
                return shot
            time.sleep(0.5)

    def wait(self, timeout: float = 180) -> tuple[int, str, str]:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self.proc.returncode, out, err


def wait_for(condition, timeout: float = 180) -> bool:
    """Poll until condition() holds; False at the timeout, for the caller's assert to explain."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def region_change(a: np.ndarray, b: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> float:
    """Mean absolute difference in a region given as fractions of the image."""
    h, w = a.shape[:2]
    b = cv2.resize(b, (w, h))
    ra = a[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)].astype(float)
    rb = b[int(y0 * h):int(y1 * h), int(x0 * w):int(x1 * w)].astype(float)
    return float(np.abs(ra - rb).mean())


@pytest.mark.slow
def test_overlays_toggle_and_q_exits_cleanly(display, tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    started = time.monotonic()
    win = Window(display, ["--source", photo, "--output-dir", tmp_path / "out", "--no-dashboard"], tmp_path)
    # The photo's top row is light: a black one is a window not yet painted at its final size.
    base = win.shot_when("0_default", lambda s: s.shape == (512, 512, 3) and s[:2].mean() > 60)
    assert base.shape == (512, 512, 3) and base[:2].mean() > 60, "the window shows the whole 512x512 image"

    # Each key's effect is awaited in screenshots: a busy machine may take a while to redraw.
    win.key("v")
    no_va = win.shot_when("1_va_off", lambda s: region_change(base, s, 0.66, 0.66, 0.98, 0.98) > 8)
    assert region_change(base, no_va, 0.66, 0.66, 0.98, 0.98) > 8, "the VA inset disappears"
    assert region_change(base, no_va, 0.0, 0.35, 0.3, 0.6) < 1, "nothing else changes"

    win.key("p")
    bars = win.shot_when("2_probability_bars", lambda s: region_change(no_va, s, 0.55, 0.15, 0.95, 0.45) > 8)
    assert region_change(no_va, bars, 0.55, 0.15, 0.95, 0.45) > 8, "bars appear beside the face"

    win.key("b")
    # The HUD takes the room above the face, so its label hangs under the box.
    no_boxes = win.shot_when("3_boxes_off", lambda s: region_change(bars, s, 0.34, 0.34, 0.55, 0.4) > 5)
    assert region_change(bars, no_boxes, 0.34, 0.34, 0.55, 0.4) > 5, "the label under the face disappears"

    win.key("h")
    help_shown = win.shot_when("4_help", lambda s: region_change(no_boxes, s, 0.3, 0.3, 0.7, 0.7) > 10)
    assert region_change(no_boxes, help_shown, 0.3, 0.3, 0.7, 0.7) > 10, "the help panel appears"

    win.key("s")
    assert wait_for(lambda: len(list((tmp_path / "out").glob("snapshot_*.png"))) == 1), "one snapshot saved"

    win.key("q")
    code, out, err = win.wait()
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert "emotion: happy" in out
    # The photo stayed on screen for most of the test, waiting for keys; that is not work, so the
    # FPS of its one frame is far above one frame over the whole time the app ran.
    fps = float(re.search(r"([0-9.]+) FPS", out).group(1))
    assert fps > 2 / elapsed, out


@pytest.mark.slow
@pytest.mark.parametrize("live", [False, True], ids=["file", "live"])
def test_record_key_writes_playable_video(display, tmp_path, live):
    video = tmp_path / "clip.mp4"
    # Long enough to stay open while keys arrive (played live, 1800 frames last a minute).
    make_face_video(video, frames=1800 if live else 900, no_face=range(0))
    win = Window(display, ["--source", video, "--output-dir", tmp_path / "out", "--no-dashboard",
                           *(["--live"] if live else [])], tmp_path)

    def rec_marker(shot: np.ndarray) -> bool:  # red, top right
        h, w = shot.shape[:2]
        corner = shot[: h // 10, int(w * 0.8):]
        return ((corner[..., 2] > 200) & (corner[..., 1] < 60) & (corner[..., 0] < 60)).sum() > 20

    recorded = []

    def six_frames_recorded(shot: np.ndarray) -> bool:
        # A frame on screen has already been written; the face sways, so a new frame looks different.
        if rec_marker(shot) and (not recorded or region_change(recorded[-1], shot, 0, 0, 1, 1) > 0.5):
            recorded.append(shot)
        return len(recorded) >= 6

    win.key("r")
    recording = win.shot_when("recording", six_frames_recorded)
    assert len(recorded) >= 6, "the REC marker shows, top right, over frames that move on"
    workers = children_of(win.proc.pid)
    win.key("q")
    code, out, err = win.wait()
    assert code == 0, err
    files = list((tmp_path / "out").glob("session_*.mp4"))
    assert len(files) == 1
    cap = cv2.VideoCapture(str(files[0]))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) > 5
    assert "recording saved" in out
    assert rec_marker(recording)
    if live:  # q ended the run in the middle: its analysis process went with it
        assert "ended by quit" in out and workers
        assert wait_for(lambda: all(gone(pid) for pid in workers))


@pytest.mark.slow
def test_a_large_photo_opens_shrunk_to_fit_with_every_face_labelled(display, tmp_path):
    frame, centres = astronaut_crowd_bgr()  # 1920x1080, three small faces
    cv2.imwrite(str(tmp_path / "crowd.png"), frame)
    win = Window(display, ["--source", tmp_path / "crowd.png", "--no-dashboard"], tmp_path)

    def orange_near_faces(shot: np.ndarray) -> list[int]:
        h, w = shot.shape[:2]
        counts = []
        for cx, cy in centres:
            x, y = int(cx * w / 1920), int(cy * h / 1080)
            around = shot[max(0, y - 60):y + 40, max(0, x - 40):x + 120]
            counts.append(int(((around[..., 2] > 200) & (around[..., 1] > 120) & (around[..., 1] < 200)
                               & (around[..., 0] < 80)).sum()))
        return counts

    shot = win.shot_when("window", lambda s: min(orange_near_faces(s)) > 100)
    h, w = shot.shape[:2]
    assert w <= 1280 and h <= 720 and abs(w / h - 16 / 9) < 0.02, (w, h)
    # Each face's box and label (orange) shows, the right-most one included.
    assert min(orange_near_faces(shot)) > 100, list(zip(centres, orange_near_faces(shot), strict=True))
    win.key("q")
    code, out, err = win.wait()
    assert code == 0, err
    assert out.count("emotion:") == 3


@pytest.mark.slow
def test_action_unit_bars_and_the_face_mesh_toggle(display, tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    win = Window(display, ["--source", photo, "--no-va", "--no-dashboard"], tmp_path)
    base = win.shot("0_default")
    # The face's box spans x 0.35-0.53 and y 0.16-0.35 of the photo; the AU panel goes under it.
    win.key("a")
    panel = win.shot_when("1_aus", lambda s: region_change(base, s, 0.33, 0.37, 0.7, 0.62) > 8)
    assert region_change(base, panel, 0.33, 0.37, 0.7, 0.62) > 8, "the AU panel appears under the face"
    # Its bars are drawn green: the measured smile (AU12) is the longest.
    h, w = panel.shape[:2]
    below = panel[int(0.37 * h):int(0.62 * h), int(0.33 * w):int(0.8 * w)]
    assert ((below[..., 1] > 170) & (below[..., 0] < 120) & (below[..., 2] < 120)).sum() > 200
    win.key("l")
    mesh = win.shot_when("2_mesh", lambda s: region_change(panel, s, 0.37, 0.18, 0.52, 0.34) > 3)
    assert region_change(panel, mesh, 0.37, 0.18, 0.52, 0.34) > 3, "mesh points appear on the face"
    assert region_change(panel, mesh, 0.0, 0.5, 0.3, 0.95) < 1, "and nowhere else"
    win.key("q")
    code, out, err = win.wait()
    assert code == 0, err
    assert "AU12 Lip corner puller" in out and "[measured]" in out


@pytest.mark.parametrize("shape", [pytest.param("portrait 405x720", marks=pytest.mark.slow), "640x480, four faces",
                                   pytest.param("1920x1080", marks=pytest.mark.slow)])
def test_dashboard_beside_the_video_at_three_frame_shapes(display, tmp_path, shape):
    frame = {"portrait 405x720": portrait_astronaut_bgr, "640x480, four faces": lambda: four_faces_bgr(VIDEOS),
             "1920x1080": lambda: astronaut_crowd_bgr()[0]}[shape]()
    fh, fw = frame.shape[:2]
    cv2.imwrite(str(tmp_path / "frame.png"), frame)
    win = Window(display, ["--source", tmp_path / "frame.png", "--probs", "--aus"], tmp_path)

    def laid_out(shot: np.ndarray) -> bool:  # not Qt's first, default-sized window
        return shot.shape[0] >= 0.85 * min(fh, 720) and shot.shape[1] / shot.shape[0] > fw / fh + 0.1

    with_dash = win.shot_when("0_dashboard", laid_out)
    h, w = with_dash.shape[:2]
    assert w <= 1280 and h <= 720, (w, h)
    assert laid_out(with_dash), "the dashboard is on by default, beside the video"
    # The dashboard's top part, right of the video (the window shows the frame at its own height or less).
    side = (min(w, fw * h / fh) / w + 0.02, 0.02, 0.98, 0.45)
    win.key("f")  # the next face: with several, the dashboard's title and bars change; with one, nothing
    after_f = win.shot_when("1_next_face", lambda s: shape != "640x480, four faces"
                            or region_change(with_dash, s, *side) > 2)
    if shape == "640x480, four faces":
        assert region_change(with_dash, after_f, *side) > 2
    win.key("h")
    helped = win.shot_when("2_help", lambda s: region_change(after_f, s, 0.3, 0.3, 0.7, 0.7) > 8)
    assert region_change(after_f, helped, 0.3, 0.3, 0.7, 0.7) > 8, "the help appears"
    win.key("h")
    win.key("d")
    # Without the dashboard the window is the video, and the side column where panels have no room.
    no_dash = win.shot_when("3_no_dashboard", lambda s: s.shape != with_dash.shape)
    assert no_dash.shape != with_dash.shape, "d hides the dashboard"
    win.key("t")
    no_hud = win.shot_when("4_no_hud", lambda s: s.shape == no_dash.shape
                           and region_change(no_dash, s, 0.0, 0.0, 0.25, 0.06) > 3)
    assert region_change(no_dash, no_hud, 0.0, 0.0, 0.25, 0.06) > 3, "t hides the HUD"
    win.key("d")
    back = win.shot_when("5_dashboard_again", lambda s: s.shape == with_dash.shape)
    assert back.shape == with_dash.shape
    win.key("q")
    code, out, err = win.wait()
    assert code == 0, err


def test_calibration_prompt_head_pose_key_and_an_event_key_in_the_csv(display, tmp_path):
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=900, no_face=range(0))
    log = tmp_path / "log.csv"
    win = Window(display, ["--source", video, "--output-dir", tmp_path / "out", "--no-dashboard", "--csv", log,
                           "--calibrate", "2", "--event-labels", "1=stimulus"], tmp_path)

    # The band across the bottom in KEY_COLOR: the countdown (2 s of video: 60 frames), then "calibrated" for 3 s.
    def prompt(shot: np.ndarray) -> bool:
        h = shot.shape[0]
        band = shot[int(h * 0.8):].astype(int)
        return (np.abs(band - (120, 220, 255)).max(axis=2) < 40).sum() > 50

    def gaze_arrow(shot: np.ndarray) -> int:  # the head pose overlay's cyan (the astronaut's suit is orange)
        return int((np.abs(shot.astype(int) - (255, 230, 0)).max(axis=2) < 40).sum())

    assert prompt(win.shot_when("prompt", prompt)), "the calibration prompt shows across the video"
    assert wait_for(lambda: "1" in [r["calibrated"] for r in csv.DictReader(open(log))]), "the face is calibrated"
    win.key("space")
    paused = win.shot("paused")
    assert gaze_arrow(paused) < 10
    win.key("o")
    head = win.shot_when("head_pose", lambda s: gaze_arrow(s) > 20)
    assert gaze_arrow(head) > 20, "o draws where each face points"
    win.key("1")
    win.key("space")
    assert wait_for(lambda: "stimulus" in log.read_text()), "the event reaches the log once frames move on"
    win.key("q")
    code, out, err = win.wait()
    assert code == 0, err
    frame = int(re.search(r"event: stimulus \(frame (\d+)\)", out).group(1))
    marked = [int(r["frame"]) for r in csv.DictReader(open(log)) if r["event"]]
    assert marked == [frame], "the frame after the one on screen when the key was pressed carries the event"
    assert "calibrated" in out
