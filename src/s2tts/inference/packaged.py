"""The model shipped inside the package: where it lives, its manifest, and the check that it is whole.

The trained small model ships as package data in ``s2tts/assets/small/`` (a checkpoint directory
in the published layout, weights in fp16; the loaders cast them to the dtype asked for)::

    config.json  model.safetensors  tokenizer.json  tokenizer_config.json    the Dual-AR LM
    codec.safetensors  codec_config.json                                     the codec
    manifest.json                                                            written last

``manifest.json``::

    {"format": "s2tts-packaged-model", "version": 1, "name": "s2tts-small",
     "random_weights": false,
     "files": {"model.safetensors": {"bytes": 19460000, "sha256": "..."}, ...},
     "eval": {"targets": [{"name", "figure", "value", "threshold", "passed"}, ...]} | null,
     "provenance": {...}}

A directory without ``manifest.json`` holds no packaged model (the repository before the weights
are committed, or an export still being written: the writer removes the old manifest first and
writes the new one last). A directory *with* a manifest must match it: a listed file that is
missing, of another size or with another sha256 is a :class:`PackagedModelError`, never a silent
fallback to something else.

``S2TTS_PACKAGED_MODEL`` names another directory to use in place of the package's (an unpacked
copy, or a temporary directory in tests); ``packaged_model_dir`` reads it at call time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s2tts.atomic import atomic_write_text
from s2tts.checkpoint import RANDOM_MARKER
from s2tts.errors import PackagedModelError
from s2tts.inference.versioned_json import read_versioned_json

PACKAGED_ENV = "S2TTS_PACKAGED_MODEL"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "s2tts-packaged-model"
MANIFEST_VERSION = 1
PACKAGED_NAME = "s2tts-small"
# Files a packaged checkpoint must list (the model weights may also be sharded: see _has_weights).
REQUIRED_FILES = ("config.json", "tokenizer.json", "codec.safetensors")


def packaged_model_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the packaged model is looked for: ``$S2TTS_PACKAGED_MODEL``, else ``s2tts/assets/small``."""
    env = os.environ if environ is None else environ
    override = env.get(PACKAGED_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "assets" / "small"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _has_weights(names: set[str]) -> bool:
    return "model.safetensors" in names or "model.safetensors.index.json" in names


def write_manifest(
    directory: Path,
    files: list[str],
    eval_summary: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    name: str = PACKAGED_NAME,
) -> dict[str, Any]:
    """Hash ``files`` (names inside ``directory``) and write ``manifest.json`` atomically; returns it."""
    listed = set(files)
    missing = [n for n in REQUIRED_FILES if n not in listed]
    if missing or not _has_weights(listed):
        raise PackagedModelError(
            f"a packaged model needs {', '.join(REQUIRED_FILES)} and model.safetensors; "
            f"{directory} lacks {', '.join(missing) or 'model.safetensors'}"
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "name": name,
        "random_weights": RANDOM_MARKER in listed,
        "files": {
            n: {"bytes": (directory / n).stat().st_size, "sha256": file_sha256(directory / n)}
            for n in sorted(listed)
        },
        "eval": eval_summary,
        "provenance": provenance or {},
    }
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The parsed manifest of ``directory``, or None when it has none (PackagedModelError if it
    does not parse or is not a packaged-model manifest)."""
    path = directory / MANIFEST
    what = "packaged-model manifest"
    manifest = read_versioned_json(path, MANIFEST_FORMAT, MANIFEST_VERSION, PackagedModelError, what)
    if manifest is not None and not isinstance(manifest.get("files"), dict):
        raise PackagedModelError(f"{path} is not a {what}: it lists no files")
    return manifest


def verify_packaged(directory: Path) -> dict[str, Any]:
    """Check every file the manifest lists (present, same size, same sha256); returns the manifest.

    Raises PackagedModelError naming the first problem, with what to do about it."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise PackagedModelError(f"{directory} has no {MANIFEST}: it holds no packaged model")
    hint = "reinstall s2tts, or pass --checkpoint DIR"
    files: dict[str, Any] = manifest["files"]
    listed = set(files)
    missing = [n for n in REQUIRED_FILES if n not in listed]
    if missing or not _has_weights(listed):
        raise PackagedModelError(
            f"the manifest of {directory} does not list {', '.join(missing) or 'weights'}"
        )
    for name, entry in sorted(files.items()):
        path = directory / name
        if Path(name).name != name:
            raise PackagedModelError(f"the manifest of {directory} lists a path outside it: {name!r}")
        if not path.is_file():
            raise PackagedModelError(
                f"the packaged model in {directory} is incomplete: {name} is missing; {hint}"
            )
        if not isinstance(entry, dict) or path.stat().st_size != entry.get("bytes"):
            raise PackagedModelError(
                f"the packaged model in {directory} is corrupt: {name} has {path.stat().st_size} bytes, "
                f"the manifest says {entry.get('bytes') if isinstance(entry, dict) else '?'}; {hint}"
            )
        if file_sha256(path) != entry.get("sha256"):
            raise PackagedModelError(
                f"the packaged model in {directory} is corrupt: the sha256 of {name} differs from the "
                f"manifest's; {hint}"
            )
    return manifest


def find_packaged(directory: str | Path | None = None) -> Path | None:
    """The packaged model's directory when it holds one that verifies; None when it holds none
    (no manifest); PackagedModelError when it holds a broken one. ``directory``: where to look
    (default ``packaged_model_dir()``)."""
    folder = Path(directory) if directory is not None else packaged_model_dir()
    if not (folder / MANIFEST).is_file():
        return None
    verify_packaged(folder)
    return folder
