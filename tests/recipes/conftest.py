"""A small synthetic corpus (festival + espeak-ng, no piper: the slow engine) shared by the recipe tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2tts.data.synth import synthesize_corpus
from s2tts.data.synth_plan import SynthConfig


@pytest.fixture(scope="session")
def recipe_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recipe-corpus")
    config = SynthConfig(hours=0.05, seed=0, mix=(("festival", 0.7), ("espeak", 0.3)), chunk_size=40,
                         heldout_speaker_utterances=2, dialogue_share=0.25)  # fmt: skip
    synthesize_corpus(config, out, workers=2, progress=False)
    return out
