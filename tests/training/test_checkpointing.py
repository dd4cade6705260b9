"""Checkpoints: exact resume of model + optimizer + scheduler + RNG, atomic layout, weights-only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from s2tts.errors import CheckpointError
from s2tts.training.checkpointing import (
    Checkpointer,
    GeneratorState,
    ModelState,
    NumpyGeneratorState,
    OptimizerState,
)
from s2tts.training.schedules import ScheduleConfig, build_scheduler


class _Run:
    """A tiny model trained on generator-drawn batches, with dropout on the global RNG."""

    def __init__(self) -> None:
        torch.manual_seed(1)
        self.model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 1))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-2, weight_decay=0.1)
        self.sched = build_scheduler(self.opt, ScheduleConfig(kind="cosine", warmup_steps=3, total_steps=20))
        self.gen = torch.Generator().manual_seed(2)
        self.np_rng = np.random.default_rng(3)

    def objects(self) -> dict:
        return {
            "model": ModelState(self.model),
            "optim": OptimizerState(self.model, self.opt),
            "sched": self.sched,
            "data": GeneratorState(self.gen),
            "np": NumpyGeneratorState(self.np_rng),
        }

    def step(self) -> None:
        x = torch.randn(8, 6, generator=self.gen)
        y = x.sum(-1, keepdim=True) * float(self.np_rng.uniform(0.5, 1.5))
        loss = (self.model(x) - y).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()


def test_resume_is_exact(tmp_path: Path) -> None:
    straight = _Run()
    for _ in range(10):
        straight.step()

    first = _Run()
    for _ in range(5):
        first.step()
    ckpt = Checkpointer(tmp_path / "ck")
    ckpt.save(5, first.objects(), extra={"step": 5, "data_position": 40, "config": {"lr": 0.01}})
    torch.manual_seed(999)  # a fresh process would start from another global RNG state

    resumed = _Run()
    path = ckpt.latest()
    assert path is not None and path.name == "step-00000005"
    extra = resumed_extra = ckpt.load(path, resumed.objects())
    assert extra == {"step": 5, "data_position": 40, "config": {"lr": 0.01}} == resumed_extra
    for _ in range(5):
        resumed.step()
    for a, b in zip(straight.model.parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert resumed.sched.last_epoch == straight.sched.last_epoch == 10


def test_weights_only_load_leaves_optimizer_fresh(tmp_path: Path) -> None:
    run = _Run()
    for _ in range(3):
        run.step()
    ckpt = Checkpointer(tmp_path)
    ckpt.save(3, run.objects())
    other = _Run()
    ckpt.load(ckpt.latest(), {"model": ModelState(other.model)}, restore_rng=False)
    for a, b in zip(run.model.parameters(), other.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert len(other.opt.state) == 0


def test_keep_last_and_latest_pointer(tmp_path: Path) -> None:
    run = _Run()
    ckpt = Checkpointer(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        ckpt.save(step, run.objects())
    assert [p.name for p in ckpt.checkpoints()] == ["step-00000002", "step-00000003"]
    assert (tmp_path / "latest").read_text().strip() == "step-00000003"
    ckpt.save(3, run.objects())  # re-saving the same step replaces it in place
    assert [p.name for p in ckpt.checkpoints()] == ["step-00000002", "step-00000003"]


def test_interrupted_save_leaves_previous_checkpoint(tmp_path: Path) -> None:
    run = _Run()
    ckpt = Checkpointer(tmp_path)
    ckpt.save(1, run.objects())
    # what a kill -9 during the next save leaves behind: a half-written temp dir, and (older
    # tools) a step dir whose state file never landed
    partial = tmp_path / ".tmp-step-00000002-123"
    partial.mkdir()
    (partial / "state.pt").write_bytes(b"\x80\x02trunc")
    (tmp_path / "step-00000009").mkdir()
    assert ckpt.latest() == tmp_path / "step-00000001"
    (tmp_path / "latest").unlink()
    assert ckpt.latest() == tmp_path / "step-00000001"
    ckpt.load(ckpt.latest(), run.objects())


def test_bad_checkpoints_raise(tmp_path: Path) -> None:
    run = _Run()
    ckpt = Checkpointer(tmp_path)
    with pytest.raises(CheckpointError, match="no training checkpoint"):
        ckpt.load(tmp_path / "nothing", run.objects())
    ckpt.save(1, {"model": ModelState(run.model)})
    with pytest.raises(CheckpointError, match="no state for"):
        ckpt.load(ckpt.latest(), run.objects())
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "state.pt").write_bytes(b"not a pickle")
    with pytest.raises(CheckpointError, match="cannot read"):
        Checkpointer.read(tmp_path / "junk")
    bigger = nn.Sequential(nn.Linear(6, 32), nn.GELU(), nn.Dropout(0.2), nn.Linear(32, 1))
    with pytest.raises(CheckpointError, match="do not match"):
        ckpt.load(ckpt.latest(), {"model": ModelState(bigger)})
