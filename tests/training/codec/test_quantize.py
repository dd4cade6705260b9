import pytest
import torch

from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig
from s2tts.training.codec.generator import add_weight_norm, autoencode, remove_weight_norm
from s2tts.training.codec.quantize import (
    CodebookEMA,
    VQTrainConfig,
    all_vqs,
    codebook_usage,
    kmeans,
    kmeans_init,
    quantize_train,
    sample_active,
)


def _codec(seed: int = 0) -> Codec:
    torch.manual_seed(seed)
    return Codec(CodecConfig.preset("tiny"))


def test_training_forward_picks_the_inference_codes_and_passes_gradients():
    codec = _codec()
    audio = 0.1 * torch.randn(2, 1, 4 * 2048, generator=torch.Generator().manual_seed(1))
    out = autoencode(codec, audio, VQTrainConfig(mode="loss", dropout=0.0))
    assert out.audio.shape == audio.shape
    codes, _ = codec.encode(audio, 44100)
    assert torch.equal(out.quantized.codes, codes)  # training and inference quantise alike
    with torch.no_grad():  # the straight-through value is the decoded codebook rows
        expected = codec.decoder(codec.quantizer.decode(codes)).transpose(1, 2)
    torch.testing.assert_close(out.audio, expected, atol=1e-5, rtol=1e-4)
    loss = (out.audio - audio).square().mean() + out.quantized.commitment + out.quantized.codebook
    loss.backward()
    for name in (
        "encoder.block.0.conv.weight",
        "decoder.model.0.conv.weight",
        "quantizer.quantizer.quantizers.2.in_proj.weight",
        "quantizer.semantic_quantizer.quantizers.0.codebook.weight",
    ):
        grad = codec.get_parameter(name).grad
        assert grad is not None and float(grad.abs().sum()) > 0, name


def test_quantizer_dropout_keeps_only_the_first_codebooks():
    codec = _codec()
    z = torch.randn(3, 5, 64)
    n_active = torch.tensor([1, 3, 10])
    with torch.no_grad():
        out = quantize_train(codec.quantizer, z, VQTrainConfig(dropout=0.0), n_active=n_active)
        codes = out.codes
        for b, k in enumerate(n_active.tolist()):
            vqs = all_vqs(codec.quantizer)
            expected = sum(vq.embed(codes[b : b + 1, i]) for i, vq in enumerate(vqs[:k]))
            torch.testing.assert_close(out.z_q[b : b + 1], expected, atol=1e-5, rtol=1e-5)
    active = sample_active(4000, 9, 0.5, torch.Generator().manual_seed(0))
    assert int(active.min()) == 1 and int(active.max()) == 10
    assert 0.5 < float((active == 10).float().mean()) < 0.6  # half full, plus 1/10 of the other half
    assert bool((sample_active(50, 9, 0.0, None) == 10).all())


def test_kmeans_finds_separated_clusters():
    gen = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(8, 4, generator=gen), dim=-1) * 3
    x = (centres[:, None] + 0.05 * torch.randn(8, 50, 4, generator=gen)).reshape(-1, 4)
    found = kmeans(x, 8, 20, gen)
    dist = torch.cdist(centres, found)
    assert float(dist.min(1).values.max()) < 0.1  # every true centre has a centroid on it


@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_kmeans_init_uses_every_code_and_cuts_error(offset):
    codec = _codec()
    gen = torch.Generator().manual_seed(0)
    # offset: a large component common to every latent (as after an unquantised warm-up), which
    # makes all projected latents point one way under the cosine lookup unless centred
    common = offset * torch.randn(64, generator=gen)
    z = torch.randn(2000, 64, generator=gen) + common
    held_out = torch.randn(2000, 64, generator=gen) + common

    def error_and_usage(x):
        with torch.no_grad():
            out = quantize_train(codec.quantizer, x[None], VQTrainConfig(dropout=0.0))
        return float((out.z_q - x[None]).square().mean()), codebook_usage(out.codes, codec.codebook_sizes)

    before, _ = error_and_usage(z)
    kmeans_init(codec.quantizer, z, gen)
    after, _ = error_and_usage(z)
    if offset == 0:  # (with an offset the random out_proj cannot rebuild it either way)
        assert after < before
    _, usage = error_and_usage(held_out)  # new latents from the same distribution spread too
    assert usage[0]["used"] > 0.9 and min(u["used"] for u in usage) > 0.8


