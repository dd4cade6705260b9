"""Teacher-forced rollout log-probs equal what the sampler drew from."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from s2tts.checkpoint import random_model
from s2tts.inference.generate import generate_frames
from s2tts.inference.params import SamplingParams
from s2tts.models.config import DualARConfig
from s2tts.training.rl.logprobs import pack_rollouts, rollout_logprobs


def _model() -> torch.nn.Module:
    return random_model(DualARConfig.preset("tiny"), seed=3, std=0.2)


@pytest.mark.parametrize("min_frames", [0, 3])
def test_logprobs_match_the_generators_own_distribution(min_frames: int) -> None:
    model = _model()
    cfg = model.config
    temp = 0.7
    params = SamplingParams(
        temperature=temp,
        top_k=cfg.codebook_size + 1,
        top_p=1.0,
        use_ras=False,
        max_new_tokens=6,
        min_new_tokens=min_frames,
    )
    prompts = [torch.randint(0, 200, (11, 5)), torch.randint(0, 200, (11, 9))]
    prompts = [torch.cat([p[:1], torch.zeros_like(p[1:])]) for p in prompts]  # text columns
    codes, logits, finished = [], [], []
    for i, p in enumerate(prompts):
        out: dict[str, list[torch.Tensor]] = {}
        frames = list(generate_frames(model, p, params, torch.Generator().manual_seed(i), logits_out=out))
        codes.append(torch.stack(frames, dim=1) if frames else torch.zeros(10, 0, dtype=torch.long))
        finished.append(len(out["slow"]) > len(frames))  # a last drawn token that was <|im_end|>
        logits.append(out)
    batch = pack_rollouts(model, prompts, codes, finished)
    with torch.no_grad():
        lp = rollout_logprobs(model, batch, temperature=temp, min_frames=min_frames)
    eos_index = cfg.num_semantic
    for b, (c, out) in enumerate(zip(codes, logits, strict=True)):
        n = c.shape[1]
        slow_ref = F.log_softmax(torch.cat(out["slow"]) / temp, dim=-1)  # (steps, num_semantic + 1)
        targets = list(c[0].tolist()) + ([eos_index] if finished[b] else [])
        expected = slow_ref[torch.arange(len(targets)), targets]
        assert torch.allclose(lp.slow[b, : len(targets)], expected, atol=1e-4)
        assert bool((lp.slow[b, len(targets) :] == 0).all())
        fast_ref = F.log_softmax(torch.cat(out["fast"])[:n] / temp, dim=-1)  # (n, N-1, C)
        exp_fast = fast_ref.gather(-1, c[1:].t().unsqueeze(-1)).squeeze(-1)
        assert torch.allclose(lp.fast[b, :n], exp_fast, atol=1e-4)
    assert batch.slow_mask.sum() == sum(c.shape[1] for c in codes) + sum(finished)


def test_logprobs_have_gradients_through_both_ars() -> None:
    model = _model()
    for p in model.parameters():
        p.requires_grad_(True)
    prompt = torch.zeros(11, 4, dtype=torch.long)
    codes = torch.randint(0, 64, (10, 3))
    batch = pack_rollouts(model, [prompt], [codes], [True])
    lp = rollout_logprobs(model, batch)
    (lp.slow.sum() + lp.fast.sum()).backward()
    assert model.slow.layers[0].feed_forward.w1.weight.grad.abs().sum() > 0
    assert model.fast.output.weight.grad.abs().sum() > 0


def test_the_rl_sampler_keeps_the_whole_distribution() -> None:
    """top_p = 1 with top_k above the vocabulary is the plain softmax: nothing is cut off (the
    tail's cumulative mass rounds above 1.0 in float32, which once removed tokens)."""
    from s2tts.inference.sampling import draw, filtered_logprobs

    logits = torch.randn(4, 4097, generator=torch.Generator().manual_seed(0))
    one = torch.ones(4, 1)
    lp, idx = filtered_logprobs(logits, one, one, torch.full((4, 1), 4097), 8192)
    assert not torch.isinf(lp).any()
    assert torch.allclose(lp, torch.log_softmax(logits, -1).gather(-1, idx), atol=1e-5)
    # the sampling width (8192) may exceed the candidates (4097)
    token, token_lp = draw(
        lp, idx, torch.ones(4, 8192).exponential_(generator=torch.Generator().manual_seed(1))
    )
    assert torch.allclose(
        token_lp, torch.log_softmax(logits, -1).gather(-1, token.view(-1, 1)).view(-1), atol=1e-5
    )
