"""Caps on the work one request can ask for: each is refused at once, before the engine does anything."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi.testclient import TestClient

from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import frames
from .real_engine import RecordingEngine
from .signals import sine


def _wav(seconds: float, rate: int = 8000) -> bytes:
    return encode_audio(sine(int(seconds * rate), rate=rate), "wav", rate)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def capped(engine: RecordingEngine, settings: ServerSettings) -> TestClient:
    tight = {"max_reference_seconds": 3.0, "max_codec_seconds": 2.0, "max_references": 2}
    with TestClient(create_app(engine, ServerSettings(**{**settings.__dict__, **tight}))) as client:
        yield client


def _refused_at_once(client: TestClient, engine: RecordingEngine, path: str, body: dict, status: int) -> str:
    start = time.perf_counter()
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert time.perf_counter() - start < 5.0
    assert engine.calls == [] and engine.encoded == []  # no synthesis, no encoding happened
    return r.json()["detail"]


def test_codec_decode_caps_frames(capped: TestClient, engine: RecordingEngine) -> None:
    # 2 s at 44.1 kHz / 2048 samples per frame = 43 frames; 100,000 frames used to be accepted.
    detail = _refused_at_once(capped, engine, "/v1/vqgan/decode", {"tokens": [[[0] * 100_000] * 10]}, 413)
    assert "100000 frames" in detail and "limit is 43 frames" in detail
    # The cap counts every item of the request together.
    _refused_at_once(capped, engine, "/v1/vqgan/decode", {"tokens": [[[0] * 30] * 10] * 2}, 413)
    r = capped.post(
        "/v1/vqgan/decode", json={"tokens": [[[0] * 43] * 10]}, headers={"Accept": "application/json"}
    )
    assert r.status_code == 200


def test_codec_encode_caps_seconds(capped: TestClient, engine: RecordingEngine) -> None:
    detail = _refused_at_once(capped, engine, "/v1/vqgan/encode", {"audios": [_b64(_wav(2.5))]}, 413)
    assert detail.startswith("audios[0] is longer than 2 s")
    body = {"audios": [_b64(_wav(1.5)), _b64(_wav(1.5))]}  # each fits, together they do not
    _refused_at_once(capped, engine, "/v1/vqgan/encode", body, 413)


def test_reference_seconds_are_capped_per_request(capped: TestClient, engine: RecordingEngine) -> None:
    one = {"text": "x", **frames(2), "references": [{"audio": _b64(_wav(4.0)), "text": "t"}]}
    assert _refused_at_once(capped, engine, "/v1/tts", one, 413).startswith("reference 0 is longer than 3 s")
    two = {"text": "x", **frames(2), "references": [{"audio": _b64(_wav(2.0)), "text": "t"}] * 2}
    assert "in all" in _refused_at_once(capped, engine, "/v1/tts", two, 413)


def test_number_of_references_is_capped(capped: TestClient, engine: RecordingEngine) -> None:
    three = {"text": "x", **frames(2), "references": [{"audio": _b64(_wav(0.2)), "text": "t"}] * 3}
    assert "at most 2 references" in _refused_at_once(capped, engine, "/v1/tts", three, 422)