def test_ema_restarts_dead_codes():
    codec = _codec()
    vq = codec.quantizer.semantic_quantizer.quantizers[0]
    with torch.no_grad():  # a collapsed codebook: every row the same, so only code 0 is ever picked
        vq.codebook.weight.copy_(torch.tensor([1.0] + [0.0] * 7).expand(64, 8))
    ema = CodebookEMA(codec.quantizer)
    config = VQTrainConfig(mode="ema", ema_decay=0.5, dead_threshold=0.3, dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 50, 64, generator=gen)
    used = []
    for _ in range(8):
        with torch.enable_grad():
            out = quantize_train(codec.quantizer, z, config, ema=ema, generator=gen)
        used.append(codebook_usage(out.codes, codec.codebook_sizes)[0]["used"])
    assert used[0] == 1 / 64 and used[-1] > 0.6
    assert "count0" in ema.state_dict()


def test_codebook_usage_perplexity():
    uniform = torch.arange(64).reshape(1, 1, 64)
    stats = codebook_usage(torch.cat([uniform, torch.zeros_like(uniform)], dim=1), (64, 64))
    assert abs(stats[0]["perplexity"] - 64) < 1e-3 and stats[0]["used"] == 1.0
    assert abs(stats[1]["perplexity"] - 1) < 1e-6 and stats[1]["used"] == 1 / 64


def test_codebook_usage_is_read_against_what_its_frames_can_show():
    # 516 frames of a 1,024-entry codebook drawn uniformly: ~40% of the entries occur, and the
    # reference the metric reports says so; a codebook restricted to 64 entries stays far below it.
    gen = torch.Generator().manual_seed(0)
    uniform = torch.randint(0, 1024, (1, 1, 516), generator=gen)
    narrow = torch.randint(0, 64, (1, 1, 516), generator=gen)
    wide, few = codebook_usage(torch.cat([uniform, narrow], dim=1), (1024, 1024))
    assert wide["used_if_uniform"] == pytest.approx(0.396, abs=0.002) == few["used_if_uniform"]
    assert abs(wide["used"] - wide["used_if_uniform"]) < 0.03
    assert few["used"] == pytest.approx(64 / 1024, abs=0.002)


