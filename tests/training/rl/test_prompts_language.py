"""RL rollouts of a phoneme model read each prompt in its own language (through the engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.models.codec import load_codec
from s2tts.training.rl.rollout import RolloutConfig, RolloutJob, RolloutSampler


@pytest.fixture(scope="module")
def phoneme_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(
        tmp_path_factory.mktemp("rl-phon") / "tiny",
        "tiny",
        seed=0,
        codec_preset="tiny",
        text_frontend="espeak",
    )


def test_each_prompt_is_read_in_its_language(phoneme_checkpoint: Path) -> None:
    ckpt = load_checkpoint(phoneme_checkpoint)
    codec = load_codec(phoneme_checkpoint / "codec.safetensors")
    cfg = RolloutConfig(group_size=2, max_new_tokens=2, batch_size=2)
    sampler = RolloutSampler(ckpt.model, ckpt.tokenizer, codec, cfg)
    text = "Guten Tag, wie geht es?"
    german, english = sampler.run([RolloutJob(0, 0, text, (), 1, "de"), RolloutJob(1, 0, text, (), 1, "en")])
    said = ckpt.tokenizer.decode(german.batches[0].prompt[0].tolist())
    assert "ɡˈuːtən tˈɑːk," in said and "Guten" not in said
    assert ckpt.tokenizer.decode(english.batches[0].prompt[0].tolist()) != said  # English rules differ
