"""Run the server: ``serve(engine, settings)`` builds the app and hands it to uvicorn.

Websocket messages are capped at ``max_body_bytes`` like HTTP bodies. The engine is closed when
uvicorn stops (Ctrl-C or SIGTERM), after in-flight requests had ``graceful_timeout_s`` to end.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from s2tts.checkpoint import RANDOM_NOTICE
from s2tts.server.app import create_app
from s2tts.server.engine_api import Engine
from s2tts.server.settings import ServerSettings

log = logging.getLogger(__name__)


def uvicorn_config(
    engine: Engine, settings: ServerSettings, graceful_timeout_s: float = 10.0
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(engine, settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=int(graceful_timeout_s),
        proxy_headers=False,
        server_header=False,
    )


def serve(engine: Engine, settings: ServerSettings) -> None:
    """Serve until interrupted, then close the engine."""
    server = uvicorn.Server(uvicorn_config(engine, settings))
    log.info("serving on http://%s:%d (voices in %s)", settings.host, settings.port, settings.voices_dir)
    if getattr(engine, "random_weights", False):
        log.warning("%s", RANDOM_NOTICE)
    try:
        server.run()
    finally:
        engine.close()


@contextlib.contextmanager
def serve_in_thread(
    app: FastAPI, host: str = "127.0.0.1", ws_max_size: int = 16 * 1024 * 1024, start_timeout_s: float = 30.0
) -> Iterator[str]:
    """Run ``app`` under uvicorn on ``host`` (a free port) in a background thread; yields its base
    URL and stops the server on exit. For tests, benchmarks and embedding in another program."""
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", ws_max_size=ws_max_size)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout_s)
