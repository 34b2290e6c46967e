"""Take the training prior out of a checkpoint's logits (logit adjustment), for the app to run as is.

    python -m train.prior --weights runs/x/best.pth --tau 1.0 --out models/emotion_cnn.pth

A model trained on the FER+ votes learns their prior (fear and disgust are rare majorities), and
so calls a fearful face sad or neutral more often than its evidence alone says. Subtracting
tau * log(prior) from the logits (Menon et al. 2021, "Long-tail learning via logit adjustment")
removes that lean; tau = 1 makes the classes equally likely a priori. The shift is the same for
every face, so it folds exactly into the bias of the last linear layer: the app, `train.evaluate`
and `train.quantize` need nothing new. `train.evaluate --prior-adjust TAU` measures a tau without
writing anything. Adjust before `train.quantize` (the int8 weights are calibrated on the result).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from errors import UserError
from models import EMOTIONS
from models.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from models.emotion_cnn import ModelConfig, build_model


def last_linear_bias(model_config: dict) -> str:
    """The state_dict key of the bias of the model's output layer."""
    model = build_model(ModelConfig.from_dict(model_config))
    name = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    return f"{name}.bias"


def adjust(payload: dict, tau: float, source: str) -> dict:
    if "prior_adjustment" in payload:
        raise CheckpointError(f"{source}: already prior-adjusted (tau {payload['prior_adjustment']['tau']})")
    if "int8" in payload:
        raise CheckpointError(f"{source}: has int8 weights; adjust the fp32 checkpoint, then run train.quantize")
    prior = payload.get("training", {}).get("prior")
    if not prior:
        raise CheckpointError(f"{source}: no training prior recorded (trained before train.train stored it)")
    p = np.array([prior[c] for c in EMOTIONS], dtype=np.float64)
    key = last_linear_bias(payload["model_config"])
    state = dict(payload["state_dict"])
    shift = torch.tensor(tau * np.log(np.clip(p, 1e-6, 1)), dtype=state[key].dtype)
    state[key] = state[key] - shift
    out = dict(payload, state_dict=state, metrics={})
    # The recorded scores were the unadjusted model's; they travel with the adjustment for the record.
    out["prior_adjustment"] = {"tau": tau, "prior": prior, "bias": key, "metrics_before": payload.get("metrics", {})}
    return out


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--tau", type=float, required=True, help="strength: 0 = none, 1 = a uniform prior")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    try:
        write_checkpoint(args.out, adjust(read_checkpoint(args.weights), args.tau, str(args.weights)))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: logits minus {args.tau:g} * log(training prior)")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
