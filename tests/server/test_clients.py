"""The official client libraries, unchanged but for the base URL, against uvicorn on loopback."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from fastapi import FastAPI
from fishaudio import FishAudio
from fishaudio.types import FlushEvent, ReferenceAudio, TTSConfig

from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import running
from .fake_engine import SR, FakeEngine, sine

KEY = "test-key-123"


@pytest.fixture
def keyed_url(engine: FakeEngine, settings: ServerSettings) -> Iterator[str]:
    keyed = ServerSettings(**{**settings.__dict__, "api_key": KEY})
    with running(create_app(engine, keyed)) as url:
        yield url


def ref_wav() -> bytes:
    return encode_audio(sine(16000, rate=16000), "wav", 16000)


def decoded_seconds(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as c:
        n = sum(f.samples for f in c.decode(audio=0))
        return n / c.streams.audio[0].codec_context.sample_rate


def test_fish_sdk_convert_and_stream(keyed_url: str, engine: FakeEngine) -> None:
    client = FishAudio(api_key=KEY, base_url=keyed_url)
    audio = client.tts.convert(text="Hello from the SDK.")  # default format mp3
    total = engine.chunks * engine.chunk_samples / SR
    assert abs(decoded_seconds(audio) - total) < 0.1
    chunks = list(client.tts.stream(text="Streaming please.", format="pcm"))
    # (the SDK reads the response whole before iterating; chunking is checked with httpx elsewhere)
    assert sum(map(len, chunks)) == 2 * engine.chunks * engine.chunk_samples
    wav = client.tts.convert(
        text="Clone me.", format="wav", references=[ReferenceAudio(audio=ref_wav(), text="reference words")]
    )
    y, rate = sf.read(io.BytesIO(wav))
    assert rate == SR and len(y) == engine.chunks * engine.chunk_samples
    assert engine.requests[-1].references[0].text == "reference words"
    streamed = b"".join(client.tts.stream(text="x", references=[ReferenceAudio(audio=ref_wav(), text="r")]))
    assert abs(decoded_seconds(streamed) - total) < 0.1


def test_fish_sdk_websocket_live(keyed_url: str, engine: FakeEngine) -> None:
    client = FishAudio(api_key=KEY, base_url=keyed_url)

    def text():
        yield "Hello there, this is the first sentence of a live stream. "
        yield "And here comes "
        yield "a second one."
        yield FlushEvent()
        yield "A third, spoken on stop."

    audio = b"".join(client.tts.stream_websocket(text(), format="wav", config=TTSConfig(chunk_length=100)))
    y, rate = sf.read(io.BytesIO(audio))
    texts = [r.text for r in engine.requests]
    assert texts == [
        "Hello there, this is the first sentence of a live stream.",
        "And here comes a second one.",
        "A third, spoken on stop.",
    ]
    assert rate == SR and len(y) == 3 * engine.chunks * engine.chunk_samples  # one continuous file
    assert engine.requests[0].references == []
    assert engine.requests[1].references[0].text == texts[0]  # later segments keep the first voice


def test_fish_sdk_wrong_key_is_401(keyed_url: str) -> None:
    client = FishAudio(api_key="wrong", base_url=keyed_url)
    with pytest.raises(Exception) as info:
        client.tts.convert(text="x")
    assert "401" in str(info.value) or getattr(info.value, "status", None) == 401
    assert httpx.get(keyed_url + "/v1/health").status_code == 200  # public
    r = httpx.post(keyed_url + "/v1/tts", json={"text": "x"}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["detail"]
    assert httpx.get(keyed_url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_openai_client_speech(keyed_url: str, engine: FakeEngine) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=keyed_url + "/v1", max_retries=0)
    resp = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello from OpenAI's client.")
    total = engine.chunks * engine.chunk_samples / SR
    assert abs(decoded_seconds(resp.content) - total) < 0.1
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input="Stream it.", response_format="pcm"
    ) as stream:
        parts = list(stream.iter_bytes(chunk_size=None))
    assert sum(map(len, parts)) == pytest.approx(2 * total * 24000, abs=8)
    wav = client.audio.speech.create(model="tts-1", voice="echo", input="x", response_format="wav", speed=2.0)
    assert abs(sf.info(io.BytesIO(wav.content)).duration - total / 2) < 0.05
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input="x")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="bad", base_url=keyed_url + "/v1", max_retries=0).audio.speech.create(
            model="tts-1", voice="alloy", input="x"
        )


def test_openai_client_sse(keyed_url: str) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=keyed_url + "/v1", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="x", stream_format="sse", response_format="pcm"
    ) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert '"speech.audio.delta"' in lines[0] and '"speech.audio.done"' in lines[-1]


def test_disconnect_mid_stream_frees_the_slot(settings: ServerSettings) -> None:
    engine = FakeEngine(chunks=200, delay_s=0.05)
    app: FastAPI = create_app(engine, settings)
    with running(app) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/v1/tts", json={"text": "long", "format": "pcm", "streaming": True}) as r:
            it = r.iter_raw()
            next(it)
            assert engine.active == 1
        t0 = time.monotonic()  # the with-block closed the connection
        while engine.active and time.monotonic() - t0 < 2:
            time.sleep(0.01)
        assert engine.active == 0 and engine.cancelled == 1
        assert time.monotonic() - t0 < 0.5
        metrics = http.get("/metrics").text
        assert "s2tts_server_slots_active 0" in metrics and "s2tts_http_disconnects_total 1" in metrics


def test_disconnect_during_one_shot_frees_the_slot(settings: ServerSettings) -> None:
    engine = FakeEngine(chunks=200, delay_s=0.05)
    with running(create_app(engine, settings)) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/tts", json={"text": "long", "format": "wav"}, timeout=0.3)
        t0 = time.monotonic()
        while engine.active and time.monotonic() - t0 < 2:
            time.sleep(0.01)
        assert engine.active == 0 and engine.cancelled == 1


def test_concurrency_cap_rejects_with_retry_after(settings: ServerSettings) -> None:
    engine = FakeEngine(chunks=40, delay_s=0.05)
    capped = ServerSettings(**{**settings.__dict__, "max_concurrency": 1})
    with running(create_app(engine, capped)) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/v1/tts", json={"text": "a", "format": "pcm"}) as first:
            chunks = first.iter_raw()  # keep a reference: a dropped iterator closes the connection
            next(chunks)
            r = http.post("/v1/tts", json={"text": "b", "format": "pcm"})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert http.get("/v1/health").status_code == 200


def test_live_websocket_errors_and_auth(keyed_url: str) -> None:
    import ormsgpack
    from httpx_ws import WebSocketUpgradeError, connect_ws

    with httpx.Client(base_url=keyed_url) as http:
        with pytest.raises(WebSocketUpgradeError) as info, connect_ws("/v1/tts/live", http):
            pass
        assert info.value.response.status_code == 401
        headers = {"Authorization": f"Bearer {KEY}"}
        with connect_ws("/v1/tts/live", http, headers=headers) as ws:
            ws.send_bytes(ormsgpack.packb({"event": "text", "text": "no start"}))
            msg = ormsgpack.unpackb(ws.receive_bytes())
            assert msg["event"] == "finish" and msg["reason"] == "error" and "start" in msg["message"]
        with connect_ws("/v1/tts/live", http, headers=headers) as ws:
            ws.send_bytes(
                ormsgpack.packb({"event": "start", "request": {"text": "", "reference_id": "ghost"}})
            )
            msg = ormsgpack.unpackb(ws.receive_bytes())
            assert msg["reason"] == "error" and "not found" in msg["message"]


def test_live_websocket_json_frames(base_url: str, engine: FakeEngine) -> None:
    import base64
    import json

    from httpx_ws import connect_ws

    with httpx.Client(base_url=base_url) as http, connect_ws("/v1/tts/live", http) as ws:
        ws.send_text(json.dumps({"event": "start", "request": {"format": "pcm"}}))
        ws.send_text(json.dumps({"event": "text", "text": "Hi there."}))
        ws.send_text(json.dumps({"event": "stop"}))
        pcm = b""
        while True:
            msg = json.loads(ws.receive_text())
            if msg["event"] == "audio":
                pcm += base64.b64decode(msg["audio"])
            else:
                assert msg == {"event": "finish", "reason": "stop"}
                break
    assert len(pcm) == 2 * engine.chunks * engine.chunk_samples
    assert np.frombuffer(pcm, "<i2").max() > 10000
