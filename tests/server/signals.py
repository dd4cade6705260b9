"""Test signals: a sine with a known pitch and level, for checks a noise-making model cannot give
(an encoder keeps a 440 Hz tone; an effect halves its level; a reference clip to upload)."""

from __future__ import annotations

import numpy as np


def sine(n: int, freq: float = 440.0, rate: int = 44100, amp: float = 0.5, start: int = 0) -> np.ndarray:
    """n samples (float32) of ``amp * sin(2 pi freq t)``, t counted from sample ``start``."""
    t = (np.arange(n) + start) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
