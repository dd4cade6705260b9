"""HTTP routes against the fake engine: bodies, formats, voices, codec, errors, metrics, schema."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import ormsgpack
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .fake_engine import FRAME, SR, FakeEngine, sine

MSGPACK = {"Content-Type": "application/msgpack"}


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    return encode_audio(sine(int(seconds * rate), rate=rate), "wav", rate)


def test_tts_json_wav_one_shot(client: TestClient, engine: FakeEngine) -> None:
    r = client.post("/v1/tts", json={"text": "Hello world."})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav" and r.headers["x-sample-rate"] == str(SR)
    y, rate = sf.read(io.BytesIO(r.content))
    assert rate == SR and len(y) == engine.chunks * engine.chunk_samples
    assert int(r.headers["content-length"]) == len(r.content)
    req = engine.requests[-1]
    assert req.text == "Hello world." and req.sampling.temperature == 0.8 and req.chunk_length == 200


def test_tts_msgpack_with_inline_reference(client: TestClient, engine: FakeEngine) -> None:
    body = {
        "text": "Hi",
        "references": [{"audio": wav_bytes(), "text": "ref words"}],
        "format": "pcm",
        "seed": 7,
    }
    r = client.post("/v1/tts", content=ormsgpack.packb(body), headers=MSGPACK)
    assert r.status_code == 200, r.text
    assert len(r.content) == 2 * engine.chunks * engine.chunk_samples
    ref = engine.requests[-1].references[0]
    assert ref.text == "ref words" and ref.sample_rate == 16000 and ref.audio is not None
    assert engine.requests[-1].seed == 7


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "aac", "wav", "pcm"])
@pytest.mark.parametrize("streaming", [True, False])
def test_tts_every_format_streams(client: TestClient, fmt: str, streaming: bool) -> None:
    with client.stream("POST", "/v1/tts", json={"text": "x", "format": fmt, "streaming": streaming}) as r:
        assert r.status_code == 200
        chunks = [c for c in r.iter_raw() if c]
    assert chunks and sum(map(len, chunks)) > 100
    if streaming and fmt not in ("flac",):
        assert len(chunks) > 1
    assert ("content-length" in r.headers) == (not streaming)


def test_tts_sample_rate_and_prosody(client: TestClient, engine: FakeEngine) -> None:
    r = client.post(
        "/v1/tts",
        json={"text": "x", "format": "wav", "sample_rate": 16000, "prosody": {"speed": 2.0, "volume": -6}},
    )
    y, rate = sf.read(io.BytesIO(r.content))
    total = engine.chunks * engine.chunk_samples
    assert rate == 16000 and abs(len(y) - total * 16000 / SR / 2) < 400
    assert np.abs(y).max() < 0.3  # 0.5 sine, -6 dB


def test_tts_stored_voice_caches_codes(client: TestClient, engine: FakeEngine) -> None:
    files = {"audio": ("v.wav", wav_bytes(), "audio/wav")}
    r = client.post("/v1/references/add", data={"id": "narrator", "text": "ref text"}, files=files)
    assert r.status_code == 200, r.text
    assert ormsgpack.unpackb(r.content)["reference_id"] == "narrator"
    for _ in range(2):
        assert client.post("/v1/tts", json={"text": "x", "reference_id": "narrator"}).status_code == 200
    assert len(engine.encoded) == 1  # encoded once, then read from the codes cache
    ref = engine.requests[-1].references[0]
    assert ref.codes is not None and ref.codes.shape[0] == 10 and ref.text == "ref text"
    r = client.post("/v1/tts", json={"text": "x", "reference_id": ["narrator", "narrator"]})
    assert len(engine.requests[-1].references) == 2


def test_references_crud_msgpack_and_json(client: TestClient) -> None:
    add = {"id": "v1", "audio": base64.b64encode(wav_bytes()).decode(), "text": "t"}
    assert client.post("/v1/references/add?format=json", json=add).json()["success"] is True
    assert client.post("/v1/references/add", json=add).status_code == 409
    listed = ormsgpack.unpackb(client.get("/v1/references/list").content)
    assert listed["reference_ids"] == ["v1"] and listed["success"]
    r = client.post(
        "/v1/references/update",
        json={"old_reference_id": "v1", "new_reference_id": "v2"},
        headers={"Accept": "application/json"},
    )
    assert r.json() == {
        "success": True,
        "message": "reference renamed",
        "old_reference_id": "v1",
        "new_reference_id": "v2",
    }
    r = client.request(
        "DELETE", "/v1/references/delete", content=ormsgpack.packb({"reference_id": "v2"}), headers=MSGPACK
    )
    assert ormsgpack.unpackb(r.content)["success"]
    r = client.request("DELETE", "/v1/references/delete?format=json", json={"reference_id": "v2"})
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_reference_upload_must_be_audio_and_valid_id(client: TestClient) -> None:
    files = {"audio": ("x.wav", b"not audio at all" * 10, "audio/wav")}
    r = client.post("/v1/references/add", data={"id": "v", "text": "t"}, files=files)
    assert r.status_code == 400 and r.json()["detail"].startswith("cannot decode")
    files = {"audio": ("x.wav", wav_bytes(), "audio/wav")}
    r = client.post("/v1/references/add", data={"id": "../../etc", "text": "t"}, files=files)
    assert r.status_code == 400


def test_audio_voices_registry(client: TestClient) -> None:
    files = {"audio_sample": ("s.wav", wav_bytes(), "audio/wav")}
    r = client.post("/v1/audio/voices", data={"name": "sam", "ref_text": "hi", "consent": "yes"}, files=files)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "sam" and r.json()["object"] == "audio.voice"
    listed = client.get("/v1/audio/voices").json()
    assert listed["voices"] == ["sam"] and listed["data"][0]["ref_text"] == "hi"
    assert client.get("/v1/audio/voices/sam").json()["name"] == "sam"
    assert client.delete("/v1/audio/voices/sam").json()["deleted"] is True
    assert client.delete("/v1/audio/voices/sam").status_code == 404
    assert client.post("/v1/audio/voices", data={"name": "x"}).status_code == 422


def test_openai_speech(client: TestClient, engine: FakeEngine) -> None:
    r = client.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello", "voice": "alloy"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert engine.requests[-1].references == []
    r = client.post(
        "/v1/audio/speech", json={"model": "x", "input": "Hi", "voice": "nobody", "response_format": "wav"}
    )
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = client.post(
        "/v1/audio/speech",
        json={"input": "Hi", "response_format": "pcm", "instructions": "whisper", "speed": 1.0},
    )
    assert r.headers["x-sample-rate"] == "24000"
    total = engine.chunks * engine.chunk_samples
    assert abs(len(r.content) / 2 - total * 24000 / SR) < 4
    assert engine.requests[-1].text == "[whisper] Hi"


def test_openai_ref_audio_and_stored_builtin_name(client: TestClient, engine: FakeEngine) -> None:
    data_url = "data:audio/wav;base64," + base64.b64encode(wav_bytes()).decode()
    r = client.post("/v1/audio/speech", json={"input": "Hi", "ref_audio": data_url, "ref_text": "ref"})
    assert r.status_code == 200 and engine.requests[-1].references[0].text == "ref"
    files = {"audio_sample": ("s.wav", wav_bytes(), "audio/wav")}
    client.post("/v1/audio/voices", data={"name": "alloy", "ref_text": "mine"}, files=files)
    client.post("/v1/audio/speech", json={"input": "Hi", "voice": "alloy"})
    assert engine.requests[-1].references[0].voice_id == "alloy"


def test_openai_sse(client: TestClient, engine: FakeEngine) -> None:
    r = client.post(
        "/v1/audio/speech", json={"input": "Hi", "stream_format": "sse", "response_format": "pcm"}
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["total_tokens"] > 0
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert abs(len(pcm) / 2 - engine.chunks * engine.chunk_samples * 24000 / SR) < 4


def test_vqgan_round_trip(client: TestClient) -> None:
    r = client.post(
        "/v1/vqgan/encode", content=ormsgpack.packb({"audios": [wav_bytes(1.0, 44100)]}), headers=MSGPACK
    )
    assert r.status_code == 200, r.text
    tokens = ormsgpack.unpackb(r.content)["tokens"]
    assert len(tokens) == 1 and len(tokens[0]) == 10 and len(tokens[0][0]) == 22
    r = client.post("/v1/vqgan/decode", content=ormsgpack.packb({"tokens": tokens}), headers=MSGPACK)
    assert r.status_code == 200, r.text
    out = ormsgpack.unpackb(r.content)
    pcm = np.frombuffer(out["audios"][0], "<f2")
    assert out["sample_rate"] == SR and len(pcm) == 22 * FRAME
    r = client.post("/v1/vqgan/decode", json={"tokens": [[[1, 2]] * 9]})
    assert r.status_code == 422 and "10 rows" in r.json()["detail"]
    r = client.post("/v1/vqgan/decode", json={"tokens": [[[1, 2], [3]] * 5]})
    assert r.status_code == 422


@pytest.mark.parametrize(
    "body,headers,status",
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"\xc1\xc1", MSGPACK, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b"<xml/>", {"Content-Type": "application/xml"}, 415),
        (json.dumps({"text": "x", "top_p": 7}).encode(), {"Content-Type": "application/json"}, 422),
        (json.dumps({"nope": 1}).encode(), {"Content-Type": "application/json"}, 422),
        (json.dumps({"text": "   "}).encode(), {"Content-Type": "application/json"}, 422),
        (
            json.dumps({"text": "x", "reference_id": "ghost"}).encode(),
            {"Content-Type": "application/json"},
            404,
        ),
        (
            json.dumps({"text": "x", "reference_id": "../x"}).encode(),
            {"Content-Type": "application/json"},
            400,
        ),
        (json.dumps({"text": "[toolong] x"}).encode(), {"Content-Type": "application/json"}, 400),
        (json.dumps({"text": "y" * 2001}).encode(), {"Content-Type": "application/json"}, 413),
    ],
)
def test_errors_are_json(client: TestClient, body: bytes, headers: dict[str, str], status: int) -> None:
    r = client.post("/v1/tts", content=body, headers=headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert isinstance(payload["detail"], str) and payload["error"]["code"] == status
    assert client.get("/v1/health").json()["status"] == "ok"  # still serving


def test_body_cap_with_and_without_content_length(client: TestClient, settings: ServerSettings) -> None:
    big = b"x" * (settings.max_body_bytes + 1)
    r = client.post("/v1/tts", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger" in r.json()["detail"]

    def chunks():  # no Content-Length: chunked transfer
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536

    r = client.post("/v1/tts", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_overload_is_503_with_retry_after(engine: FakeEngine, settings: ServerSettings) -> None:
    engine.max_sessions = 0
    with TestClient(create_app(engine, settings)) as c:
        r = c.post("/v1/tts", json={"text": "x"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["error"]["type"] == "overloaded_error"


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["detail"] == "Not Found"
    assert client.get("/v1/tts").status_code == 405


def test_health_metrics_openapi_page(client: TestClient) -> None:
    client.post("/v1/tts", json={"text": "x"})
    assert client.get("/v1/health").json() == {"status": "ok", "sample_rate": SR}
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    assert "# TYPE s2tts_requests_total counter" in m.text and "s2tts_ttfa_seconds_p50 0.05" in m.text
    assert 's2tts_http_requests_total{route="/v1/tts",status="200"} 1' in m.text
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/tts"]["post"]["requestBody"]["content"]
    assert body["application/msgpack"]["schema"]["$ref"].endswith("ServeTTSRequest")
    assert "ServeTTSRequest" in spec["components"]["schemas"] and "/v1/audio/speech" in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="speak"' in page.text
