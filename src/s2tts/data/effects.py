"""Signal operations behind speaker perturbation and inline tags. Audio is float32 ``(n,)`` mono.

- ``time_stretch``: WSOLA tempo change, pitch kept (sox's ``tempo`` effect, run as a program).
- ``shift_spectrum``: resample-then-stretch: every frequency (pitch and formants) times ``factor``,
  duration divided by ``speed``. Used for vocal-tract perturbation and for ``[high pitch]``/``[low pitch]``.
- ``whisper``: the spectral envelope (cepstrally smoothed log-magnitude, harmonics removed) excited by
  white noise: voicing is gone, articulation stays, as in whispered speech.
- ``breath``: an inhalation: band-limited noise (about 0.3-4 kHz, broad peak near 1.5 kHz) under a
  slow rise and fast fall, well below speech level.
- ``gain``, ``silence``, ``trim_silence``, ``normalize_rms``.

Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import subprocess

import numpy as np

from s2tts.audio import resample
from s2tts.errors import AudioError


def time_stretch(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """(n,) -> (~n / factor,): ``factor`` > 1 speaks faster, pitch unchanged (sox ``tempo -s``)."""
    if abs(factor - 1.0) < 1e-6 or x.size == 0:
        return x.astype(np.float32, copy=True)
    if not 0.1 <= factor <= 10:
        raise AudioError(f"tempo factor must be in [0.1, 10], got {factor}")
    raw = ["-t", "f32", "-r", str(int(sr)), "-c", "1", "-L"]
    cmd = ["sox", "-V1", *raw, "-", *raw, "-", "tempo", "-s", f"{factor:.6f}"]
    try:
        proc = subprocess.run(cmd, input=x.astype("<f4").tobytes(), capture_output=True, check=True)
    except FileNotFoundError as exc:
        raise AudioError("sox not found: run scripts/setup.sh --data (Debian package sox)") from exc
    except subprocess.CalledProcessError as exc:
        raise AudioError(f"sox tempo failed: {exc.stderr.decode(errors='replace').strip()}") from exc
    return np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)


def shift_spectrum(x: np.ndarray, sr: int, factor: float, speed: float = 1.0) -> np.ndarray:
    """Scale every frequency by ``factor`` and the speaking rate by ``speed``.

    Resampling ``x`` to ``sr / factor`` and playing it at ``sr`` multiplies frequencies and tempo by
    ``factor``; a WSOLA stretch by ``speed / factor`` then sets the rate. Output length ~ n / speed.
    """
    if abs(factor - 1.0) < 1e-6:
        return time_stretch(x, sr, speed)
    y = resample(x, sr, sr / factor)
    return time_stretch(y, sr, speed / factor)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    return (x * np.float32(10 ** (db / 20))).astype(np.float32)


def silence(sr: int, seconds: float) -> np.ndarray:
    return np.zeros(round(sr * seconds), dtype=np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _frames(x: np.ndarray, n_fft: int, hop: int) -> tuple[np.ndarray, int]:
    pad = n_fft + (-(x.size + n_fft) % hop)
    xp = np.pad(x, (n_fft // 2, pad))
    count = 1 + (xp.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    return xp[idx], xp.size


def whisper(x: np.ndarray, sr: int, rng: np.random.Generator, n_ceps: int = 30) -> np.ndarray:
    """(n,) -> (n,) whispered: noise-excited spectral envelope at the same RMS as ``x``."""
    n_fft = 1 << int(np.ceil(np.log2(0.032 * sr)))
    hop = n_fft // 4
    win = np.hanning(n_fft).astype(np.float32)
    frames, padded = _frames(x.astype(np.float32), n_fft, hop)
    spec = np.fft.rfft(frames * win, axis=1)
    log_mag = np.log(np.abs(spec) + 1e-6)
    ceps = np.fft.irfft(log_mag, axis=1)
    ceps[:, n_ceps:-n_ceps] = 0.0  # lifter: keep the envelope, drop the harmonic ripple
    envelope = np.exp(np.fft.rfft(ceps, axis=1).real)
    noise = rng.standard_normal(frames.shape).astype(np.float32) * win
    excited = np.fft.irfft(np.fft.rfft(noise, axis=1) * envelope, n=n_fft, axis=1) * win
    out = np.zeros(padded, dtype=np.float64)
    norm = np.zeros(padded, dtype=np.float64)
    for i, frame in enumerate(excited):
        out[i * hop : i * hop + n_fft] += frame
        norm[i * hop : i * hop + n_fft] += win**2
    y = (out / np.maximum(norm, 1e-3))[n_fft // 2 : n_fft // 2 + x.size].astype(np.float32)
    return y * np.float32(rms(x) / max(rms(y), 1e-9))


def breath(sr: int, rng: np.random.Generator, seconds: float, level_rms: float) -> np.ndarray:
    """An inhalation of ``seconds``: shaped noise with RMS ``level_rms``."""
    n = round(sr * seconds)
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    shape = np.exp(-0.5 * (np.log(np.maximum(freqs, 1.0) / 1500.0) / 0.7) ** 2)
    shape[(freqs < 250) | (freqs > 5000)] *= 0.05
    y = np.fft.irfft(spec * shape, n=n)
    t = np.linspace(0.0, 1.0, n)
    env = np.where(t < 0.7, np.sin(0.5 * np.pi * t / 0.7) ** 2, np.cos(0.5 * np.pi * (t - 0.7) / 0.3) ** 2)
    y = (y * env).astype(np.float32)
    return y * np.float32(level_rms / max(rms(y), 1e-9))


def trim_silence(x: np.ndarray, sr: int, threshold_db: float = -40.0, margin_s: float = 0.03) -> np.ndarray:
    """Cut leading and trailing stretches quieter than ``threshold_db`` below the peak frame."""
    hop = max(1, int(0.01 * sr))
    n = x.size // hop
    if n == 0:
        return x
    energy = np.sqrt(np.mean(np.square(x[: n * hop].reshape(n, hop)), axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(energy / energy.max()) > threshold_db)
    if loud.size == 0:
        return x[:0]
    margin = int(margin_s * sr)
    return x[max(0, loud[0] * hop - margin) : min(x.size, (loud[-1] + 1) * hop + margin)]


def soft_limit(x: np.ndarray, peak: float = 0.95, knee: float = 0.7) -> np.ndarray:
    """Samples up to ``knee`` unchanged, louder ones bent smoothly (tanh) towards ``peak``, never past
    it: a loud signal keeps its loudness where scaling it down to the peak would lose it."""
    mag = np.abs(x)
    over = mag > knee
    if not over.any():
        return x.astype(np.float32)
    bent = knee + (peak - knee) * np.tanh((mag[over] - knee) / (peak - knee))
    y = x.astype(np.float32)  # a copy
    y[over] = np.sign(x[over]) * bent
    return y


def normalize_rms(
    x: np.ndarray,
    target_dbfs: float = -20.0,
    peak: float = 0.95,
    level_of: np.ndarray | None = None,
    limit: bool = False,
) -> np.ndarray:
    """Scale to ``target_dbfs`` RMS, less if the peak would pass ``peak``. ``level_of``: measure the
    RMS on this signal instead (the same utterance without its tags' gains) and scale ``x`` by it.
    ``limit``: a peak over ``peak`` is soft-limited (:func:`soft_limit`) instead of scaled down."""
    level = rms(x if level_of is None else level_of)
    if level == 0 or not np.abs(x).any():
        return x
    if limit:
        return soft_limit(x * np.float32(10 ** (target_dbfs / 20) / level), peak)
    scale = min(10 ** (target_dbfs / 20) / level, peak / float(np.abs(x).max()))
    return (x * np.float32(scale)).astype(np.float32)
