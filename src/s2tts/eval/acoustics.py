"""Acoustic measurements of one clip, the raw material of the instruction-following test.

All take mono float32 (n,) at 16 kHz and are plain DSP (numpy, pyloudnorm, librosa's YIN):

* ``activity(audio)``: per 20 ms frame, is the frame active (its RMS within ``ACTIVE_DB`` dB of
  the clip's loudest frames)? Speech activity without a model, robust to the overall level.
* ``active_duration``: seconds of active frames; ``speech_span``: first to last active frame.
* ``speech_rate(audio, words)``: words per second over the speech span (leading and trailing
  silence excluded, inner pauses included).
* ``loudness_lufs``: integrated loudness per ITU-R BS.1770 (pyloudnorm); ``-70`` for silence.
* ``median_f0``: median fundamental frequency (Hz) over voiced frames (YIN, 60-500 Hz, a frame is
  voiced when its YIN dip is below ``VOICING_THRESHOLD``); NaN when nothing is voiced.
* ``voiced_fraction``: share of active frames that are voiced: near 0 for whisper, 0.5-0.8 for
  modal speech (unvoiced consonants and pauses make up the rest).
* ``longest_pause``: the longest run of inactive frames between the first and last active ones.
"""

from __future__ import annotations

import numpy as np

SR = 16000
FRAME = 320  # 20 ms
ACTIVE_DB = 35.0  # a frame is active when within this many dB of the 95th-percentile frame level
VOICING_THRESHOLD = 0.2  # YIN aperiodicity below which a frame counts as voiced
F0_MIN, F0_MAX = 60.0, 500.0


def frame_rms_db(audio: np.ndarray) -> np.ndarray:
    """(n,) -> (frames,) RMS level in dB of 20 ms frames (the tail shorter than a frame dropped)."""
    n = len(audio) // FRAME
    if n == 0:
        return np.zeros(0)
    frames = np.asarray(audio[: n * FRAME], dtype=np.float64).reshape(n, FRAME)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def activity(audio: np.ndarray) -> np.ndarray:
    """(n,) -> (frames,) bool: frames within ACTIVE_DB of the loud frames and above -60 dBFS."""
    db = frame_rms_db(audio)
    if db.size == 0:
        return np.zeros(0, dtype=bool)
    top = np.percentile(db, 95)
    return (db > top - ACTIVE_DB) & (db > -60.0)


def active_duration(audio: np.ndarray) -> float:
    return float(activity(audio).sum() * FRAME / SR)


def speech_span(audio: np.ndarray) -> tuple[float, float]:
    """(start, end) in seconds of the first and last active frames; (0, 0) for silence."""
    idx = np.flatnonzero(activity(audio))
    if idx.size == 0:
        return 0.0, 0.0
    return float(idx[0] * FRAME / SR), float((idx[-1] + 1) * FRAME / SR)


def speech_rate(audio: np.ndarray, words: int) -> float:
    """Words per second over the speech span; 0 for silence."""
    start, end = speech_span(audio)
    return words / (end - start) if end > start else 0.0


def longest_pause(audio: np.ndarray) -> float:
    """Seconds of the longest inactive run strictly inside the speech span."""
    act = activity(audio)
    idx = np.flatnonzero(act)
    if idx.size < 2:
        return 0.0
    inner = ~act[idx[0] : idx[-1] + 1]
    best = run = 0
    for silent in inner:
        run = run + 1 if silent else 0
        best = max(best, run)
    return best * FRAME / SR


def loudness_lufs(audio: np.ndarray) -> float:
    """Integrated BS.1770 loudness; -70 LUFS for silence or clips under 0.4 s."""
    import pyloudnorm

    if len(audio) < int(0.4 * SR) or not np.any(audio):
        return -70.0
    value = pyloudnorm.Meter(SR).integrated_loudness(np.asarray(audio, dtype=np.float64))
    return float(max(value, -70.0)) if np.isfinite(value) else -70.0


def _yin(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (f0 Hz, aperiodicity) with YIN's cumulative-mean-normalised difference."""
    frame_length = 1024  # 64 ms: two periods of 60 Hz
    n = 1 + max(0, len(audio) - frame_length) // FRAME
    if len(audio) < frame_length:
        return np.zeros(0), np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(audio, dtype=np.float64), frame_length)[
        ::FRAME
    ][:n]
    max_lag = int(SR / F0_MIN)
    min_lag = int(SR / F0_MAX)
    w = frame_length - max_lag
    spec = np.fft.rfft(frames, n=2 * frame_length)
    acf = np.fft.irfft(spec * np.conj(np.fft.rfft(frames[:, :w], n=2 * frame_length)))[:, : max_lag + 1]
    energy = np.cumsum(frames**2, axis=1)
    e0 = energy[:, w - 1]
    lagged = energy[:, w - 1 : w + max_lag] - np.concatenate([np.zeros((n, 1)), energy[:, :max_lag]], axis=1)
    diff = e0[:, None] + lagged - 2 * acf
    diff[:, 0] = 0
    cum = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_lag + 1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(cum, 1e-12)
    search = cmnd[:, min_lag:]
    lag = np.argmin(search, axis=1) + min_lag
    aperiodicity = cmnd[np.arange(n), lag]
    return SR / lag, aperiodicity


def voiced_frames(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f0 of voiced frames, voiced mask over all YIN frames) restricted to active frames."""
    f0, aper = _yin(audio)
    act = activity(audio)[: len(f0)]
    f0, aper = f0[: len(act)], aper[: len(act)]
    voiced = (aper < VOICING_THRESHOLD) & act
    return f0[voiced], voiced


def median_f0(audio: np.ndarray) -> float:
    f0, _ = voiced_frames(audio)
    return float(np.median(f0)) if f0.size else float("nan")


def voiced_fraction(audio: np.ndarray) -> float:
    _, voiced = voiced_frames(audio)
    act = activity(audio)[: len(voiced)]
    return float(voiced.sum() / act.sum()) if act.sum() else 0.0
