"""Library manners: the analysis leaves the process as it found it (torch's thread count, signal handlers)."""

import signal

import numpy as np
import pytest
import torch

from realtime.analysis.classify import EmotionClassifier
from tests.media import make_face_video
from tests.paths import WEIGHTS

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="models/emotion_cnn.pth not present")


def test_a_classifier_leaves_the_process_thread_count_alone():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # a notebook's own choice
        classifier = EmotionClassifier(cpu_threads=1, device="cpu")
        assert torch.get_num_threads() == 3
        seen = []
        forward = classifier.model.forward
        classifier.model.forward = lambda x: (seen.append(torch.get_num_threads()), forward(x))[1]
        probs = classifier.predict(np.zeros((2, 48, 48), np.uint8))
        assert probs.shape == (2, 7) and seen == [1]  # its own calls run on its own threads
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_the_app_puts_back_the_signal_handlers_it_found(tmp_path):
    from realtime.window.app import AppConfig, run

    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=4, no_face=range(0))
    mine = {signal.SIGINT: lambda *a: None, signal.SIGTERM: lambda *a: None}
    before = {sig: signal.signal(sig, handler) for sig, handler in mine.items()}
    try:
        summary = run(AppConfig(source=str(video), display=False))
        assert summary.frames == 4
        assert {sig: signal.getsignal(sig) for sig in mine} == mine
        with pytest.raises(Exception, match="missing.mp4"):  # a run that fails puts them back too
            run(AppConfig(source=str(tmp_path / "missing.mp4"), display=False))
        assert {sig: signal.getsignal(sig) for sig in mine} == mine
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