def test_weight_norm_round_trip_keeps_the_function():
    codec = _codec().eval()
    audio = 0.1 * torch.randn(1, 1, 2 * 2048, generator=torch.Generator().manual_seed(2))
    codes, _ = codec.encode(audio, 44100)
    reference = codec.decode(codes)
    add_weight_norm(codec)
    torch.testing.assert_close(codec.decode(codes), reference, atol=1e-5, rtol=1e-4)
    assert any("parametrizations" in k for k in codec.state_dict())
    remove_weight_norm(codec)
    assert not any("parametrizations" in k for k in codec.state_dict())
    torch.testing.assert_close(codec.decode(codes), reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("rate", [0.0, 0.2])
def test_ema_keeps_projected_latents_centred(rate):
    """Raw (un-normalised) latents: a drifting common offset and the bias re-centring against it."""
    codec = _codec()
    gen = torch.Generator().manual_seed(0)
    common = 30 * torch.randn(64, generator=gen)
    config = VQTrainConfig(mode="ema", dropout=0.0, center_rate=rate, normalize=False)
    kmeans_init(codec.quantizer, torch.randn(500, 64, generator=gen) + common, gen, config=config)
    ema = CodebookEMA(codec.quantizer)
    ema.reset_from(codec.quantizer)
    used = []
    for _ in range(15):  # the latents' common part has moved since the k-means init
        z = torch.randn(4, 50, 64, generator=gen) + 1.5 * common
        with torch.enable_grad():
            out = quantize_train(codec.quantizer, z, config, ema=ema, generator=gen)
        used.append(codebook_usage(out.codes, codec.codebook_sizes)[0]["used"])
    assert used[0] < 0.1  # the drift collapses the cosine lookup onto a few codes
    if rate:
        assert used[-1] > 0.6  # re-centred, the codes spread out again
    else:
        assert used[-1] < 0.1  # (dead-code restarts would only start after ~60 steps)


def test_continuous_warmup_path_runs_through_the_projections():
    """The warm-up decoder input is out_proj(unit in_proj(residual)) summed in residual order, and
    every projection gets a gradient (the path the codebooks will later approximate)."""
    codec = _codec()
    z = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = quantize_train(codec.quantizer, z, VQTrainConfig(dropout=0.0), continuous=True)
    vqs = all_vqs(codec.quantizer)
    with torch.no_grad():
        sem = vqs[0].out_proj(torch.nn.functional.normalize(vqs[0].project(z), dim=-1).transpose(1, 2))
        expected, residual = sem.transpose(1, 2), z - sem.transpose(1, 2)
        for vq in vqs[1:]:
            unit = torch.nn.functional.normalize(vq.project(residual), dim=-1)
            part = vq.out_proj(unit.transpose(1, 2)).transpose(1, 2)
            expected, residual = expected + part, residual - part
    torch.testing.assert_close(out.z_q, expected, atol=1e-5, rtol=1e-5)
    assert float(out.commitment) == 0.0 and out.codes.shape == (2, len(vqs), 6)
    out.z_q.square().sum().backward()
    for vq in vqs:
        assert (
            float(vq.in_proj.weight.grad.abs().sum()) > 0 and float(vq.out_proj.weight.grad.abs().sum()) > 0
        )


def test_kmeans_after_the_bottleneck_warmup_makes_switching_on_a_small_step():
    """After k-means on warm-up latents, the quantised decoder input stays close to the continuous
    one the decoder was trained on, every code is reachable and the rows are unit vectors; the
    EMA keeps them on the sphere."""
    codec = _codec()
    gen = torch.Generator().manual_seed(0)
    common = 30 * torch.randn(64, generator=gen)  # a large shared offset, as warm-up latents have
    z = torch.randn(4000, 64, generator=gen) + common
    config = VQTrainConfig(dropout=0.0)
    with torch.no_grad():
        kmeans_init(codec.quantizer, z, gen, config=config)
        batch = z[:2000].reshape(8, 250, 64)
        soft = quantize_train(codec.quantizer, batch, config, continuous=True).z_q
        hard = quantize_train(codec.quantizer, batch, config).z_q
    error = float((hard - soft).norm() / soft.norm())
    assert error < 0.1, error  # (bypassing the projections in the warm-up: ~1.0)
    usage = codebook_usage(quantize_train(codec.quantizer, batch, config).codes, codec.codebook_sizes)
    assert usage[0]["used"] > 0.5, usage[0]  # a shared offset no longer sends every frame to one code
    for vq in all_vqs(codec.quantizer):
        torch.testing.assert_close(vq.codebook.weight.norm(dim=-1), torch.ones(vq.codebook.weight.shape[0]))
    ema = CodebookEMA(codec.quantizer)
    ema.reset_from(codec.quantizer)
    with torch.enable_grad():
        quantize_train(codec.quantizer, batch, VQTrainConfig(mode="ema", dropout=0.0), ema=ema, generator=gen)
    rows = all_vqs(codec.quantizer)[0].codebook.weight
    torch.testing.assert_close(rows.norm(dim=-1), torch.ones(rows.shape[0]))
