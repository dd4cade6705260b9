"""RL prompt files: one voice or one voice per dialogue speaker, encoded with the codec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio import write_audio
from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import TrainingDataError
from s2tts.models.codec import Codec, load_codec
from s2tts.training.rl.prompts import read_prompts


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> Codec:
    ckpt = init_checkpoint(
        tmp_path_factory.mktemp("rl-prompts") / "ckpt", "tiny", seed=0, codec_preset="tiny"
    )

    path = load_checkpoint(ckpt).codec_path()
    assert path is not None
    return load_codec(path, device="cpu")


def _tone(path: Path, hz: float, rate: int) -> Path:
    t = np.arange(int(0.3 * rate)) / rate
    write_audio(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    return path


def test_a_dialogue_prompt_keeps_a_voice_per_speaker(codec: Codec, tmp_path: Path) -> None:
    _tone(tmp_path / "a.wav", 220.0, 16000)
    _tone(tmp_path / "b.wav", 330.0, 22050)
    rows = [
        {"text": "Hello.", "reference_audio": "a.wav", "reference_text": "One."},
        {
            "text": "<|speaker:0|>Hi.<|speaker:1|>Hello.",
            "reference_audio": ["a.wav", "b.wav"],
            "reference_text": ["One.", "Two."],
        },
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    single, dialogue = read_prompts(path, codec)
    assert len(single.references) == 1 and len(single.voices) == 1
    assert [r.text for r in dialogue.references] == ["One.", "Two."]
    assert [rate for _, rate in dialogue.voices] == [16000, 22050]
    assert dialogue.reference_rate == 16000 and dialogue.reference_audio is dialogue.voices[0][0]
    frames = [r.codes.shape[1] for r in dialogue.references]
    assert all(f > 0 for f in frames) and dialogue.references[0].codes.shape[0] == codec.num_codebooks

    path.write_text(
        json.dumps({"text": "x", "reference_audio": ["a.wav", "b.wav"], "reference_text": ["One."]})
    )
    with pytest.raises(
        TrainingDataError, match=r"p.jsonl:1: each 'reference_audio' needs its 'reference_text'"
    ):
        read_prompts(path, codec)
