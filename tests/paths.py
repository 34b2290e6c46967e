"""Where the tests find the repository and the optional shared data beside it."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FER_ROOT = SHARED / "datasets" / "fer2013"
FER_TEST = FER_ROOT / "test"
VIDEOS = SHARED / "videos"
WEIGHTS = REPO / "models" / "emotion_cnn.pth"
FAST_WEIGHTS = REPO / "models" / "emotion_cnn_fast.pth"
