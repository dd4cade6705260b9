"""The reward worker pool: real spawned processes, the same scores as in-process."""

from __future__ import annotations

import numpy as np
import pytest

from s2tts.errors import RewardError
from s2tts.training.rl.hack_guards import GuardConfig
from s2tts.training.rl.pool import RewardPool
from s2tts.training.rl.rewards import RewardConfig, RewardInput, RewardTerm

NO_GUARDS = GuardConfig(
    min_chars_per_s=None, max_chars_per_s=None, max_silence_s=None, require_finished=False
)
CFG = RewardConfig(
    terms={"even_first_code": RewardTerm(), "shortness": RewardTerm(weight=0.5)}, guards=NO_GUARDS
)


def _batch(seed: int, n: int = 4) -> list[RewardInput]:
    rng = np.random.default_rng(seed)
    return [
        RewardInput(
            audio=np.zeros(100, dtype=np.float32),
            sample_rate=16000,
            text="x",
            codes=rng.integers(0, 64, size=(10, int(rng.integers(1, 30)))),
            finished=True,
        )
        for _ in range(n)
    ]


def test_workers_score_like_the_calling_process() -> None:
    batches = [_batch(s) for s in range(3)]
    with RewardPool(CFG, workers=0) as local:
        expected = [[s.total for s in local.submit(b).result().samples] for b in batches]
    with RewardPool(CFG, workers=2) as pool:
        futures = [pool.submit(b) for b in batches]  # all in flight at once
        got = [[s.total for s in f.result(timeout=60).samples] for f in futures]
    assert got == expected
    assert len({tuple(e) for e in expected}) == 3  # the batches differ: a mix-up would show


def test_workers_report_their_cpu_time() -> None:
    """Each batch names the worker that scored it and that worker's CPU time so far; the pool sums
    the latest of each worker (what a trainer adds to its own CPU time). In-process scoring reports
    none: the calling process's own CPU time already holds it."""
    with RewardPool(CFG, workers=0) as local:
        scored = local.submit(_batch(0)).result()
        assert (scored.worker, scored.worker_cpu_s, local.worker_cpu_s) == (-1, 0.0, 0.0)
    with RewardPool(CFG, workers=2) as pool:
        assert pool.worker_cpu_s == 0.0  # nothing reported yet
        results = [f.result(timeout=60) for f in [pool.submit(_batch(s)) for s in range(6)]]
        assert {r.worker for r in results} <= {0, 1}
        latest = {
            w: max(r.worker_cpu_s for r in results if r.worker == w) for w in {r.worker for r in results}
        }
        assert all(v > 0.05 for v in latest.values())  # a spawned worker's imports alone take more
        for w in latest:  # per worker, the reports only grow
            mine = [r.worker_cpu_s for r in results if r.worker == w]
            assert mine == sorted(mine)
        assert pool.worker_cpu_s == pytest.approx(sum(latest.values()))


def test_a_reward_that_cannot_be_built_fails_the_future() -> None:
    bad = RewardConfig(terms={"shortness": RewardTerm(options={"max_frames": 0})}, guards=NO_GUARDS)
    with RewardPool(bad, workers=1) as pool, pytest.raises(RewardError, match="max_frames"):
        pool.submit(_batch(0)).result(timeout=60)


def test_a_dead_worker_fails_pending_futures_instead_of_hanging() -> None:
    with RewardPool(CFG, workers=1) as pool:
        pool.submit(_batch(0)).result(timeout=60)  # the worker is up
        pool._procs[0].kill()
        pool._procs[0].join()
        with pytest.raises(RewardError, match="died"):
            pool.submit(_batch(1)).result(timeout=60)
        # once the pool has seen the death (its collector has failed what was pending and stopped),
        # a later batch fails at once instead of waiting forever for a collector that is gone
        pool._collector.join(timeout=60)
        assert not pool._collector.is_alive()
        with pytest.raises(RewardError, match="died"):
            pool.submit(_batch(2)).result(timeout=5)


def test_closed_pool_refuses_work() -> None:
    pool = RewardPool(CFG, workers=0)
    pool.close()
    with pytest.raises(RewardError):
        pool.submit(_batch(0))
