"""Affect: both kinds of action units and of valence/arousal on each face, and which kind is shown.

Prototype AUs and valence/arousal come from the classifier's probabilities through the mapping
tables (mappings/emotion_to_au.json, au_to_va.json); measured ones from the face mesh's
blendshapes (mappings/blendshape_to_au.json). `estimate` sets both kinds from this frame; after the
temporal model has filtered them, `show` picks the kind shown: the chosen kind where the mesh was
found, else the prototype's.
"""

from __future__ import annotations

import numpy as np

from mappings import affect
from mappings.measured import MeasuredAffectMapper
from realtime.analysis.faces import Face

AU_SOURCES = ("measured", "prototype")


class AffectEstimator:
    def __init__(self, measured: MeasuredAffectMapper, mode: str = "soft", au_source: str = "measured",
                 va_source: str = "prototype"):
        self.measured, self.mode, self.au_source, self.va_source = measured, mode, au_source, va_source

    def estimate(self, face: Face) -> None:
        """Both kinds of AUs and valence/arousal from this frame's raw probabilities and measured AUs."""
        proto = affect(face.raw_probs, mode=self.mode)
        face.prototype_aus, face.prototype_valence, face.prototype_arousal = proto.aus, proto.valence, proto.arousal
        if face.measured_aus is not None:
            valence, arousal = self.measured.valence_arousal(np.array([list(face.measured_aus.values())]))
            face.measured_valence, face.measured_arousal = float(valence[0]), float(arousal[0])

    def show(self, face: Face) -> None:
        """Point `aus`, `valence` and `arousal` at the kind shown (after the temporal model's filtering)."""
        measured = face.measured_aus is not None
        face.au_source = "measured" if self.au_source == "measured" and measured else "prototype"
        face.aus = face.measured_aus if face.au_source == "measured" else face.prototype_aus
        face.va_source = "measured" if self.va_source == "measured" and measured else "prototype"
        face.valence, face.arousal = ((face.measured_valence, face.measured_arousal) if face.va_source == "measured"
                                      else (face.prototype_valence, face.prototype_arousal))
