"""The Vocos-style iSTFT decoder variant: config, exact streaming, STFT round trip, save/load."""

import pytest
import torch

from s2tts.errors import ConfigError
from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig, DecoderConfig
from s2tts.models.codec.istft import CausalISTFT
from s2tts.models.codec.weights import load_codec


def _config() -> CodecConfig:
    tiny = CodecConfig.preset("tiny")
    return tiny.replace(decoder=DecoderConfig(dim=32, kind="istft", istft_layers=2))


def test_config_option_validates_and_round_trips():
    cfg = _config()
    assert CodecConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="decoder.kind"):
        CodecConfig(decoder=DecoderConfig(kind="vocoder"))
    with pytest.raises(ConfigError, match="multiple"):
        cfg.replace(decoder=DecoderConfig(dim=32, kind="istft", istft_n_fft=700))
    # an old config without the new fields still reads as the released decoder
    data = CodecConfig.preset("tiny").to_dict()
    for key in ("kind", "istft_layers", "istft_n_fft"):
        del data["decoder"][key]
    assert CodecConfig.from_dict(data).decoder.kind == "dac"


def test_causal_istft_inverts_an_aligned_stft():
    hop, n_fft = 64, 256
    x = torch.randn(2, 30 * hop, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    spec = torch.fft.rfft(
        x.unfold(1, n_fft, hop) * window, dim=-1
    )  # frame t = samples [t*hop, t*hop + n_fft)
    y = CausalISTFT(n_fft, hop).double()(spec)[:, :, 0]
    assert y.shape == (2, spec.shape[1] * hop)
    # complete once n_fft / hop frames overlap; the first n_fft - hop samples lack earlier frames
    torch.testing.assert_close(y[:, n_fft:], x[:, n_fft : y.shape[1]], atol=1e-6, rtol=0)


@pytest.mark.parametrize("split", [[1, 1, 1, 1, 1, 1, 1], [3, 4], [2, 5]])
def test_streaming_decode_equals_one_shot(split):
    torch.manual_seed(0)
    codec = Codec(_config()).eval()
    codes = torch.randint(0, 32, (2, 10, 7))
    full = codec.decode(codes, chunk_frames=7)
    assert full.shape == (2, 1, 7 * 2048) and float(full.abs().max()) > 0
    state = codec.init_decode_state(2)
    parts, start = [], 0
    for size in split:
        parts.append(codec.decode_step(codes[:, :, start : start + size], state))
        start += size
    torch.testing.assert_close(torch.cat(parts, dim=-1), full, atol=1e-5, rtol=1e-4)


def test_save_and_load(tmp_path):
    torch.manual_seed(0)
    codec = Codec(_config()).eval()
    codec.save(tmp_path / "codec.safetensors")
    loaded = load_codec(tmp_path)
    assert loaded.config.decoder.kind == "istft"
    codes = torch.randint(0, 32, (1, 10, 3))
    torch.testing.assert_close(loaded.decode(codes), codec.decode(codes))
