"""Batches of similar length: the samples of a few consecutive steps, regrouped by length.

A batch is right-padded to its longest sample, and attention costs the square of that length.
With the speech corpus's mix of single utterances, references and multi-turn samples (150 to
1,500 tokens), random batches of 8 were 47% padding. :class:`LengthGroupedSampler` takes the
samples :class:`~s2tts.training.lm.data.StepSampler` gives ``group_steps`` consecutive steps,
sorts them by length, cuts the sorted list into the same number of micro-batches and hands those
out in a seeded random order. Every sample is still seen once per epoch, each step still holds
``batch_size`` samples per micro-batch and rank, and the positions of a step are a pure function
of the step (exact resume); only which samples share a batch changes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from s2tts.training.lm.data import StepSampler

__all__ = ["LengthGroupedSampler"]

Position = tuple[int, int]  # (sample index, epoch)


class LengthGroupedSampler:
    """``positions(step, micro, rank)`` like :class:`StepSampler`, regrouped by ``length``.

    length: the length in tokens of the sample at a position (what the batch is padded to).
    group_steps: how many consecutive steps share one regrouping (1: the base sampler's batches).
    """

    def __init__(
        self, base: StepSampler, group_steps: int, length: Callable[[int, int], int], seed: int = 0
    ) -> None:
        if group_steps < 1:
            raise ValueError(f"group_steps must be >= 1, got {group_steps}")
        self.base = base
        self.group_steps = group_steps
        self.length = length
        self.seed = seed
        self._group: tuple[int, list[list[Position]]] | None = None

    @property
    def global_batch(self) -> int:
        return self.base.global_batch

    def _batches_per_step(self) -> int:
        return self.base.grad_accum * self.base.world_size

    def _arrange(self, group: int) -> list[list[Position]]:
        """The group's micro-batches in the order they are handed out."""
        b = self.base
        steps = range(group * self.group_steps, (group + 1) * self.group_steps)
        positions = [
            p
            for s in steps
            for m in range(b.grad_accum)
            for r in range(b.world_size)
            for p in b.positions(s, m, r)
        ]
        lengths = [self.length(i, epoch) for i, epoch in positions]
        order = sorted(range(len(positions)), key=lambda j: (lengths[j], j))
        chunks = [order[c : c + b.batch_size] for c in range(0, len(order), b.batch_size)]
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + group)
        return [[positions[j] for j in chunks[int(k)]] for k in torch.randperm(len(chunks), generator=g)]

    def positions(self, step: int, micro: int, rank: int) -> list[Position]:
        """(sample index, epoch) pairs of this step's micro-batch ``micro`` on ``rank``."""
        if self.group_steps == 1:
            return self.base.positions(step, micro, rank)
        group = step // self.group_steps
        if self._group is None or self._group[0] != group:
            self._group = (group, self._arrange(group))
        within = (step - group * self.group_steps) * self._batches_per_step()
        return self._group[1][within + micro * self.base.world_size + rank]
