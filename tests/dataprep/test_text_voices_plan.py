"""Text source, pseudo-speakers and corpus planning (pure parts of the synthetic corpus)."""

from __future__ import annotations

import json

import pytest

from s2tts.data.synth_plan import (
    EVENT_TAGS,
    SPAN_TAGS,
    Piece,
    SynthConfig,
    UtterancePlan,
    _spans_to_next_tag,
    chunk_plans,
    estimate_seconds,
    plan_corpus,
)
from s2tts.data.text_source import is_heldout_sentence, load_sentences, split_sentences, words_of
from s2tts.data.voices import Speaker, speaker_inventory
from s2tts.text.prompt import split_turns


@pytest.fixture(scope="module")
def english() -> list[str]:
    return load_sentences("en")


@pytest.fixture(scope="module")
def sentences(english: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    held = [s for s in english if is_heldout_sentence(s, 0.03)]
    return {"en": ([s for s in english if not is_heldout_sentence(s, 0.03)], held)}


def test_english_text_is_large_and_varied(english: list[str]) -> None:
    words = {w for s in english for w in words_of(s)}
    assert len(words) >= 5000
    assert sum(s.endswith("?") for s in english) > 200
    assert sum(any(c.isdigit() for c in s) for s in english) > 200
    assert len(set(english)) == len(english)


def test_other_languages_have_their_own_text() -> None:
    german = load_sentences("de")
    assert len(german) > 1000
    assert any(w in {"und", "nicht", "der", "die"} for s in german[:200] for w in words_of(s))


def test_sentence_filter_drops_art_attributions_and_fragments() -> None:
    assert split_sentences("A stitch in time saves nine. Yes. <|> | | x") == ["A stitch in time saves nine."]
    assert split_sentences("print('x') == 3 if y else z.") == []


def test_heldout_sentences_are_fixed_by_text_not_by_seed(english: list[str]) -> None:
    held = [s for s in english if is_heldout_sentence(s, 0.03)]
    assert 0.02 < len(held) / len(english) < 0.04
    assert held == [s for s in english if is_heldout_sentence(s, 0.03)]


def test_speaker_ids_are_unique_stable_and_each_engine_holds_some_out() -> None:
    speakers = speaker_inventory(("en", "de"))
    ids = [s.id for s in speakers]
    assert len(set(ids)) == len(ids) > 150
    assert "festival:slt:t1.05:s0.90" in ids and "piper:joe:t1.00:s1.00" in ids
    for source, lang in {(s.source, s.language) for s in speakers}:
        group = [s for s in speakers if s.source == source and s.language == lang]
        assert any(s.heldout for s in group) and not all(s.heldout for s in group)
    assert [s.id for s in speaker_inventory(("en", "de")) if s.heldout] == [
        s.id for s in speakers if s.heldout
    ]


def test_plan_is_seeded_and_keeps_heldout_text_and_speakers_out_of_train(sentences) -> None:
    speakers = speaker_inventory(("en",))
    plans = plan_corpus(SynthConfig(hours=2.0, seed=3), sentences, speakers)
    again = plan_corpus(SynthConfig(hours=2.0, seed=3), sentences, speakers)
    other = plan_corpus(SynthConfig(hours=2.0, seed=4), sentences, speakers)
    assert [p.text for p in plans] == [p.text for p in again]
    assert [p.text for p in plans] != [p.text for p in other]
    held_text = set(sentences["en"][1])
    held_spk = {s.id for s in speakers if s.heldout}
    train = [p for p in plans if p.split == "train"]
    assert train and all(not (set(p.speakers) & {s for s in speakers if s.heldout}) for p in train)
    for p in train:
        assert not any(piece.text in held_text for piece in p.pieces)
    for p in plans:
        if p.split == "heldout_speaker":
            assert p.speakers[0].id in held_spk and p.plain_text in held_text
        if p.split == "heldout_text":
            assert p.speakers[0].id not in held_spk
    assert {p.split for p in plans} == {"train", "heldout_text", "heldout_speaker"}


def test_plan_tags_point_at_their_span_and_dialogues_use_speaker_turns(sentences) -> None:
    plans = plan_corpus(SynthConfig(hours=2.0, seed=1), sentences, speaker_inventory(("en",)))
    tagged = [p for p in plans if any(x.tag for x in p.pieces)]
    seen = set()
    for plan in tagged:
        for piece in plan.pieces:
            if not piece.tag:
                continue
            seen.add(piece.tag)
            span = plan.text[piece.char_start : piece.char_end]
            if piece.kind == "speech":
                assert span == piece.text
                assert plan.text[: piece.char_start].endswith(f"[{piece.tag}] ")
                effect, ranges = SPAN_TAGS[piece.tag]
            else:
                assert span == f"[{piece.tag}]"
                effect, ranges = EVENT_TAGS[piece.tag]
            assert piece.effect == effect
            for key, value in json.loads(piece.params_json).items():
                assert ranges[key][0] <= value <= ranges[key][1]
    assert seen == set(SPAN_TAGS) | set(EVENT_TAGS)
    # a span tag covers the words after it up to the next tag: never followed by untagged words
    for plan in tagged:
        for a, b in zip(plan.pieces, plan.pieces[1:], strict=False):
            assert not (a.kind == b.kind == "speech" and a.tag and not b.tag), plan.text
    whole = [p for p in tagged if len(p.pieces) == 1 and p.pieces[0].kind == "speech"]
    assert len(whole) > 0.2 * len(tagged)  # "[tag] sentence": the tag covers every word
    dialogues = [p for p in plans if p.kind == "dialogue"]
    assert dialogues
    for d in dialogues:
        turns = split_turns(d.text)
        assert len(turns) == len(d.pieces) >= 2
        indices = [int(t.split("|>")[0].split(":")[1]) for t in turns]
        assert all(a != b for a, b in zip(indices, indices[1:], strict=False))
        assert sorted(set(indices)) == list(range(len(d.speakers)))
        assert len({s.id for s in d.speakers}) == len(d.speakers)


def test_chunks_hold_one_engine_each(sentences) -> None:
    plans = plan_corpus(SynthConfig(hours=1.0), sentences, speaker_inventory(("en",)))
    chunks = chunk_plans(plans, 50)
    assert sum(len(c) for c in chunks) == len(plans)
    assert all(len({p.source for p in c}) == 1 and len(c) <= 50 for c in chunks)


def test_a_span_tag_joins_the_words_up_to_the_next_tag_and_costs_the_same_time() -> None:
    """[fast] covers every word up to the next tag; the joined piece is estimated as the planned
    pieces were, so a seeded corpus plans the same utterances as before spans were joined."""
    fast = Piece("speech", "Deliver yesterday,", 0, "fast", "tempo", json.dumps({"factor": 1.4}))
    pieces = [fast, Piece("speech", "code today,", 0), Piece("event", "", 0, "pause", "silence"),
              Piece("speech", "think tomorrow.", 0)]  # fmt: skip
    joined = _spans_to_next_tag(pieces)
    assert [p.text for p in joined] == ["Deliver yesterday, code today,", "", "think tomorrow."]
    assert joined[0].tag == "fast" and joined[0].effect == "tempo" and not joined[2].tag

    def plan(ps: list[Piece]) -> UtterancePlan:
        return UtterancePlan("u", 0, "train", "single", "en", (Speaker("festival", "kal_diphone", "en"),),
                             tuple(ps), "", "")  # fmt: skip

    assert estimate_seconds(plan(joined), 15.0) == estimate_seconds(plan(pieces), 15.0)
