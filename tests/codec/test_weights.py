"""Checkpoint loading: both weight-norm key styles, .pth wrappers, safetensors round trip, config
discovery, and errors that name the offending keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from s2tts.errors import ConfigError, WeightsError
from s2tts.models.codec import Codec, CodecConfig, load_codec
from s2tts.models.codec.weights import fold_weight_norm

DATA = Path(__file__).parents[1] / "data" / "parity" / "codec"
NEW_G, NEW_V = ".parametrizations.weight.original0", ".parametrizations.weight.original1"


@pytest.fixture(scope="module")
def raw() -> dict[str, torch.Tensor]:
    return load_file(str(DATA / "codec.safetensors"))


@pytest.fixture(scope="module")
def golden() -> dict[str, torch.Tensor]:
    """The reference implementation's outputs for these weights (tests/data/parity)."""
    return load_file(str(DATA.parent / "codec_golden.safetensors"))


def _reproduces_reference(codec: Codec, golden: dict[str, torch.Tensor]) -> None:
    """Loaded weights are right when the codec makes the reference's codes and audio from them."""
    codes, _ = codec.encode(golden["signal"], 44100)
    assert torch.equal(codes[0], golden["codes"])
    audio = codec.decode(golden["codes"][None])
    torch.testing.assert_close(audio[0, 0], golden["decoded_audio"], atol=2e-4, rtol=0)


def _to_old_style(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in raw.items():
        if key.endswith(NEW_G):
            out[key[: -len(NEW_G)] + ".weight_g"] = value
        elif key.endswith(NEW_V):
            out[key[: -len(NEW_V)] + ".weight_v"] = value
        else:
            out[key] = value
    return out


def test_weight_norm_is_folded(raw):
    folded = fold_weight_norm(raw)
    key = "decoder.model.1.block.1.conv"  # a transposed conv: g is per input channel
    g, v = raw[key + NEW_G], raw[key + NEW_V]
    expected = g * v / v.norm(dim=(1, 2), keepdim=True)
    torch.testing.assert_close(folded[key + ".weight"], expected)
    assert not any("weight_g" in k or "parametrizations" in k for k in folded)
    vq = "quantizer.quantizer.quantizers.0.in_proj"
    g, v = raw[vq + ".weight_g"], raw[vq + ".weight_v"]
    torch.testing.assert_close(folded[vq + ".weight"], g * v / v.norm(dim=(1, 2), keepdim=True))


def test_pth_with_wrapper_and_generator_prefix(raw, golden, tmp_path):
    wrapped = {"generator." + k: v for k, v in raw.items()}
    wrapped["discriminator.some.weight"] = torch.zeros(3)  # other prefixes are dropped
    wrapped["generator.encoder.block.4.block.5.freqs_cis"] = torch.zeros(4, 2)  # known buffer: ignored
    path = tmp_path / "codec.pth"
    torch.save({"state_dict": wrapped, "epoch": 3}, path)
    _reproduces_reference(load_codec(path, config=DATA / "codec_config.json"), golden)


def test_pth_with_old_style_weight_norm_everywhere(raw, golden, tmp_path):
    path = tmp_path / "old.pth"
    torch.save(_to_old_style(raw), path)
    _reproduces_reference(load_codec(path, config=CodecConfig.preset("tiny")), golden)


def test_directory_with_reference_config(golden, tmp_path):
    shutil.copy(DATA / "codec.safetensors", tmp_path / "codec.safetensors")
    shutil.copy(DATA / "codec_config.json", tmp_path / "codec_config.json")
    _reproduces_reference(load_codec(tmp_path), golden)


def test_save_and_load_round_trip(golden, tmp_path):
    path = tmp_path / "mine.safetensors"
    load_codec(DATA).save(path)
    config_json = tmp_path / "mine_config.json"
    assert json.loads(config_json.read_text())["format"] == "s2tts-codec"
    assert all("weight_g" not in k and "parametrizations" not in k for k in load_file(str(path)))
    loaded = load_codec(path)
    assert loaded.config == CodecConfig.preset("tiny")
    _reproduces_reference(loaded, golden)
    config_json.unlink()  # the config also travels in the safetensors metadata
    _reproduces_reference(load_codec(path), golden)


def test_missing_and_unexpected_keys_are_named(raw, tmp_path):
    broken = dict(raw)
    del broken["decoder.model.6.conv.bias"]
    broken["encoder.extra.weight"] = torch.zeros(2)
    path = tmp_path / "broken.safetensors"
    save_file(broken, str(path))
    with pytest.raises(WeightsError) as info:
        load_codec(path, config=CodecConfig.preset("tiny"))
    message = str(info.value)
    assert "missing 1: decoder.model.6.conv.bias" in message
    assert "unexpected 1: encoder.extra.weight" in message


def test_mis_shaped_keys_are_named(raw, tmp_path):
    broken = dict(raw)
    broken["quantizer.quantizer.quantizers.2.codebook.weight"] = torch.zeros(16, 8)
    path = tmp_path / "broken.safetensors"
    save_file(broken, str(path))
    with pytest.raises(
        WeightsError, match=r"quantizers\.2\.codebook\.weight \(file \[16, 8\], model \[32, 8\]\)"
    ):
        load_codec(path, config=CodecConfig.preset("tiny"))


def test_wrong_config_for_checkpoint(tmp_path):
    shutil.copy(DATA / "codec.safetensors", tmp_path / "codec.safetensors")  # no config beside it
    with pytest.raises(WeightsError, match="mis-shaped"):
        load_codec(tmp_path)  # falls back to the released shape, which does not fit


def test_half_a_weight_norm_pair_is_an_error(raw, tmp_path):
    broken = {k: v for k, v in raw.items() if not k.endswith("encoder.block.0.conv" + NEW_V)}
    path = tmp_path / "half.safetensors"
    save_file(broken, str(path))
    with pytest.raises(WeightsError, match="encoder.block.0.conv lacks its v"):
        load_codec(path, config=CodecConfig.preset("tiny"))


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b""])
def test_unreadable_files(tmp_path, content):
    for name in ("codec.pth", "codec.safetensors"):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(WeightsError, match="cannot read"):
            load_codec(path, config=CodecConfig.preset("tiny"))


def test_non_tensor_entries_and_missing_paths(tmp_path):
    path = tmp_path / "codec.pth"
    torch.save({"encoder.block.0.conv.bias": torch.zeros(4), "note": "hello"}, path)
    with pytest.raises(WeightsError, match="not tensors: note"):
        load_codec(path, config=CodecConfig.preset("tiny"))
    with pytest.raises(FileNotFoundError):
        load_codec(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="no codec.safetensors or codec.pth"):
        load_codec(_empty_dir(tmp_path))
    with pytest.raises(WeightsError, match=".safetensors"):
        Codec(CodecConfig.preset("tiny")).save(tmp_path / "x.pth")


def _empty_dir(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_bad_config_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_codec(DATA, config=bad)
