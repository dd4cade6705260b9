"""The server over the real engine (a tiny random checkpoint on CPU): every route end to end.

Runs once ``s2tts.inference.engine`` exists. Random weights make noise, not speech; what is
checked is the plumbing: frames -> chunks -> formats, seeds, voices through the codec, the codec
routes, cancellation on disconnect, metrics, and the official clients.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import ormsgpack
import pytest
import soundfile as sf
import torch
from fishaudio import FishAudio

from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import running
from .fake_engine import sine

engine_mod = pytest.importorskip("s2tts.inference.engine")

FRAMES = {"max_new_tokens": 12, "min_new_tokens": 12}


@pytest.fixture(scope="module")
def real_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from s2tts.checkpoint import init_checkpoint, load_checkpoint
    from s2tts.models.codec.weights import load_codec

    torch.set_num_threads(1)
    path = init_checkpoint(tmp_path_factory.mktemp("ckpt"), preset="tiny", codec_preset="tiny")
    checkpoint = load_checkpoint(path)
    codec = load_codec(path / "codec.safetensors", path / "codec_config.json")
    engine = engine_mod.TTSEngine(
        checkpoint, codec, engine_mod.EngineConfig(max_sessions=2, max_seq_len=1024)
    )
    yield engine
    engine.close()


@pytest.fixture
def url(real_engine: object, tmp_path: Path) -> Iterator[str]:
    with running(create_app(real_engine, ServerSettings(data_dir=tmp_path / "data"))) as base:  # type: ignore[arg-type]
        yield base


def test_protocol_matches(real_engine: object) -> None:
    from s2tts.server.engine_api import Engine

    for name in ("stream", "synthesize", "encode_audio", "decode_codes", "metrics", "close"):
        assert callable(getattr(engine_mod.TTSEngine, name)), name
    assert isinstance(real_engine, Engine)


def test_tts_formats_and_seed(url: str) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"text": "Hello world.", "seed": 3, **FRAMES}
        wav = http.post("/v1/tts", json=body)
        assert wav.status_code == 200, wav.text
        y, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
        assert rate == 44100 and len(y) > 0 and len(y) % 2048 == 0 and np.isfinite(y).all()
        again = http.post("/v1/tts", json=body)
        assert again.content == wav.content  # same seed, same audio
        mp3 = http.post("/v1/tts", json={**body, "format": "mp3"})
        assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
        with http.stream("POST", "/v1/tts", json={**body, "format": "pcm", "streaming": True}) as r:
            parts = [p for p in r.iter_raw() if p]
        assert sum(map(len, parts)) == 2 * len(y)


def test_voice_clone_codec_and_metrics(url: str, real_engine: object) -> None:
    clip = encode_audio(sine(44100), "wav", 44100)
    with httpx.Client(base_url=url, timeout=60) as http:
        r = http.post(
            "/v1/audio/voices",
            data={"name": "v", "ref_text": "a tone"},
            files={"audio_sample": ("v.wav", clip)},
        )
        assert r.status_code == 200, r.text
        r = http.post("/v1/tts", json={"text": "Hi.", "reference_id": "v", **FRAMES})
        assert r.status_code == 200, r.text
        enc = http.post(
            "/v1/vqgan/encode",
            content=ormsgpack.packb({"audios": [clip]}),
            headers={"Content-Type": "application/msgpack"},
        )
        tokens = ormsgpack.unpackb(enc.content)["tokens"]
        assert len(tokens[0]) == real_engine.num_codebooks  # type: ignore[attr-defined]
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


def test_disconnect_cancels_the_engine_session(url: str, real_engine: object) -> None:
    long = {
        "text": "A long one.",
        "max_new_tokens": 400,
        "min_new_tokens": 400,
        "format": "pcm",
        "streaming": True,
    }
    with httpx.Client(base_url=url, timeout=60) as http:
        with http.stream("POST", "/v1/tts", json=long) as r:
            chunks = r.iter_raw()
            next(chunks)
        t0 = time.monotonic()
        while real_engine.metrics()["sessions_active"] and time.monotonic() - t0 < 5:  # type: ignore[attr-defined]
            time.sleep(0.02)
        assert real_engine.metrics()["sessions_active"] == 0  # type: ignore[attr-defined]
        assert time.monotonic() - t0 < 1.0


def test_official_clients(url: str) -> None:
    fish = FishAudio(api_key="unused", base_url=url)
    pcm = fish.tts.convert(text="Hello.", format="pcm", config=fish_config())
    assert len(pcm) % 4096 == 0  # whole frames (random weights may stop early: no min_new_tokens here)
    client = openai.OpenAI(api_key="unused", base_url=url + "/v1", max_retries=0)
    speech = client.audio.speech.create(
        model="s2-pro", voice="alloy", input="Hello.", response_format="wav", extra_body=FRAMES
    )
    assert sf.info(io.BytesIO(speech.content)).frames > 0


def fish_config():  # the SDK's own config type; its max_new_tokens is passed through
    from fishaudio.types import TTSConfig

    return TTSConfig(max_new_tokens=12)
