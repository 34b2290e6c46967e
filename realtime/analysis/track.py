"""Stable face IDs across frames: greedy IoU matching, with a centroid fallback for fast moves.

A track survives `max_missed` frames without a match (a blink of the detector, a hand in
front of the face) before its ID is retired; `retire_all` ends every track at once (the app's
mirror key). Either way an ID is never reused by this tracker, so a face ID in the CSV log is one
person; whoever keeps state per face forgets it from the IDs retired (FrameResult.retired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime.analysis.faces import Face


@dataclass
class Track:
    track_id: int
    box: tuple[int, int, int, int]
    missed: int = 0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between boxes a [N,4] and b [M,4] given as x, y, w, h."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class FaceTracker:
    def __init__(self, iou_threshold: float = 0.25, max_missed: int = 15, max_centre_shift: float = 0.6):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.max_centre_shift = max_centre_shift  # in units of the track's box size
        self.tracks: list[Track] = []
        self.next_id = 1

    def update(self, faces: list[Face]) -> list[int]:
        """Set `track_id` on each face; return the IDs retired this frame. A face that comes with the ID
        of a live track (carried from the last frame by its mesh, realtime/analysis/find.py) keeps it."""
        live = {t.track_id: ti for ti, t in enumerate(self.tracks)}
        kept = [(fi, live[f.track_id]) for fi, f in enumerate(faces) if f.track_id in live]
        others = [fi for fi, f in enumerate(faces) if f.track_id not in live]
        free = [ti for ti in range(len(self.tracks)) if ti not in {ti for _, ti in kept}]
        matches = kept + [(others[d], free[t]) for d, t in
                          self._match([faces[fi].box for fi in others], [self.tracks[ti] for ti in free])]
        matched_tracks = set()
        for fi, ti in matches:
            track = self.tracks[ti]
            track.box, track.missed = faces[fi].box, 0
            faces[fi].track_id = track.track_id
            matched_tracks.add(ti)
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
        matched_faces = {fi for fi, _ in matches}
        for fi, face in enumerate(faces):
            if fi not in matched_faces:
                self.tracks.append(Track(self.next_id, face.box))
                face.track_id = self.next_id
                self.next_id += 1
        retired = [t.track_id for t in self.tracks if t.missed > self.max_missed]
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return retired

    def retire_all(self) -> list[int]:
        """End every live track now and return their IDs; the next face found gets a new one."""
        retired = [t.track_id for t in self.tracks]
        self.tracks = []
        return retired

    def _match(self, boxes: list[tuple[int, int, int, int]], tracks: list[Track]) -> list[tuple[int, int]]:
        """(box index, index into tracks) pairs."""
        if not boxes or not tracks:
            return []
        det = np.asarray(boxes, dtype=float)
        trk = np.asarray([t.box for t in tracks], dtype=float)
        iou = iou_matrix(det, trk)
        dc = (det[:, :2] + det[:, 2:] / 2)[:, None] - (trk[:, :2] + trk[:, 2:] / 2)[None]
        shift = np.hypot(dc[..., 0], dc[..., 1]) / np.maximum(trk[:, 2:].max(axis=1), 1)[None]
        # IoU decides first; a centre within reach catches moves too fast for the boxes to overlap.
        score = np.where(iou >= self.iou_threshold, 1 + iou,
                         np.where(shift <= self.max_centre_shift, 1 - shift / self.max_centre_shift, -1.0))
        pairs = []
        used_d, used_t = set(), set()
        for flat in np.argsort(-score, axis=None):
            d, t = divmod(int(flat), score.shape[1])
            if score[d, t] < 0:
                break
            if d not in used_d and t not in used_t:
                pairs.append((d, t))
                used_d.add(d)
                used_t.add(t)
        return pairs
