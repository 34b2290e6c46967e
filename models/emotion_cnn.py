"""Architectures for 48x48 grayscale expression classification.

- `cnn`: a VGG-style network of four conv stages (48 -> 24 -> 12 -> 6 -> 3 pixels); the
  early, high-resolution stages stay narrow and the late ones wide, which keeps a forward
  pass cheap on a CPU while giving the network its capacity where faces are summarised.
- `sepcnn`: the student for every CPU. The same four stages and head, but each 3x3 convolution
  after the first is depthwise-separable (a 3x3 depthwise conv, then a 1x1 pointwise one), which
  costs ~1/8 of a full 3x3 conv at these widths. Only Conv/BN/ReLU/MaxPool/Linear: BatchNorm
  folds into the convolutions and every layer has an int8 kernel (models/quantize.py).
- `cnn_rnn`: the earlier project's hybrid. The same first three stages, then the 6x6 feature
  map is read top to bottom as a sequence of six rows by a bidirectional GRU or LSTM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from models import EMOTIONS


@dataclass
class ModelConfig:
    arch: str = "cnn"  # "cnn", "sepcnn" or "cnn_rnn"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    convs_per_stage: tuple[int, ...] = (2, 2, 2, 2)
    hidden: int = 256  # classifier hidden units (cnn) or RNN hidden size per direction (cnn_rnn)
    rnn: str = "gru"  # "gru" or "lstm", cnn_rnn only
    dropout: float = 0.4
    num_classes: int = len(EMOTIONS)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("widths", "convs_per_stage"):
            if k in known:
                known[k] = tuple(known[k])
        return cls(**known)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def separable_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 depthwise then 1x1 pointwise, each with BatchNorm and ReLU (MobileNet v1's block)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def conv_stage(cin: int, cout: int, n: int, block=conv_bn_relu) -> nn.Sequential:
    layers = [block(cin, cout)] + [block(cout, cout) for _ in range(n - 1)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class EmotionCNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        chans = (1, *cfg.widths)
        self.features = nn.Sequential(
            *[conv_stage(chans[i], chans[i + 1], cfg.convs_per_stage[i]) for i in range(len(cfg.widths))]
        )
        self.classifier = classifier_head(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EmotionSepCNN(nn.Module):
    """A full 3x3 conv on the 1-channel input (a depthwise conv has nothing to mix there), then
    depthwise-separable blocks in the same four stages as `cnn`, and the same head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        chans = (cfg.widths[0], *cfg.widths)
        self.stem = conv_bn_relu(1, cfg.widths[0])
        self.features = nn.Sequential(*[conv_stage(chans[i], chans[i + 1], cfg.convs_per_stage[i], separable_bn_relu)
                                        for i in range(len(cfg.widths))])
        self.classifier = classifier_head(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(self.stem(x)))


def classifier_head(cfg: ModelConfig) -> nn.Sequential:
    side = 48 // 2 ** len(cfg.widths)
    return nn.Sequential(
            nn.Flatten(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.widths[-1] * side * side, cfg.hidden),
            nn.BatchNorm1d(cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.hidden, cfg.num_classes),
        )


class EmotionCNNRNN(nn.Module):
    """Conv stages to a 6x6 map, whose rows feed a bidirectional recurrent layer."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths[:3]
        chans = (1, *widths)
        self.features = nn.Sequential(*[conv_stage(chans[i], chans[i + 1], cfg.convs_per_stage[i]) for i in range(3)])
        rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}[cfg.rnn]
        self.rnn = rnn_cls(widths[-1] * 6, cfg.hidden, batch_first=True, bidirectional=True)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(4 * cfg.hidden, cfg.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)  # [B, C, 6, 6]
        seq = f.permute(0, 2, 1, 3).flatten(2)  # rows as time steps: [B, 6, C*6]
        out, _ = self.rnn(seq.float())  # recurrent layers run in fp32 even under autocast
        # Both directions' final states: the forward pass ends at the chin, the backward at the brow.
        summary = torch.cat([out[:, -1], out[:, 0]], dim=1)
        return self.classifier(summary)


ARCHITECTURES = {"cnn": EmotionCNN, "sepcnn": EmotionSepCNN, "cnn_rnn": EmotionCNNRNN}
INT8_ARCHITECTURES = ("cnn", "sepcnn")  # conv/BN/ReLU graphs that torch.ao quantizes whole


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {cfg.arch!r} (choose from {', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[cfg.arch](cfg)

