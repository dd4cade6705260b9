"""The official client libraries, unchanged but for the base URL, against uvicorn on loopback and
the real engine; plus disconnects, the concurrency cap and the live websocket.

The fish.audio SDK cannot send ``min_new_tokens`` (nor a seed), and a random checkpoint may end its
audio at the first frame, so the SDK tests talk to the trained model that ships in the package
(``packaged_engine``). They compare what the SDK got with what the engine made for that request,
sent once (``one_request`` fails if the engine made no audio, so the comparison is never between two
empty results).
"""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import numpy as np
import openai
import ormsgpack
import pytest
import soundfile as sf
from fastapi import FastAPI
from fishaudio import FishAudio
from fishaudio.types import FlushEvent, ReferenceAudio, TTSConfig
from httpx_ws import WebSocketUpgradeError, connect_ws

from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, SR, frames, running
from .real_engine import Call, RecordingEngine
from .signals import sine

KEY = "test-key-123"
T = TypeVar("T")


def _keyed(settings: ServerSettings) -> ServerSettings:
    return ServerSettings(**{**settings.__dict__, "api_key": KEY})


@pytest.fixture
def keyed_url(engine: RecordingEngine, settings: ServerSettings) -> Iterator[str]:
    with running(create_app(engine, _keyed(settings))) as url:
        yield url


@pytest.fixture
def packaged_url(packaged_engine: RecordingEngine, settings: ServerSettings) -> Iterator[str]:
    """The server with an API key over the packaged (trained) model."""
    with running(create_app(packaged_engine, _keyed(settings))) as url:
        yield url


def ref_wav() -> bytes:
    return encode_audio(sine(16000, rate=16000), "wav", 16000)


