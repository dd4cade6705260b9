"""The model that ships in the package: it is there, whole, small enough, trained, and the README's
first command (``s2tts speak`` with no checkpoint) says held-out sentences that Whisper tiny.en can
read back (a cheap, real intelligibility gate; the full figures are the eval report's)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio.io import read_audio
from s2tts.cli import main
from s2tts.eval.asr import WhisperASR
from s2tts.eval.audio import to_16k
from s2tts.eval.wer import wer
from s2tts.inference.packaged import MANIFEST, PACKAGED_ENV, find_packaged, packaged_model_dir

# Sentences of the evaluation's held-out set: never in the training corpus.
HELD_OUT = [
    "Please turn the thermostat down before you leave the house.",
    "The children parked their bicycles next to the old library.",
    "She carried the samples back to the laboratory after lunch.",
]
MAX_BYTES = 60 * 1024 * 1024


@pytest.fixture(autouse=True)
def _the_real_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the folder inside the package, never an override."""
    monkeypatch.delenv(PACKAGED_ENV, raising=False)


def test_the_package_ships_a_whole_trained_model_under_60_mb() -> None:
    folder = find_packaged()
    assert folder is not None, f"no packaged model in {packaged_model_dir()}"
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["random_weights"] is False
    assert sum(f["bytes"] for f in manifest["files"].values()) <= MAX_BYTES
    voice = json.loads((folder / "voice.json").read_text())
    assert voice["text"].strip() and len(voice["codes"]) > 0


@pytest.mark.slow
def test_readme_first_command_speaks_held_out_sentences_intelligibly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path / "home"))  # a random default would land here
    asr = WhisperASR("tiny.en", threads=min(2, os.cpu_count() or 1))
    rates: list[float] = []
    for seed, sentence in enumerate(HELD_OUT):
        out = tmp_path / f"{seed}.wav"
        assert main(["speak", sentence, "-o", str(out), "--seed", str(seed)]) == 0
        audio, sr = read_audio(out)
        seconds = audio.shape[1] / sr
        words = len(sentence.split())
        assert 0.15 * words < seconds < 1.0 * words + 2.0, f"{seconds:.1f} s for {words} words"
        (text,) = asr.transcribe([to_16k(audio, sr)])
        rates.append(wer(sentence, text))
    assert not (tmp_path / "home").exists()  # the packaged model spoke, not a random one
    assert float(np.mean(rates)) <= 0.5 and max(rates) < 1.0, rates
