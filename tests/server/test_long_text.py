"""Long text over HTTP: 20,000 characters of plain text and a 40-turn dialogue stream to the end."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from s2tts.server.app import create_app
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, frames, running
from .real_engine import RecordingEngine

LONG_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs away. " * 300)[:20_000]
DIALOGUE = "".join(
    f"<|speaker:{i % 2}|>Line {i} of the dialogue, said by speaker {i % 2}." for i in range(40)
)


def _long_app(engine: RecordingEngine, settings: ServerSettings) -> FastAPI:
    return create_app(engine, ServerSettings(**{**settings.__dict__, "max_text_chars": 20_000}))


@pytest.mark.slow
def test_twenty_thousand_characters_stream_over_http(
    engine: RecordingEngine, settings: ServerSettings
) -> None:
    # Two frames per text batch keep it fast: ~100 batches of at most 200 bytes each.
    body = {"text": LONG_TEXT, "format": "pcm", "streaming": True, "max_new_tokens": 3}
    with (
        running(_long_app(engine, settings)) as url,
        httpx.Client(base_url=url, timeout=300) as http,
        http.stream("POST", "/v1/tts", json=body) as r,
    ):
        assert r.status_code == 200
        data = b"".join(r.iter_bytes())
    [call] = engine.calls
    assert call.outcome == "completed"
    batches = -(-len(LONG_TEXT.encode()) // 200)  # at least this many
    assert len(data) >= 2 * 2 * FRAME * batches and len(data) == 2 * call.samples


def test_forty_turn_dialogue_over_openai_route(engine: RecordingEngine, settings: ServerSettings) -> None:
    body = {"input": DIALOGUE, "response_format": "pcm", "sample_rate": 44100, **frames(2)}
    with running(_long_app(engine, settings)) as url, httpx.Client(base_url=url, timeout=300) as http:
        r = http.post("/v1/audio/speech", json=body)
    assert r.status_code == 200, r.text
    [call] = engine.calls
    assert call.outcome == "completed" and len(r.content) == 2 * call.samples
    assert call.samples >= 2 * FRAME * 8  # 40 turns, at most five per batch: at least 8 batches


def test_text_just_under_the_cap_is_accepted(engine: RecordingEngine, settings: ServerSettings) -> None:
    capped = ServerSettings(**{**settings.__dict__, "max_text_chars": 10_000})
    text = LONG_TEXT[:9_999]
    with running(create_app(engine, capped)) as url, httpx.Client(base_url=url, timeout=300) as http:
        ok = http.post("/v1/tts", json={"text": text, "format": "pcm", "max_new_tokens": 2})
        too_long = http.post("/v1/tts", json={"text": LONG_TEXT[:10_001], "format": "pcm"})
    assert ok.status_code == 200, ok.text
    assert too_long.status_code == 413 and "10000" in too_long.json()["detail"]
