"""oneDNN-packed Linear weights for multi-row eager products: same values, same state dict, same
decoded codes; prepared only where they help (several rows, fp32, CPU, eager)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.checkpoint import random_model
from s2tts.inference.decoder import Decoder
from s2tts.inference.generate import generate_batch
from s2tts.inference.packed import PackedLinear, pack_linears, packing_available, unpack_linears
from s2tts.inference.params import SamplingParams
from s2tts.inference.prepare import prepare_for_decode
from s2tts.models.config import DualARConfig


def test_onednn_is_available_here() -> None:
    # The CPU wheels this project installs ship oneDNN; without it packing silently does nothing,
    # which would make the batched decode figures a lie.
    assert packing_available()


def _calls_onednn(fn) -> bool:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return any("_linear_pointwise" in event.name for event in prof.events())


def test_packed_linear_computes_the_linear_for_any_number_of_rows() -> None:
    """Several rows go through the packed oneDNN weight, one row through F.linear; both give
    the Linear's values."""
    layer = nn.Linear(48, 80)
    packed = PackedLinear(layer, batch_hint=8)
    for shape in [(1, 48), (1, 1, 48), (4, 48), (2, 3, 48), (69, 48)]:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(shape[0]))
        torch.testing.assert_close(packed(x), F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)
        rows = x.numel() // x.shape[-1]
        assert _calls_onednn(lambda x=x: packed(x)) == (rows > 1)


def test_packing_keeps_weights_and_keys_and_unpacks() -> None:
    model = random_model(DualARConfig.preset("tiny"), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pack_linears(model, 4)
    assert any(isinstance(m, PackedLinear) for m in model.modules())
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    unpack_linears(model)
    assert not any(isinstance(m, PackedLinear) for m in model.modules())
    assert all(torch.equal(model.state_dict()[k], before[k]) for k in before)


def test_prepare_packs_only_for_batched_eager_fp32() -> None:
    def packed(model: nn.Module) -> bool:
        return any(isinstance(m, PackedLinear) for m in model.modules())

    cfg = DualARConfig.preset("tiny")
    assert not packed(prepare_for_decode(random_model(cfg, seed=0)))  # one row at a time
    model = prepare_for_decode(random_model(cfg, seed=0), batch=4)
    assert packed(model)
    assert not packed(prepare_for_decode(model, batch=4, compile=True))  # compiled: fused products
    assert not packed(prepare_for_decode(random_model(cfg, seed=0, dtype=torch.bfloat16), batch=4))
    assert not packed(prepare_for_decode(random_model(cfg, seed=0), batch=4, quantize="int8"))


@torch.inference_mode()
def test_a_packed_model_decodes_the_same_codes_batched() -> None:
    cfg = DualARConfig.preset("tiny")
    plain = prepare_for_decode(random_model(cfg, seed=0))
    packed = prepare_for_decode(random_model(cfg, seed=0), batch=3)
    prompts = []
    for seed in range(3):
        prompt = torch.zeros(cfg.num_codebooks + 1, 12 + seed, dtype=torch.long)
        prompt[0] = torch.randint(0, 200, (12 + seed,), generator=torch.Generator().manual_seed(seed))
        prompts.append(prompt)
    params = SamplingParams(top_k=1, max_new_tokens=9, min_new_tokens=9)
    # A packed model also runs in a compiled frame (there its Linears fall back to F.linear).
    decoders = [
        Decoder(plain, 3, 64),
        Decoder(packed, 3, 64),
        Decoder(packed, 3, 64, compile=True, compile_backend="eager"),
    ]
    outs = []
    for decoder in decoders:
        gens = [torch.Generator().manual_seed(s) for s in range(3)]
        outs.append(generate_batch(decoder.model, prompts, params, gens, decoder=decoder))
    for a, b, c in zip(*outs, strict=True):
        assert a.shape[1] == 8 and torch.equal(a, b) and torch.equal(a, c)
