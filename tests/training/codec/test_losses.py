import math

import pytest
import torch

from s2tts.training.codec.losses import (
    MelLossConfig,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from s2tts.training.codec.spectral import mel_filterbank

SR = 44100


def _sine(freq: float, n: int = 8192) -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(n) / SR)[None, None]


def test_filterbank_puts_a_tone_in_the_band_around_it():
    fb = mel_filterbank(SR, 2048, 80)  # (80, 1025)
    assert fb.shape == (80, 1025) and bool((fb >= 0).all())
    assert bool((fb.sum(1) > 0).all())  # no empty filter, even at the lowest band
    spec = torch.stft(_sine(1000.0)[0], 2048, 512, window=torch.hann_window(2048), return_complex=True).abs()
    band = int((fb @ spec).mean(-1).argmax())
    centres = (fb * torch.linspace(0, SR / 2, 1025)).sum(1) / fb.sum(1)
    assert abs(float(centres[band]) - 1000.0) < 150.0


def test_mel_loss_is_zero_on_identity_and_grows_with_error():
    gen = torch.Generator().manual_seed(0)
    loss = MultiScaleMelLoss(SR)
    real = _sine(440.0) + 0.01 * torch.randn(1, 1, 8192, generator=gen)
    assert float(loss(real, real)) == 0.0
    errors = [float(loss(real + a * torch.randn(1, 1, 8192, generator=gen), real)) for a in (0.01, 0.1, 0.5)]
    assert errors[0] < errors[1] < errors[2]
    # a wrong pitch costs more than a small amount of noise
    assert float(loss(_sine(660.0), real)) > errors[0]


def test_mel_loss_gradient_and_per_item_distance():
    loss = MultiScaleMelLoss(SR, MelLossConfig(windows=(64, 512), n_mels=(10, 40)))
    real = torch.stack([_sine(300.0)[0], _sine(3000.0)[0]])
    fake = real.clone().mul_(0.5).requires_grad_(True)
    loss(fake, real).backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    d = loss.distance(torch.stack([real[0], real[1] * 0.1]), real)
    # 20 dB quieter moves log10 mel by 1 where the tone is, 0 where both sit at the 1e-5 floor
    assert d.shape == (2,) and float(d[0]) == 0.0 and 0.3 < float(d[1]) < 1.0
    with pytest.raises(ValueError):
        MultiScaleMelLoss(SR, MelLossConfig(windows=(64,), n_mels=(10, 20)))


def test_feature_matching_uses_all_maps_but_logits_and_detaches_real():
    real = [[torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 1)], [torch.zeros(5), torch.zeros(1)]]
    real = [[t.requires_grad_(True) for t in maps] for maps in real]
    fake = [
        [torch.ones(2, 3), torch.full((2, 4), 2.0), torch.full((2, 1), 100.0)],
        [torch.full((5,), 3.0), torch.ones(1)],
    ]
    fake = [[t.requires_grad_(True) for t in maps] for maps in fake]
    value = feature_matching_loss(fake, real)
    assert float(value.detach()) == pytest.approx(1 + 2 + 3)  # logits (100, 1) ignored
    value.backward()
    assert all(t.grad is None for maps in real for t in maps)
    assert fake[0][0].grad is not None and fake[0][2].grad is None


@pytest.mark.parametrize("kind", ["lsgan", "hinge"])
def test_adversarial_losses_reward_the_right_side(kind):
    good_real, good_fake = [[torch.full((4,), 1.0)]], [[torch.full((4,), -1.0 if kind == "hinge" else 0.0)]]
    assert float(discriminator_loss(good_fake, good_real, kind)) == 0.0
    assert float(discriminator_loss(good_real, good_fake, kind)) >= 2.0  # swapped: D fooled both ways
    fooled = generator_adversarial_loss([[torch.full((4,), 1.0)]], kind)
    caught = generator_adversarial_loss(good_fake, kind)
    assert float(fooled) == 0.0 and float(caught) >= 1.0
    with pytest.raises(ValueError, match="lsgan or hinge"):
        generator_adversarial_loss(good_fake, "wgan")
