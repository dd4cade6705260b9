"""Fixtures for the evaluation tests: festival speech made once per session, scorers loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2tts.eval.scoring import ScorerConfig, Scorers

from .speech import SENTENCES, festival


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"<voice>_<sentence>": wav path} for kal and slt speaking sentences a-d, ked speaking a."""
    root = tmp_path_factory.mktemp("speech")
    out = {}
    for voice in ("kal", "slt"):
        for key, text in SENTENCES.items():
            out[f"{voice}_{key}"] = festival(text, voice, root / f"{voice}_{key}.wav")
    out["ked_a"] = festival(SENTENCES["a"], "ked", root / "ked_a.wav")
    return out


@pytest.fixture(scope="session")
def scorers() -> Scorers:
    """Whisper base + resemblyzer + DNSMOS + DistillMOS, loaded lazily, shared by the session."""
    return Scorers(ScorerConfig(asr="base"))
