"""``language`` on both speech endpoints, over a live loopback server and the real engine: a phoneme
(espeak) model reads the text in the language asked for, espeak-ng voices it does not know are a
400, malformed values a 422, and a text model ignores the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from httpx_ws import connect_ws

from s2tts.checkpoint import S2Checkpoint, init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.models.codec import Codec, load_codec
from s2tts.server.app import create_app
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, frames, running, start_engine
from .real_engine import RecordingEngine

GERMAN = "Guten Tag, wie geht es Ihnen?"


@pytest.fixture(scope="module")
def espeak_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(
        tmp_path_factory.mktemp("tiny-espeak"), "tiny", seed=0, codec_preset="tiny", text_frontend="espeak"
    )


@pytest.fixture(scope="module")
def espeak_model(espeak_dir: Path) -> tuple[S2Checkpoint, Codec]:
    return load_checkpoint(espeak_dir), load_codec(espeak_dir)


@pytest.fixture
def espeak_server(
    espeak_model: tuple[S2Checkpoint, Codec], tmp_path: Path
) -> Iterator[tuple[str, RecordingEngine]]:
    with start_engine(espeak_model, max_sessions=2, max_seq_len=1024) as engine:
        settings = ServerSettings(data_dir=tmp_path / "data")
        with running(create_app(engine, settings)) as url:
            yield url, engine


def _prefilled(engine: RecordingEngine) -> int:
    return int(engine.metrics().get("prefill_tokens_total", 0))


def _tts(url: str, **fields: object) -> httpx.Response:
    body = {"text": GERMAN, "format": "wav", "seed": 0, **frames(2), **fields}
    return httpx.post(url + "/v1/tts", json=body, timeout=120)


def _speech(url: str, **fields: object) -> httpx.Response:
    body = {"input": GERMAN, "response_format": "wav", "seed": 0, **frames(2), **fields}
    return httpx.post(url + "/v1/audio/speech", json=body, timeout=120)


def test_a_phoneme_model_reads_the_language_asked_for(espeak_server: tuple[str, RecordingEngine]) -> None:
    url, engine = espeak_server
    cost = {}
    for language in ("de", None, "auto"):
        before = _prefilled(engine)
        response = _tts(url, **({"language": language} if language else {}))
        assert response.status_code == 200 and response.content[:4] == b"RIFF", response.text
        cost[language] = _prefilled(engine) - before
    assert [c.request.language for c in engine.calls] == ["de", None, None]  # "auto": the default
    # German IPA differs from the English reading of the same letters: another prompt length
    assert cost["de"] != cost[None] == cost["auto"]

    before = _prefilled(engine)
    response = _speech(url, language="de")
    assert response.status_code == 200 and len(response.content) > 2 * FRAME, response.text
    assert engine.calls[-1].request.language == "de" and _prefilled(engine) - before == cost["de"]


def test_a_live_session_keeps_its_language(espeak_server: tuple[str, RecordingEngine]) -> None:
    url, engine = espeak_server
    start = {"event": "start", "request": {"format": "pcm", "language": "de", **frames(2)}}
    with httpx.Client(base_url=url, timeout=120) as http, connect_ws("/v1/tts/live", http) as ws:
        ws.send_text(json.dumps(start))
        ws.send_text(json.dumps({"event": "text", "text": "Guten Tag."}))
        ws.send_text(json.dumps({"event": "flush"}))
        ws.send_text(json.dumps({"event": "text", "text": "Wie geht es Ihnen?"}))
        ws.send_text(json.dumps({"event": "stop"}))
        while json.loads(ws.receive_text())["event"] != "finish":
            pass
    assert [(r.text, r.language) for r in engine.requests] == [
        ("Guten Tag.", "de"),
        ("Wie geht es Ihnen?", "de"),
    ]


@pytest.mark.parametrize("call", [_tts, _speech])
def test_a_language_espeak_does_not_know_is_a_400(
    espeak_server: tuple[str, RecordingEngine], call: object
) -> None:
    url, engine = espeak_server
    response = call(url, language="xx")  # type: ignore[operator]
    assert response.status_code == 400
    body = response.json()
    assert "espeak-ng failed for language 'xx'" in body["detail"] and body["error"]["code"] == 400
    assert engine.wait_idle(5.0)


@pytest.mark.parametrize("call", [_tts, _speech])
@pytest.mark.parametrize("language", ["en us", "-de", "x" * 40, 7])
def test_a_malformed_language_is_a_422(base_url: str, call: object, language: object) -> None:
    response = call(base_url, language=language)  # type: ignore[operator]
    assert response.status_code == 422
    body = response.json()
    assert body["detail"].startswith("language:") and body["error"]["type"] == "invalid_request_error"


def test_a_text_model_ignores_the_language(base_url: str, engine: RecordingEngine) -> None:
    before = _prefilled(engine)
    assert _tts(base_url).status_code == 200
    plain = _prefilled(engine) - before
    before = _prefilled(engine)
    response = _tts(base_url, language="xx")
    assert response.status_code == 200 and engine.calls[-1].request.language == "xx"
    assert _prefilled(engine) - before == plain


def test_speak_passes_language(espeak_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "de.wav"
    args = ["speak", GERMAN, "-o", str(out), "--checkpoint", str(espeak_dir), "--seed", "0"]
    assert main([*args, "--language", "de", "--max-new-tokens", "3"]) == 0 and out.is_file()
    capsys.readouterr()
    assert main([*args, "--language", "xx"]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("s2tts: error:")]
    assert len(errors) == 1 and "espeak-ng failed for language 'xx'" in errors[0]
    assert "Traceback" not in err
