"""The web page in headless Chromium over the real engine: upload a voice, pick it, speak, audio
plays while streaming.

The page sends no length fields, so the tiny random checkpoint ends where its sampling lands: the
test sends a seed, with which the text below makes at least 16 frames. A text over the server's cap
shows its error.

Chromium is driven over the DevTools protocol with the ``websockets`` client (no extra package).
``scripts/setup.sh`` installs it (Debian: ``apt-get install chromium``); without it the test fails.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from s2tts.checkpoint import S2Checkpoint
from s2tts.inference.params import SamplingParams
from s2tts.models.codec import Codec
from s2tts.server.app import create_app
from s2tts.server.formats import encode_audio
from s2tts.server.settings import ServerSettings

from .conftest import FRAME, running, start_engine
from .real_engine import RecordingEngine
from .signals import sine

BROWSER = next(
    (shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)),
    None,
)


class Page:
    """A minimal DevTools-protocol client for one page."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=20))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def eval(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True, userGesture=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(expression)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[str]:
    if BROWSER is None:
        pytest.fail("no Chromium binary: scripts/setup.sh installs it (apt-get install chromium)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            str(BROWSER),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("Chromium did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def open_page(devtools: str) -> Iterator[Page]:
    with urllib.request.urlopen(devtools + "/json/list", timeout=5) as r:
        targets = [t for t in json.load(r) if t.get("type") == "page"]
    with connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
        yield Page(ws)


# The page's sliders start at the model's own sampling defaults (a checkpoint's sampling.json).
MODEL_SAMPLING = SamplingParams(temperature=0.55, top_p=0.65)


@pytest.fixture(scope="module")
def page_engine(tiny_model: tuple[S2Checkpoint, Codec]) -> Iterator[RecordingEngine]:
    ckpt, codec = tiny_model
    with start_engine(
        (replace(ckpt, sampling=MODEL_SAMPLING), codec), max_sessions=2, max_seq_len=288
    ) as engine:
        yield engine


def test_page_uploads_a_voice_and_plays_while_streaming(
    browser: str, page_engine: RecordingEngine, tmp_path: Path
) -> None:
    engine = page_engine
    app = create_app(engine, ServerSettings(data_dir=tmp_path / "data"))
    clip = tmp_path / "my voice.wav"
    clip.write_bytes(encode_audio(sine(16000, rate=16000), "wav", 16000))
    with running(app) as url, open_page(browser) as page:
        page.call("Page.enable")
        page.call("Page.navigate", url=url + "/")
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('speak')")
        page.wait_for("document.getElementById('server-info').textContent.includes('44100')")
        assert page.eval("document.getElementById('temperature-value').textContent") == "0.55"
        # the checkpoint is random (random_init.json): the page says the audio is noise
        page.wait_for("!document.getElementById('random-warning').hidden")
        assert "noise" in page.eval("document.getElementById('random-warning').textContent")

        # upload a voice through the form
        page.eval("document.getElementById('voice-upload-panel').open = true")
        doc = page.call("DOM.getDocument")["root"]["nodeId"]
        node = page.call("DOM.querySelector", nodeId=doc, selector="#voice-file")["nodeId"]
        page.call("DOM.setFileInputFiles", nodeId=node, files=[str(clip)])
        page.eval(
            "document.getElementById('voice-name').value = 'page voice';"
            "document.getElementById('voice-text').value = 'a sine';"
            "document.getElementById('voice-upload').click()"
        )
        page.wait_for("[...document.getElementById('voice').options].some(o => o.value === 'page voice')")
        assert page.eval("document.getElementById('voice').value") == "page voice"

        # speak: audio must be scheduled before the stream is over
        page.eval(
            "document.getElementById('text').value = 'Hello [laugh] from the page.';"
            "document.getElementById('seed').value = '5';"
            "document.getElementById('language').value = 'de';"
            "document.getElementById('speak').click()"
        )
        during = page.wait_for(
            "window.s2ttsStats.chunksScheduled > 0 && !window.s2ttsStats.done && window.s2ttsStats"
        )
        assert during["playing"] and during["sampleRate"] == 44100
        stats = page.wait_for("window.s2ttsStats.done && window.s2ttsStats", timeout=20)
        assert stats["error"] is None, stats
        [call] = engine.calls
        assert call.outcome == "completed" and call.samples >= 16 * FRAME
        assert stats["bytesReceived"] == 2 * call.samples  # everything the engine made
        assert stats["chunksScheduled"] >= 2 and stats["firstAudioMs"] is not None
        assert page.eval("document.getElementById('status').textContent").startswith("Done")
        assert not page.eval("document.getElementById('download').hidden")
        req = call.request
        assert req.text == "Hello [laugh] from the page." and req.seed == 5 and req.language == "de"
        assert req.references[0].voice_id == "page voice" and req.first_chunk_frames == 1
        assert (req.sampling.temperature, req.sampling.top_p) == (0.55, 0.65)  # the sliders' start
        page.wait_for("window.s2ttsStats.chunksPlayed > 0", timeout=10)  # the audio clock ran

        # errors show in the status line
        page.eval(
            "document.getElementById('text').value = 'x'.repeat(10001); document.getElementById('speak').click()"
        )
        page.wait_for("window.s2ttsStats.done && window.s2ttsStats.error")
        assert "the limit is 10000" in page.eval("document.getElementById('status').textContent")
        assert len(engine.calls) == 1  # refused before it was queued
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        assert len(shot) > 1000
        if os.environ.get("S2TTS_PAGE_SCREENSHOT"):
            Path(os.environ["S2TTS_PAGE_SCREENSHOT"]).write_bytes(base64.b64decode(shot))


def test_api_docs_page_works_offline(browser: str, page_engine: RecordingEngine, tmp_path: Path) -> None:
    """/docs renders the API from /openapi.json with no asset from elsewhere (FastAPI's default
    pulls Swagger UI from a CDN, a blank page offline)."""
    app = create_app(page_engine, ServerSettings(data_dir=tmp_path / "data"))
    with running(app) as url, open_page(browser) as page:
        page.call("Network.enable")
        page.call("Page.navigate", url=url + "/docs")
        page.wait_for("window.s2ttsDocsReady === true")
        text = page.eval("document.body.innerText")
        assert "/v1/tts" in text and "/v1/audio/speech" in text and "ServeTTSRequest" in text
        sources = page.eval(
            "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
        )
        assert sources == []  # nothing loaded from anywhere else
