"""normalize_text: typography only; tags and words untouched."""

from __future__ import annotations

from s2tts.text.normalize import normalize_text


def test_quotes_and_spaces() -> None:
    raw = "  \u201cIt\u2019s\u00a0fine,\u201d\tshe said.  \r\n\n\n\n <|speaker:1|>[whisper]  Ok\u2009then. "
    assert normalize_text(raw) == '"It\'s fine," she said.\n\n<|speaker:1|>[whisper] Ok then.'


def test_idempotent_and_nfc() -> None:
    text = "cafe\u0301 \u2018x\u2019"
    once = normalize_text(text)
    assert once == "caf\u00e9 'x'"
    assert normalize_text(once) == once
    assert normalize_text("") == ""
