"""The "does it read?" validation metric on a real tiny model: ~0 before training, large once the
model has learnt the fixture, whose codes are a function of the text's bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import load_checkpoint
from s2tts.text.prompt import PromptBuilder
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.data import load_sources
from s2tts.training.lm.objective import DualARObjective
from s2tts.training.lm.recipe import train_lm
from s2tts.training.lm.samples import SampleBuilder
from s2tts.training.lm.setup import build_model
from s2tts.training.lm.text_gain import mismatched, text_gain
from s2tts.training.precision import Precision
from s2tts.training.run_config import load_config

ARGS = [
    "device=cpu", "threads=1", "model.preset=tiny", "model.codec_preset=tiny", "batch_size=2",
    "data.synthetic.speakers=1", "data.synthetic.utterances_per_speaker=4", "data.reference_prob=0.0",
    "optim.lr=3e-3", "optim.weight_decay=0.0", "optim.schedule.kind=constant",
    "optim.schedule.warmup_steps=5", "save_every=1000", "log_every=10",
]  # fmt: skip


def _gain(model, cfg: LMRunConfig, tokenizer) -> dict[str, float]:
    model = model.float().train()
    builder = PromptBuilder(tokenizer, model.config.num_codebooks, model.config.codebook_size)
    sb = SampleBuilder(builder, max_len=cfg.data.max_len)
    train, _ = load_sources(cfg.data, model.config.num_codebooks, model.config.codebook_size)
    convs = [train.get(i, 0) for i in range(len(train))]
    objective = DualARObjective(model, cfg.loss)
    prec = Precision.parse("fp32", torch.device("cpu"))
    return text_gain(objective, objective, convs, sb, tokenizer.pad_id, 2, torch.device("cpu"), prec)


@pytest.mark.slow
def test_text_gain_grows_when_the_model_learns_to_read(tmp_path: Path) -> None:
    cfg = load_config(LMRunConfig, None, [f"out_dir={tmp_path}", "steps=100", "data.val_fraction=0.5", *ARGS])
    fresh_model, tokenizer = build_model(cfg)
    before = _gain(fresh_model, cfg, tokenizer)
    result = train_lm(cfg)
    after = _gain(load_checkpoint(result["export"]).model, cfg, tokenizer)
    assert abs(before["val_text_gain"]) < 0.3, before  # a random model ignores the text
    assert after["val_text_gain"] > 1.0, after  # trained: the right text is worth nats per token
    assert after["val_audio_ce"] < before["val_audio_ce"]
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [r for r in rows if "val_text_gain" in r]  # the recipe logs it with each validation
    assert logged and {"val_audio_ce", "val_text_gain_fast"} <= set(logged[-1])


def test_mismatched_swaps_texts_and_keeps_codes() -> None:
    from s2tts.training.lm.samples import Conversation, Turn

    codes = [torch.full((2, 3), i) for i in range(3)]
    a = Conversation([Turn("one", codes[0]), Turn("two", codes[1])], speaker="a")
    b = Conversation([Turn("three", codes[2])], speaker="b")
    swapped = mismatched(a, b)
    assert [t.text for t in swapped.turns] == ["three", "three"]
    assert all(s.codes is t.codes for s, t in zip(swapped.turns, a.turns, strict=True))
    assert swapped.speaker == "a"
