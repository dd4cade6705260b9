"""One set of limits (flags, environment, /metrics) and a queue that queues: a real server on loopback."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI

from s2tts.cli import build_parser
from s2tts.cli.serve import engine_config, server_settings
from s2tts.server.app import create_app
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, frames, running
from .real_engine import RecordingEngine


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, flags=re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


async def _burst(url: str, n: int, n_frames: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        body = {"text": "queued", "format": "pcm", "streaming": False, **frames(n_frames)}
        return await asyncio.gather(*(http.post("/v1/tts", json={**body, "seed": i}) for i in range(n)))


def test_twenty_concurrent_requests_wait_in_the_queue_and_all_complete(
    engine: RecordingEngine, settings: ServerSettings
) -> None:
    # Four running slots (the engine's rows), the default queue and queue timeout.
    limited = ServerSettings(**{**settings.__dict__, "max_sessions": 4})
    app: FastAPI = create_app(engine, limited)
    with running(app) as url:
        responses = asyncio.run(_burst(url, 20, 6))
        assert [r.status_code for r in responses] == [200] * 20
        assert all(len(r.content) == 2 * 6 * FRAME for r in responses)
        metrics = httpx.get(url + "/metrics").text
    assert [c.outcome for c in engine.calls] == ["completed"] * 20
    assert _metric(metrics, "s2tts_server_rejected_total") == 0
    assert _metric(metrics, "s2tts_max_sessions") == 4 and _metric(metrics, "s2tts_max_queue") == 64


def test_a_full_queue_is_429_and_a_timed_out_wait_503_both_with_retry_after(
    engine: RecordingEngine, settings: ServerSettings
) -> None:
    long = {"text": "long", "format": "pcm", "streaming": True, **frames(400)}
    short = {"text": "x", "format": "pcm", **frames(2)}
    tight = ServerSettings(**{**settings.__dict__, "max_sessions": 1, "max_queue": 1, "queue_timeout_s": 0.3})
    with running(create_app(engine, tight)) as url, httpx.Client(base_url=url, timeout=30) as http:
        with http.stream("POST", "/v1/tts", json=long) as first:
            chunks = first.iter_raw()  # keep a reference: a dropped iterator closes the connection
            next(chunks)

            async def two() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                    waiter = asyncio.ensure_future(client.post("/v1/tts", json=short))
                    while _metric((await client.get("/metrics")).text, "s2tts_server_queue_depth") < 1:
                        await asyncio.sleep(0.01)
                    refused = await client.post("/v1/tts", json=short)  # the queue (1) is full
                    return [refused, await waiter]

            refused, timed_out = asyncio.run(two())
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert timed_out.status_code == 503 and timed_out.headers["retry-after"] == "1"
        assert "0.3 s" in timed_out.json()["detail"]
        assert engine.wait_idle(5.0)
        assert http.post("/v1/tts", json=short).status_code == 200


def test_flags_and_environment_name_the_same_limits() -> None:
    args = build_parser().parse_args(
        ["serve", "--max-sessions", "16", "--max-queue", "32", "--queue-timeout", "5"]
    )
    settings = server_settings(args, {"S2TTS_MAX_SESSIONS": "2", "S2TTS_MAX_QUEUE": "3"})
    assert (settings.max_sessions, settings.max_queue, settings.queue_timeout_s) == (16, 32, 5.0)
    config = engine_config(settings, args)
    assert (config.max_sessions, config.max_queue) == (16, 32)  # the engine runs what the server admits
    big = server_settings(args, {"S2TTS_MAX_TEXT_CHARS": "50000"})
    assert engine_config(big, args).max_text_chars == 50_000  # and takes the texts it admits
    from_env = server_settings(build_parser().parse_args(["serve"]), {"S2TTS_MAX_SESSIONS": "2"})
    assert from_env.max_sessions == 2 and engine_config(from_env, args).max_sessions == 2


@pytest.mark.parametrize("flag", ["--max-sessions", "--max-queue", "--queue-timeout"])
def test_help_names_the_variable_of_each_limit(flag: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "s2tts.cli", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    variable = {"--max-sessions": "S2TTS_MAX_SESSIONS", "--max-queue": "S2TTS_MAX_QUEUE"}.get(
        flag, "S2TTS_QUEUE_TIMEOUT_S"
    )
    line = " ".join(out.split())
    assert re.search(rf"{flag} \S+ [^-]*{variable}", line)
