"""Early stop: KL explosion and reward collapse, each after ``patience`` steps in a row."""

from __future__ import annotations

from s2tts.training.rl.early_stop import EarlyStop, EarlyStopConfig


def test_kl_explosion_needs_patience_consecutive_steps() -> None:
    stop = EarlyStop(EarlyStopConfig(max_kl=0.5, collapse_drop=None, patience=2))
    assert stop.update({"kl_slow": 0.9, "reward_mean": 1.0}) is None  # one bad step is noise
    assert stop.update({"kl_slow": 0.1, "reward_mean": 1.0}) is None  # and the run resets
    assert stop.update({"kl_slow": 0.9, "reward_mean": 1.0}) is None
    reason = stop.update({"kl_slow": 0.8, "reward_mean": 1.0})
    assert reason is not None and "KL" in reason


def test_reward_collapse_is_measured_from_the_best_mean() -> None:
    stop = EarlyStop(EarlyStopConfig(max_kl=None, collapse_drop=0.3, patience=2))
    for r in (0.2, 0.5, 0.9, 0.7):  # 0.7 is only 0.2 below the best 0.9
        assert stop.update({"kl_slow": 0.0, "reward_mean": r}) is None
    assert stop.update({"kl_slow": 0.0, "reward_mean": 0.5}) is None
    reason = stop.update({"kl_slow": 0.0, "reward_mean": 0.4})
    assert reason is not None and "best 0.9" in reason


def test_state_survives_a_checkpoint() -> None:
    cfg = EarlyStopConfig(max_kl=0.5, patience=2)
    a = EarlyStop(cfg)
    a.update({"kl_slow": 0.9, "reward_mean": 0.8})
    b = EarlyStop(cfg)
    b.load_state_dict(a.state_dict())
    assert b.update({"kl_slow": 0.9, "reward_mean": 0.8}) is not None  # the first bad step counted
