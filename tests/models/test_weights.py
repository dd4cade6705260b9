from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from s2tts.errors import WeightsError
from s2tts.inference.prepare import prepare_for_decode
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.weights import load_model, save_model

PARITY = Path(__file__).parents[1] / "data" / "parity"


def _same_weights(a: DualARTransformer, b: DualARTransformer) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].float(), sb[k].float()) for k in sa)


def test_published_keys_load_bit_identical() -> None:
    model = load_model(PARITY / "lm_a")
    raw = load_file(str(PARITY / "lm_a" / "model.safetensors"))
    assert torch.equal(
        model.slow.layers[1].attention.wqkv.weight, raw["text_model.model.layers.1.attention.wqkv.weight"]
    )
    assert torch.equal(model.slow.codebook_embeddings.weight, raw["audio_decoder.codebook_embeddings.weight"])
    assert torch.equal(model.fast.output.weight, raw["audio_decoder.output.weight"])
    assert not any(p.is_meta for p in model.parameters())
    assert not model.slow.rope.is_meta and model.slow.rope.shape[0] == model.config.slow.max_seq_len


@pytest.mark.parametrize("shard_bytes", [None, 60_000])
def test_save_round_trip(tmp_path: Path, shard_bytes: int | None) -> None:
    model = load_model(PARITY / "lm_b")
    save_model(model, tmp_path, shard_bytes=shard_bytes)
    if shard_bytes:
        assert (tmp_path / "model.safetensors.index.json").is_file()
        assert len(list(tmp_path.glob("model-*-of-*.safetensors"))) > 1
    else:
        saved = load_file(str(tmp_path / "model.safetensors"))
        assert saved.keys() == load_file(str(PARITY / "lm_b" / "model.safetensors")).keys()
    assert _same_weights(load_model(tmp_path), model)


def test_model_pth_with_wrapper_prefix_and_split_qkv(tmp_path: Path) -> None:
    raw = load_file(str(PARITY / "lm_a" / "model.safetensors"))
    q, kv = 4 * 16, 2 * 16
    state = {}
    for key, value in raw.items():
        if key.endswith("attention.wqkv.weight"):
            stem = key[: -len("wqkv.weight")]
            state["model." + stem + "wq.weight"] = value[:q]
            state["model." + stem + "wk.weight"] = value[q : q + kv]
            state["model." + stem + "wv.weight"] = value[q + kv :]
        else:
            state["model." + key] = value
    shutil.copy(PARITY / "lm_a" / "config.json", tmp_path / "config.json")
    torch.save({"state_dict": state}, tmp_path / "model.pth")
    assert _same_weights(load_model(tmp_path), load_model(PARITY / "lm_a"))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_load(dtype: torch.dtype) -> None:
    model = load_model(PARITY / "lm_a", dtype=dtype)
    assert model.slow.embeddings.weight.dtype == dtype and model.fast.output.weight.dtype == dtype
    values = load_file(str(PARITY / "lm_a_golden.safetensors"))["input_values"][None]
    with torch.no_grad():
        hidden = model.slow(values)
    assert hidden.dtype == dtype and torch.isfinite(hidden.float()).all()


def _broken_checkpoint(tmp_path: Path, edit) -> Path:
    raw = load_file(str(PARITY / "lm_a" / "model.safetensors"))
    edit(raw)
    save_file(raw, str(tmp_path / "model.safetensors"))
    shutil.copy(PARITY / "lm_a" / "config.json", tmp_path / "config.json")
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.pop("audio_decoder.norm.weight"), "missing keys.*audio_decoder.norm.weight"),
        (lambda d: d.update({"text_model.model.bogus.weight": torch.zeros(1)}), "unexpected keys.*bogus"),
        (
            lambda d: d.update({"text_model.model.norm.weight": torch.zeros(3)}),
            "text_model.model.norm.weight.*shape",
        ),
    ],
)
def test_bad_checkpoints_name_the_key(tmp_path: Path, edit, needle: str) -> None:
    with pytest.raises(WeightsError, match=needle):
        load_model(_broken_checkpoint(tmp_path, edit))


def test_no_weights_and_unreadable_files(tmp_path: Path) -> None:
    shutil.copy(PARITY / "lm_a" / "config.json", tmp_path / "config.json")
    with pytest.raises(WeightsError, match="no model weights"):
        load_model(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        load_model(tmp_path)


def test_load_gives_training_layout_and_prepare_gives_decode_layout(tmp_path: Path) -> None:
    model = load_model(PARITY / "lm_a")  # plain: contiguous weights, as training wants them
    assert model.fast.layers[0].feed_forward.w1.weight.is_contiguous()
    prepare_for_decode(model)  # fp32 on CPU: column-major Linear weights
    weight = model.fast.layers[0].feed_forward.w1.weight
    assert not weight.is_contiguous() and weight.t().is_contiguous()
    raw = load_file(str(PARITY / "lm_a" / "model.safetensors"))
    assert torch.equal(weight, raw["audio_decoder.layers.0.feed_forward.w1.weight"])
    save_model(model, tmp_path)
    assert load_file(str(tmp_path / "model.safetensors"))["audio_decoder.output.weight"].is_contiguous()
    bf16 = prepare_for_decode(load_model(PARITY / "lm_a", dtype=torch.bfloat16))
    assert bf16.fast.layers[0].feed_forward.w1.weight.is_contiguous()  # row-major is faster for bf16
    # A compiled frame's fused one-row products want row-major weights: preparing for it
    # switches the column-major layout back, values unchanged.
    prepare_for_decode(model, compile=True)
    weight = model.fast.layers[0].feed_forward.w1.weight
    assert weight.is_contiguous() and model.slow.layers[0].attention.wqkv.weight.is_contiguous()
    assert torch.equal(weight, raw["audio_decoder.layers.0.feed_forward.w1.weight"])
