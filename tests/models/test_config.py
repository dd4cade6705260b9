from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.errors import ConfigError
from s2tts.models.config import PRESETS, DualARConfig

PARITY = Path(__file__).parents[1] / "data" / "parity"


def test_reads_omni_layout_and_round_trips(tmp_path: Path) -> None:
    cfg = DualARConfig.from_json(PARITY / "lm_b")
    assert (cfg.slow.dim, cfg.slow.n_layer, cfg.slow.n_kv_head, cfg.slow.head_dim) == (48, 3, 1, 16)
    assert (cfg.fast.n_head, cfg.fast.head_dim, cfg.fast.intermediate_size) == (2, 24, 80)
    assert cfg.slow.qk_norm and not cfg.fast.qk_norm
    assert (cfg.semantic_begin_id, cfg.semantic_end_id, cfg.eos_token_id) == (332, 395, 322)
    cfg.save(tmp_path)
    assert DualARConfig.from_json(tmp_path) == cfg


def test_fast_rope_and_eps_come_from_text_config() -> None:
    data = json.loads((PARITY / "lm_a" / "config.json").read_text())
    data["audio_decoder_config"]["rope_base"] = 123.0
    data["audio_decoder_config"]["norm_eps"] = 0.5
    cfg = DualARConfig.from_dict(data)
    assert cfg.fast.rope_base == data["text_config"]["rope_base"]
    assert cfg.fast.norm_eps == data["text_config"]["norm_eps"]


def test_reads_flat_dual_ar_layout() -> None:
    flat = {
        "model_type": "dual_ar", "vocab_size": 400, "n_layer": 2, "n_head": 4, "n_local_heads": 2, "dim": 64,
        "head_dim": 16, "intermediate_size": 128, "rope_base": 1e6, "norm_eps": 1e-6, "max_seq_len": 256,
        "attention_qk_norm": True, "codebook_size": 64, "num_codebooks": 10, "n_fast_layer": 4,
        "fast_dim": 64, "fast_n_head": 4, "fast_n_local_heads": 2, "fast_head_dim": 16,
        "fast_intermediate_size": 128, "semantic_begin_id": 332, "semantic_end_id": 395, "eos_token_id": 322,
    }  # fmt: skip
    cfg = DualARConfig.from_dict(flat)
    assert cfg.fast.n_layer == 4 and cfg.fast.max_seq_len == 11 and cfg.codebook_size == 64
    assert DualARConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["text_config"].pop("dim"), "text_config.dim"),
        (lambda d: d.pop("audio_decoder_config"), "audio_decoder_config"),
        (lambda d: d.pop("semantic_start_token_id"), "semantic_start_token_id"),
        (lambda d: d["text_config"].update(n_local_heads=3), "n_local_heads"),
        (lambda d: d["text_config"].update(n_layer="two"), "text_config.n_layer"),
        (lambda d: d["audio_decoder_config"].update(text_dim=7), "text_dim"),
        (lambda d: d.update(semantic_end_token_id=10_000), "semantic id range"),
    ],
)
def test_bad_config_names_the_field(mutate, needle: str) -> None:
    data = json.loads((PARITY / "lm_a" / "config.json").read_text())
    mutate(data)
    with pytest.raises(ConfigError, match=needle):
        DualARConfig.from_dict(data)


def test_missing_file_and_unknown_layout(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        DualARConfig.from_json(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ConfigError, match="unknown config layout"):
        DualARConfig.from_json(tmp_path)


def test_s2_pro_preset_shape() -> None:
    cfg = PRESETS["s2-pro"]
    assert (cfg.slow.n_layer, cfg.slow.dim, cfg.slow.n_head, cfg.slow.n_kv_head) == (36, 2560, 32, 8)
    assert (cfg.vocab_size, cfg.codebook_size, cfg.semantic_begin_id, cfg.semantic_end_id) == (
        155776, 4096, 151678, 155773,
    )  # fmt: skip
    assert cfg.fast.n_layer == 4 and not cfg.fast.qk_norm and cfg.pad_token_id == 151669
    with pytest.raises(ConfigError, match="unknown preset"):
        DualARConfig.preset("s3")
