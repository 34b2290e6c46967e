"""Mixup and CutMix: the blended images, the blended targets, and a training run that uses them."""

import pytest
import torch
import torch.nn.functional as F

from models.checkpoint import read_checkpoint
from tests.conftest import TINY
from train import train
from train.augment import BatchMix, mix_batch


def faces(b=16, seed=0):
    return torch.rand(b, 1, 48, 48, generator=torch.Generator().manual_seed(seed))


def test_mixup_is_the_weighted_sum_of_each_face_and_its_partner():
    x = faces()
    mixed, mix = mix_batch(x, mixup_alpha=0.4, cutmix_alpha=0, generator=torch.Generator().manual_seed(1))
    assert 0 < mix.lam < 1 and sorted(mix.partner.tolist()) == list(range(16))
    assert torch.allclose(mixed, mix.lam * x + (1 - mix.lam) * x[mix.partner])


def test_cutmix_pastes_one_rectangle_and_lam_is_the_share_kept():
    x = faces()
    for seed in range(20):
        mixed, mix = mix_batch(x, mixup_alpha=0, cutmix_alpha=1.0, generator=torch.Generator().manual_seed(seed))
        own = (mixed == x).all(dim=0)[0]
        pasted = (mixed == x[mix.partner]).all(dim=0)[0]
        moved = mix.partner != torch.arange(16)
        assert (own | pasted).all()  # every pixel comes whole from one face or the other
        assert own.float().mean().item() == pytest.approx(mix.lam)
        rows, cols = torch.nonzero(~own, as_tuple=True)
        if len(rows) and moved.any():  # the replaced pixels fill one axis-aligned rectangle
            assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


def test_mixing_is_reproducible_from_the_generator_and_needs_an_alpha():
    x = faces()
    a, mix_a = mix_batch(x, 0.4, 1.0, torch.Generator().manual_seed(5))
    b, mix_b = mix_batch(x, 0.4, 1.0, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and mix_a.lam == mix_b.lam and torch.equal(mix_a.partner, mix_b.partner)
    with pytest.raises(ValueError):
        mix_batch(x, 0, 0)


def test_blended_soft_targets_are_the_same_blend_of_the_teachers_distributions():
    log_probs = torch.log_softmax(torch.randn(4, 7), dim=1)
    mix = BatchMix(torch.tensor([1, 0, 3, 2]), 0.7)
    blended = mix.blend_log_probs(log_probs).exp()
    assert torch.allclose(blended, 0.7 * log_probs.exp() + 0.3 * log_probs.exp()[mix.partner], atol=1e-6)
    assert torch.allclose(BatchMix(mix.partner, 1.0).blend_log_probs(log_probs), log_probs)


def test_label_loss_blends_the_two_labels_and_is_plain_without_a_mix():
    logits, y = torch.randn(4, 7), torch.tensor([0, 3, 5, 1])
    weights = torch.linspace(0.5, 2, 7)
    plain = F.cross_entropy(logits, y, weight=weights, label_smoothing=0.1)
    assert torch.equal(train.label_loss(logits, y, None, weights, 0.1), plain)
    mix = BatchMix(torch.tensor([2, 3, 0, 1]), 0.25)
    other = F.cross_entropy(logits, y[mix.partner], weight=weights, label_smoothing=0.1)
    assert torch.allclose(train.label_loss(logits, y, mix, weights, 0.1), 0.25 * plain + 0.75 * other)


def test_training_with_mixup_cutmix_and_a_teacher_runs_and_records_its_settings(tiny_fer, tiny_checkpoint, tmp_path):
    out = tmp_path / "mixed"
    assert train.cli(["--data", str(tiny_fer), "--out", str(out), "--epochs", "1", "--mixup", "0.3",
                      "--cutmix", "1.0", "--mix-prob", "0.8", "--teacher", str(tiny_checkpoint),
                      "--cache-dir", str(tmp_path / "c"), *TINY]) == 0
    args = read_checkpoint(out / "best.pth")["training"]["args"]
    assert (args["mixup"], args["cutmix"], args["mix_prob"]) == (0.3, 1.0, 0.8)


@pytest.mark.parametrize("flags", [["--mixup", "-0.1"], ["--cutmix", "-1"], ["--mix-prob", "1.5"]])
def test_bad_mix_settings_stop_before_loading_data(tmp_path, flags):
    with pytest.raises(SystemExit, match="--mixup and --cutmix must not be negative"):
        train.cli(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "r"), *flags])
