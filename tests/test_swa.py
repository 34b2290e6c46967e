"""Weight averaging and BatchNorm re-measurement (train/swa.py), and the learning-rate schedule around them."""

import numpy as np
import pytest
import torch
from torch import nn

from models.device import autocast_for
from train.swa import WeightAverage, recompute_batchnorm
from train.train import lr_lambda


def _net() -> nn.Sequential:
    # Dropout before BatchNorm, so statistics measured with dropout on would come out wrong.
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout(0.5), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.LazyLinear(3))


def test_average_is_the_mean_of_the_updates():
    net = _net()
    net(torch.zeros(2, 1, 48, 48))
    average, snapshots = WeightAverage(), []
    for k in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.fill_(float(k * k))
        snapshots.append({n: p.clone() for n, p in net.named_parameters()})
        average.update(net)
    assert average.count == 3
    for name, mean in average.mean.items():
        assert torch.allclose(mean, sum(s[name] for s in snapshots) / 3)

    resumed = WeightAverage(average.state_dict())
    resumed.update(net)
    assert resumed.count == 4 and torch.allclose(resumed.mean["0.weight"], torch.full_like(resumed.mean["0.weight"],
                                                                                              (0 + 1 + 4 + 4) / 4))


def test_batchnorm_statistics_are_measured_exactly_on_the_images():
    net = _net().eval()
    images = np.random.default_rng(0).integers(0, 256, (600, 48, 48), dtype=np.uint8)
    mean, std = 0.5, 0.25
    recompute_batchnorm(net, images, mean, std, torch.device("cpu"), batch_size=256)
    used = images[:512]  # two batches of 256; the ragged 88 are left out
    x = (torch.from_numpy(used).float().div(255).unsqueeze(1) - mean) / std
    with torch.no_grad(), autocast_for(torch.device("cpu")):  # as recompute_batchnorm runs it (bf16 where native)
        conv = net[0](x).float()
    bn = net[2]
    assert torch.allclose(bn.running_mean, conv.mean(dim=(0, 2, 3)), atol=1e-3)
    assert torch.allclose(bn.running_var, conv.transpose(0, 1).reshape(4, -1).var(dim=1), rtol=1e-2)
    assert bn.num_batches_tracked.item() == 2 and bn.momentum == 0.1 and not net.training


def test_averaged_model_holds_the_mean_and_leaves_the_trained_one_alone():
    net = _net()
    net(torch.zeros(2, 1, 48, 48))
    average = WeightAverage()
    average.update(net)
    before = {n: p.clone() for n, p in net.named_parameters()}
    with torch.no_grad():
        net[0].weight.add_(1.0)
    average.update(net)
    images = np.full((10, 48, 48), 128, np.uint8)
    averaged = average.averaged_model(net, images, 0.5, 0.25, torch.device("cpu"))
    assert torch.allclose(averaged[0].weight, before["0.weight"] + 0.5)
    assert torch.allclose(net[0].weight, before["0.weight"] + 1.0)
    assert averaged[2].num_batches_tracked.item() == 1 and not averaged.training


@pytest.mark.parametrize("floor", [0.0, 0.2])
def test_schedule_warms_up_decays_to_the_floor_then_stays(floor):
    f = lr_lambda(decay_steps=100, warmup_steps=10, floor=floor)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(floor + (1 - floor) * 0.5)
    assert f(100) == pytest.approx(floor) and f(250) == pytest.approx(floor)
