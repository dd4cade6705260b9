"""Instruction following on real speech: each tag's measure moves for a clip that really was made
faster / louder / higher / whispered / paused, and an unchanged copy activates nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2tts.eval import acoustics
from s2tts.eval.audio import load_16k
from s2tts.eval.instruction import RULES, rule_for, tag_activation

from .speech import SENTENCES

WORDS = len(SENTENCES["a"].split())


def _sox(src: Path, dst: Path, *effect: str) -> np.ndarray:
    subprocess.run(["sox", str(src), str(dst), *effect], check=True, capture_output=True, timeout=60)
    return load_16k(dst)


def _espeak(text: str, dst: Path, *flags: str) -> np.ndarray:
    subprocess.run(["espeak-ng", *flags, "-w", str(dst), text], check=True, capture_output=True, timeout=60)
    return load_16k(dst)


@pytest.fixture(scope="module")
def plain(speech: dict[str, Path]) -> np.ndarray:
    return load_16k(speech["slt_a"])


@pytest.mark.parametrize(
    ("tag", "effect"),
    [
        ("fast", ("tempo", "1.3")),
        ("slow", ("tempo", "0.75")),
        ("loud", ("gain", "6")),
        ("soft", ("gain", "-8")),
        ("high pitch", ("pitch", "300")),
        ("low pitch", ("pitch", "-300")),
    ],
)
def test_transformed_copy_activates_its_tag(
    tag: str, effect: tuple[str, ...], speech: dict[str, Path], plain: np.ndarray, tmp_path: Path
) -> None:
    changed = _sox(speech["slt_a"], tmp_path / "x.wav", *effect)
    result = tag_activation(tag, changed, plain, WORDS)
    assert result is not None and result.activated, result
    opposite = {"fast": "slow", "slow": "fast", "loud": "soft", "soft": "loud"}.get(tag)
    if opposite is None:
        opposite = "low pitch" if tag == "high pitch" else "high pitch"
    assert not tag_activation(opposite, changed, plain, WORDS).activated


def test_unchanged_copy_activates_nothing(plain: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    copy = plain + rng.standard_normal(len(plain)).astype(np.float32) * 1e-4  # re-recorded, same speech
    for tag in ("fast", "slow", "loud", "soft", "high pitch", "low pitch", "whisper", "pause", "laugh"):
        result = tag_activation(tag, copy, plain, WORDS)
        assert result is not None and not result.activated, result


def test_whisper_pause_and_event(tmp_path: Path, plain: np.ndarray) -> None:
    text = "Please open the window because the room is warm."
    voiced = _espeak(text, tmp_path / "v.wav", "-v", "en-us")
    whispered = _espeak(text, tmp_path / "w.wav", "-v", "en-us+whisper")
    words = len(text.split())
    assert acoustics.voiced_fraction(voiced) > 0.3 > acoustics.voiced_fraction(whispered)
    assert tag_activation("whisper", whispered, voiced, words).activated
    assert not tag_activation("whisper", voiced, voiced, words).activated

    half = len(plain) // 2
    cut = half + int(np.argmin(np.abs(plain[half : half + 8000])))  # a quiet sample near the middle
    paused = np.concatenate([plain[:cut], np.zeros(int(0.7 * acoustics.SR), np.float32), plain[cut:]])
    assert acoustics.longest_pause(paused) >= 0.64  # 0.7 s, less the 20 ms frame grid at both ends
    assert tag_activation("pause", paused, plain, WORDS).activated

    rng = np.random.default_rng(1)  # a breathy burst after the sentence: a non-speech event
    burst = (rng.standard_normal(int(0.6 * acoustics.SR)) * 0.1 * np.hanning(int(0.6 * acoustics.SR))).astype(
        np.float32
    )
    with_event = np.concatenate([plain, burst])
    assert tag_activation("breath", with_event, plain, WORDS).activated


def test_rule_lookup() -> None:
    assert rule_for("Laugh") == ("event", RULES["event"])
    assert rule_for(" high pitch ")[0] == "high pitch"
    assert rule_for("sarcastic") is None
    assert tag_activation("sarcastic", np.zeros(16000), np.zeros(16000), 3) is None


def test_measures_on_silence_are_defined() -> None:
    silence = np.zeros(16000, np.float32)
    assert acoustics.speech_rate(silence, 5) == 0.0
    assert acoustics.loudness_lufs(silence) == -70.0
    assert np.isnan(acoustics.median_f0(silence))
    assert acoustics.longest_pause(silence) == 0.0
    assert not tag_activation("high pitch", silence, silence, 1).activated
