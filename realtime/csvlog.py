"""The per-frame CSV log: one row per face per frame, flushed as it goes."""

from __future__ import annotations

import csv
from pathlib import Path

from mappings import AU_ORDER
from models import EMOTIONS
from realtime.faces import FrameResult

COLUMNS = (["frame", "timestamp_s", "source", "face_id", "x", "y", "w", "h", "label", "confidence"]
           + [f"p_{e}" for e in EMOTIONS] + [f"raw_p_{e}" for e in EMOTIONS]
           + ["valence", "arousal"] + list(AU_ORDER) + ["shown_label", "shown_confidence"])


class CsvLogger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(COLUMNS)
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        for face in result.faces:
            label = int(face.probs.argmax())
            x, y, w, h = face.box
            self.writer.writerow(
                [result.index, f"{result.timestamp_s:.4f}", result.source, face.track_id, x, y, w, h,
                 EMOTIONS[label], f"{face.probs[label]:.4f}"]
                + [f"{p:.4f}" for p in face.probs] + [f"{p:.4f}" for p in face.raw_probs]
                + [f"{face.valence:.4f}", f"{face.arousal:.4f}"]
                + [f"{face.aus.get(au, 0.0):.4f}" for au in AU_ORDER]
                + [face.shown_label, f"{face.shown_confidence:.4f}"])
            self.rows += 1
        # Flushed every frame so that a crash or power cut loses nothing already seen.
        self.file.flush()

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

    def __enter__(self) -> CsvLogger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
