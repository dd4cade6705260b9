"""The spectral encoder variant (``encoder.kind="stft"``): config, causality, exact streaming,
the trainer's one-shot pass, save/load."""

import pytest
import torch

from s2tts.errors import ConfigError
from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig, EncoderConfig
from s2tts.models.codec.stft_encoder import CausalSTFT, STFTEncoder
from s2tts.models.codec.weights import load_codec
from s2tts.training.codec.generator import autoencode
from s2tts.training.codec.quantize import VQTrainConfig


def _config() -> CodecConfig:
    tiny = CodecConfig.preset("tiny")
    return tiny.replace(encoder=EncoderConfig(dim=32, rates=tiny.encoder.rates, kind="stft", stft_layers=2))


def test_config_option_validates_and_round_trips():
    cfg = _config()
    assert CodecConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.encoder_width == 32
    with pytest.raises(ConfigError, match="encoder.kind"):
        CodecConfig(encoder=EncoderConfig(kind="mel"))
    with pytest.raises(ConfigError, match="multiple"):
        cfg.replace(encoder=EncoderConfig(dim=32, kind="stft", stft_n_fft=700))
    # an old config without the new fields still reads as the released encoder
    data = CodecConfig.preset("tiny").to_dict()
    for key in ("kind", "stft_layers", "stft_n_fft"):
        del data["encoder"][key]
    assert CodecConfig.from_dict(data).encoder.kind == "conv"
    assert isinstance(Codec(cfg).encoder, STFTEncoder)


def test_stft_frame_sees_its_own_hop_and_the_window_before_it():
    hop, n_fft = 64, 256
    x = torch.randn(1, 20 * hop, 1, generator=torch.Generator().manual_seed(0))
    spec = CausalSTFT(n_fft, hop)(x)
    assert spec.shape == (1, 20, n_fft // 2 + 1)
    t = 10  # frame t is the windowed spectrum of samples [(t+1)*hop - n_fft, (t+1)*hop)
    window = torch.hann_window(n_fft, periodic=True)
    expected = torch.fft.rfft(x[0, (t + 1) * hop - n_fft : (t + 1) * hop, 0] * window).abs()
    torch.testing.assert_close(spec[0, t], torch.log(expected.clamp_min(1e-5)), atol=1e-4, rtol=1e-4)
    later = x.clone()
    later[:, (t + 1) * hop :] = torch.randn(1, later.shape[1] - (t + 1) * hop, 1)
    torch.testing.assert_close(CausalSTFT(n_fft, hop)(later)[:, : t + 1], spec[:, : t + 1])


def test_encoder_is_causal():
    torch.manual_seed(0)
    codec = Codec(_config()).eval()
    hop = codec.hop_length
    x = 0.1 * torch.randn(1, 40 * hop, 1)
    y = 0.1 * torch.randn(1, 40 * hop, 1)
    y[:, : 20 * hop] = x[:, : 20 * hop]
    with torch.no_grad():
        a, b = codec.encoder(x), codec.encoder(y)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


@pytest.mark.parametrize("split", [[1, 1, 1, 1, 1, 1], [2, 4], [5, 1]])
def test_streaming_encode_equals_one_shot(split):
    torch.manual_seed(0)
    codec = Codec(_config()).eval()
    frame = codec.frame_length
    audio = 0.2 * torch.randn(2, 1, 6 * frame, generator=torch.Generator().manual_seed(1))
    codes, _ = codec.encode(audio, codec.sample_rate)
    state = codec.init_encode_state(2)
    parts, start = [], 0
    for size in split:
        parts.append(codec.encode_step(audio[:, :, start * frame : (start + size) * frame], state))
        start += size
    assert torch.equal(torch.cat(parts, dim=-1), codes)


def test_the_trainers_pass_runs_through_it_with_gradients():
    torch.manual_seed(0)
    codec = Codec(_config()).train()
    audio = 0.1 * torch.randn(2, 1, 3 * codec.frame_length)
    out = autoencode(codec, audio, VQTrainConfig())
    (out.audio - audio).abs().mean().backward()
    assert out.audio.shape == audio.shape
    grads = [p.grad for p in codec.encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert codec.encoder.embed.conv.weight.grad.abs().sum() > 0


def test_save_and_load(tmp_path):
    torch.manual_seed(0)
    codec = Codec(_config()).eval()
    codec.save(tmp_path / "codec.safetensors")
    loaded = load_codec(tmp_path)
    assert loaded.config.encoder.kind == "stft"
    audio = 0.1 * torch.randn(1, 1, 4 * codec.frame_length)
    assert torch.equal(loaded.encode(audio, codec.sample_rate)[0], codec.encode(audio, codec.sample_rate)[0])
