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


def test_closed_pool_refuses_work() -> None:
    pool = RewardPool(CFG, workers=0)
    pool.close()
    with pytest.raises(RewardError):
        pool.submit(_batch(0))
