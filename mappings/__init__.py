"""Facial Action Units and valence/arousal from the classifier's 7 emotion probabilities.

    from mappings import affect
    a = affect({"happy": 0.7, "surprise": 0.2, "neutral": 0.1})
    a.aus["AU12"], a.valence, a.arousal

    from mappings import measured_affect       # what the face does: from MediaPipe blendshapes
    m = measured_affect({"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9})

The numbers live in emotion_to_au.json and au_to_va.json (see README.md). Importing this
package is cheap: numpy and the JSON tables, no torch.
"""

from mappings.mapper import (
    AU_TO_VA_PATH,
    EMOTION_TO_AU_PATH,
    MODES,
    Affect,
    AffectMapper,
    MappingError,
    Prototypes,
    affect,
    affect_batch,
    default_mapper,
    default_prototypes,
    load_mappings,
    read_prototypes,
    read_weights,
)
from mappings.measured import (
    BLENDSHAPE_NAMES,
    BLENDSHAPE_TO_AU_PATH,
    MeasuredAffectMapper,
    MeasuredAuTable,
    default_measured,
    load_measured,
    measured_affect,
    read_blendshape_map,
)

__all__ = [
    "BLENDSHAPE_NAMES",
    "BLENDSHAPE_TO_AU_PATH",
    "MeasuredAffectMapper",
    "MeasuredAuTable",
    "default_measured",
    "load_measured",
    "measured_affect",
    "read_blendshape_map",
    "AU_NAMES",
    "AU_ORDER",
    "AU_TO_VA_PATH",
    "EMOTION_TO_AU_PATH",
    "MODES",
    "Affect",
    "AffectMapper",
    "MappingError",
    "Prototypes",
    "affect",
    "affect_batch",
    "default_mapper",
    "load_mappings",
    "read_prototypes",
    "read_weights",
]


def __getattr__(name: str):
    # Resolved on first use, not at import: a malformed table then fails where it is used, with
    # its MappingError, instead of breaking every `import mappings` (and the derivation script).
    if name == "AU_ORDER":
        return default_prototypes().au_order
    if name == "AU_NAMES":
        return dict(default_prototypes().au_names)
    raise AttributeError(f"module 'mappings' has no attribute {name!r}")
