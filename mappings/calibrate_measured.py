"""Calibrate the measured AUs on FER2013 Training faces: resting levels and the gain onto the prototype scale.

    python -m mappings.calibrate_measured --data ../shared/datasets/fer2013

Every Training face goes through the app's live path (upscaled, BlazeFace, the landmarker;
train/face_mesh.py, cached). Then, per AU of blendshape_to_au.json:

  rest      the median raw score of the faces labelled neutral: what a face at rest shows. Photos,
            and tracks too young for a baseline of their own, have it taken off;
  rest_max  the 90th percentile on those neutral faces: the highest a person's own resting
            baseline may go, so that someone who smiles all along still reads as smiling;
  gain      the zero-intercept least-squares factor g that brings g x intensity closest to the
            EMFACS prototype intensity of each face's labelled class (emotion_to_au.json), so that
            au_to_va.json, fitted on the prototypes, reads measured AUs on the same scale. AUs
            without a prototype (measured only) keep gain 1; they carry no valence/arousal weight.
            AUs marked weak get gain 0: their scores barely leave 0, so any fitted gain would
            amplify noise (the fit runs into its bound of 10), and valence/arousal ignore them.

Only the Training split is read: PublicTest and wild-dev stay for checking. Writes the three
fields into mappings/blendshape_to_au.json and prints them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from errors import UserError
from mappings.mapper import default_prototypes
from mappings.measured import BLENDSHAPE_TO_AU_PATH, read_blendshape_map
from models import EMOTIONS

REST_QUANTILE, REST_MAX_QUANTILE = 50, 90


def calibrate(raw: np.ndarray, labels: np.ndarray, au_order: tuple[str, ...],
              weak: frozenset[str] = frozenset()) -> dict[str, dict[str, float]]:
    """raw [N, len(au_order)] scores of found faces, labels [N] -> {AU: {rest, rest_max, gain}}."""
    neutral = raw[labels == EMOTIONS.index("neutral")]
    rest = np.percentile(neutral, REST_QUANTILE, axis=0)
    rest_max = np.maximum(np.percentile(neutral, REST_MAX_QUANTILE, axis=0), rest)
    intensity = np.clip((raw - rest) / np.maximum(1 - rest, 1e-6), 0, 1)
    prototypes = default_prototypes()
    out = {}
    for j, au in enumerate(au_order):
        gain = 1.0
        if au in weak:
            gain = 0.0
        elif au in prototypes.au_order:
            target = prototypes.intensities[labels, prototypes.au_order.index(au)]
            x = intensity[:, j]
            gain = float(np.clip(x @ target / max(x @ x, 1e-9), 0.0, 10.0))
        out[au] = {"rest": round(float(rest[j]), 4), "rest_max": round(float(rest_max[j]), 4), "gain": round(gain, 3)}
    return out


def dumps(document: dict) -> str:
    """The JSON with one line per action unit, as it is written by hand."""
    units = document["action_units"]
    head = {k: v for k, v in document.items() if k != "action_units"}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    lines = [f'    "{au}": {json.dumps(spec, ensure_ascii=False)}' for au, spec in units.items()]
    return text + ',\n  "action_units": {\n' + ",\n".join(lines) + "\n  }\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="FER2013 root (train/ and test/) or fer2013.csv")
    parser.add_argument("--table", type=Path, default=BLENDSHAPE_TO_AU_PATH)
    args = parser.parse_args(argv)
    from train.data import load
    from train.face_mesh import cached_meshes

    try:
        splits = load(args.data)
        table = read_blendshape_map(args.table)
        # Read with the check above, so that after the minutes of measuring only the write can fail.
        document = json.loads(args.table.read_text(encoding="utf-8"))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "Training" not in splits:
        print(f"error: {args.data}: no Training split (calibrate on FER2013's train/ folder or CSV)", file=sys.stderr)
        return 2
    split = splits["Training"]
    meshes = cached_meshes(split.images, progress=True)
    raw = table.raw(meshes.blendshapes[meshes.found])
    fitted = calibrate(raw, split.labels[meshes.found], table.au_order, table.weak)
    for au, values in fitted.items():
        document["action_units"][au].update(values)
    try:
        args.table.write_text(dumps(document), encoding="utf-8")
    except OSError as e:
        print(f"error: {args.table}: cannot write ({e.strerror or e})", file=sys.stderr)
        return 2
    read_blendshape_map(args.table)  # what was written must load
    print(f"{meshes.found.sum()} of {len(split)} Training faces measured\n")
    print("| AU | rest | rest_max | gain |\n|---|---:|---:|---:|")
    for au, v in fitted.items():
        print(f"| {au} | {v['rest']:.3f} | {v['rest_max']:.3f} | {v['gain']:.2f} |")
    print(f"\nwrote {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
