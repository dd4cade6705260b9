"""The ``s2tts`` command line, run as a real subprocess and in-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from safetensors.torch import load_file

from s2tts.checkpoint import RANDOM_NOTICE
from s2tts.cli import main
from s2tts.inference.engine import EngineConfig
from s2tts.inference.factory import load_engine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest

PARITY = Path(__file__).parents[1] / "data" / "parity"


def s2tts(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s2tts.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    assert main(["init-checkpoint", "--preset", "tiny", str(path)]) == 0
    return path


def test_init_checkpoint_writes_the_published_layout(tiny: Path) -> None:
    names = {p.name for p in tiny.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "codec.safetensors",
        "random_init.json",
    } <= names
    assert json.loads((tiny / "config.json").read_text())["model_type"] == "fish_qwen3_omni"
    assert any(k.startswith("text_model.model.layers.0") for k in load_file(str(tiny / "model.safetensors")))


def test_generate_codes_greedy_reproduces_reference(tmp_path: Path) -> None:
    golden = load_file(str(PARITY / "lm_a_golden.safetensors"))
    manifest = json.loads((PARITY / "manifest.json").read_text())
    ref = tmp_path / "ref.npy"
    np.save(ref, np.array(manifest["lm_a"]["ref_codes_for_g1"], dtype=np.int64))
    out = tmp_path / "codes.npy"
    rc = main([
        "generate-codes", "--checkpoint", str(PARITY / "lm_a"), "--text", "<|speaker:0|>Hi there.",
        "--reference-codes", str(ref), "--reference-text", "Reference words.",
        "--top-k", "1", "--max-new-tokens", "12", "-o", str(out),
    ])  # fmt: skip
    assert rc == 0
    codes = np.load(out)
    assert codes.dtype == np.int64
    np.testing.assert_array_equal(codes, golden["gen_g1_b0_codes"].numpy())


def test_speak_min_new_tokens_sets_the_length(tiny: Path, tmp_path: Path) -> None:
    """--min-new-tokens = --max-new-tokens = n: exactly n - 1 frames of audio, whatever the model."""
    from s2tts.models.codec.weights import load_codec

    out = tmp_path / "fixed.wav"
    args = ["speak", "Hello there, world.", "-o", str(out), "--checkpoint", str(tiny), "--seed", "3"]
    assert main([*args, "--min-new-tokens", "41", "--max-new-tokens", "41"]) == 0
    audio, _ = sf.read(out)
    assert audio.shape[0] == 40 * load_codec(tiny).frame_length


def test_speak_writes_audio_and_streams(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    # a random model stops at random: --min-new-tokens gives it a length
    fixed = ("--seed", "3", "--min-new-tokens", "30")
    proc = s2tts("speak", "Hello there, world.", "-o", str(out), "--checkpoint", str(tiny), *fixed)
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(out)
    assert rate == 44100 and audio.ndim == 1 and np.isfinite(audio).all()
    # The file holds what the engine makes for that text and seed (16-bit rounding aside).
    with load_engine(tiny, config=EngineConfig(max_sessions=1)) as engine:
        request = SynthesisRequest("Hello there, world.", sampling=SamplingParams(min_new_tokens=30), seed=3)
        expected = engine.synthesize(request)
    assert audio.shape == expected.shape and expected.shape[0] > 0
    np.testing.assert_allclose(audio, expected, atol=2 / 32768)
    streamed = tmp_path / "stream.wav"
    rc = main(
        [
            "speak",
            "Hello there, world.",
            "-o",
            str(streamed),
            "--checkpoint",
            str(tiny),
            *fixed,
            "--stream",
        ]
    )
    assert rc == 0
    again, _ = sf.read(streamed)
    np.testing.assert_allclose(again, audio, atol=1e-4)  # same seed, same audio; streamed file complete


def test_speak_with_a_reference_voice(tiny: Path, tmp_path: Path) -> None:
    voice = tmp_path / "voice.wav"
    t = np.arange(22050) / 22050
    sf.write(voice, 0.3 * np.sin(2 * np.pi * 180 * t), 22050)
    out = tmp_path / "cloned.flac"
    rc = main(["speak", "Cloned.", "-o", str(out), "--checkpoint", str(tiny), "--voice", str(voice),
               "--voice-text", "A reference.", "--seed", "1", "--min-new-tokens", "10"])  # fmt: skip
    assert rc == 0 and sf.info(out).samplerate == 44100


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["speak", "Hi", "-o", "x.wav", "--checkpoint", "/nonexistent"], "not found"),
        (["speak", "Hi", "-o", "x.wav", "--voice", "a.wav"], "--voice-text"),
        (["generate-codes", "--checkpoint", "/nonexistent", "--text", "hi", "-o", "x.npy"], "not found"),
        (["speak", "Hi", "-o", "x.wav", "--top-p", "1.5"], "top_p"),
    ],
)
def test_errors_are_one_line_and_nonzero(args: list[str], needle: str, tmp_path: Path) -> None:
    proc = s2tts(*args, env={"S2TTS_HOME": str(tmp_path)})
    assert proc.returncode != 0
    lines = [
        line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(("speaking", "\r"))
    ]
    assert len(lines) == 1 and lines[0].startswith("s2tts: error:") and needle in lines[0], proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_and_voices_against_a_real_server(tiny: Path, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "s2tts.cli",
            "serve",
            "--checkpoint",
            str(tiny),
            "--port",
            str(port),
            "--api-key",
            "secret",
            "--data-dir",
            str(tmp_path / "data"),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        health = httpx.get(url + "/v1/health").json()
        assert health["random_weights"] is True and health["warning"] == RANDOM_NOTICE
        voice = tmp_path / "v.wav"
        sf.write(voice, 0.2 * np.sin(np.arange(22050) / 9), 22050)
        env = {"S2TTS_API_KEY": "secret"}
        empty = s2tts("voices", "--server", url, "list", env=env)
        assert empty.returncode == 0 and empty.stdout.strip() == f"no voices stored on {url}"
        add = s2tts(
            "voices", "--server", url, "add", "alice", str(voice), "--text", "Hi, I am Alice.", env=env
        )
        assert add.returncode == 0, add.stderr
        listed = s2tts("voices", "--server", url, "list", env=env)
        assert listed.returncode == 0 and "alice" in listed.stdout
        wrong = s2tts("voices", "--server", url, "--api-key", "nope", "list")
        assert wrong.returncode == 1 and "401" in wrong.stderr
        speech = httpx.post(
            url + "/v1/audio/speech",
            json={"model": "s2", "input": "Hello.", "voice": "alice", "response_format": "wav"},
            headers={"Authorization": "Bearer secret"},
            timeout=60,
        )
        assert speech.status_code == 200 and speech.content[:4] == b"RIFF"
        removed = s2tts("voices", "--server", url, "rm", "alice", env=env)
        assert removed.returncode == 0
        assert "alice" not in s2tts("voices", "--server", url, "list", env=env).stdout
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    assert RANDOM_NOTICE in log  # the server says the model is random when it starts
