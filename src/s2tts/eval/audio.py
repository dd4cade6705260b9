"""Audio as the scorers want it: mono float32 at 16 kHz, read and resampled by ``s2tts.audio``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2tts.audio import downmix, read_audio, resample
from s2tts.errors import AudioError

SCORING_RATE = 16000


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(n,) or (channels, n) at ``sample_rate`` -> mono float32 (n',) at 16 kHz, clipped to [-1, 1]."""
    mono = downmix(np.asarray(audio, dtype=np.float32))
    if not np.isfinite(mono).all():
        raise AudioError("audio has non-finite samples (NaN or inf)")
    return np.clip(resample(mono, sample_rate, SCORING_RATE), -1.0, 1.0)


def load_16k(path: str | Path) -> np.ndarray:
    """An audio file -> mono float32 (n,) at 16 kHz."""
    data, rate = read_audio(path)
    return to_16k(data, rate)
