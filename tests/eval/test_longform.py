"""Long-form measures: WER per minute, collapse detection, speaker drift, dialogue alignment."""

from __future__ import annotations

import numpy as np

from s2tts.eval import acoustics
from s2tts.eval.align import align, hyp_tokens
from s2tts.eval.asr import Word
from s2tts.eval.longform import repeated_ngrams, silence_runs, truncated, wer_per_minute


def _words(text: str, start: float, step: float) -> list[Word]:
    return [Word(w, start + i * step, start + i * step + step * 0.8) for i, w in enumerate(text.split())]


def test_wer_per_minute_puts_errors_in_their_minute() -> None:
    first = "one two three four five six seven eight nine ten"
    second = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    reference = f"{first} {second}"
    spoken = _words(first, 0.0, 5.0) + _words("alpha beta WRONG delta epsilon zeta eta theta", 62.0, 5.0)
    per_minute = wer_per_minute(reference, spoken)
    assert per_minute[0] == 0.0
    # minute 2: one substitution + iota, kappa deleted at the end = 3 errors over 10 words
    assert per_minute[1] == 0.3


def test_alignment_expands_numbers_and_keeps_times() -> None:
    tokens = hyp_tokens([Word("I'm", 0.0, 0.2), Word("25.", 0.3, 0.8)])
    assert [t.text for t in tokens] == ["i'm", "twenty", "five"]
    assert tokens[2].start == 0.3
    al = align(["i'm", "twenty", "five", "today"], tokens)
    assert al.ref_to_hyp == [0, 1, 2, None]


def test_repeats_truncation_and_silence() -> None:
    reference = "the cat sat on the mat and then it slept all day long"
    looping = "the cat sat on the mat the cat sat on the mat the cat sat on the mat the cat sat on the mat"
    assert repeated_ngrams(reference, reference) == 0
    assert repeated_ngrams(reference, looping) > 0
    assert truncated(reference, _words("the cat sat on the mat and then", 0, 0.3))
    assert not truncated(reference, _words(reference, 0, 0.3))
    sr = acoustics.SR
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)).astype(np.float32)
    gap = np.zeros(int(2.5 * sr), np.float32)
    runs = silence_runs(np.concatenate([tone, gap, tone, np.zeros(sr // 2, np.float32), tone]))
    assert len(runs) == 1 and abs(runs[0] - 2.5) < 0.05