def as_int16(pcm: np.ndarray) -> np.ndarray:
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def decoded_seconds(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as c:
        n = sum(f.samples for f in c.decode(audio=0))
        return n / c.streams.audio[0].codec_context.sample_rate


def one_request(engine: RecordingEngine, call: Callable[[], T]) -> tuple[T, Call]:
    """Run ``call`` (one request) once; its result and what the engine made for it (never empty)."""
    before = len(engine.calls)
    result = call()
    assert len(engine.calls) == before + 1, "the client sent more or fewer than one request"
    made = engine.calls[-1]
    assert made.samples > 0, "the engine made no audio"
    return result, made


# the SDK's config: max_new_tokens bounds the length (17 -> at most 16 frames, 0.74 s)
SDK_CONFIG = TTSConfig(max_new_tokens=17)


def test_fish_sdk_convert_and_stream(packaged_url: str, packaged_engine: RecordingEngine) -> None:
    engine = packaged_engine
    client = FishAudio(api_key=KEY, base_url=packaged_url)
    audio, made = one_request(
        engine, lambda: client.tts.convert(text="Hello from the SDK.", config=SDK_CONFIG)
    )
    assert made.request.sampling.max_new_tokens == 17 and made.request.sampling.top_p == 0.7
    assert abs(decoded_seconds(audio) - made.samples / SR) < 0.06  # default format mp3
    # (the SDK reads the response whole before iterating; chunking is checked with httpx elsewhere)
    parts, made = one_request(
        engine, lambda: list(client.tts.stream(text="Streaming please.", format="pcm", config=SDK_CONFIG))
    )
    np.testing.assert_array_equal(np.frombuffer(b"".join(parts), "<i2"), as_int16(made.pcm))
    wav, made = one_request(
        engine,
        lambda: client.tts.convert(
            text="Clone me.",
            format="wav",
            config=SDK_CONFIG,
            references=[ReferenceAudio(audio=ref_wav(), text="reference words")],
        ),
    )
    y, rate = sf.read(io.BytesIO(wav), dtype="int16")
    assert rate == SR
    np.testing.assert_array_equal(y, as_int16(made.pcm))
    assert made.request.references[0].text == "reference words"
    assert made.request.references[0].sample_rate == 16000
    streamed, made = one_request(
        engine,
        lambda: b"".join(
            client.tts.stream(
                text="x", config=SDK_CONFIG, references=[ReferenceAudio(audio=ref_wav(), text="r")]
            )
        ),
    )
    assert abs(decoded_seconds(streamed) - made.samples / SR) < 0.06


def test_fish_sdk_websocket_live(packaged_url: str, packaged_engine: RecordingEngine) -> None:
    engine = packaged_engine
    client = FishAudio(api_key=KEY, base_url=packaged_url)

    def text():
        yield "Hello there, this is the first sentence of a live stream. "
        yield "And here comes "
        yield "a second one."
        yield FlushEvent()
        yield "A third, spoken on stop."

    def session() -> bytes:
        engine.reset()
        config = TTSConfig(chunk_length=100, max_new_tokens=9)
        return b"".join(client.tts.stream_websocket(text(), format="wav", config=config))

    audio = session()
    assert engine.calls[0].samples > 0  # the first segment's audio becomes the voice of the later ones
    y, rate = sf.read(io.BytesIO(audio), dtype="int16")
    texts = [r.text for r in engine.requests]
    assert texts == [
        "Hello there, this is the first sentence of a live stream.",
        "And here comes a second one.",
        "A third, spoken on stop.",
    ]
    assert rate == SR  # one continuous file: one header, every segment's audio in order
    np.testing.assert_array_equal(y, as_int16(np.concatenate([c.pcm for c in engine.calls])))
    assert engine.requests[0].references == []
    for later in engine.requests[1:]:  # later segments keep the first voice
        ref = later.references[0]
        assert ref.text == texts[0] and ref.sample_rate == SR
        np.testing.assert_array_equal(ref.audio, engine.calls[0].pcm)


def test_fish_sdk_wrong_key_is_401(keyed_url: str, engine: RecordingEngine) -> None:
    client = FishAudio(api_key="wrong", base_url=keyed_url)
    with pytest.raises(Exception) as info:
        client.tts.convert(text="x")
    assert "401" in str(info.value) or getattr(info.value, "status", None) == 401
    assert httpx.get(keyed_url + "/v1/health").status_code == 200  # public
    r = httpx.post(keyed_url + "/v1/tts", json={"text": "x"}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["detail"]
    assert httpx.get(keyed_url + "/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert engine.calls == []


def test_openai_client_speech(keyed_url: str, engine: RecordingEngine) -> None:
    n = 12
    client = openai.OpenAI(api_key=KEY, base_url=keyed_url + "/v1", max_retries=0)
    resp = client.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello from OpenAI's client.", extra_body=frames(n)
    )
    total = n * FRAME / SR
    assert abs(decoded_seconds(resp.content) - total) < 0.06
    assert engine.requests[-1].text == "Hello from OpenAI's client."
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Stream it.",
        response_format="pcm",
        extra_body=frames(n),
    ) as stream:
        parts = list(stream.iter_bytes(chunk_size=None))
    assert sum(map(len, parts)) == pytest.approx(2 * total * 24000, abs=8)
    wav = client.audio.speech.create(
        model="tts-1", voice="echo", input="x", response_format="wav", speed=2.0, extra_body=frames(n)
    )
    assert abs(sf.info(io.BytesIO(wav.content)).duration - total / 2) < 0.05
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input="x")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="bad", base_url=keyed_url + "/v1", max_retries=0).audio.speech.create(
            model="tts-1", voice="alloy", input="x"
        )
    assert len(engine.calls) == 3


def test_openai_client_sse(keyed_url: str, engine: RecordingEngine) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=keyed_url + "/v1", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="alloy",
        input="x",
        stream_format="sse",
        response_format="pcm",
        extra_body=frames(12),
    ) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
    assert len(lines) > 2 and '"speech.audio.delta"' in lines[0] and '"speech.audio.done"' in lines[-1]
    pcm = b"".join(base64.b64decode(json.loads(line[6:])["audio"]) for line in lines[:-1])
    assert abs(len(pcm) / 2 - 12 * FRAME * 24000 / SR) < 4


