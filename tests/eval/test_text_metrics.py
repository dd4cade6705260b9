"""Text normalisation and WER/CER: what the intelligibility number counts."""

from __future__ import annotations

import pytest

from s2tts.eval.textnorm import chars_for_cer, int_to_words, normalize_for_wer
from s2tts.eval.wer import cer, error_rate, uses_cer, wer, word_errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("[whisper] I don't know.", "i don't know"),
        ("<|speaker:0|>Hi there.<|speaker:1|>Hello!", "hi there hello"),
        ("It costs $25.", "it costs twenty five dollars"),
        ("We won 3.5 to 1.", "we won three point five to one"),
        ("the 21st of May", "the twenty first of may"),
        ("the 3rd time", "the third time"),
        ("in 1990 and 2005", "in nineteen ninety and two thousand five"),
        ("50% off", "fifty percent off"),
        ("1,234 people", "one thousand two hundred thirty four people"),
        ("Dr. Smith & Mr. Jones", "doctor smith and mister jones"),
        ("well-known  'quoted'", "well known quoted"),
        ("\u201cCurly\u201d quotes\u2019 ok", "curly quotes okay"),
    ],
)
def test_normalize_for_wer(text: str, expected: str) -> None:
    assert normalize_for_wer(text) == expected


def test_int_to_words_covers_scales() -> None:
    assert int_to_words(0) == "zero"
    assert int_to_words(115) == "one hundred fifteen"
    assert int_to_words(2_000_017) == "two million seventeen"


def test_spelled_and_written_numbers_score_zero() -> None:
    assert wer("She is 25 years old.", "she is twenty-five years old") == 0.0
    assert wer("Dr. Lee arrived at 9.", "Doctor Lee arrived at nine") == 0.0


def test_wer_counts_edits_over_reference_words() -> None:
    counts = word_errors("a b c d e f g h", "a x c d f g z h")
    assert (counts.substitutions, counts.deletions, counts.insertions) == (1, 1, 1)
    assert counts.rate == pytest.approx(3 / 8)
    assert wer("a b c d", "") == 1.0
    assert wer("", "") == 0.0


def test_cer_for_languages_without_spaces() -> None:
    assert uses_cer("zh") and not uses_cer("en")
    assert chars_for_cer("你好，世界。", "zh") == "你好世界"
    assert cer("你好世界", "你好世家", "zh") == pytest.approx(1 / 4)
    assert error_rate("你好世界", "你好世家", "zh") == pytest.approx(0.25)
    # Word-level on English: one wrong word of four.
    assert error_rate("one two three four", "one two tree four", "en") == pytest.approx(0.25)
