"""Long-form measures: WER per minute, collapse detection, speaker drift, dialogue alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2tts.eval import acoustics
from s2tts.eval.align import align, hyp_tokens
from s2tts.eval.asr import Word
from s2tts.eval.audio import load_16k
from s2tts.eval.longform import repeated_ngrams, silence_runs, truncated, wer_per_minute
from s2tts.eval.scoring import ScorerConfig, Scorers
from s2tts.eval.testset import PromptVoice, TestCase

from .speech import SENTENCES


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


@pytest.mark.slow
def test_long_clip_through_the_scorers(speech: dict[str, Path]) -> None:
    """A 65 s festival reading: two minutes of near-zero WER, no collapse; the same reading cut
    after 35 s is truncated; the first sentence looped is caught as repeats."""
    keys = ["kal_a", "kal_b", "kal_c", "kal_d"]
    gap = np.zeros(int(0.4 * acoustics.SR), np.float32)
    clips = [load_16k(speech[k]) for k in keys]
    reading, text = [], []
    while sum(len(x) for x in reading) < 65 * acoustics.SR:
        i = len(text) % 4
        reading += [clips[i], gap]
        text.append(SENTENCES["abcd"[i]])
    audio = np.concatenate(reading)
    scorers = Scorers(ScorerConfig(asr="tiny.en", quality=False))
    ref = (PromptVoice(speech["kal_a"], SENTENCES["a"]),)
    case = TestCase("long", " ".join(text), ref, category="long")
    looped = np.concatenate([clips[0], gap] * int(np.ceil(62 * acoustics.SR / (len(clips[0]) + len(gap)))))
    full, cut, loop = scorers.score([case] * 3, [audio, audio[: 35 * acoustics.SR], looped])
    lf = full["long_form"]
    assert len(lf["wer_per_minute"]) == 2 and max(lf["wer_per_minute"]) < 0.15
    assert not lf["collapse"]["collapsed"], (lf["collapse"], full["transcript"])
    assert (
        len(lf["sim_per_window"]) >= 6
        and min(lf["sim_per_window"]) > 0.7
        and abs(lf["sim_drift_per_min"]) < 0.1
    )
    assert "long_form" not in cut  # under a minute: no per-minute figures, but the WER shows the loss
    assert cut["wer"] > 0.4
    assert loop["long_form"]["collapse"]["repeats"] > 0 and loop["long_form"]["collapse"]["collapsed"]
    assert truncated(case.spoken_text, scorers.asr.transcribe_words(audio[: 35 * acoustics.SR]))
