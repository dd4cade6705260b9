from pathlib import Path

import pytest

from s2tts.training.codec.data import synthesize_corpus


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    """Four espeak-ng utterances (real speech files, 22.05 kHz WAV)."""
    return synthesize_corpus(tmp_path_factory.mktemp("speech"), 4, seed=0)


def tiny_run(out_dir: Path, audio_dir: Path, *extra: str) -> list[str]:
    """Overrides for a few-second run of the tiny codec with narrow discriminators."""
    return [
        f"out_dir={out_dir}",
        f"data.audio_dir={audio_dir}",
        "model.preset=tiny",
        "threads=1",
        "steps=6",
        "data.batch_size=2",
        "data.crop_seconds=0.05",
        "data.val_clips=1",
        "data.val_seconds=0.1",
        "phases.unquantized_steps=2",
        "phases.kmeans_batches=2",
        "phases.gan_start=4",
        "log_every=1",
        "val_every=3",
        "save_every=3",
        "discriminators.period_channels=[4,4,4,4,4]",
        "discriminators.complex_n_ffts=[256]",
        "discriminators.complex_channels=4",
        "discriminators.magnitude_n_ffts=[128]",
        "discriminators.magnitude_hops=[32]",
        "discriminators.magnitude_wins=[128]",
        "discriminators.magnitude_channels=4",
        *extra,
    ]
