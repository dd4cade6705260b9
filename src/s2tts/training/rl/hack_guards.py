"""Guards against reward hacking: cheap checks of a rollout that veto its reward.

A policy optimised against ASR and quality scorers finds their blind spots: stopping early
(nothing said, nothing wrong), never stopping, padding with silence that a quality model likes,
or babbling past the text. Each guard looks at the decoded audio (and whether generation ended
with ``<|im_end|>``) and fails the sample; a failed sample gets the fixed ``penalty`` reward
instead of its scores (``rewards.combine``).

* duration: seconds of audio within ``[chars / max_chars_per_s, chars / min_chars_per_s]`` for
  the spoken characters of the text (tags and speaker markers do not count), widened by
  ``duration_slack_s`` for very short texts;
* silence: no run of frames ``silence_db`` below the clip's peak level longer than
  ``max_silence_s`` (leading and trailing silence included: a long pause anywhere is a hack);
* truncation: the rollout must have ended with ``<|im_end|>``, not at its frame budget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from s2tts.errors import RewardError, TrainConfigError

_MARKUP = re.compile(r"<\|[^|>]*\|>|\[[^\]]*\]")


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds; set a bound to None to switch that guard off."""

    min_chars_per_s: float | None = 5.0
    max_chars_per_s: float | None = 30.0
    duration_slack_s: float = 0.5
    max_silence_s: float | None = 1.5
    silence_db: float = -40.0
    require_finished: bool = True
    penalty: float = -1.0

    def __post_init__(self) -> None:
        lo, hi = self.min_chars_per_s, self.max_chars_per_s
        if (lo is not None and lo <= 0) or (hi is not None and hi <= 0):
            raise TrainConfigError("guards: chars-per-second bounds must be > 0")
        if lo is not None and hi is not None and lo >= hi:
            raise TrainConfigError(f"guards: min_chars_per_s {lo} must be below max_chars_per_s {hi}")
        if self.max_silence_s is not None and self.max_silence_s <= 0:
            raise TrainConfigError("guards: max_silence_s must be > 0")


def spoken_chars(text: str) -> int:
    """Characters that are spoken: tags ``[..]`` and markers ``<|..|>`` and spaces removed."""
    return len(re.sub(r"\s+", "", _MARKUP.sub("", text)))


def duration_range(text: str, cfg: GuardConfig) -> tuple[float, float]:
    """Plausible (min_s, max_s) for speaking ``text``."""
    chars = spoken_chars(text)
    low = 0.0 if cfg.max_chars_per_s is None else max(chars / cfg.max_chars_per_s - cfg.duration_slack_s, 0.0)
    high = float("inf") if cfg.min_chars_per_s is None else chars / cfg.min_chars_per_s + cfg.duration_slack_s
    return low, high


def longest_silence_s(audio: np.ndarray, sample_rate: int, silence_db: float, frame_s: float = 0.02) -> float:
    """Longest run (s) of frames whose RMS is ``silence_db`` dB or more below the loudest frame.

    audio: mono (n,) float. An all-zero clip is silent throughout."""
    hop = max(int(round(frame_s * sample_rate)), 1)
    n = len(audio) // hop
    if n == 0:
        return len(audio) / sample_rate
    frames = np.asarray(audio[: n * hop], dtype=np.float64).reshape(n, hop)
    rms = np.sqrt((frames**2).mean(axis=1))
    peak = rms.max()
    if peak <= 0:
        return n * frame_s
    quiet = 20 * np.log10(np.maximum(rms, 1e-12) / peak) < silence_db
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best * hop / sample_rate


def check_guards(
    audio: np.ndarray, sample_rate: int, text: str, finished: bool, cfg: GuardConfig
) -> dict[str, bool]:
    """Each enabled guard's verdict (True = passed): ``duration``, ``silence``, ``finished``.

    sample_rate 0 means "no audio" (a codes-only run): the audio guards must then be off."""
    out: dict[str, bool] = {}
    wants_audio = (
        cfg.min_chars_per_s is not None or cfg.max_chars_per_s is not None or cfg.max_silence_s is not None
    )
    if wants_audio and sample_rate <= 0:
        raise RewardError(
            "the duration and silence guards need decoded audio (switch them off for codes-only rewards)"
        )
    if cfg.min_chars_per_s is not None or cfg.max_chars_per_s is not None:
        low, high = duration_range(text, cfg)
        out["duration"] = low <= len(audio) / sample_rate <= high
    if cfg.max_silence_s is not None:
        out["silence"] = longest_silence_s(audio, sample_rate, cfg.silence_db) <= cfg.max_silence_s
    if cfg.require_finished:
        out["finished"] = bool(finished)
    return out
