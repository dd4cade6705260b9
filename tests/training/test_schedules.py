"""LR schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from s2tts.errors import TrainConfigError
from s2tts.training.schedules import ScheduleConfig, build_scheduler, lr_multiplier


def test_wsd_linear_by_hand() -> None:
    cfg = ScheduleConfig(kind="wsd", warmup_steps=4, total_steps=20, decay_fraction=0.25, min_ratio=0.0)
    got = [lr_multiplier(cfg, s) for s in range(20)]
    # warmup 1/4..4/4, stable to step 14, decay over steps 15..19 reaching 0 at the last step
    assert got[:4] == [0.25, 0.5, 0.75, 1.0]
    assert got[4:15] == [1.0] * 11
    assert got[15:] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])


def test_wsd_exponential_decay_is_geometric() -> None:
    cfg = ScheduleConfig(kind="wsd", total_steps=10, decay_fraction=0.2, decay_shape="exp", min_ratio=0.01)
    assert lr_multiplier(cfg, 7) == 1.0
    assert lr_multiplier(cfg, 8) == pytest.approx(0.1)
    assert lr_multiplier(cfg, 9) == pytest.approx(0.01)


def test_cosine_by_hand() -> None:
    cfg = ScheduleConfig(kind="cosine", warmup_steps=2, total_steps=6, min_ratio=0.1)
    assert lr_multiplier(cfg, 0) == 0.5 and lr_multiplier(cfg, 1) == 1.0
    assert lr_multiplier(cfg, 2) == pytest.approx(1.0)
    assert lr_multiplier(cfg, 4) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))
    assert lr_multiplier(cfg, 6) == pytest.approx(0.1)
    assert lr_multiplier(cfg, 100) == pytest.approx(0.1)


def test_scheduler_scales_each_group_and_checkpoints_with_weights_only(tmp_path) -> None:
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p1], "lr": 1.0}, {"params": [p2], "lr": 0.1}])
    sched = build_scheduler(opt, ScheduleConfig(kind="wsd", warmup_steps=2, total_steps=10))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1.0, 0.1])
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    sched2 = build_scheduler(opt, ScheduleConfig(kind="wsd", warmup_steps=2, total_steps=10))
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 1


def test_bad_schedule() -> None:
    with pytest.raises(TrainConfigError):
        ScheduleConfig(decay_fraction=1.5)
    with pytest.raises(TrainConfigError):
        ScheduleConfig(decay_shape="exp", min_ratio=0.0)
