"""Align reference words with time-stamped ASR words, to place text (minutes, turns) in time.

Both sides are normalised token by token (``normalize_for_wer``; one written word may become
several tokens, "25" -> "twenty five", each keeping its word's times) and aligned by jiwer's
Levenshtein alignment. Matched and substituted reference tokens get their hypothesis token's
times; deleted ones get none.
"""

from __future__ import annotations

from dataclasses import dataclass

import jiwer

from s2tts.eval.asr import Word
from s2tts.eval.textnorm import normalize_for_wer


@dataclass(frozen=True)
class Token:
    text: str
    start: float
    end: float


def hyp_tokens(words: list[Word], language: str = "en") -> list[Token]:
    return [Token(t, w.start, w.end) for w in words for t in normalize_for_wer(w.text, language).split()]


@dataclass(frozen=True)
class Alignment:
    """ref_to_hyp[i]: the hypothesis token index aligned with reference token i, or None (deleted);
    errors_at_hyp: (hyp index or -1, error count) for every substitution, deletion, insertion."""

    ref_to_hyp: list[int | None]
    errors: list[tuple[int, int]]


def align(ref: list[str], hyp: list[Token]) -> Alignment:
    """ref: normalised reference tokens; hyp: time-stamped hypothesis tokens."""
    if not ref or not hyp:
        return Alignment([None] * len(ref), [(-1, 1)] * len(ref) + [(j, 1) for j in range(len(hyp))])
    out = jiwer.process_words(" ".join(ref), " ".join(t.text for t in hyp))
    mapping: list[int | None] = [None] * len(ref)
    errors: list[tuple[int, int]] = []
    for chunk in out.alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                mapping[chunk.ref_start_idx + k] = chunk.hyp_start_idx + k
                if chunk.type == "substitute":
                    errors.append((chunk.hyp_start_idx + k, 1))
        elif chunk.type == "delete":
            anchor = max(chunk.hyp_start_idx - 1, 0) if chunk.hyp_start_idx > 0 else 0
            errors.append((min(anchor, len(hyp) - 1), chunk.ref_end_idx - chunk.ref_start_idx))
        else:  # insert
            errors.extend((j, 1) for j in range(chunk.hyp_start_idx, chunk.hyp_end_idx))
    return Alignment(mapping, errors)
