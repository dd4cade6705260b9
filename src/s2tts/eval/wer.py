"""Word and character error rates over normalised text (jiwer's Levenshtein alignment).

Languages written without spaces between words (``CER_LANGUAGES``) are scored by CER, the others
by WER, as Seed-TTS-Eval does (WER for English, CER for Chinese). Both are computed for every
utterance, so a report can show either; ``error_rate`` picks the one the language is judged by.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer

from s2tts.eval.textnorm import chars_for_cer, normalize_for_wer

#: Languages judged by character error rate (no spaces between words).
CER_LANGUAGES = frozenset({"zh", "ja", "ko", "th", "yue", "cmn"})


@dataclass(frozen=True)
class ErrorCounts:
    """Edit counts of one hypothesis against its reference, in words (or characters for CER)."""

    substitutions: int
    deletions: int
    insertions: int
    reference_length: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference length; an empty reference scores 0 if the hypothesis is empty too,
        else 1 per inserted unit."""
        if self.reference_length == 0:
            return float(self.insertions)
        return self.errors / self.reference_length


def uses_cer(language: str) -> bool:
    return language.split("-")[0].lower() in CER_LANGUAGES


def word_errors(reference: str, hypothesis: str, language: str = "en") -> ErrorCounts:
    """Word edit counts between normalised texts."""
    return _counts(
        normalize_for_wer(reference, language).split(), normalize_for_wer(hypothesis, language).split()
    )


def char_errors(reference: str, hypothesis: str, language: str = "en") -> ErrorCounts:
    """Character edit counts between normalised texts with spaces removed."""
    ref = [_char_token(c) for c in chars_for_cer(reference, language)]
    return _counts(ref, [_char_token(c) for c in chars_for_cer(hypothesis, language)])


def wer(reference: str, hypothesis: str, language: str = "en") -> float:
    return word_errors(reference, hypothesis, language).rate


def cer(reference: str, hypothesis: str, language: str = "en") -> float:
    return char_errors(reference, hypothesis, language).rate


def error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    """CER for ``CER_LANGUAGES``, WER otherwise."""
    return (
        cer(reference, hypothesis, language) if uses_cer(language) else wer(reference, hypothesis, language)
    )


def _counts(ref: list[str], hyp: list[str]) -> ErrorCounts:
    if not ref or not hyp:
        return ErrorCounts(0, len(ref), len(hyp), len(ref))
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref))


def _char_token(c: str) -> str:
    """One character as a space-free token, so jiwer's word alignment aligns characters."""
    return f"u{ord(c):x}"
