"""Emotion classifiers for 48x48 grayscale faces: architectures, checkpoints, loading.

Kept free of heavy imports so that `from models import EMOTIONS` is cheap.
"""

# The model's output order. Alphabetical, matching the FER2013 image-folder class names.
# (The original fer2013.csv numbers classes differently; train/data.py maps them.)
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
