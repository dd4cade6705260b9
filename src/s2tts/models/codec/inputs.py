"""Checks and conversions at the codec's public boundary: audio in, codes in.

Everything a caller can get wrong is turned into an :class:`AudioError` or :class:`CodesError`
here, with a message naming the problem, before any tensor reaches a layer.

Resampling and downmix here, not through :mod:`s2tts.audio`: ``models/`` imports nothing else from
the package (STYLE.md; ``tests/test_layering.py``), and ``Codec.encode`` keeps its public contract of
taking audio at any rate and channel count, which the engine, the server's codec routes, the codec
CLI and the data pipeline rely on. Moving the call out to each of those callers would spread one
resampling call over four layers instead of one. So this module holds the model's input-boundary
conversion only, with the same rule as :mod:`s2tts.audio` (channel mean, soxr "HQ");
``tests/codec/test_codec.py`` checks that both give the same samples. File and upload decoding,
streaming resampling and every other array conversion belong to :mod:`s2tts.audio`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import soxr
import torch

from s2tts.errors import AudioError, CodesError

#: Shortest audio accepted by ``Codec.encode`` (seconds, at the input rate).
MIN_AUDIO_SECONDS = 0.01


def to_float_array(audio: Any) -> np.ndarray:
    """A tensor / array of samples as float32 numpy; integer PCM is scaled to [-1, 1)."""
    if isinstance(audio, torch.Tensor):
        tensor = audio.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        array = tensor.numpy()
    elif isinstance(audio, np.ndarray):
        array = audio
    else:
        raise AudioError(f"audio must be a torch.Tensor or numpy array, got {type(audio).__name__}")
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "i":
        scale = float(2 ** (8 * array.dtype.itemsize - 1))
        return (array.astype(np.float64) / scale).astype(np.float32)
    if kind == "u":
        half = float(2 ** (8 * array.dtype.itemsize - 1))
        return ((array.astype(np.float64) - half) / half).astype(np.float32)
    raise AudioError(f"audio samples must be real numbers, got dtype {array.dtype}")


def prepare_audio(
    audio: Any,
    sample_rate: float,
    lengths: Sequence[int] | torch.Tensor | np.ndarray | None,
    target_rate: int,
) -> tuple[np.ndarray, list[int]]:
    """Validate, downmix and resample a batch of audio for the codec.

    audio: (B, C, n), (C, n) or (n,) samples; lengths: valid samples per item (default all n).
    Returns (B, n') float32 mono at ``target_rate`` (zero past each item's length) and the lengths.
    """
    array = to_float_array(audio)
    if array.ndim == 1:
        array = array[None, None]
    elif array.ndim == 2:
        array = array[None]
    elif array.ndim != 3:
        raise AudioError(f"audio must have shape (B, C, n), (C, n) or (n,), got {tuple(array.shape)}")
    batch, channels, n = array.shape
    if batch == 0 or channels == 0:
        raise AudioError(f"audio has no items or no channels: shape {tuple(array.shape)}")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, numbers.Real)
        or not (math.isfinite(sample_rate) and sample_rate > 0)
    ):
        raise AudioError(f"sample_rate must be a positive number, got {sample_rate!r}")
    item_lengths = _lengths(lengths, batch, n)
    shortest = min(item_lengths)
    if shortest == 0:
        raise AudioError("audio is empty (0 samples)")
    if shortest < MIN_AUDIO_SECONDS * sample_rate:
        raise AudioError(
            f"audio is too short: {shortest} samples at {sample_rate:g} Hz "
            f"(minimum {MIN_AUDIO_SECONDS * 1000:g} ms)"
        )
    mono = array.mean(axis=1) if channels > 1 else array[:, 0]  # s2tts.audio.downmix's rule
    out_items = []
    for i, length in enumerate(item_lengths):
        item = mono[i, :length]
        if not np.isfinite(item).all():
            bad = int(np.flatnonzero(~np.isfinite(item))[0])
            raise AudioError(f"audio item {i} has a non-finite sample (NaN or inf) at index {bad}")
        if sample_rate != target_rate:
            # s2tts.audio.resample's filter (soxr HQ)
            item = soxr.resample(np.ascontiguousarray(item), float(sample_rate), target_rate, quality="HQ")
        out_items.append(np.asarray(item, dtype=np.float32))
    new_lengths = [len(x) for x in out_items]
    out = np.zeros((batch, max(new_lengths)), dtype=np.float32)
    for i, item in enumerate(out_items):
        out[i, : len(item)] = item
    return out, new_lengths


def _lengths(lengths: Sequence[int] | torch.Tensor | np.ndarray | None, batch: int, n: int) -> list[int]:
    if lengths is None:
        return [n] * batch
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().tolist()
    elif isinstance(lengths, np.ndarray):
        lengths = lengths.tolist()
    values = list(lengths) if isinstance(lengths, (list, tuple)) else [lengths]
    try:
        valid = len(values) == batch and not any(isinstance(v, bool) or int(v) != v for v in values)
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise AudioError(f"lengths must be {batch} integers (one per item), got {values!r}")
    out = [int(v) for v in values]
    if any(v < 0 or v > n for v in out):
        raise AudioError(f"lengths must be between 0 and the audio length {n}, got {out}")
    return out


def check_codes(codes: Any, codebook_sizes: Sequence[int]) -> torch.Tensor:
    """Validate codes (B, K, T) or (K, T) of integers inside each codebook; returns (B, K, T) int64."""
    if isinstance(codes, np.ndarray):
        if codes.dtype.kind not in "iu":
            raise CodesError(f"codes must be integers, got dtype {codes.dtype}")
        codes = torch.from_numpy(codes.astype(np.int64, copy=False))
    if not isinstance(codes, torch.Tensor):
        raise CodesError(f"codes must be a torch.Tensor or numpy array, got {type(codes).__name__}")
    if codes.dtype.is_floating_point or codes.dtype.is_complex or codes.dtype == torch.bool:
        raise CodesError(f"codes must be integers, got dtype {codes.dtype}")
    k = len(codebook_sizes)
    if codes.dim() == 2:
        codes = codes.unsqueeze(0)
    if codes.dim() != 3 or codes.shape[1] != k:
        raise CodesError(f"codes must have shape (B, {k}, T) or ({k}, T), got {tuple(codes.shape)}")
    if codes.shape[0] == 0 or codes.shape[2] == 0:
        raise CodesError(f"codes are empty: shape {tuple(codes.shape)}")
    codes = codes.long()
    limits = torch.tensor(codebook_sizes, device=codes.device).view(1, k, 1)
    bad = (codes < 0) | (codes >= limits)
    if bool(bad.any()):
        b, row, t = (int(v) for v in bad.nonzero()[0])
        raise CodesError(
            f"code out of range: codebook {row} (size {codebook_sizes[row]}) has value "
            f"{int(codes[b, row, t])} at item {b}, frame {t}"
        )
    return codes
