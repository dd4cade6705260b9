"""What a new user runs into on the command line: one-line errors up front, nothing destroyed or
written silently, every output format the server has, the random model announced, --version."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio import read_audio
from s2tts.checkpoint import RANDOM_NOTICE, init_checkpoint
from s2tts.cli import main
from s2tts.inference.engine import EngineConfig
from s2tts.inference.factory import load_engine
from s2tts.inference.params import SamplingParams
from s2tts.inference.types import SynthesisRequest

SRC = str(Path(__file__).parents[2] / "src")


def s2tts(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "S2TTS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "s2tts.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", "tiny", seed=0, codec_preset="tiny")


BAD_FLAGS = [
    ("speak", "hi", "-o", "x.wav", "--device", "cuda"),
    ("speak", "hi", "-o", "x.wav", "--device", "nonsense"),
    ("speak", "hi", "-o", "x.wav", "--threads", "-1"),
    ("speak", "hi", "-o", "x.wav", "--dtype", "float8"),
    ("serve", "--device", "cuda"),
    ("serve", "--device", "nonsense"),
    ("serve", "--threads", "-1"),
    ("serve", "--max-sessions", "lots"),
    ("codec", "encode", "a.wav", "-o", "c.npy", "--random-weights", "--threads", "-1"),
    ("codec", "decode", "c.npy", "-o", "a.wav", "--random-weights", "--device", "nonsense"),
    ("generate-codes", "--checkpoint", "x", "--text", "hi", "-o", "c.npy", "--device", "cuda"),
    ("generate-codes", "--checkpoint", "x", "--text", "hi", "-o", "c.npy", "--threads", "0"),
    ("speak", "hi", "-o", "x.wav", "--bogus-flag"),
    ("speak",),
]


@pytest.mark.parametrize("args", BAD_FLAGS, ids=" ".join)
def test_bad_flags_are_one_line_on_stderr(
    args: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S2TTS_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], err
    assert not (tmp_path / "tiny-random").exists()  # refused before any model was made or loaded


def test_an_unusable_cuda_device_says_why(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():  # a GPU machine: ask for a GPU that is not there
        proc = s2tts("speak", "hi", "-o", "x.wav", "--device", "cuda:99", home=tmp_path)
        assert "CUDA device(s) here" in proc.stderr
    else:  # CI and CPU machines
        proc = s2tts("speak", "hi", "-o", "x.wav", "--device", "cuda", home=tmp_path)
        assert "has no CUDA support; use --device cpu" in proc.stderr or "finds no CUDA GPU" in proc.stderr
    assert proc.returncode == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--temperature", "5"), "temperature must be in [0, 1]"),  # the server's range
        (("--top-p", "1.5"), "top_p must be in [0, 1]"),
        (("--min-new-tokens", "-1"), "min_new_tokens must be >= 0"),
        (("-o", "out.xyz"), "unknown audio extension .xyz"),
    ],
)
def test_speak_checks_before_it_works(args: tuple[str, ...], needle: str, tiny: Path, tmp_path: Path) -> None:
    out = ("-o", str(tmp_path / "out.wav")) if "-o" not in args else ()
    start = time.perf_counter()
    proc = s2tts("speak", "A sentence.", *out, *args, "--checkpoint", str(tmp_path / "absent"), home=tmp_path)
    # The checkpoint does not exist: the error proves the check ran before any model was loaded.
    assert proc.returncode == 1 and proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert needle in proc.stderr and "not found" not in proc.stderr
    assert time.perf_counter() - start < 60


@pytest.fixture(scope="module")
def expected_seconds(tiny: Path) -> float:
    """How long the engine's audio for "Hi there." with seed 1 and at least 20 frames is."""
    request = SynthesisRequest("Hi there.", sampling=SamplingParams(min_new_tokens=20), seed=1)
    with load_engine(tiny, config=EngineConfig(max_sessions=1)) as engine:
        return engine.synthesize(request).shape[0] / engine.sample_rate


@pytest.mark.parametrize("suffix", [".opus", ".aac"])
@pytest.mark.parametrize("stream", [False, True])
def test_speak_writes_opus_and_aac_like_the_server(
    suffix: str, stream: bool, tiny: Path, tmp_path: Path, expected_seconds: float
) -> None:
    out = tmp_path / f"hello{suffix}"
    extra = ["--stream"] if stream else []
    args = [
        "speak",
        "Hi there.",
        "-o",
        str(out),
        "--checkpoint",
        str(tiny),
        "--seed",
        "1",
        "--min-new-tokens",
        "20",
    ]
    assert main([*args, *extra]) == 0
    audio, rate = read_audio(out)
    assert audio.shape[0] == 1 and rate == (48000 if suffix == ".opus" else 44100)
    assert abs(audio.shape[1] / rate - expected_seconds) < 0.1  # encoder padding aside


def test_speak_says_the_model_is_random_every_time(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(2):
        assert main(["speak", "Hi.", "-o", str(tmp_path / f"{i}.wav"), "--checkpoint", str(tiny)]) == 0
        assert RANDOM_NOTICE in capsys.readouterr().err
    trained = tmp_path / "trained"
    init_checkpoint(trained, "tiny", seed=0, codec_preset="tiny")
    (trained / "random_init.json").unlink()  # what a shipped model looks like: no marker
    # seeded: without the random marker the model stops wherever it stops, at once for some seeds
    # (an empty result is then an error of its own)
    args = ["speak", "Hi.", "-o", str(tmp_path / "t.wav"), "--checkpoint", str(trained), "--seed", "0"]
    assert main(args) == 0
    assert "random" not in capsys.readouterr().err


def test_error_after_progress_starts_on_its_own_line(tiny: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = s2tts("speak", "Hi.", "-o", str(blocker / "out.wav"), "--checkpoint", str(tiny), home=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("s2tts: error: ") and str(blocker) in last  # not glued to the progress bar


def test_init_checkpoint_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ckpt"
    assert main(["init-checkpoint", str(target), "--codec-preset", "none"]) == 0
    (target / "model.safetensors").write_bytes(b"trained weights")
    assert main(["init-checkpoint", str(target)]) == 1
    err = capsys.readouterr().err
    assert "not empty" in err and "--force" in err
    assert (target / "model.safetensors").read_bytes() == b"trained weights"  # untouched
    assert main(["init-checkpoint", str(target), "--force", "--codec-preset", "none"]) == 0
    assert (target / "model.safetensors").read_bytes() != b"trained weights"


def test_generate_codes_writes_codes_its_codec_decodes(tiny: Path, tmp_path: Path) -> None:
    codes_path = tmp_path / "codes.npy"
    args = ["--checkpoint", str(tiny), "--text", "Hello.", "--max-new-tokens", "5"]
    assert main(["generate-codes", *args, "-o", str(codes_path)]) == 0
    codes = np.load(codes_path)
    assert codes.shape == (10, 4)
    out = tmp_path / "decoded.wav"
    assert main(["codec", "decode", str(codes_path), "-o", str(out), "--checkpoint", str(tiny)]) == 0
    assert read_audio(out)[0].shape[1] == codes.shape[1] * 2048


def test_generate_codes_refuses_to_write_no_frames(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "empty.npy"
    args = ["--checkpoint", str(tiny), "--text", "Hello.", "--max-new-tokens", "1"]
    assert main(["generate-codes", *args, "-o", str(out)]) == 1
    assert "no frames" in capsys.readouterr().err.splitlines()[-1]
    assert not out.exists()


def test_version(tmp_path: Path) -> None:
    import s2tts as package

    proc = s2tts("--version", home=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"s2tts {package.__version__}"
