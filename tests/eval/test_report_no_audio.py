"""A case that made no audio (a model that stopped at once) still gets a report row, without a player."""

from __future__ import annotations

from s2tts.eval.report import render_html, render_markdown


def test_rows_without_audio_render() -> None:
    blocks = [
        ("table", (["id", "audio"], [["silent", ("audio", None)], ["spoken", ("audio", "audio/a.wav")]]))
    ]
    page = render_html(blocks, "report")
    assert page.count("<audio") == 1 and 'src="audio/a.wav"' in page and "<td>silent</td>" in page
    text = render_markdown(blocks)
    assert "[▶](audio/a.wav)" in text and text.count("▶") == 1
