"""Run the server: ``serve(engine, settings)`` builds the app and hands it to uvicorn.

Websocket messages are capped at ``max_body_bytes`` like HTTP bodies. The engine is closed when
uvicorn stops (Ctrl-C or SIGTERM), after in-flight requests had ``graceful_timeout_s`` to end.
"""

from __future__ import annotations

import logging

import uvicorn

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
    try:
        server.run()
    finally:
        engine.close()
