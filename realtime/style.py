"""One colour per emotion, shared by the live overlay and every report plot."""

from models import EMOTIONS

# RGB, chosen to be distinguishable in print and for common colour-vision deficiencies
# (based on the Okabe-Ito palette), with neutral as grey.
EMOTION_RGB = {
    "angry": (213, 94, 0),
    "disgust": (0, 158, 115),
    "fear": (204, 121, 167),
    "happy": (230, 159, 0),
    "neutral": (150, 150, 150),
    "sad": (0, 114, 178),
    "surprise": (86, 180, 233),
}
assert set(EMOTION_RGB) == set(EMOTIONS)

EMOTION_BGR = {k: (b, g, r) for k, (r, g, b) in EMOTION_RGB.items()}

# The report's valence and arousal lines (matplotlib hex) and the same colours for OpenCV.
VALENCE_HEX, AROUSAL_HEX = "#111111", "#7b3294"
VALENCE_BGR, AROUSAL_BGR = (tuple(int(h[i:i + 2], 16) for i in (5, 3, 1)) for h in (VALENCE_HEX, AROUSAL_HEX))
PANEL_BGR = (32, 32, 32)  # the live overlays' panels and the dashboard's background


def emotion_rgb01(name: str) -> tuple[float, float, float]:
    """Matplotlib colour for an emotion."""
    r, g, b = EMOTION_RGB[name]
    return (r / 255, g / 255, b / 255)
