"""Instruction following: does a tagged utterance move the right acoustic measure the right way?

Each case pairs an utterance whose text carries an inline tag (``[fast] Hello there.``) with the
same sentence untagged, made with the same seed (the test set's ``baseline`` field). For each tag
type one measurement (``s2tts.eval.acoustics``) is taken on both clips; the tag is **activated**
when the change goes in the tag's direction by more than the rule's threshold. A test set's
activation rate per tag is the share of its cases that activated.

Thresholds are set above the run-to-run spread of each measure on unchanged speech and near the
smallest change a listener reliably notices (docs/eval.md gives the reasoning):

=================  ==========================  ==========================
tag                measure                     activated when
=================  ==========================  ==========================
fast / slow        speech rate (words/s)       ratio > 1.10 / < 1/1.10
loud / soft        integrated loudness (LUFS)  +2 dB / -2 dB
high/low pitch     median F0 (Hz)              +1 / -1 semitone
whisper            voiced fraction             drops by 0.25 (absolute)
pause              longest inner pause (s)     grows by 0.25 s
non-speech events  active duration (s)         grows by 0.25 s
=================  ==========================  ==========================

The tagged span is the whole utterance: test sets put the tag before the sentence, so no word
alignment is needed to find the span.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from s2tts.eval import acoustics

EVENT_TAGS = frozenset({"laugh", "laughing", "breath", "sigh", "cough", "clear throat", "chuckle", "gasp"})


@dataclass(frozen=True)
class TagRule:
    """One tag type: what to measure, how to compare tagged with untagged, and the threshold."""

    measure: str
    compare: str  # "ratio", "diff" or "semitones"
    threshold: float  # signed: positive means the tagged clip must be higher


RULES: dict[str, TagRule] = {
    "fast": TagRule("speech_rate", "ratio", 1.10),
    "slow": TagRule("speech_rate", "ratio", 1 / 1.10),
    "loud": TagRule("loudness_lufs", "diff", 2.0),
    "soft": TagRule("loudness_lufs", "diff", -2.0),
    "high pitch": TagRule("median_f0", "semitones", 1.0),
    "low pitch": TagRule("median_f0", "semitones", -1.0),
    "whisper": TagRule("voiced_fraction", "diff", -0.25),
    "pause": TagRule("longest_pause", "diff", 0.25),
    "event": TagRule("active_duration", "diff", 0.25),
}


def rule_for(tag: str) -> tuple[str, TagRule] | None:
    """The rule name and rule for a tag as written (``"high pitch"``, ``"laugh"``...), or None."""
    key = tag.strip().lower()
    if key in RULES:
        return key, RULES[key]
    if key in EVENT_TAGS:
        return "event", RULES["event"]
    return None


def measure(name: str, audio: np.ndarray, words: int) -> float:
    fns: dict[str, Callable[[np.ndarray], float]] = {
        "speech_rate": lambda a: acoustics.speech_rate(a, words),
        "loudness_lufs": acoustics.loudness_lufs,
        "median_f0": acoustics.median_f0,
        "voiced_fraction": acoustics.voiced_fraction,
        "longest_pause": acoustics.longest_pause,
        "active_duration": acoustics.active_duration,
    }
    return fns[name](audio)


@dataclass(frozen=True)
class TagResult:
    """One tag on one case: both measurements, the change, and whether it activated."""

    tag: str
    rule: str
    measure: str
    tagged: float
    untagged: float
    change: float
    activated: bool


def tag_activation(tag: str, tagged: np.ndarray, untagged: np.ndarray, words: int) -> TagResult | None:
    """tagged / untagged: mono float32 (n,) at 16 kHz of the same sentence with and without the
    tag; words: the sentence's word count. None for a tag without a rule."""
    found = rule_for(tag)
    if found is None:
        return None
    name, rule = found
    a = measure(rule.measure, tagged, words)
    b = measure(rule.measure, untagged, words)
    change = _change(rule.compare, a, b)
    if math.isnan(change):
        activated = False
    elif rule.compare == "ratio":
        activated = change > rule.threshold if rule.threshold > 1 else change < rule.threshold
    else:
        activated = change > rule.threshold if rule.threshold > 0 else change < rule.threshold
    return TagResult(tag, name, rule.measure, a, b, change, bool(activated))


def _change(compare: str, tagged: float, untagged: float) -> float:
    if compare == "diff":
        return tagged - untagged
    if not (tagged > 0 and untagged > 0):
        return float("nan")
    if compare == "ratio":
        return tagged / untagged
    return 12 * math.log2(tagged / untagged)