LONG = {"text": "long", "format": "pcm", "streaming": True, **frames(400)}  # 400 frames: ~7 s to make


def test_disconnect_mid_stream_frees_the_slot(engine: RecordingEngine, app: FastAPI) -> None:
    with running(app) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/v1/tts", json=LONG) as r:
            it = r.iter_raw()
            next(it)
            assert engine.active() == 1
        assert engine.wait_idle(30.0)  # the with-block closed the connection
        [call] = engine.calls  # cancelled, not finished: it stopped before its 400 frames
        assert call.outcome == "RequestCancelledError" and call.samples < 400 * FRAME
        metrics = http.get("/metrics").text
        assert "s2tts_server_sessions_active 0" in metrics and "s2tts_http_disconnects_total 1" in metrics


def test_disconnect_during_one_shot_frees_the_slot(engine: RecordingEngine, app: FastAPI) -> None:
    body = json.dumps({**LONG, "format": "wav", "streaming": False}).encode()
    with running(app) as url:
        host, port = url.removeprefix("http://").split(":")
        head = f"POST /v1/tts HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            # the one-shot path answers nothing until the end: hang up once the engine is decoding
            assert engine.wait_audio(30.0)
        assert engine.wait_idle(30.0)
        [call] = engine.calls
        assert call.outcome == "RequestCancelledError" and call.samples < 400 * FRAME


def test_concurrency_cap_rejects_with_retry_after(engine: RecordingEngine, settings: ServerSettings) -> None:
    capped = ServerSettings(**{**settings.__dict__, "max_sessions": 1, "queue_timeout_s": 0.0})
    with running(create_app(engine, capped)) as url, httpx.Client(base_url=url) as http:
        with http.stream("POST", "/v1/tts", json=LONG) as first:
            chunks = first.iter_raw()  # keep a reference: a dropped iterator closes the connection
            next(chunks)
            r = http.post("/v1/tts", json={"text": "b", "format": "pcm", **frames(2)})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert http.get("/v1/health").status_code == 200
        assert engine.wait_idle(2.0)
        assert len(engine.calls) == 1  # the server refused the second before the engine saw it
        r = http.post("/v1/tts", json={"text": "b", "format": "pcm", **frames(2)})
        assert r.status_code == 200 and len(r.content) == 2 * 2 * FRAME  # the slot is free again


def test_live_websocket_errors_and_auth(keyed_url: str, engine: RecordingEngine) -> None:
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
    assert engine.calls == []


def test_live_websocket_json_frames(base_url: str, engine: RecordingEngine) -> None:
    with httpx.Client(base_url=base_url) as http, connect_ws("/v1/tts/live", http) as ws:
        ws.send_text(json.dumps({"event": "start", "request": {"format": "pcm", **frames(6)}}))
        ws.send_text(json.dumps({"event": "text", "text": "Hi there."}))
        ws.send_text(json.dumps({"event": "flush"}))
        ws.send_text(json.dumps({"event": "text", "text": "Bye now."}))
        ws.send_text(json.dumps({"event": "stop"}))
        pcm = b""
        while True:
            msg = json.loads(ws.receive_text())
            if msg["event"] == "audio":
                pcm += base64.b64decode(msg["audio"])
            else:
                assert msg == {"event": "finish", "reason": "stop"}
                break
    assert [r.text for r in engine.requests] == ["Hi there.", "Bye now."]
    assert len(pcm) == 2 * 2 * 6 * FRAME
    made = np.concatenate([c.pcm for c in engine.calls])
    np.testing.assert_array_equal(np.frombuffer(pcm, "<i2"), as_int16(made))
    second = engine.requests[1].references[0]  # conditioned on the first segment's audio
    assert second.text == "Hi there." and np.array_equal(second.audio, engine.calls[0].pcm)
