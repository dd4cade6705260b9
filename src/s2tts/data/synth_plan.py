"""Plan a synthetic corpus: which speaker says which sentence, with which inline tags. Pure and seeded.

``plan_corpus(config, sentences, speakers)`` returns ``UtterancePlan``s whose estimated total duration
reaches ``config.hours``. Nothing here touches audio; ``synth_render`` turns a plan into sound.

Budget: each (engine, language) bucket gets a share of the hours (``SynthConfig.mix`` for English,
``foreign_share`` split evenly over the other languages, all through espeak-ng). Inside a bucket:
``heldout_text_share`` of the time goes to training speakers reading held-out sentences, each
held-out speaker reads ``heldout_speaker_utterances`` held-out sentences, and the rest is training
speakers reading training sentences. Sentences are drawn without replacement (a seeded permutation,
cycled when exhausted), so a 20 h corpus reads nearly every training sentence once.

Utterance kinds: ``dialogue_share`` are 2-4 turn dialogues (``<|speaker:i|>`` turns, each a different
speaker of the bucket); ``tagged_share`` of the single utterances carry one or two inline tags:
span tags (``SPAN_TAGS``) apply to the words after them up to the next tag or the end of the
utterance (what a reader of ``[whisper] Hello there, how are you?`` expects, and what the evaluation's
instruction test measures: the whole clip), event tags (``EVENT_TAGS``) stand alone. Each tag's effect
parameters are drawn here and recorded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

import numpy as np

from s2tts.data.text_source import words_of
from s2tts.data.voices import Speaker

#: tag -> (effect, parameter ranges drawn uniformly)
SPAN_TAGS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "whisper": ("noise_excited_envelope", {"gain_db": (-9.0, -5.0)}),
    "fast": ("tempo", {"factor": (1.3, 1.5)}),
    "slow": ("tempo", {"factor": (0.68, 0.8)}),
    "loud": ("gain", {"gain_db": (6.0, 9.0)}),
    "soft": ("gain", {"gain_db": (-14.0, -9.0)}),
    "high pitch": ("pitch_shift", {"semitones": (3.0, 5.0)}),
    "low pitch": ("pitch_shift", {"semitones": (-5.0, -3.0)}),
}
EVENT_TAGS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "pause": ("silence", {"seconds": (0.6, 1.2)}),
    "breath": ("breath_noise", {"seconds": (0.35, 0.6), "level_db": (-20.0, -14.0)}),
    "laugh": ("voiced_laugh", {"semitones": (2.0, 4.0), "factor": (1.15, 1.35)}),
}
LAUGH_TEXT = "Ha ha ha!"
_CLAUSE = re.compile(r"(?<=[,;:])\s+")


@dataclass(frozen=True)
class SynthConfig:
    hours: float = 1.0
    seed: int = 0
    languages: tuple[str, ...] = ("en",)
    mix: tuple[tuple[str, float], ...] = (("festival", 0.65), ("piper", 0.15), ("espeak", 0.2))
    foreign_share: float = 0.1
    heldout_text_share: float = 0.02
    heldout_speaker_utterances: int = 6
    heldout_sentence_fraction: float = 0.03
    dialogue_share: float = 0.1
    tagged_share: float = 0.3
    chars_per_second: float = 17.0  # measured: festival 16.3, piper 18.6, espeak-ng 18.4 (with tags)
    chunk_size: int = 80

    def to_json(self) -> dict:
        """The settings as plain JSON values (tuples become lists), for corpus.json."""
        return json.loads(json.dumps(self.__dict__))


@dataclass(frozen=True)
class Piece:
    """One synthesised part: words (``kind`` "speech") or an event; ``tag`` is the tag applied."""

    kind: str  # "speech" | "event"
    text: str
    speaker: int  # index into UtterancePlan.speakers
    tag: str = ""
    effect: str = ""
    params_json: str = "{}"
    char_start: int = 0  # span in UtterancePlan.text that the tag applies to (speech: the words)
    char_end: int = 0
    turn: int = 0
    joins: tuple[str, ...] = ()  # the planned pieces a span joined into this one (their texts)


@dataclass(frozen=True)
class UtterancePlan:
    id: str
    index: int
    split: str
    kind: str  # "single" | "dialogue"
    language: str
    speakers: tuple[Speaker, ...]
    pieces: tuple[Piece, ...]
    text: str
    plain_text: str
    turn_spans: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    @property
    def source(self) -> str:
        sources = {s.source for s in self.speakers}
        return sources.pop() if len(sources) == 1 else "mixed"


class _Cycler:
    """Sentences drawn without replacement from a seeded permutation, reshuffled when exhausted."""

    def __init__(self, items: list[str], rng: np.random.Generator) -> None:
        self.items, self.rng, self.order, self.pos = items, rng, np.array([], dtype=int), 0

    def next(self) -> str:
        if self.pos >= self.order.size:
            self.order, self.pos = self.rng.permutation(len(self.items)), 0
        self.pos += 1
        return self.items[int(self.order[self.pos - 1])]


def _draw_params(rng: np.random.Generator, ranges: dict[str, tuple[float, float]]) -> str:
    return json.dumps({k: round(float(rng.uniform(lo, hi)), 3) for k, (lo, hi) in ranges.items()})


def _split_for_tags(sentence: str, rng: np.random.Generator) -> list[str]:
    """Two or three pieces at clause boundaries, else one cut at a word boundary."""
    parts = [p for p in _CLAUSE.split(sentence) if p]
    if len(parts) >= 2:
        if len(parts) > 3:
            cut = sorted(rng.choice(np.arange(1, len(parts)), size=2, replace=False))
            parts = [" ".join(parts[a:b]) for a, b in zip([0, *cut], [*cut, len(parts)], strict=True)]
        return parts
    words = sentence.split()
    if len(words) < 5:
        return [sentence]
    cut = int(rng.integers(2, len(words) - 1))
    return [" ".join(words[:cut]), " ".join(words[cut:])]


def _spans_to_next_tag(raw: list[Piece]) -> list[Piece]:
    """A span tag covers the words after it up to the next tag: each untagged speech piece right
    after a span-tagged one joins it (one piece, one effect). Draws nothing, so every other
    utterance of a seeded corpus stays what it was (the duration estimate, which decides how many
    utterances a budget holds, counts a joined piece as the pieces it joins)."""
    out: list[Piece] = []
    for p in raw:
        prev = out[-1] if out else None
        if p.kind == "speech" and not p.tag and prev is not None and prev.kind == "speech" and prev.tag:
            out[-1] = replace(
                prev, text=f"{prev.text} {p.text}", joins=(*(prev.joins or (prev.text,)), p.text)
            )
        else:
            out.append(p)
    return out


def _single(uid: str, index: int, split: str, spk: Speaker, sentence: str, tagged: bool,
            rng: np.random.Generator) -> UtterancePlan:  # fmt: skip
    raw: list[Piece] = [Piece("speech", sentence, 0)]
    if tagged:
        parts = _split_for_tags(sentence, rng)
        raw = [Piece("speech", p, 0) for p in parts]
        n_tags = 1 if rng.random() < 0.7 else 2
        for _ in range(n_tags):
            if rng.random() < 0.65:
                speech = [i for i, p in enumerate(raw) if p.kind == "speech" and not p.tag]
                if not speech:
                    continue
                i = int(rng.choice(speech))
                tag = str(rng.choice(list(SPAN_TAGS)))
                effect, ranges = SPAN_TAGS[tag]
                raw[i] = Piece("speech", raw[i].text, 0, tag, effect, _draw_params(rng, ranges))
            else:
                tag = str(rng.choice(list(EVENT_TAGS)))
                effect, ranges = EVENT_TAGS[tag]
                lo = 0 if tag == "breath" else 1
                at = len(raw) if tag == "laugh" else int(rng.integers(lo, max(lo + 1, len(raw))))
                text = LAUGH_TEXT if tag == "laugh" else ""
                raw.insert(at, Piece("event", text, 0, tag, effect, _draw_params(rng, ranges)))
    text, pieces = "", []
    for p in _spans_to_next_tag(raw):
        if text:
            text += " "
        if p.kind == "event":
            start = len(text)
            text += f"[{p.tag}]"
            pieces.append(_with_span(p, start, len(text)))
            continue
        if p.tag:
            text += f"[{p.tag}] "
        start = len(text)
        text += p.text
        pieces.append(_with_span(p, start, len(text)))
    plain = " ".join(p.text for p in raw if p.kind == "speech")
    return UtterancePlan(uid, index, split, "single", spk.language, (spk,), tuple(pieces), text, plain)


def _with_span(p: Piece, start: int, end: int, turn: int = 0) -> Piece:
    return replace(p, char_start=start, char_end=end, turn=turn)


def _dialogue(uid: str, index: int, split: str, speakers: list[Speaker], sentences: list[str],
              rng: np.random.Generator) -> UtterancePlan:  # fmt: skip
    order = [i % len(speakers) for i in range(len(sentences))]
    if rng.random() < 0.3 and len(sentences) > len(speakers):
        order[2:] = [int(x) for x in rng.integers(0, len(speakers), len(sentences) - 2)]
        for k in range(1, len(order)):  # consecutive turns always change speaker
            if order[k] == order[k - 1]:
                order[k] = (order[k] + 1) % len(speakers)
    first_seen = list(dict.fromkeys(order))  # number speakers by first appearance, drop unused ones
    speakers = [speakers[i] for i in first_seen]
    order = [first_seen.index(i) for i in order]
    text, pieces, spans = "", [], []
    for turn, (who, sent) in enumerate(zip(order, sentences, strict=True)):
        text += f"<|speaker:{who}|>"
        start = len(text)
        text += sent
        spans.append((start, len(text)))
        pieces.append(Piece("speech", sent, who, char_start=start, char_end=len(text), turn=turn))
    plain = " ".join(sentences)
    lang = speakers[0].language
    return UtterancePlan(uid, index, split, "dialogue", lang, tuple(speakers), tuple(pieces), text, plain,
                         tuple(spans))  # fmt: skip


def estimate_seconds(plan: UtterancePlan, chars_per_second: float) -> float:
    total = 0.0
    for p in plan.pieces:
        spk = plan.speakers[p.speaker]
        params = json.loads(p.params_json)
        if p.kind == "speech":
            # a joined span is estimated as its planned pieces were (the tag's tempo on the first)
            for i, text in enumerate(p.joins or (p.text,)):
                secs = len(text) / chars_per_second / spk.speed
                total += secs / (params.get("factor", 1.0) if i == 0 else 1.0) + 0.15
        else:
            total += params.get("seconds", 0.6)
    return total + 0.3


def _buckets(config: SynthConfig) -> list[tuple[str, str, float]]:
    """(source, language, seconds) budgets."""
    total = config.hours * 3600.0
    foreign = [lang for lang in config.languages if lang != "en"]
    en_share = (1.0 - config.foreign_share) if foreign else 1.0
    if "en" not in config.languages:
        en_share = 0.0
    weight = sum(w for _, w in config.mix) or 1.0
    out = [(src, "en", total * en_share * w / weight) for src, w in config.mix if en_share > 0 and w > 0]
    out += [("espeak", lang, total * (1.0 - en_share) / len(foreign)) for lang in foreign]
    return out


def plan_corpus(config: SynthConfig, sentences: dict[str, tuple[list[str], list[str]]],
                speakers: list[Speaker]) -> list[UtterancePlan]:  # fmt: skip
    """Plans for the whole corpus. ``sentences[lang] = (train_sentences, heldout_sentences)``."""
    rng = np.random.default_rng(config.seed)
    plans: list[UtterancePlan] = []
    for source, lang, budget in _buckets(config):
        group = [s for s in speakers if s.source == source and s.language == lang]
        train_spk = [s for s in group if not s.heldout]
        held_spk = [s for s in group if s.heldout]
        train_text, held_text = (_Cycler(x, rng) for x in sentences[lang])
        spent = 0.0

        def add(plan: UtterancePlan) -> float:
            plans.append(plan)
            return estimate_seconds(plan, config.chars_per_second)

        def uid() -> tuple[str, int]:
            return f"u{len(plans):07d}", len(plans)

        for spk in held_spk:
            for _ in range(config.heldout_speaker_utterances):
                spent += add(_single(*uid(), "heldout_speaker", spk, held_text.next(), False, rng))
        held_budget = spent + config.heldout_text_share * budget
        while spent < held_budget:
            spk = train_spk[int(rng.integers(len(train_spk)))]
            spent += add(_single(*uid(), "heldout_text", spk, held_text.next(), rng.random() < 0.3, rng))
        while spent < budget:
            if rng.random() < config.dialogue_share and len(train_spk) >= 2:
                n_turns = int(rng.integers(2, 5))
                n_spk = 2 if n_turns == 2 or rng.random() < 0.75 else 3
                idx = rng.choice(len(train_spk), size=min(n_spk, len(train_spk)), replace=False)
                who = [train_spk[int(i)] for i in idx]
                turns = [train_text.next() for _ in range(n_turns)]
                spent += add(_dialogue(*uid(), "train", who, turns, rng))
            else:
                spk = train_spk[int(rng.integers(len(train_spk)))]
                tagged = rng.random() < config.tagged_share
                spent += add(_single(*uid(), "train", spk, train_text.next(), tagged, rng))
    return plans


def chunk_plans(plans: list[UtterancePlan], chunk_size: int) -> list[list[UtterancePlan]]:
    """Groups of at most ``chunk_size`` plans of one engine, so each chunk starts few engine processes."""
    by_source: dict[str, list[UtterancePlan]] = {}
    for p in plans:
        by_source.setdefault(p.source, []).append(p)
    return [ps[i : i + chunk_size] for ps in by_source.values() for i in range(0, len(ps), chunk_size)]


def distinct_words(plans: list[UtterancePlan]) -> int:
    return len({w for p in plans for w in words_of(p.plain_text)})
