"""Every shipped run config loads into the LM run config (no unknown keys, right types)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2tts.training.lm.config import LMRunConfig
from s2tts.training.run_config import load_config

CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "train").glob("lm-*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    cfg = load_config(LMRunConfig, path)
    assert cfg.steps >= 1 and cfg.out_dir.parts[0] == "runs"


def test_the_smoke_config_is_the_tiny_preset_on_the_fixture() -> None:
    cfg = load_config(LMRunConfig, Path(__file__).parents[2] / "configs" / "train" / "lm-smoke.yaml")
    assert cfg.model.preset == "tiny" and cfg.data.source == "synthetic" and cfg.model.init_from is None


def test_smoke_config_runs_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from s2tts.cli import main

    smoke = Path(__file__).parents[2] / "configs" / "train" / "lm-smoke.yaml"
    code = main(["train", "lm", "--config", str(smoke), f"out_dir={tmp_path}", "steps=3", "val_every=3"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"steps", "first_loss", "final_loss", "val_loss", "checkpoint"} <= set(summary)
    assert summary["steps"] == 3 and summary["val_loss"] is not None
    assert (tmp_path / "loss.png").is_file() and (tmp_path / "model" / "config.json").is_file()


def test_the_phoneme_ablation_differs_from_pretraining_only_in_the_front_end() -> None:
    from dataclasses import replace

    folder = Path(__file__).parents[2] / "configs" / "recipe" / "small"
    base = load_config(LMRunConfig, folder / "pretrain.yaml")
    phonemes = load_config(LMRunConfig, folder / "pretrain-phonemes.yaml")
    assert base.model.text_frontend == "text" and phonemes.model.text_frontend == "espeak"
    assert replace(phonemes, model=replace(phonemes.model, text_frontend="text")) == base
