"""Rewards: functions of (audio, text, reference, request) -> scores, and their combination.

A reward function is built by name from :data:`REWARDS` (so a worker process can build its own
copy from the run config) and scores a *batch* of :class:`RewardInput` (ASR and the quality
models are much cheaper batched). It returns one dict per sample holding at least ``"score"``
(higher is better) and any details worth logging (``"wer"``...).

The total of a sample (S2: ``R = l_STT R_STT + l_Pref R_Pref + l_SIM R_SIM``)::

    guards fail                      -> R = guards.penalty          (no score is trusted)
    otherwise R = sum_j w_j * score_j, where a *gated* term (quality, similarity) counts only
                 when the gate passes: gate metric (e.g. intelligibility.wer) <= gate.max_value

so a policy cannot buy reward with a clean, on-voice but unintelligible (or truncated, or
silent) output. Metrics are keyed ``"<reward>.<key>"``; a reward skipped because a guard failed
is absent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from s2tts.errors import TrainConfigError
from s2tts.training.rl.hack_guards import GuardConfig, check_guards


@dataclass
class RewardInput:
    """One rollout as the scorers see it (plain numpy: it crosses process boundaries).

    audio: mono float32 (n,) at sample_rate; codes: (num_codebooks, frames) int64; reference:
    mono float32 audio of the voice prompt (None without one); voices: every reference voice of
    the prompt as (mono audio, rate), in ``<|speaker:i|>`` order (a dialogue's speakers); request:
    free-form metadata of the prompt (``tags``, ``speakers``...); baseline: for a tagged prompt,
    the clip of the same text untagged with the same seed (at sample_rate), which the tag reward
    compares against."""

    audio: np.ndarray
    sample_rate: int
    text: str
    codes: np.ndarray
    finished: bool
    language: str = "en"
    reference: np.ndarray | None = None
    reference_rate: int | None = None
    request: dict[str, Any] = field(default_factory=dict)
    baseline: np.ndarray | None = None
    voices: tuple[tuple[np.ndarray, int], ...] = ()


class RewardFunction(Protocol):
    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]: ...


@dataclass(frozen=True)
class RewardTerm:
    """weight: lambda of this reward in the sum; gated: counts only when the gate passes;
    options: keyword arguments of the reward's factory."""

    weight: float = 1.0
    gated: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateConfig:
    """The intelligibility gate: passes when ``metric`` <= ``max_value`` (None: always passes)."""

    metric: str = "intelligibility.error_rate"
    max_value: float | None = 0.5


#: S2's three families: intelligibility, quality (preference), speaker similarity -- the last two
#: behind the intelligibility gate.
DEFAULT_TERMS = {
    "intelligibility": RewardTerm(weight=1.0),
    "similarity": RewardTerm(weight=0.5, gated=True),
    "dnsmos": RewardTerm(weight=0.25, gated=True),
    "distillmos": RewardTerm(weight=0.25, gated=True),
}


@dataclass(frozen=True)
class RewardConfig:
    terms: dict[str, RewardTerm] = field(default_factory=lambda: dict(DEFAULT_TERMS))
    gate: GateConfig = field(default_factory=GateConfig)
    guards: GuardConfig = field(default_factory=GuardConfig)

    def __post_init__(self) -> None:
        if not self.terms:
            raise TrainConfigError("rewards.terms is empty: name at least one reward")
        unknown = sorted(set(self.terms) - set(REWARDS))
        if unknown:
            raise TrainConfigError(f"unknown reward(s) {unknown}; choose from {sorted(REWARDS)}")
        gated = [n for n, t in self.terms.items() if t.gated]
        gate_reward = self.gate.metric.split(".")[0]
        if gated and self.gate.max_value is not None and gate_reward not in self.terms:
            raise TrainConfigError(
                f"gated rewards {gated} need the gate's reward {gate_reward!r} among the terms"
            )


@dataclass
class ScoredSample:
    """total: the combined reward; metrics: '<reward>.<key>' -> value; guards: verdicts."""

    total: float
    metrics: dict[str, float]
    guards: dict[str, bool]
    gate_passed: bool


# ---------------------------------------------------------------------------- toy rewards
class EvenFirstCode:
    """Share of frames whose first code (the slow AR's token) is even: a reward that needs no
    audio model, for tests and smoke runs."""

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        out = []
        for s in batch:
            first = s.codes[0] if s.codes.shape[1] else np.zeros(0, dtype=np.int64)
            out.append({"score": float((first % 2 == 0).mean()) if len(first) else 0.0})
        return out


class Shortness:
    """``1 - frames / max_frames`` (clipped at 0): prefers shorter outputs."""

    def __init__(self, max_frames: int = 64) -> None:
        if max_frames <= 0:
            raise TrainConfigError("shortness.max_frames must be > 0")
        self.max_frames = max_frames

    def __call__(self, batch: Sequence[RewardInput]) -> list[dict[str, float]]:
        return [
            {"score": max(0.0, 1.0 - s.codes.shape[1] / self.max_frames), "frames": float(s.codes.shape[1])}
            for s in batch
        ]


def _audio_rewards(name: str) -> Callable[..., RewardFunction]:
    def build(**options: Any) -> RewardFunction:
        from s2tts.training.rl import audio_rewards

        return getattr(audio_rewards, name)(**options)

    return build


#: name -> factory(**options). The audio rewards import their models only when built.
REWARDS: Mapping[str, Callable[..., RewardFunction]] = {
    "even_first_code": EvenFirstCode,
    "shortness": Shortness,
    "intelligibility": _audio_rewards("Intelligibility"),
    "similarity": _audio_rewards("Similarity"),
    "dnsmos": _audio_rewards("DNSMOS"),
    "distillmos": _audio_rewards("DistillMOS"),
    "tags": _audio_rewards("TagActivation"),
}


def build_rewards(cfg: RewardConfig) -> dict[str, RewardFunction]:
    return {name: REWARDS[name](**term.options) for name, term in cfg.terms.items()}


def combine(
    metrics: Mapping[str, float], cfg: RewardConfig, guards: Mapping[str, bool]
) -> tuple[float, bool]:
    """(total, gate_passed) of one sample from its metrics and guard verdicts."""
    if not all(guards.values()):
        return cfg.guards.penalty, False
    gate = cfg.gate
    value = metrics.get(gate.metric, math.nan)
    passed = gate.max_value is None or (not math.isnan(value) and value <= gate.max_value)
    total = 0.0
    for name, term in cfg.terms.items():
        if term.gated and not passed:
            continue
        total += term.weight * metrics[f"{name}.score"]
    return total, passed


def score_batch(
    batch: Sequence[RewardInput], functions: Mapping[str, RewardFunction], cfg: RewardConfig
) -> list[ScoredSample]:
    """Guards first; every reward scores the samples that passed them, batched; then combine."""
    verdicts = [check_guards(s.audio, s.sample_rate, s.text, s.finished, cfg.guards) for s in batch]
    keep = [i for i, v in enumerate(verdicts) if all(v.values())]
    metrics: list[dict[str, float]] = [{} for _ in batch]
    if keep:
        for name, fn in functions.items():
            results = fn([batch[i] for i in keep])
            for i, res in zip(keep, results, strict=True):
                metrics[i].update({f"{name}.{k}": float(v) for k, v in res.items()})
    out = []
    for m, v in zip(metrics, verdicts, strict=True):
        total, passed = combine(m, cfg, v)
        out.append(ScoredSample(total, m, v, passed))
    return out
