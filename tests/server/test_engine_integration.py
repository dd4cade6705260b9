"""End to end over uvicorn on loopback: the protocol check, seeds, a cloned voice through the codec,
metrics and both official clients (disconnects: test_clients.py), all on the real engine (the shared
tiny random checkpoint of conftest.py).

Random weights make noise, not speech; what is checked is the plumbing: frames -> chunks ->
formats, seeds, voices through the codec, the codec routes, metrics, the clients.
"""

from __future__ import annotations

import io

import httpx
import numpy as np
import openai
import ormsgpack
import soundfile as sf
from fishaudio import FishAudio

from s2tts.inference.engine import TTSEngine
from s2tts.server.engine_api import Engine
from s2tts.server.formats import encode_audio

from .conftest import FRAME, frames
from .real_engine import RecordingEngine
from .signals import sine

FRAMES = frames(11)


def test_protocol_matches(engine: RecordingEngine) -> None:
    for name in ("stream", "synthesize", "encode_audio", "decode_codes", "metrics", "close"):
        assert callable(getattr(TTSEngine, name)), name
    assert isinstance(engine, Engine)


def test_tts_formats_and_seed(base_url: str, engine: RecordingEngine) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        body = {"text": "Hello world.", "seed": 3, **FRAMES}
        wav = http.post("/v1/tts", json=body)
        assert wav.status_code == 200, wav.text
        y, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
        assert rate == 44100 and len(y) == 11 * FRAME and np.isfinite(y).all() and np.abs(y).max() > 0
        again = http.post("/v1/tts", json=body)
        assert again.content == wav.content  # same seed, same audio
        other = http.post("/v1/tts", json={**body, "seed": 4})
        assert len(other.content) == len(wav.content) and other.content != wav.content
        mp3 = http.post("/v1/tts", json={**body, "format": "mp3"})
        assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
        with http.stream("POST", "/v1/tts", json={**body, "format": "pcm", "streaming": True}) as r:
            parts = [p for p in r.iter_raw() if p]
        assert sum(map(len, parts)) == 2 * len(y)


def test_voice_clone_codec_and_metrics(base_url: str, engine: RecordingEngine) -> None:
    clip = encode_audio(sine(44100), "wav", 44100)
    with httpx.Client(base_url=base_url, timeout=60) as http:
        r = http.post(
            "/v1/audio/voices",
            data={"name": "v", "ref_text": "a tone"},
            files={"audio_sample": ("v.wav", clip)},
        )
        assert r.status_code == 200, r.text
        r = http.post("/v1/tts", json={"text": "Hi.", "reference_id": "v", **FRAMES})
        assert r.status_code == 200, r.text
        assert engine.requests[-1].references[0].codes is not None  # the stored voice, encoded
        enc = http.post(
            "/v1/vqgan/encode",
            content=ormsgpack.packb({"audios": [clip]}),
            headers={"Content-Type": "application/msgpack"},
        )
        tokens = ormsgpack.unpackb(enc.content)["tokens"]
        assert len(tokens[0]) == engine.num_codebooks
        dec = http.post(
            "/v1/vqgan/decode",
            content=ormsgpack.packb({"tokens": tokens}),
            headers={"Content-Type": "application/msgpack"},
        )
        assert dec.status_code == 200, dec.text
        pcm = np.frombuffer(ormsgpack.unpackb(dec.content)["audios"][0], "<f2")
        assert len(pcm) == len(tokens[0][0]) * 2048
        metrics = http.get("/metrics").text
        assert "# TYPE s2tts_requests_total counter" in metrics and "s2tts_sessions_active 0" in metrics


def test_official_clients(base_url: str, engine: RecordingEngine) -> None:
    fish = FishAudio(api_key="unused", base_url=base_url)
    pcm = fish.tts.convert(text="Hello.", format="pcm", config=fish_config())
    # whole frames, as many as the engine made (random weights may stop early: no min_new_tokens here)
    assert len(pcm) % 4096 == 0 and len(pcm) == 2 * engine.calls[-1].samples
    client = openai.OpenAI(api_key="unused", base_url=base_url + "/v1", max_retries=0)
    speech = client.audio.speech.create(
        model="s2-pro", voice="alloy", input="Hello.", response_format="wav", extra_body=FRAMES
    )
    assert sf.info(io.BytesIO(speech.content)).frames == 11 * FRAME


def fish_config():  # the SDK's own config type; its max_new_tokens is passed through
    from fishaudio.types import TTSConfig

    return TTSConfig(max_new_tokens=12)
