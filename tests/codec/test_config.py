"""CodecConfig: presets, JSON round trip in our dialect, the reference's constructor values, and
ConfigError on inconsistent shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.errors import ConfigError
from s2tts.models.codec import CodecConfig
from s2tts.models.codec.config import PRESETS, EncoderConfig, QuantizerConfig

REFERENCE_JSON = Path(__file__).parents[1] / "data" / "parity" / "codec" / "codec_config.json"


def test_released_preset_matches_the_spec():
    c = CodecConfig.preset("s2-codec")
    assert c == CodecConfig()
    assert (c.encoder.dim, c.encoder.rates, c.latent_dim) == (64, (2, 4, 8, 8), 1024)
    assert (c.decoder.dim, c.decoder.rates) == (1536, (8, 8, 4, 2))
    assert c.encoder.transformer_layers == (0, 0, 0, 4) and c.encoder.transformer_window == 512
    t = c.quantizer.transformer
    assert (t.n_layer, t.n_head, t.head_dim, t.intermediate_size, t.window_size) == (8, 16, 64, 3072, 128)
    assert c.codebook_sizes == (4096,) + (1024,) * 9
    assert (c.hop_length, c.frame_length) == (512, 2048)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_json_round_trip(name, tmp_path):
    path = tmp_path / "c.json"
    PRESETS[name].save_json(path)
    assert json.loads(path.read_text())["format"] == "s2tts-codec"
    assert CodecConfig.from_json(path) == PRESETS[name]


def test_reference_constructor_values_are_understood():
    assert CodecConfig.from_json(REFERENCE_JSON) == CodecConfig.preset("tiny")


def test_unknown_preset_and_fields():
    with pytest.raises(ConfigError, match="unknown codec preset"):
        CodecConfig.preset("huge")
    data = CodecConfig().to_dict()
    data["encoder"]["kernel"] = 9
    with pytest.raises(ConfigError, match=r"encoder: unknown field\(s\) \['kernel'\]"):
        CodecConfig.from_dict(data)
    with pytest.raises(ConfigError, match="format"):
        CodecConfig.from_dict({"format": "something-else"})


@pytest.mark.parametrize(
    "make",
    [
        lambda: CodecConfig(latent_dim=0),
        lambda: CodecConfig(encoder=EncoderConfig(rates=(2, 4, 8))),  # product differs from decoder's
        lambda: CodecConfig(encoder=EncoderConfig(transformer_layers=(0, 4))),
        lambda: CodecConfig(encoder=EncoderConfig(transformer_head_dim=48)),  # 1024 % 48 != 0
        lambda: CodecConfig(quantizer=QuantizerConfig(codebook_size=-1)),
        lambda: CodecConfig.from_dict({"decoder": {"dim": 100}}),  # not divisible by 2**4
        lambda: CodecConfig.from_dict({"encoder": {"rates": 8}}),
    ],
)
def test_inconsistent_configs_raise(make):
    with pytest.raises(ConfigError):
        make()


def test_broken_reference_config():
    data = json.loads(REFERENCE_JSON.read_text())
    del data["DAC"]["decoder_dim"]
    with pytest.raises(ConfigError, match="decoder_dim"):
        CodecConfig.from_dict(data)
