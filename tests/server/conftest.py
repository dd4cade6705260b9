"""Server test fixtures: the real engine on a tiny random checkpoint, an app on a temp data dir, a
live uvicorn on loopback.

One checkpoint and one engine serve the whole session (building them takes seconds, a request a
fraction of one); ``engine`` hands that engine to a test with its records cleared and checks
afterwards that the test left nothing running in it. Tests that need other engine limits build
their own with ``start_engine`` on the same weights.

Random weights stop at a random frame (at the first, about one time in ten), so requests to the
tiny checkpoint say how long they are: ``frames(n)`` asks for exactly n frames of audio
(``min_new_tokens = max_new_tokens = n + 1``: the step that ends a text batch makes no frame).
Clients that cannot send a length (the fish.audio SDK) talk to ``packaged_engine``: the trained
model that ships in the package, which ends when its text is spoken.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from s2tts.checkpoint import S2Checkpoint, init_checkpoint, load_checkpoint
from s2tts.inference.engine import EngineConfig
from s2tts.inference.packaged import find_packaged, packaged_model_dir
from s2tts.models.codec import Codec, load_codec
from s2tts.server.app import create_app
from s2tts.server.run import serve_in_thread
from s2tts.server.settings import ServerSettings

from .real_engine import RecordingEngine

SR = 44100  # the codec's sample rate
FRAME = 2048  # samples per codec frame


def frames(n: int) -> dict[str, int]:
    """Request fields for exactly ``n`` frames (n * FRAME samples) of audio."""
    return {"max_new_tokens": n + 1, "min_new_tokens": n + 1}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[S2Checkpoint, Codec]:
    path = init_checkpoint(tmp_path_factory.mktemp("tiny"), "tiny", seed=0, codec_preset="tiny")
    return load_checkpoint(path), load_codec(path)


@contextlib.contextmanager
def start_engine(model: tuple[S2Checkpoint, Codec], **config: object) -> Iterator[RecordingEngine]:
    """A RecordingEngine on these weights with these EngineConfig fields; closed on exit."""
    engine = RecordingEngine(model[0], model[1], EngineConfig(**config))  # type: ignore[arg-type]
    try:
        yield engine
    finally:
        engine.close()


def handed_over(engine: RecordingEngine) -> Iterator[RecordingEngine]:
    """A shared engine for one test: its records cleared, and nothing left running afterwards."""
    engine.reset()
    yield engine
    assert engine.wait_idle(5.0), "the test left a request running in the engine"


@pytest.fixture(scope="session")
def packaged_model() -> tuple[S2Checkpoint, Codec]:
    """The packaged default model (the folder inside the package, as ``load_engine()`` finds it)."""
    folder = find_packaged()
    if folder is None:
        pytest.fail(f"no packaged model in {packaged_model_dir()}")
    return load_checkpoint(folder), load_codec(folder)


@pytest.fixture(scope="session")
def shared_packaged_engine(packaged_model: tuple[S2Checkpoint, Codec]) -> Iterator[RecordingEngine]:
    with start_engine(packaged_model, max_sessions=2, max_queue=8, max_seq_len=1024) as engine:
        yield engine


@pytest.fixture
def packaged_engine(shared_packaged_engine: RecordingEngine) -> Iterator[RecordingEngine]:
    yield from handed_over(shared_packaged_engine)


@pytest.fixture(scope="session")
def shared_engine(tiny_model: tuple[S2Checkpoint, Codec]) -> Iterator[RecordingEngine]:
    with start_engine(tiny_model, max_sessions=4, max_queue=16, max_seq_len=512) as engine:
        yield engine


@pytest.fixture
def engine(shared_engine: RecordingEngine) -> Iterator[RecordingEngine]:
    yield from handed_over(shared_engine)


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", max_body_bytes=2 * 1024 * 1024, max_text_chars=2000)


@pytest.fixture
def app(engine: RecordingEngine, settings: ServerSettings) -> FastAPI:
    return create_app(engine, settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def running(app: FastAPI, ws_max_size: int = 16 * 1024 * 1024) -> contextlib.AbstractContextManager[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    return serve_in_thread(app, ws_max_size=ws_max_size)


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with running(app) as url:
        yield url
