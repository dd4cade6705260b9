"""Long text through ``s2tts speak``: 20,000 characters from stdin and a 40-turn dialogue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from s2tts.checkpoint import init_checkpoint

LONG_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs away. " * 300)[:20_000]
DIALOGUE = "".join(
    f"<|speaker:{i % 2}|>Line {i} of the dialogue, said by speaker {i % 2}." for i in range(40)
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", "tiny", seed=0, codec_preset="tiny")


def _speak(tiny: Path, out: Path, text_arg: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s2tts.cli", "speak", text_arg, "-o", str(out), "--checkpoint", str(tiny)]
        + ["--max-new-tokens", "3", "--seed", "0", "--threads", "1"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
    )


@pytest.mark.slow
def test_twenty_thousand_characters_from_stdin(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "long.wav"
    proc = _speak(tiny, out, "-", stdin=LONG_TEXT)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(out)
    batches = -(-len(LONG_TEXT.encode()) // 200)  # chunks of at most 200 bytes: at least this many
    assert audio.shape[0] >= 2 * 2048 * batches  # two frames per batch, every batch spoken


def test_forty_turn_dialogue(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "dialogue.wav"
    proc = _speak(tiny, out, DIALOGUE)
    assert proc.returncode == 0, proc.stderr
    audio, _ = sf.read(out)
    assert audio.shape[0] >= 2 * 2048 * 8  # at most five turns per batch: at least 8 batches
