"""Bootstrap intervals: they cover the mean, shrink with pairing, and are reproducible."""

from __future__ import annotations

import numpy as np

from s2tts.eval.stats import bootstrap_ci, delta_ci, mean


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_data() -> None:
    rng = np.random.default_rng(1)
    small = list(rng.uniform(0, 0.4, 30))
    large = list(rng.uniform(0, 0.4, 600))
    lo, hi = bootstrap_ci(small)
    assert lo < mean(small) < hi
    lo2, hi2 = bootstrap_ci(large)
    assert (hi2 - lo2) < (hi - lo) / 3  # ~sqrt(20) narrower
    assert bootstrap_ci(small) == (lo, hi)  # seeded
    assert bootstrap_ci([0.5]) is None
    assert mean([None, 1.0, float("nan"), 3.0]) == 2.0


def test_paired_delta_sees_a_small_shift_that_unpaired_cannot() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 1, 40)  # sentence difficulty varies a lot
    a = {f"u{i}": float(v) for i, v in enumerate(base)}
    b = {f"u{i}": float(v) + 0.05 for i, v in enumerate(base)}
    delta, lo, hi, paired = delta_ci(a, b)
    assert paired and abs(delta - 0.05) < 1e-9 and lo > 0  # the shift is certain when paired
    unpaired = delta_ci(a, {f"v{i}": v for i, v in enumerate(b.values())})
    assert unpaired is not None and not unpaired[3]
    assert unpaired[1] < 0 < unpaired[2]  # the same shift is within noise unpaired
