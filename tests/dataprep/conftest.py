"""Shared fixtures: a tiny synthetic corpus, a tiny random codec checkpoint, a folder of mixed files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from s2tts.audio.io import write_audio
from s2tts.cli import main
from s2tts.data.pipeline import run_pipeline
from s2tts.data.pipeline_config import load_config
from s2tts.data.synth import synthesize_corpus
from s2tts.data.synth_plan import SynthConfig


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["init-checkpoint", "--preset", "tiny", str(path)]) == 0
    return path


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 3 minutes of festival + espeak-ng speech (no piper: it is the slow engine)."""
    out = tmp_path_factory.mktemp("corpus")
    config = SynthConfig(hours=0.05, seed=0, mix=(("festival", 0.7), ("espeak", 0.3)), chunk_size=40,
                         heldout_speaker_utterances=2, dialogue_share=0.25)  # fmt: skip
    synthesize_corpus(config, out, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def synth_prepared(
    tmp_path_factory: pytest.TempPathFactory, small_corpus: Path, tiny_checkpoint: Path
) -> Path:
    """The small corpus through the pipeline (known text kept, no denoise, no DNSMOS): code shards."""
    out = tmp_path_factory.mktemp("prepared")
    overrides = {"denoise": {"method": "none"}, "quality": {"dnsmos": False, "distillmos": False, "speaker_consistency": False},
                 "tokenize": {"checkpoint": str(tiny_checkpoint)}, "batch_size": 32}  # fmt: skip
    run_pipeline(
        small_corpus / "manifest.parquet", out, load_config(None, overrides), workers=1, progress=False
    )
    return out


def _sh(cmd: str) -> None:
    subprocess.run(cmd, shell=True, check=True, capture_output=True)


@pytest.fixture(scope="session")
def mixed_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Speech in wav / mp3 (stereo 48 kHz) / flac (22.05 kHz, padded with silence) and five bad files."""
    d = tmp_path_factory.mktemp("inputs")
    text = "Hello there. This recording has enough words to make a segment longer than three seconds."
    _sh(f"espeak-ng -v en-us -w {d}/speech.wav '{text}'")
    _sh(f"sox -D {d}/speech.wav -c 2 -r 48000 {d}/stereo48k.wav")
    stereo, rate = sf.read(d / "stereo48k.wav", dtype="float32", always_2d=True)
    write_audio(d / "stereo.mp3", stereo.T, rate)  # PyAV's LAME: CI machines have no ffmpeg program
    (d / "stereo48k.wav").unlink()
    _sh(f"sox -D {d}/speech.wav -r 22050 {d}/padded.flac pad 1 2")
    _sh(f"sox -n -r 16000 {d}/silent.wav trim 0 3")
    _sh(f"sox {d}/speech.wav {d}/short.wav trim 0 0.2")
    (d / "empty.wav").write_bytes(b"")
    (d / "notes.txt").write_text("not audio\n")
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    return d
