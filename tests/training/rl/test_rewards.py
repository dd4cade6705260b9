"""Reward combination, the intelligibility gate and the hacking guards."""

from __future__ import annotations

import numpy as np
import pytest

from s2tts.errors import TrainConfigError
from s2tts.training.rl.hack_guards import (
    GuardConfig,
    check_guards,
    duration_range,
    longest_silence_s,
    spoken_chars,
)
from s2tts.training.rl.rewards import (
    GateConfig,
    RewardConfig,
    RewardInput,
    RewardTerm,
    build_rewards,
    combine,
    score_batch,
)

SR = 16000
NO_GUARDS = GuardConfig(
    min_chars_per_s=None, max_chars_per_s=None, max_silence_s=None, require_finished=False
)


def _tone(seconds: float, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _sample(
    codes: np.ndarray, audio: np.ndarray | None = None, text: str = "hello", finished: bool = True
) -> RewardInput:
    return RewardInput(
        audio=_tone(1.0) if audio is None else audio,
        sample_rate=SR,
        text=text,
        codes=codes,
        finished=finished,
    )


def test_combination_weights_and_gate() -> None:
    cfg = RewardConfig(
        terms={
            "intelligibility": RewardTerm(weight=2.0),
            "similarity": RewardTerm(weight=0.5, gated=True),
            "dnsmos": RewardTerm(weight=0.25, gated=True),
        },
        gate=GateConfig(metric="intelligibility.error_rate", max_value=0.2),
    )
    metrics = {
        "intelligibility.score": 0.9,
        "intelligibility.error_rate": 0.1,
        "similarity.score": 0.8,
        "dnsmos.score": 0.6,
    }
    total, passed = combine(metrics, cfg, {"duration": True})
    assert passed and total == pytest.approx(2.0 * 0.9 + 0.5 * 0.8 + 0.25 * 0.6)
    # WER above the gate: the quality and similarity terms no longer count
    total, passed = combine({**metrics, "intelligibility.error_rate": 0.4}, cfg, {"duration": True})
    assert not passed and total == pytest.approx(2.0 * 0.9)
    # a failed guard replaces everything by the penalty
    total, passed = combine(metrics, cfg, {"duration": True, "finished": False})
    assert total == cfg.guards.penalty and not passed


def test_gated_terms_need_the_gate_reward() -> None:
    with pytest.raises(TrainConfigError, match="gate"):
        RewardConfig(terms={"similarity": RewardTerm(gated=True)})
    with pytest.raises(TrainConfigError, match="unknown reward"):
        RewardConfig(terms={"bogus": RewardTerm()})


def test_toy_rewards_score_codes() -> None:
    cfg = RewardConfig(
        terms={"even_first_code": RewardTerm(), "shortness": RewardTerm(options={"max_frames": 10})},
        guards=NO_GUARDS,
    )
    fns = build_rewards(cfg)
    codes = np.array([[2, 3, 4, 6], [0, 0, 0, 0]])  # first codes: 3 of 4 even
    [scored] = score_batch([_sample(codes)], fns, cfg)
    assert scored.metrics["even_first_code.score"] == pytest.approx(0.75)
    assert scored.metrics["shortness.score"] == pytest.approx(0.6)
    assert scored.total == pytest.approx(1.35)


def test_spoken_chars_ignore_markup() -> None:
    assert spoken_chars("<|speaker:0|>Hi [laugh] there.") == len("Hithere.")


def test_duration_guard() -> None:
    cfg = GuardConfig(min_chars_per_s=5.0, max_chars_per_s=20.0, duration_slack_s=0.5, max_silence_s=None)
    text = "a" * 40  # 40 chars: plausible between 40/20 - 0.5 = 1.5 s and 40/5 + 0.5 = 8.5 s
    assert duration_range(text, cfg) == pytest.approx((1.5, 8.5))
    assert check_guards(_tone(3.0), SR, text, True, cfg)["duration"]
    assert not check_guards(_tone(1.0), SR, text, True, cfg)["duration"]  # too fast / cut short
    assert not check_guards(_tone(9.0), SR, text, True, cfg)["duration"]  # babbling on


def test_silence_guard_finds_the_long_gap() -> None:
    gap = np.zeros(int(2.0 * SR), dtype=np.float32)
    audio = np.concatenate([_tone(0.5), gap, _tone(0.5)])
    assert longest_silence_s(audio, SR, -40.0) == pytest.approx(2.0, abs=0.03)
    cfg = GuardConfig(min_chars_per_s=None, max_chars_per_s=None, max_silence_s=1.5)
    assert not check_guards(audio, SR, "x", True, cfg)["silence"]
    short_gap = np.concatenate([_tone(0.5), gap[: SR // 2], _tone(0.5)])
    assert check_guards(short_gap, SR, "x", True, cfg)["silence"]


def test_truncated_rollouts_fail_and_skip_scoring() -> None:
    cfg = RewardConfig(
        terms={"even_first_code": RewardTerm()},
        guards=GuardConfig(min_chars_per_s=None, max_chars_per_s=None, max_silence_s=None),
    )
    fns = build_rewards(cfg)
    ok, cut = score_batch(
        [
            _sample(np.zeros((2, 3), dtype=np.int64)),
            _sample(np.zeros((2, 3), dtype=np.int64), finished=False),
        ],
        fns,
        cfg,
    )
    assert ok.total == pytest.approx(1.0) and ok.guards == {"finished": True}
    assert cut.total == cfg.guards.penalty and cut.guards["finished"] is False
    assert cut.metrics == {}  # not scored: the guard already decided


def test_bad_guard_configs() -> None:
    with pytest.raises(TrainConfigError):
        GuardConfig(min_chars_per_s=30.0, max_chars_per_s=10.0)
    with pytest.raises(TrainConfigError):
        GuardConfig(max_silence_s=0.0)


def test_default_rewards_gate_quality_and_similarity_on_intelligibility() -> None:
    cfg = RewardConfig()
    assert not cfg.terms["intelligibility"].gated
    assert all(cfg.terms[n].gated for n in ("similarity", "dnsmos", "distillmos"))
    assert cfg.gate.metric == "intelligibility.error_rate"
