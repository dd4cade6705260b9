"""HTTP routes over the real engine: bodies, formats, voices, codec, errors, overload, metrics, schema.

The engine is a tiny random checkpoint (noise, not speech), so audio is checked against what the
engine itself produced for the request (``engine.calls``): same length, same samples.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import re

import av
import httpx
import numpy as np
import ormsgpack
import pytest
import soundfile as sf
from fastapi import FastAPI
from fastapi.testclient import TestClient

from s2tts.checkpoint import RANDOM_NOTICE, S2Checkpoint
from s2tts.inference.params import SamplingParams
from s2tts.models.codec import Codec
from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, SR, frames, running, start_engine
from .real_engine import RecordingEngine
from .signals import sine

MSGPACK = {"Content-Type": "application/msgpack"}
N = 12  # frames per request unless a test needs more


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    return encode_audio(sine(int(seconds * rate), rate=rate), "wav", rate)


def as_int16(pcm: np.ndarray) -> np.ndarray:
    """What a 16-bit format holds for float PCM (the encoder's own rounding)."""
    return (np.clip(pcm, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def decoded_seconds(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as c:
        n = sum(f.samples for f in c.decode(audio=0))
        return n / c.streams.audio[0].codec_context.sample_rate


def test_tts_json_wav_one_shot(client: TestClient, engine: RecordingEngine) -> None:
    r = client.post("/v1/tts", json={"text": "Hello world.", **frames(N)})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav" and r.headers["x-sample-rate"] == str(SR)
    assert int(r.headers["content-length"]) == len(r.content)
    y, rate = sf.read(io.BytesIO(r.content), dtype="int16")
    [call] = engine.calls
    assert rate == SR and len(y) == N * FRAME == call.samples
    np.testing.assert_array_equal(y, as_int16(call.pcm))  # the engine's audio, sample for sample
    req = call.request
    assert req.text == "Hello world." and req.sampling.temperature == 0.8 and req.chunk_length == 200
    assert (req.sampling.max_new_tokens, req.sampling.min_new_tokens) == (N + 1, N + 1)
    assert req.request_id == r.headers["x-request-id"]


def test_tts_msgpack_with_inline_reference(client: TestClient, engine: RecordingEngine) -> None:
    body = {
        "text": "Hi",
        "references": [{"audio": wav_bytes(), "text": "ref words"}],
        "format": "pcm",
        "seed": 7,
        **frames(N),
    }
    r = client.post("/v1/tts", content=ormsgpack.packb(body), headers=MSGPACK)
    assert r.status_code == 200, r.text
    [call] = engine.calls
    assert len(r.content) == 2 * N * FRAME
    np.testing.assert_array_equal(np.frombuffer(r.content, "<i2"), as_int16(call.pcm))
    ref = call.request.references[0]
    assert ref.text == "ref words" and ref.sample_rate == 16000 and ref.audio is not None
    assert call.request.seed == 7
    assert engine.encoded == [(8000, 16000)]  # the decoded upload reached the codec


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "aac", "wav", "pcm"])
@pytest.mark.parametrize("streaming", [True, False])
def test_tts_every_format_streams(
    client: TestClient, engine: RecordingEngine, fmt: str, streaming: bool
) -> None:
    body = {"text": "x", "format": fmt, "streaming": streaming, **frames(16)}
    with client.stream("POST", "/v1/tts", json=body) as r:
        assert r.status_code == 200
        chunks = [c for c in r.iter_raw() if c]
    data = b"".join(chunks)
    if streaming and fmt != "flac":
        assert len(chunks) > 1
    assert ("content-length" in r.headers) == (not streaming)
    seconds = len(data) / 2 / SR if fmt == "pcm" else decoded_seconds(data)
    assert abs(seconds - 16 * FRAME / SR) < 0.06, seconds  # all of the audio (lossy codecs pad a little)


def test_tts_sample_rate_and_prosody(client: TestClient, engine: RecordingEngine) -> None:
    body = {"text": "x", "format": "wav", "seed": 11, **frames(N)}
    plain, _ = sf.read(io.BytesIO(client.post("/v1/tts", json=body).content))
    quiet, _ = sf.read(io.BytesIO(client.post("/v1/tts", json={**body, "prosody": {"volume": -6}}).content))
    np.testing.assert_allclose(quiet, plain * 10 ** (-6 / 20), atol=2 / 32767)  # same seed, -6 dB
    r = client.post("/v1/tts", json={**body, "sample_rate": 16000, "prosody": {"speed": 2.0}})
    y, rate = sf.read(io.BytesIO(r.content))
    assert rate == 16000 and abs(len(y) - N * FRAME * 16000 / SR / 2) < 400
    assert len(engine.calls) == 3 and len({c.pcm.tobytes() for c in engine.calls}) == 1


def test_tts_stored_voice_caches_codes(client: TestClient, engine: RecordingEngine) -> None:
    files = {"audio": ("v.wav", wav_bytes(), "audio/wav")}
    r = client.post("/v1/references/add", data={"id": "narrator", "text": "ref text"}, files=files)
    assert r.status_code == 200, r.text
    assert ormsgpack.unpackb(r.content)["reference_id"] == "narrator"
    for _ in range(2):
        r = client.post("/v1/tts", json={"text": "x", "reference_id": "narrator", **frames(4)})
        assert r.status_code == 200
    assert engine.encoded == [(8000, 16000)]  # encoded once, then read from the codes cache
    ref = engine.requests[-1].references[0]
    assert ref.codes is not None and ref.codes.shape[0] == 10 and ref.text == "ref text"
    assert ref.audio is None and ref.voice_id == "narrator"
    r = client.post("/v1/tts", json={"text": "x", "reference_id": ["narrator", "narrator"], **frames(4)})
    assert r.status_code == 200 and len(engine.requests[-1].references) == 2


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
    detail = r.json()["detail"]
    assert (
        r.status_code == 400
        and detail == "voice 'v': cannot decode: not an audio file, or a format FFmpeg cannot read"
    )
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


def test_openai_speech(client: TestClient, engine: RecordingEngine) -> None:
    r = client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": "Hello", "voice": "alloy", **frames(N)}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert abs(decoded_seconds(r.content) - N * FRAME / SR) < 0.06
    assert engine.requests[-1].references == [] and engine.requests[-1].text == "Hello"
    r = client.post(
        "/v1/audio/speech", json={"model": "x", "input": "Hi", "voice": "nobody", "response_format": "wav"}
    )
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = client.post(
        "/v1/audio/speech",
        json={"input": "Hi", "response_format": "pcm", "instructions": "whisper", "speed": 1.0, **frames(N)},
    )
    assert r.headers["x-sample-rate"] == "24000"
    assert abs(len(r.content) / 2 - N * FRAME * 24000 / SR) < 4
    assert engine.requests[-1].text == "[whisper] Hi"
    assert len(engine.calls) == 2  # the 404 never reached the engine


def test_openai_ref_audio_and_stored_builtin_name(client: TestClient, engine: RecordingEngine) -> None:
    data_url = "data:audio/wav;base64," + base64.b64encode(wav_bytes()).decode()
    r = client.post(
        "/v1/audio/speech", json={"input": "Hi", "ref_audio": data_url, "ref_text": "ref", **frames(4)}
    )
    assert r.status_code == 200 and engine.requests[-1].references[0].text == "ref"
    files = {"audio_sample": ("s.wav", wav_bytes(), "audio/wav")}
    client.post("/v1/audio/voices", data={"name": "alloy", "ref_text": "mine"}, files=files)
    r = client.post("/v1/audio/speech", json={"input": "Hi", "voice": "alloy", **frames(4)})
    assert r.status_code == 200 and engine.requests[-1].references[0].voice_id == "alloy"


def test_openai_sse(client: TestClient, engine: RecordingEngine) -> None:
    r = client.post(
        "/v1/audio/speech",
        json={"input": "Hi", "stream_format": "sse", "response_format": "pcm", **frames(N)},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert len(events) > 2  # audio arrived in several deltas
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] == N
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert abs(len(pcm) / 2 - N * FRAME * 24000 / SR) < 4


def test_vqgan_round_trip(client: TestClient, engine: RecordingEngine) -> None:
    r = client.post(
        "/v1/vqgan/encode", content=ormsgpack.packb({"audios": [wav_bytes(1.0, 44100)]}), headers=MSGPACK
    )
    assert r.status_code == 200, r.text
    tokens = ormsgpack.unpackb(r.content)["tokens"]
    frames_1s = math.ceil(SR / FRAME)
    assert len(tokens) == 1 and len(tokens[0]) == 10 and len(tokens[0][0]) == frames_1s
    assert engine.encoded == [(SR, SR)]
    r = client.post("/v1/vqgan/decode", content=ormsgpack.packb({"tokens": tokens}), headers=MSGPACK)
    assert r.status_code == 200, r.text
    out = ormsgpack.unpackb(r.content)
    pcm = np.frombuffer(out["audios"][0], "<f2").astype(np.float32)
    assert out["sample_rate"] == SR and len(pcm) == frames_1s * FRAME
    direct = engine.decode_codes(np.asarray(tokens[0]))
    np.testing.assert_allclose(pcm, direct, atol=2e-3)  # float16 on the wire
    r = client.post("/v1/vqgan/decode", json={"tokens": [[[1, 2]] * 9]})
    assert r.status_code == 422 and "10 rows" in r.json()["detail"]
    r = client.post("/v1/vqgan/decode", json={"tokens": [[[1, 2], [3]] * 5]})
    assert r.status_code == 422
    r = client.post("/v1/vqgan/decode", json={"tokens": [[[10**6, 2]] * 10]})
    assert r.status_code == 422 and "out of range" in r.json()["detail"]  # the codec's own check


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
        # a text batch of 1000 bytes does not fit the engine's 512-position context
        (
            json.dumps({"text": "y" * 1500, "chunk_length": 1000}).encode(),
            {"Content-Type": "application/json"},
            400,
        ),
        (json.dumps({"text": "y" * 2001}).encode(), {"Content-Type": "application/json"}, 413),
    ],
)
def test_errors_are_json(
    client: TestClient, engine: RecordingEngine, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = client.post("/v1/tts", content=body, headers=headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert isinstance(payload["detail"], str) and payload["error"]["code"] == status
    if b"y" * 1500 in body and status == 400:
        assert "use a smaller chunk_length" in payload["detail"]
    assert engine.calls == []  # refused before the engine queued anything
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


def test_the_fix_a_prompt_error_names_works(app: FastAPI, engine: RecordingEngine) -> None:
    """'use a smaller chunk_length' (test_errors_are_json) is a fix that works: the same text with
    chunk_length 200 starts streaming (the status comes after the engine's first chunk)."""
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        body = {"text": "y" * 1500, "format": "pcm", "streaming": True}
        with http.stream("POST", "/v1/tts", json={**body, "chunk_length": 1000}) as refused:
            assert refused.status_code == 400
        with http.stream("POST", "/v1/tts", json={**body, "chunk_length": 200}) as fixed:
            assert fixed.status_code == 200
            chunks = fixed.iter_raw()
            assert next(chunks)
        assert engine.wait_idle(5.0)


def test_engine_overload_is_503_with_retry_after(
    tiny_model: tuple[S2Checkpoint, Codec], settings: ServerSettings
) -> None:
    """An engine with one slot and no queue, busy with a long request: the next one is refused."""
    with (
        start_engine(tiny_model, max_sessions=1, max_queue=0, max_seq_len=512) as engine,
        running(create_app(engine, settings)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        long = {"text": "long", "format": "pcm", "streaming": True, **frames(400)}
        with http.stream("POST", "/v1/tts", json=long) as first:
            chunks = first.iter_raw()  # keep a reference: a dropped iterator closes the connection
            next(chunks)
            r = http.post("/v1/tts", json={"text": "x", **frames(2)})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["error"]["type"] == "overloaded_error" and "capacity" in r.json()["detail"]
        assert engine.wait_idle(2.0)  # the first request was cancelled when its client left
        assert engine.metrics()["requests_rejected_total"] == 1
        r = http.post("/v1/tts", json={"text": "x", **frames(2)})
        assert r.status_code == 200 and len(sf.read(io.BytesIO(r.content))[0]) == 2 * FRAME
        assert [c.outcome for c in engine.calls] == ["RequestCancelledError", "completed"]


def test_request_deadline(engine: RecordingEngine, settings: ServerSettings) -> None:
    """The engine's deadline: a complete file becomes 504; a started stream is cut short (no final
    chunk), an SSE stream ends with an error event.

    The server hands every request a generous deadline; the engine moves it into the past once the
    first chunk is out, so each request times out after exactly one chunk on any machine load."""
    timed = ServerSettings(**{**settings.__dict__, "request_timeout_s": 600.0})
    long = {"text": "x", **frames(400)}
    engine.expire_after_first_chunk = True
    try:
        _timed_out_three_ways(engine, timed, long)
    finally:
        engine.expire_after_first_chunk = False
    assert [c.outcome for c in engine.calls] == ["RequestTimeoutError"] * 3
    assert [len(c.chunks) for c in engine.calls] == [1, 1, 1]


def _timed_out_three_ways(engine: RecordingEngine, timed: ServerSettings, long: dict) -> None:
    with running(create_app(engine, timed)) as url, httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/v1/tts", json=long)
        assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
        got = 0
        with (
            pytest.raises(httpx.RemoteProtocolError),
            http.stream("POST", "/v1/tts", json={**long, "format": "pcm"}) as r,
        ):
            assert r.status_code == 200
            for part in r.iter_raw():
                got += len(part)
        assert 0 < got < 2 * 400 * FRAME
        r = http.post("/v1/audio/speech", json={"input": "x", "stream_format": "sse", **frames(400)})
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        assert events[0]["type"] == "speech.audio.delta"
        assert events[-1]["type"] == "error" and "timeout" in events[-1]["error"]["message"]
        assert http.get("/v1/health").status_code == 200


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["detail"] == "Not Found"
    assert client.get("/v1/tts").status_code == 405


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def test_health_metrics_openapi_page(client: TestClient, engine: RecordingEngine) -> None:
    before = engine.metrics()
    assert client.post("/v1/tts", json={"text": "x", **frames(4)}).status_code == 200
    # The tiny checkpoint is random (random_init.json): health says so until a trained model replaces it.
    health = {"status": "ok", "sample_rate": SR, "random_weights": True, "warning": RANDOM_NOTICE}
    health["sampling"] = {"temperature": 0.8, "top_p": 0.8, "top_k": 30}  # no sampling.json: fish's
    assert client.get("/v1/health").json() == health
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    assert "# TYPE s2tts_requests_total counter" in m.text
    assert metric(m.text, "s2tts_requests_total") == before.get("requests_total", 0) + 1
    assert metric(m.text, "s2tts_requests_completed_total") == before.get("requests_completed_total", 0) + 1
    assert metric(m.text, "s2tts_sessions_active") == 0 and metric(m.text, "s2tts_ttfa_seconds_p50") > 0
    assert 's2tts_http_requests_total{route="/v1/tts",status="200"} 1' in m.text
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/tts"]["post"]["requestBody"]["content"]
    assert body["application/msgpack"]["schema"]["$ref"].endswith("ServeTTSRequest")
    assert "ServeTTSRequest" in spec["components"]["schemas"] and "/v1/audio/speech" in spec["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="speak"' in page.text


@pytest.mark.parametrize("normalize", [True, False])
def test_tts_normalize_evens_out_typography(
    client: TestClient, engine: RecordingEngine, normalize: bool
) -> None:
    text = "\u201cHi\u201d  there,\u00a0[whisper]  <|speaker:0|>friend"
    r = client.post("/v1/tts", json={"text": text, "format": "pcm", "normalize": normalize, **frames(2)})
    assert r.status_code == 200
    expected = '"Hi" there, [whisper] <|speaker:0|>friend' if normalize else text
    assert engine.requests[-1].text == expected


def test_health_of_a_trained_model_has_no_warning_and_its_own_sampling(
    tiny_model: tuple[S2Checkpoint, Codec], settings: ServerSettings
) -> None:
    """The warning follows random_init.json: a checkpoint without it (a shipped model) has none.
    Its sampling.json's defaults are what health reports and what fields left out take."""
    model = SamplingParams(temperature=0.5, top_k=1)
    trained = dataclasses.replace(tiny_model[0], random_weights=False, sampling=model)
    with (
        start_engine((trained, tiny_model[1]), max_sessions=1) as engine,
        TestClient(create_app(engine, settings)) as client,
    ):
        assert client.get("/v1/health").json() == {
            "status": "ok",
            "sample_rate": SR,
            "random_weights": False,
            "sampling": {"temperature": 0.5, "top_p": 0.8, "top_k": 1},
        }
        assert client.post("/v1/tts", json={"text": "x", **frames(2)}).status_code == 200
        given = {"text": "x", "temperature": 0.7, **frames(2)}
        assert client.post("/v1/tts", json=given).status_code == 200
        speech = {"input": "x", "voice": "default", **frames(2)}
        assert client.post("/v1/audio/speech", json=speech).status_code == 200
        left_out, changed, openai = (r.sampling for r in engine.requests)
        assert (left_out.temperature, left_out.top_k) == (0.5, 1)
        assert (changed.temperature, changed.top_k) == (0.7, 1)  # only what was given changes
        assert (openai.temperature, openai.top_k) == (0.5, 1)
