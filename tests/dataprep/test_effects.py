"""Signal effects behind speaker perturbation and inline tags, measured on real signals."""

from __future__ import annotations

import numpy as np

from s2tts.data import effects

SR = 16000


def _tone(freq: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spec)])


def test_time_stretch_changes_duration_not_pitch() -> None:
    x = _tone(220.0)
    y = effects.time_stretch(x, SR, 1.4)
    assert abs(y.size - x.size / 1.4) < 0.02 * x.size
    assert abs(_peak_hz(y) - 220.0) < 5


def test_shift_spectrum_moves_frequencies_and_keeps_duration() -> None:
    x = _tone(300.0)
    y = effects.shift_spectrum(x, SR, 2 ** (4 / 12))
    assert abs(y.size - x.size) < 0.02 * x.size
    assert abs(_peak_hz(y) - 300.0 * 2 ** (4 / 12)) < 6
    slower = effects.shift_spectrum(x, SR, 1.1, speed=0.9)
    assert abs(slower.size - x.size / 0.9) < 0.02 * x.size


def _harmonicity(x: np.ndarray) -> float:
    """Peak of the normalised autocorrelation between 2.5 and 12 ms lags (voicing strength)."""
    x = x - x.mean()
    ac = np.correlate(x[:4000], x[:4000], mode="full")[3999:]
    return float(ac[40:200].max() / ac[0])


def test_whisper_removes_voicing_and_keeps_level() -> None:
    t = np.arange(SR) / SR
    voiced = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20)).astype(np.float32) * 0.1
    w = effects.whisper(voiced, SR, np.random.default_rng(0))
    assert w.shape == voiced.shape
    assert abs(effects.rms(w) / effects.rms(voiced) - 1) < 0.01
    assert _harmonicity(voiced) > 0.9 and _harmonicity(w) < 0.5


def test_breath_is_band_limited_noise_at_the_asked_level() -> None:
    b = effects.breath(SR, np.random.default_rng(0), 0.5, 0.02)
    assert b.size == SR // 2 and abs(effects.rms(b) - 0.02) < 1e-4
    spec = np.abs(np.fft.rfft(b)) ** 2
    freqs = np.fft.rfftfreq(b.size, 1 / SR)
    assert spec[(freqs > 300) & (freqs < 4000)].sum() > 0.9 * spec.sum()
    assert np.abs(b[:80]).max() < np.abs(b).max() * 0.2  # fades in


def test_trim_silence_and_normalize() -> None:
    x = np.concatenate([np.zeros(SR), _tone(200, 0.5), np.zeros(SR)])
    trimmed = effects.trim_silence(x, SR)
    assert 0.5 * SR <= trimmed.size < 0.6 * SR
    y = effects.normalize_rms(x, -20.0)
    assert abs(20 * np.log10(effects.rms(y)) + 20.0) < 0.1
