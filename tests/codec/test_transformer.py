"""Window-limited transformer: one-shot equals a plain T x T masked implementation; streaming with
the sliding KV cache equals one-shot for any chunking; streams at different positions batch."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from s2tts.models.codec.streaming import select_state, stack_states
from s2tts.models.codec.transformer import WindowTransformer
from s2tts.models.rope import apply_rope, rope_table


def _model(window: int = 8, n_layer: int = 2) -> WindowTransformer:
    torch.manual_seed(0)
    model = WindowTransformer(32, n_layer, n_head=4, head_dim=8, intermediate_size=48, window_size=window)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "gamma" in name or "norm" in name:
                p.copy_(0.6 + 0.1 * torch.randn_like(p))
    return model.eval()


def _reference(model: WindowTransformer, x: torch.Tensor) -> torch.Tensor:
    """Straightforward full-sequence computation with an explicit (T, T) window mask."""
    b, t, _ = x.shape
    h, d, w = model.n_head, model.head_dim, model.window_size
    table = rope_table(t, d, model.rope_base)
    i = torch.arange(t)
    lag = i[:, None] - i[None, :]
    mask = (lag >= 0) & (lag < w)
    for layer in model.layers:
        a = layer.attention
        q, k, v = a.wqkv(layer.attention_norm(x)).split(h * d, dim=-1)
        q = apply_rope(q.view(b, t, h, d), table).transpose(1, 2)
        k = apply_rope(k.view(b, t, h, d), table).transpose(1, 2)
        v = v.view(b, t, h, d).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        attn = scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v
        x = x + layer.attention_layer_scale.gamma * a.wo(attn.transpose(1, 2).reshape(b, t, h * d))
        f = layer.feed_forward
        hn = layer.ffn_norm(x)
        x = x + layer.ffn_layer_scale.gamma * f.w2(F.silu(f.w1(hn)) * f.w3(hn))
    return model.norm(x)


@pytest.mark.parametrize("window", [1, 4, 8])
def test_one_shot_matches_explicit_window_mask(window):
    model = _model(window)
    x = torch.randn(2, 30, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(model, x), atol=1e-5, rtol=1e-5)


def test_window_really_limits_attention():
    model = _model(window=4)
    x = torch.randn(1, 20, 32)
    y = x.clone()
    y[:, 3] += 5.0  # one layer reaches 3 frames ahead, two layers 6: frame 10+ must not change
    with torch.no_grad():
        a, b = model(x), model(y)
    assert not torch.allclose(a[:, 3:10], b[:, 3:10])
    torch.testing.assert_close(a[:, 10:], b[:, 10:], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(a[:, :3], b[:, :3])


def test_long_input_is_processed_in_blocks_with_the_same_result():
    model = _model(window=8)
    assert model.block_size == 128
    x = torch.randn(1, 300, 32)  # three blocks
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference(model, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_streaming_equals_one_shot(seed):
    model = _model(window=8)
    x = torch.randn(2, 45, 32)
    rng = random.Random(seed)
    with torch.no_grad():
        full = model(x)
        state = model.init_state(2, x.device, x.dtype)
        outs, i = [], 0
        while i < x.shape[1]:
            n = min(rng.choice([1, 1, 2, 3, 7, 12]), x.shape[1] - i)
            outs.append(model.step(x[:, i : i + n], state))
            i += n
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=1e-5)
    assert state.pos.tolist() == [45, 45] and state.end == 45


def test_streams_at_different_positions_share_a_batch():
    model = _model(window=8)
    a, b = torch.randn(1, 20, 32), torch.randn(1, 13, 32)
    with torch.no_grad():
        full_a, full_b = model(a), model(b)
        sa = model.init_state(1, a.device, a.dtype)
        sb = model.init_state(1, b.device, b.dtype)
        first_a = model.step(a[:, :11], sa)  # stream a is 11 frames ahead of b
        both = stack_states([sa, sb])
        outs = [model.step(torch.cat([a[:, 11 + i : 12 + i], b[:, i : i + 1]]), both) for i in range(9)]
        joint = torch.cat(outs, dim=1)
        torch.testing.assert_close(torch.cat([first_a, joint[:1]], 1), full_a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(joint[1:], full_b[:, :9], atol=1e-5, rtol=1e-5)
        # continue stream b alone from the shared state
        only_b = select_state(both, [1])
        rest = model.step(b[:, 9:], only_b)
        torch.testing.assert_close(rest, full_b[:, 9:], atol=1e-5, rtol=1e-5)
