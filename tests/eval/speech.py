"""Real speech for the evaluation tests: festival voices run as subprocesses (GPL tools are never
imported), cached per test session by the fixtures in conftest.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from s2tts.eval.audio import load_16k

VOICES = {"kal": "voice_kal_diphone", "ked": "voice_ked_diphone", "slt": "voice_cmu_us_slt_arctic_hts"}

SENTENCES = {  # each transcribed without error by Whisper base from kal, slt and ked (checked)
    "a": "We will meet again at the station before the train leaves.",
    "b": "Please open the window because the room is getting very warm.",
    "c": "I would like a cup of coffee with milk and no sugar please.",
    "d": "He forgot his keys at home and had to call his brother.",
}


def festival(text: str, voice: str, path: Path) -> Path:
    """Speak ``text`` with a festival voice ("kal", "ked" or "slt") into ``path`` (wav)."""
    subprocess.run(
        ["text2wave", "-eval", f"({VOICES[voice]})", "-o", str(path)],
        input=text.encode(),
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def noisy(clip: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """clip plus white noise at ``snr_db`` relative to the clip's power."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(clip**2))
    noise = rng.standard_normal(len(clip)).astype(np.float32) * np.sqrt(power / 10 ** (snr_db / 10))
    out = clip + noise
    return (out / max(1.0, float(np.abs(out).max()))).astype(np.float32)


def load(path: Path) -> np.ndarray:
    return load_16k(path)
