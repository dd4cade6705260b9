"""Who spoke each turn of a dialogue: turns placed in time by the ASR, compared with each voice.

A dialogue text holds ``<|speaker:i|>`` turns and one reference voice per speaker index. Each
turn's words are aligned with the time-stamped ASR words (``s2tts.eval.align``), the turn's span
(first to last aligned word) is cut out of the clip, and its speaker embedding is compared with
every speaker's reference (resemblyzer, ``s2tts.scoring.speaker``). A turn is *attributed
correctly* when it is closer to its own speaker's reference than to any other; a turn the ASR
did not hear at all is not placed (its words already count as deleted in the WER).

The evaluation harness reports these per dialogue (``Scorers``: ``dialogue``); the RL
intelligibility reward penalises misattributed turns (``s2tts.training.rl.audio_rewards``).

Audio: mono float32 at 16 kHz throughout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2tts.eval.acoustics import SR
from s2tts.eval.align import align, hyp_tokens
from s2tts.eval.asr import Word
from s2tts.eval.textnorm import normalize_for_wer
from s2tts.scoring.speaker import SpeakerEncoder, cosine


@dataclass(frozen=True)
class TurnScore:
    """turn: index in the text; speaker: its ``<|speaker:i|>``; words: its normalised tokens;
    span_s: (start, end) in seconds (None: not heard); speakers: the speaker indices compared
    (those with a reference), sims: cosine to each of them in that order (None: not placed)."""

    turn: int
    speaker: int
    words: int
    span_s: tuple[float, float] | None
    speakers: tuple[int, ...]
    sims: tuple[float, ...] | None

    @property
    def placed(self) -> bool:
        return self.sims is not None

    @property
    def correct(self) -> bool | None:
        """Closer to its own speaker than to every other (None when not placed)."""
        if self.sims is None:
            return None
        mine = self.speakers.index(self.speaker)
        others = [s for k, s in enumerate(self.sims) if k != mine]
        return not others or self.sims[mine] > max(others)


def turn_spans(
    turns: Sequence[tuple[int, str]], words: Sequence[Word], language: str = "en"
) -> tuple[list[tuple[float, float] | None], list[int]]:
    """Each turn's time span (None when none of its words was heard) and its token count."""
    ref_tokens: list[str] = []
    owner: list[int] = []
    counts = []
    for t, (_, text) in enumerate(turns):
        toks = normalize_for_wer(text, language).split()
        ref_tokens += toks
        owner += [t] * len(toks)
        counts.append(len(toks))
    hyp = hyp_tokens(list(words), language)
    mapping = align(ref_tokens, hyp).ref_to_hyp
    spans: list[tuple[float, float] | None] = []
    for t in range(len(turns)):
        hits = [hyp[j] for k, j in enumerate(mapping) if owner[k] == t and j is not None]
        spans.append((hits[0].start, hits[-1].end) if hits else None)
    return spans, counts


def attribute_turns(
    turns: Sequence[tuple[int, str]],
    clip: np.ndarray,
    words: Sequence[Word],
    references: Mapping[int, np.ndarray],
    encoder: SpeakerEncoder,
    language: str = "en",
) -> list[TurnScore]:
    """turns: (speaker index, spoken text); clip: the dialogue (n,); words: its ASR words;
    references: speaker index -> reference clip (speakers without one are not compared)."""
    spans, counts = turn_spans(turns, words, language)
    speakers = tuple(sorted({s for s, _ in turns if s in references}))
    ref_emb = encoder.embed([references[s] for s in speakers]) if speakers else np.zeros((0, 256))
    placed = [t for t, span in enumerate(spans) if span is not None and turns[t][0] in speakers]
    cuts = [clip[int(spans[t][0] * SR) : int(spans[t][1] * SR)] for t in placed]  # type: ignore[index]
    emb = encoder.embed(cuts) if cuts else np.zeros((0, 256), np.float32)
    sims: dict[int, tuple[float, ...]] = {}
    for t, e in zip(placed, emb, strict=True):
        sims[t] = tuple(float(s) for s in cosine(np.repeat(e[None], len(speakers), 0), ref_emb))
    return [TurnScore(t, s, counts[t], spans[t], speakers, sims.get(t)) for t, (s, _) in enumerate(turns)]


def dialogue_record(scores: Sequence[TurnScore]) -> dict[str, Any]:
    """The harness's per-dialogue record: per placed turn its similarities, the mean similarity
    to its own speaker and to the others, and the share of placed turns attributed correctly."""
    per_turn, own, other = [], [], []
    placed = [s for s in scores if s.sims is not None]
    for s in placed:
        assert s.sims is not None
        mine = s.speakers.index(s.speaker)
        own.append(s.sims[mine])
        other.extend(v for k, v in enumerate(s.sims) if k != mine)
        per_turn.append({"turn": s.turn, "speaker": s.speaker, "span_s": s.span_s, "sim": list(s.sims)})
    return {
        "turns": per_turn,
        "turns_placed": len(placed),
        "turns_total": len(scores),
        "sim_own": float(np.mean(own)) if own else None,
        "sim_other": float(np.mean(other)) if other else None,
        "turn_accuracy": sum(bool(s.correct) for s in placed) / len(placed) if placed else None,
    }
