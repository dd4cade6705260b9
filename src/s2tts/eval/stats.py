"""Summary statistics with noise bands: means and bootstrap confidence intervals.

Test sets are small (Seed-TTS-Eval's English set is ~1,000 sentences, ours often 30-100), so a
difference between two systems means little without its spread. ``bootstrap_ci`` resamples the
utterances with replacement (``n_boot`` times, explicit ``numpy.random.Generator``) and returns
the 2.5 / 97.5 percentiles of the mean. ``delta_ci`` does the same for the difference of two
systems' means: **paired** when both scored the same utterance ids (one resample of ids applied
to both, which cancels the sentence-difficulty variance), unpaired otherwise.
"""

from __future__ import annotations

import math

import numpy as np

N_BOOT = 2000


def finite(values: list[float | None]) -> np.ndarray:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    return arr[np.isfinite(arr)]


def mean(values: list[float | None]) -> float | None:
    arr = finite(values)
    return float(arr.mean()) if arr.size else None


def bootstrap_ci(
    values: list[float | None], n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float] | None:
    """95 % percentile bootstrap interval of the mean; None for fewer than 2 values."""
    arr = finite(values)
    if arr.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def delta_ci(
    a: dict[str, float | None], b: dict[str, float | None], n_boot: int = N_BOOT, seed: int = 0
) -> tuple[float, float, float, bool] | None:
    """(mean(b) - mean(a), low, high, paired) over per-utterance values keyed by id."""
    shared = [k for k in a if k in b and _ok(a[k]) and _ok(b[k])]
    rng = np.random.default_rng(seed)
    if len(shared) >= 2:
        diff = np.asarray([b[k] - a[k] for k in shared], dtype=np.float64)  # type: ignore[operator]
        means = diff[rng.integers(0, diff.size, size=(n_boot, diff.size))].mean(axis=1)
        return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)), True
    xa, xb = finite(list(a.values())), finite(list(b.values()))
    if xa.size < 2 or xb.size < 2:
        return None
    ma = xa[rng.integers(0, xa.size, size=(n_boot, xa.size))].mean(axis=1)
    mb = xb[rng.integers(0, xb.size, size=(n_boot, xb.size))].mean(axis=1)
    d = mb - ma
    return float(xb.mean() - xa.mean()), float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5)), False


def _ok(v: float | None) -> bool:
    return v is not None and math.isfinite(v)
