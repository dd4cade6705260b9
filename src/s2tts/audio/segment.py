"""Part of an audio file at another sample rate, without decoding or resampling the rest.

:func:`read_segment` returns samples ``[start, start + count)`` of a file's mono downmix as if the
whole file had been resampled to ``target_rate`` (``read_audio`` -> ``downmix`` -> ``resample``),
while reading only that stretch of the file plus a margin for the resampling filter. The margin
starts on an input sample whose time falls exactly on the output grid (a multiple of
``rate / gcd(rate, target_rate)`` input samples), so the local resampling lines up with the
whole-file one; measured against it, the samples agree to float rounding (~1e-7) with a margin of
256 input samples, and the margin used is 1,024 (more when downsampling). A file already at
``target_rate`` is sliced, bit-identical to the whole-file path.

libsndfile formats (wav, flac, ogg, mp3...) are read by seeking; others (m4a...) are decoded in
full and sliced, so they cost a whole decode per segment. :func:`audio_frames` reads the length
and rate from the header (or by decoding, for the others), and :func:`resampled_length` is the
length of the resampled file (soxr's rule, which rounds a length ending in exactly .5 either way:
the segment is then one sample shorter than this count).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf

from s2tts.audio.io import read_audio
from s2tts.audio.resample import downmix, resample
from s2tts.errors import AudioError

__all__ = ["audio_frames", "read_segment", "resampled_length"]

_SF_ERRORS = (sf.LibsndfileError, RuntimeError, TypeError, ValueError)
_MARGIN = 1024  # input samples of filter context on each side of a segment


def audio_frames(path: str | Path) -> tuple[int, int]:
    """(frames, sample rate) of an audio file: from the header where libsndfile reads it."""
    try:
        info = sf.info(str(path))
        if info.frames > 0 and info.samplerate > 0:
            return int(info.frames), int(info.samplerate)
    except _SF_ERRORS:
        pass  # not a libsndfile format (or missing: read_audio says which)
    audio, rate = read_audio(path)
    return int(audio.shape[1]), rate


def resampled_length(frames: int, rate: int, target_rate: int) -> int:
    """Samples of a ``frames``-long file at ``rate`` once resampled to ``target_rate`` (round half up)."""
    return (2 * frames * target_rate + rate) // (2 * rate)


def read_segment(path: str | Path, start: int, count: int, target_rate: int) -> np.ndarray:
    """Samples ``[start, start + count)`` (at ``target_rate``) of the file's mono downmix: (m,) float32.

    ``m == count`` unless the segment runs past the end of the file (then it stops there).
    """
    if start < 0 or count < 0:
        raise AudioError(f"segment start and count must be >= 0, got {start}, {count}")
    try:
        f = sf.SoundFile(str(path))
    except _SF_ERRORS:
        audio, rate = read_audio(path)  # whole decode for formats libsndfile cannot seek
        lo, hi = _input_range(start, count, rate, audio.shape[1], target_rate)
        return _cut(audio[:, lo:hi], lo, rate, start, count, target_rate)
    with f:
        rate = int(f.samplerate)
        lo, hi = _input_range(start, count, rate, int(f.frames), target_rate)
        f.seek(lo)
        data = f.read(hi - lo, dtype="float32", always_2d=True).T
    return _cut(data, lo, rate, start, count, target_rate)


def _input_range(start: int, count: int, rate: int, frames: int, target_rate: int) -> tuple[int, int]:
    """Input samples [lo, hi) that cover the segment with filter context, lo on the output grid."""
    if rate == target_rate:
        return min(start, frames), min(start + count, frames)
    step = rate // math.gcd(rate, target_rate)  # input samples per whole number of output samples
    margin = _MARGIN * max(1, -(-rate // target_rate))
    lo = max(0, (start * rate // target_rate - margin) // step * step)
    hi = min(frames, -(-(start + count) * rate // target_rate) + margin)
    return lo, max(lo, hi)


def _cut(data: np.ndarray, lo: int, rate: int, start: int, count: int, target_rate: int) -> np.ndarray:
    """(channels, n) input from sample ``lo`` -> the segment's (m,) mono samples at ``target_rate``."""
    mono = downmix(data)
    if rate == target_rate:
        return np.ascontiguousarray(mono)
    out = resample(mono, rate, target_rate) if mono.shape[0] else mono
    first = start - lo * target_rate // rate  # lo lies on the output grid: exact
    return np.ascontiguousarray(out[first : first + count])
