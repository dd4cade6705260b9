"""The decoupled reward service: scoring in worker processes, concurrent with rollouts.

S2 scores rollouts in an asynchronous reward service so the GPUs keep generating. Here each
worker is a spawned process that builds its own reward functions once (Whisper, the speaker
and quality models) from the :class:`~s2tts.training.rl.rewards.RewardConfig` and then serves
batches from a shared queue; :meth:`RewardPool.submit` returns a ``Future`` at once, so the
trainer keeps sampling the next prompts while earlier ones are scored. A thread in the parent
collects results and completes the futures; a worker that dies fails the pending futures with
:class:`~s2tts.errors.RewardError` instead of hanging, and so does every batch submitted after.

``workers=0`` scores synchronously in the calling process (same results; tests and debugging).
Inputs and outputs are plain numpy / Python values, pickled across the queues.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
import traceback
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from s2tts.errors import RewardError
from s2tts.training.rl.rewards import RewardConfig, RewardInput, ScoredSample, build_rewards, score_batch


@dataclass
class ScoredBatch:
    """One submitted batch's scores, in order, and the seconds the worker spent on it; ``worker`` is
    the worker's index (-1: scored in the calling process) and ``worker_cpu_s`` that worker's CPU
    time since it started (reward models' loading included) when it finished this batch."""

    samples: list[ScoredSample]
    seconds: float
    worker: int = -1
    worker_cpu_s: float = 0.0


def _worker_main(cfg: RewardConfig, threads: int, tasks: Any, results: Any, index: int = 0) -> None:
    """Worker process: build the rewards once, then score (task_id, batch) until None."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # this process only, before any model loads
        os.environ[var] = str(threads)
    functions = None
    error = ""
    try:
        functions = build_rewards(cfg)
    except Exception as exc:  # report the build failure on the first task
        error = f"building rewards failed: {exc!r}"
    if "torch" in sys.modules:  # a reward model runs on torch: keep it to its share of the cores
        sys.modules["torch"].set_num_threads(threads)
    parent = os.getppid()
    while True:
        try:
            item = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the trainer died without closing the pool: do not linger
                return
            continue
        if item is None:
            return
        task_id, batch = item
        if functions is None:
            results.put((task_id, None, error))
            continue
        try:
            start = time.perf_counter()
            samples = score_batch(batch, functions, cfg)
            scored = ScoredBatch(samples, time.perf_counter() - start, index, time.process_time())
            results.put((task_id, scored, None))
        except Exception:
            results.put((task_id, None, traceback.format_exc(limit=5)))


class RewardPool:
    """``submit(batch) -> Future[ScoredBatch]``; use as a context manager."""

    def __init__(self, cfg: RewardConfig, workers: int = 1, threads_per_worker: int = 1) -> None:
        if workers < 0:
            raise RewardError("reward workers must be >= 0")
        self.cfg = cfg
        self.workers = workers
        self._ids = itertools.count()
        self._pending: dict[int, Future[ScoredBatch]] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._broken: str | None = None  # why every later submit fails at once (a worker died)
        self._worker_cpu: dict[int, float] = {}  # worker index -> its latest reported CPU seconds
        if workers == 0:
            self._functions = build_rewards(cfg)
            return
        ctx = mp.get_context("spawn")
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self._procs = [
            ctx.Process(
                target=_worker_main,
                args=(cfg, threads_per_worker, self._tasks, self._results, i),
                daemon=True,
                name=f"s2tts-reward-{i}",
            )
            for i in range(workers)
        ]
        for p in self._procs:
            p.start()
        self._collector = threading.Thread(target=self._collect, name="s2tts-reward-collector", daemon=True)
        self._collector.start()

    def submit(self, batch: list[RewardInput]) -> Future[ScoredBatch]:
        if self._closed:
            raise RewardError("the reward pool is closed")
        fut: Future[ScoredBatch] = Future()
        if self.workers == 0:
            try:
                start = time.perf_counter()
                samples = score_batch(batch, self._functions, self.cfg)
                fut.set_result(ScoredBatch(samples, time.perf_counter() - start))
            except Exception as exc:
                fut.set_exception(RewardError(f"reward scoring failed: {exc!r}"))
            return fut
        task_id = next(self._ids)
        with self._lock:
            if self._broken is not None:  # no collector is left to complete it: fail now, never hang
                fut.set_exception(RewardError(self._broken))
                return fut
            self._pending[task_id] = fut
        self._tasks.put((task_id, batch))
        return fut

    @property
    def worker_cpu_s(self) -> float:
        """CPU seconds the worker processes have reported so far, summed (0 with ``workers=0``: the
        calling process's own CPU time holds the scoring then). A trainer adds it to its own, so its
        logged CPU time covers the reward service too."""
        with self._lock:
            return sum(self._worker_cpu.values())

    def _collect(self) -> None:
        while True:
            try:
                task_id, result, error = self._results.get(timeout=0.2)
            except queue.Empty:
                if self._closed:
                    return
                dead = [p.name for p in self._procs if not p.is_alive()]
                if dead and not self._closed:
                    self._fail_all(f"reward worker(s) {dead} died")
                    return
                continue
            except (EOFError, OSError):
                return
            with self._lock:
                fut = self._pending.pop(task_id, None)
                if result is not None:
                    seen = self._worker_cpu.get(result.worker, 0.0)
                    self._worker_cpu[result.worker] = max(seen, result.worker_cpu_s)
            if fut is None:
                continue
            if error is None:
                fut.set_result(result)
            else:
                fut.set_exception(RewardError(f"reward scoring failed in a worker: {error}"))

    def _fail_all(self, message: str) -> None:
        with self._lock:
            self._broken = self._broken or message
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_exception(RewardError(message))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.workers == 0:
            return
        for _ in self._procs:
            self._tasks.put(None)
        for p in self._procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self._collector.join(timeout=5)
        self._fail_all("the reward pool was closed")
        self._tasks.close()
        self._results.close()

    def __enter__(self) -> RewardPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
