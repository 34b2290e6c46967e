"""Int8 post-training quantization of the CNN: what the app runs on x86 CPUs.

Per face (batch 1, one thread), int8 takes ~2.8 ms against fp32 ~5.5 ms on an AVX2-only CPU, and
1.7 ms against bf16 3.6 ms on an AMX Xeon, for about 0.2 points of PublicTest accuracy
(`python -m train.quantize` measures both). The quantized weights and activation scales travel
inside the fp32 checkpoint, under the key "int8":

    state_dict    the converted model's state (int8 weights, per-layer scales and zero points)
    engine        the quantized backend it was calibrated for ("x86": fbgemm + oneDNN)
    calibration   {"split", "images", "seed"}: which training images set the activation ranges
    metrics       PublicTest (and PrivateTest) figures of the int8 model next to the fp32 ones

Rebuilding the int8 model needs no data: the graph is recreated from the fp32 model and the
stored state fills in every scale. Uses torch.ao's FX graph mode, which torch marks deprecated in
favour of torchao; it is what the pinned torch ships without another dependency.
"""

from __future__ import annotations

import copy
import platform
import warnings
from contextlib import contextmanager

import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from models.checkpoint import CheckpointError, LoadedModel
from models.emotion_cnn import INT8_ARCHITECTURES

ENGINE = "x86"


def has_int8_graph(model_config: dict) -> bool:
    """Whether the architecture quantizes whole (conv/BN/ReLU/pool/linear); the RNN hybrid does not."""
    return model_config.get("arch") in INT8_ARCHITECTURES


def int8_supported() -> bool:
    """The x86 backend exists only on x86-64 CPUs; elsewhere (e.g. ARM Macs) int8 is not offered."""
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64") and ENGINE in torch.backends.quantized.supported_engines


@contextmanager
def _quiet_ao():
    # torch.ao prints deprecation notices and "run observers first" warnings on every call;
    # neither says anything about this model.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _graph(model: nn.Module) -> nn.Module:
    torch.backends.quantized.engine = ENGINE
    example = (torch.zeros(1, 1, 48, 48),)
    return prepare_fx(copy.deepcopy(model).cpu().eval(), get_default_qconfig_mapping(ENGINE), example)


@torch.no_grad()
def quantize(model: nn.Module, calibration: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Int8 copy of `model`, its activation ranges observed on normalised images [N, 1, 48, 48]."""
    if not int8_supported():
        raise RuntimeError(f"int8 needs an x86-64 CPU with the '{ENGINE}' quantized engine")
    with _quiet_ao():
        prepared = _graph(model)
        for start in range(0, len(calibration), batch_size):
            prepared(calibration[start:start + batch_size])
        return convert_fx(prepared).eval()


def load_int8(loaded: LoadedModel, source: str = "checkpoint") -> nn.Module:
    """The checkpoint's int8 model; CheckpointError (one line) when it has none or it does not fit."""
    entry = loaded.meta.get("int8")
    if not has_int8_graph(loaded.meta["model_config"]):
        raise CheckpointError(f"{source}: int8 is available for the {' and '.join(INT8_ARCHITECTURES)} "
                              "architectures only")
    if not isinstance(entry, dict) or "state_dict" not in entry:
        raise CheckpointError(f"{source}: has no int8 weights (add them with: python -m train.quantize "
                              f"--data <fer2013> --weights {source})")
    if not int8_supported():
        raise CheckpointError(f"{source}: int8 needs an x86-64 CPU (this is {platform.machine()})")
    try:
        with _quiet_ao():
            qmodel = convert_fx(_graph(loaded.model))
        qmodel.load_state_dict(entry["state_dict"])
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{source}: int8 weights do not fit the model ({first[:160]})") from None
    return qmodel.eval()
