"""The GRPO objective against hand computations (numbers worked out in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from s2tts.errors import TrainConfigError
from s2tts.training.rl.objective import GRPOLossConfig, group_advantages, grpo_loss, k3_kl, token_loss

LOG = math.log


def test_advantages_subtract_the_group_mean_without_std() -> None:
    rewards = torch.tensor([[1.0, 2.0, 6.0], [5.0, 5.0, 5.0]])
    adv = group_advantages(rewards)
    # group 0: mean 3 -> -2, -1, 3; group 1: all equal -> zero advantage, no NaN (no std division)
    assert torch.allclose(adv, torch.tensor([[-2.0, -1.0, 3.0], [0.0, 0.0, 0.0]]))


def test_advantages_std_option_is_the_original_grpo() -> None:
    adv = group_advantages(torch.tensor([[0.0, 0.0, 4.0]]), scale_by_std=True, eps=0.0)
    # mean 4/3; unbiased std = sqrt((2 * 16/9 + 64/9) / 2) = sqrt(16/3) = 2.3094
    std = math.sqrt(16 / 3)
    assert torch.allclose(adv, torch.tensor([[-4 / 3 / std, -4 / 3 / std, 8 / 3 / std]]), atol=1e-6)


def test_k3_values_by_hand() -> None:
    logp = torch.tensor([LOG(0.5), LOG(0.25), LOG(0.5)])
    ref = torch.tensor([LOG(0.25), LOG(0.25), LOG(1.0)])
    # d = ref - logp: -ln2 -> 0.5 + ln2 - 1; 0 -> 0; +ln2 -> 2 - ln2 - 1
    expected = torch.tensor([0.5 + LOG(2) - 1, 0.0, 1 - LOG(2)])
    assert torch.allclose(k3_kl(logp, ref), expected, atol=1e-6)
    assert bool((k3_kl(torch.randn(100), torch.randn(100)) >= 0).all())


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    logp = torch.tensor([[LOG(0.5), LOG(0.25)], [LOG(0.5), LOG(0.9)]], requires_grad=True)
    ref = torch.tensor([[LOG(0.25), LOG(0.25)], [LOG(1.0), LOG(0.1)]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # sample 1 has one token; its second is padding
    adv = torch.tensor([1.0, -1.0])
    return logp, ref, mask, adv


@pytest.mark.parametrize(
    ("norm", "constant", "expected"),
    [
        # terms: s0 = [-1 + 0.1 * 0.193147, -1 + 0], s1 = [+1 + 0.1 * 0.306853]
        ("sequence", 1.0, ((-0.9806853 - 1.0) / 2 + 1.0306853) / 2),  # per-sample mean, then mean
        ("token", 1.0, (-0.9806853 - 1.0 + 1.0306853) / 3),  # one mean over the 3 real tokens
        ("constant", 4.0, (-0.9806853 - 1.0 + 1.0306853) / (2 * 4)),  # sum / (B * constant)
    ],
)
def test_token_loss_value_by_hand(norm: str, constant: float, expected: float) -> None:
    logp, ref, mask, adv = _case()
    out = token_loss(
        logp, logp.detach(), ref, adv, mask, GRPOLossConfig(beta=0.1, norm=norm, norm_constant=constant)
    )
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert out.ratio == pytest.approx(1.0)
    assert out.kl == pytest.approx((0.193147 + 0.0 + 0.306853) / 3, abs=1e-6)
    assert out.tokens == 3


def test_token_loss_gradient_by_hand() -> None:
    logp, ref, mask, adv = _case()
    token_loss(logp, logp.detach(), ref, adv, mask, GRPOLossConfig(beta=0.1)).loss.backward()
    # d/dlogp = (-A + beta * (1 - exp(ref - logp))) * (1 / |T_i|) * (1 / B)
    expected = torch.tensor([[(-1 + 0.1 * 0.5) / 4, (-1 + 0.0) / 4], [(1 + 0.1 * (1 - 2)) / 2, 0.0]])
    assert logp.grad is not None
    assert torch.allclose(logp.grad, expected, atol=1e-6)


def test_clipping_stops_the_gradient_only_where_ppo_says() -> None:
    # ratios 1.5 and 0.5 for positive and negative advantages, eps 0.2
    logp = torch.tensor([[LOG(1.5)], [LOG(1.5)], [LOG(0.5)], [LOG(0.5)]], requires_grad=True)
    old = torch.zeros(4, 1)
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0])
    cfg = GRPOLossConfig(beta=0.0, clip_eps=0.2, norm="token")
    out = token_loss(logp, old, None, adv, torch.ones(4, 1), cfg)
    # A>0, r=1.5: min(1.5, 1.2) = 1.2 (clipped, no grad); A<0, r=1.5: -min(-1.5, -1.2) = 1.5 (grad)
    # A>0, r=0.5: 0.5 kept (grad); A<0, r=0.5: -min(-0.5, -0.8) = 0.8 (clipped, no grad)
    assert out.loss.item() == pytest.approx((-1.2 + 1.5 - 0.5 + 0.8) / 4)
    out.loss.backward()
    assert logp.grad is not None
    # d(-A r)/dlogp = -A r, divided by the 4 tokens
    assert torch.allclose(logp.grad.view(-1), torch.tensor([0.0, 1.5 / 4, -0.5 / 4, 0.0]))
    assert out.clip_frac == pytest.approx(0.5)


def test_grpo_loss_weights_the_fast_term_by_gamma() -> None:
    logp, ref, mask, adv = _case()
    fast = logp.detach().unsqueeze(-1).repeat(1, 1, 3)  # (B, T, K): three codes per step
    fmask = mask.unsqueeze(-1).repeat(1, 1, 3)
    cfg = GRPOLossConfig(beta=0.0, gamma=0.5)
    out = grpo_loss((logp, logp.detach(), None, mask), (fast, fast, None, fmask), adv, cfg)
    # with beta 0 and ratio 1 each term is -A: slow = mean(-1, +1) = 0 ... use the parts
    assert out.slow.loss.item() == pytest.approx(0.0)
    assert out.fast.loss.item() == pytest.approx(0.0)
    adv2 = torch.tensor([2.0, 0.0])
    out = grpo_loss((logp, logp.detach(), None, mask), (fast, fast, None, fmask), adv2, cfg)
    # slow: (-2 + 0) / 2 = -1; fast: the same per sample -> -1; total = -1 + 0.5 * -1
    assert out.total.item() == pytest.approx(-1.5)


def test_bad_loss_configs_are_typed_errors() -> None:
    with pytest.raises(TrainConfigError):
        GRPOLossConfig(norm="bogus")
    with pytest.raises(TrainConfigError):
        GRPOLossConfig(clip_eps=1.5)
    with pytest.raises(TrainConfigError):
        GRPOLossConfig(beta=-1.0)
