"""The text front end with the real espeak-ng: IPA for plain text, markup untouched, languages,
one espeak run per batch, the byte tokenizer round trip, and typed errors."""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path

import pytest

from s2tts.errors import TextFrontendError
from s2tts.text.frontend import PHONEME_END, PHONEME_START, TextFrontend
from s2tts.text.tokenizer import make_byte_tokenizer

SPAN = re.compile(re.escape(PHONEME_START) + r"(.*?)" + re.escape(PHONEME_END), re.S)


@pytest.fixture(scope="module")
def espeak() -> TextFrontend:
    return TextFrontend("espeak")


def _spans(text: str) -> list[str]:
    return SPAN.findall(text)


def test_english_sentence_becomes_ipa(espeak: TextFrontend) -> None:
    out = espeak("The quick brown fox jumps over the lazy dog.")
    assert out.startswith(PHONEME_START) and out.endswith("." + PHONEME_END)
    (ipa,) = _spans(out)
    for fragment in ("ðə", "kwˈɪk", "bɹˈaʊn", "dˈɑːɡ"):
        assert fragment in ipa
    assert "quick" not in ipa and "fox" not in ipa


def test_unseen_words_and_numbers_are_read(espeak: TextFrontend) -> None:
    (ipa,) = _spans(espeak("Zorblaxian quokkas ate 42 plums."))
    assert not re.search(r"[0-9]|Zorblax|quokka", ipa)
    assert "tˈuː" in ipa  # "forty-two"
    assert "z" in ipa and "kwˈɑːk" in ipa  # letter-to-sound rules for words in no dictionary


def test_markup_and_punctuation_pass_through(espeak: TextFrontend) -> None:
    text = "<|speaker:0|>[laugh] Hello, world!<|speaker:1|>[whisper] Are you there?"
    out = espeak(text)
    assert SPAN.sub("X", out) == "<|speaker:0|>[laugh] X<|speaker:1|>[whisper] X"
    first, second = _spans(out)
    assert first.startswith("həlˈoʊ, ") and first.endswith("!")
    assert second.endswith("?") and "ðˈɛɹ" in second
    # text with markup only, or nothing to say, is unchanged
    assert espeak("<|speaker:2|>[pause]") == "<|speaker:2|>[pause]"
    assert espeak("") == "" and espeak("  ") == "  "


def test_given_phonemes_are_kept(espeak: TextFrontend) -> None:
    given = f"{PHONEME_START}təmˈɑːtoʊ{PHONEME_END}"
    out = espeak(f"Say {given} please.")
    assert given in out and out.count(PHONEME_START) == 3
    assert espeak(out) == out  # converting twice changes nothing
    # a clause with nothing to read stays as written (espeak would say nothing for it)
    assert espeak("Hello, _, world.") == f"{PHONEME_START}həlˈoʊ, _, wˈɜːld.{PHONEME_END}"


def test_german_and_spanish(espeak: TextFrontend) -> None:
    german = espeak("Guten Tag, das Software Update.", language="de")
    assert "ɡˈuːtən tˈɑːk," in german
    assert "(en)" not in german and "(de)" not in german  # espeak's language-switch marks removed
    assert german != espeak("Guten Tag, das Software Update.")  # English rules read it otherwise
    (spanish,) = _spans(espeak("¿Dónde está la biblioteca?", language="es"))
    assert spanish.startswith("¿") and spanish.endswith("?") and "βˌiβliotˈeka" in spanish
    assert TextFrontend("espeak", language="de")("Guten Tag") == espeak("Guten Tag", language="de")


def test_text_kind_is_identity() -> None:
    front = TextFrontend()
    text = "<|speaker:0|>[laugh] Hello, 42 worlds!"
    assert front.kind == "text" and front(text) == text and front.convert_many([text, "b"]) == [text, "b"]


def test_one_espeak_run_per_batch_and_a_cache(tmp_path: Path) -> None:
    """A wrapper around the real espeak-ng counts its runs."""
    log = tmp_path / "runs.log"
    wrapper = tmp_path / "espeak-counting"
    wrapper.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{shutil.which("espeak-ng")}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    front = TextFrontend("espeak", executable=str(wrapper))
    texts = [f"Sentence number {i}, with a clause; and another one." for i in range(20)]
    first = front.convert_many(texts)
    assert log.read_text().count("run") == 1
    assert len(set(first)) == 20 and all(_spans(t) for t in first)
    assert front.convert_many(texts[:5]) == first[:5]  # all from the cache
    assert log.read_text().count("run") == 1
    assert [front(t) for t in texts[:3]] == first[:3]


def test_ipa_round_trips_through_the_byte_tokenizer(espeak: TextFrontend) -> None:
    tok = make_byte_tokenizer(64)
    text = espeak("Thought, judge, and measure: the thing.") + espeak("Straße, Bücher.", language="de")
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    start, end = tok.token_to_id(PHONEME_START), tok.token_to_id(PHONEME_END)
    assert ids.count(start) == 2 and ids.count(end) == 2
    assert "θ" in text and "ʒ" in text and "ç" in text
    plain = text.replace(PHONEME_START, "").replace(PHONEME_END, "")
    assert len(ids) == len(plain.encode("utf-8")) + 4  # one token per UTF-8 byte, one per marker


def test_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(TextFrontendError, match="unknown text front end"):
        TextFrontend("arpabet")
    with pytest.raises(TextFrontendError, match="espeak-ng program, not found"):
        TextFrontend("espeak", executable=str(tmp_path / "no-espeak-ng"))
    with pytest.raises(TextFrontendError, match="bad language"):
        TextFrontend("espeak", language="--help")
    front = TextFrontend("espeak")
    with pytest.raises(TextFrontendError, match="espeak-ng failed for language 'xx-nope'"):
        front("Hello.", language="xx-nope")
    failing = TextFrontend("espeak", executable=shutil.which("false") or "false")
    with pytest.raises(TextFrontendError, match="exit status 1"):
        failing("Hello.")
