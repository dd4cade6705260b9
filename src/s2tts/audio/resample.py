"""Sample-rate conversion (soxr) and channel downmix for float32 numpy audio: the package's one
resampler (whole arrays and streams) and its one downmix rule (the channel mean).

soxr is a band-limited polyphase resampler with a linear-phase filter; "HQ" keeps the passband flat
to ~0.91 x Nyquist with > 120 dB rejection, so resampling a voice recording to 44.1 kHz for the
codec adds no audible artefact.
"""

from __future__ import annotations

import numpy as np
import soxr

from s2tts.errors import AudioError


def resample(audio: np.ndarray, orig_rate: float, target_rate: float, quality: str = "HQ") -> np.ndarray:
    """audio (n,) or (channels, n) at ``orig_rate`` -> same layout at ``target_rate``, float32.

    The output has ``round(n * target_rate / orig_rate)`` samples (soxr's length rule).
    """
    data = np.asarray(audio, dtype=np.float32)
    for name, rate in (("orig_rate", orig_rate), ("target_rate", target_rate)):
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float, np.integer, np.floating))
            or not rate > 0
        ):
            raise AudioError(f"{name} must be a positive number, got {rate!r}")
    if data.ndim not in (1, 2):
        raise AudioError(f"audio must have shape (n,) or (channels, n), got {data.shape}")
    if orig_rate == target_rate:
        return data.copy()
    if data.ndim == 1:
        return soxr.resample(data, orig_rate, target_rate, quality=quality).astype(np.float32, copy=False)
    out = soxr.resample(np.ascontiguousarray(data.T), orig_rate, target_rate, quality=quality)
    return np.ascontiguousarray(out.T, dtype=np.float32)


class StreamResampler:
    """Mono float32 audio at ``orig_rate`` arriving in chunks -> ``target_rate``, with the filter
    state carried across chunks, so the chunk boundaries leave no mark (same filter as ``resample``).
    """

    def __init__(self, orig_rate: int, target_rate: int, quality: str = "HQ") -> None:
        self._stream = soxr.ResampleStream(orig_rate, target_rate, 1, dtype="float32", quality=quality)

    def push(self, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        """chunk (n,) -> the resampled samples ready so far (m,); ``last=True`` flushes the filter."""
        return self._stream.resample_chunk(np.asarray(pcm, dtype=np.float32).reshape(-1), last=last)


def downmix(audio: np.ndarray) -> np.ndarray:
    """(channels, n) -> (n,) by averaging channels; (n,) is returned unchanged (as float32)."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        return data
    if data.ndim != 2 or data.shape[0] == 0:
        raise AudioError(f"audio must have shape (channels, n) or (n,), got {data.shape}")
    return data.mean(axis=0)
