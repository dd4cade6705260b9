"""Write a model directory in the packaged layout: fp16 weights, the files to load them, a manifest.

``package_model(src, dst)`` takes a published checkpoint directory with its codec beside it (what
the recipe's LM, SFT and RL stages leave) and writes to ``dst`` only what loading needs -- the LM
config, weights and tokenizer, the codec's weights and config, the trainer's ``trainer_state.json``
(step and run config, which ``resume_weights`` continues from), the default voice ``voice.json``
and ``random_init.json`` when the weights are random -- with every ``*.safetensors`` in fp16
(``export_fp16``), then ``manifest.json`` (sizes, sha256, the evaluation's targets, provenance;
see ``s2tts.inference.packaged``). Anything else (plots, logs) stays behind.

The old manifest is removed first and the new one written last, so a reader that finds a
manifest finds the files it describes, and an interrupted packaging leaves a directory without
one (no packaged model: the default falls back to the random checkpoint until it is re-run).
``dst`` is usually the recipe's ``OUT/export`` or the package's own ``s2tts/assets/small``.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

from s2tts.checkpoint import RANDOM_MARKER
from s2tts.errors import RecipeError
from s2tts.inference.packaged import MANIFEST, PACKAGED_NAME, write_manifest
from s2tts.recipes.fp16 import export_fp16

PACKAGED_PATTERNS = (
    "config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "codec.safetensors",
    "codec_config.json",
    "trainer_state.json",  # the step and run config: what resume_weights continues from
    "voice.json",  # the default voice (s2tts.inference.default_voice)
    "sampling.json",  # the model's sampling defaults (s2tts.inference.model_sampling)
    RANDOM_MARKER,
)


def is_packaged_file(name: str) -> bool:
    """Whether a checkpoint file belongs in a packaged model."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in PACKAGED_PATTERNS)


def eval_summary(report_dir: Path) -> dict[str, Any] | None:
    """The targets of an evaluation report (``targets.json`` written by the recipe's eval stage), or
    None when the report has none (not evaluated yet)."""
    path = report_dir / "targets.json"
    if not path.is_file():
        return None
    try:
        targets = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecipeError(f"{path} cannot be read: {exc}") from exc
    return {"targets": targets}


def package_model(
    src: str | Path,
    dst: str | Path,
    *,
    eval_summary: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    name: str = PACKAGED_NAME,
) -> dict[str, Any]:
    """Package ``src`` (a checkpoint directory with ``codec.safetensors``) into ``dst``; returns
    the manifest written."""
    src, dst = Path(src), Path(dst)
    if not (src / "config.json").is_file():
        raise RecipeError(f"{src} is not a checkpoint directory (no config.json)")
    if not (src / "codec.safetensors").is_file():
        raise RecipeError(f"{src} has no codec.safetensors: a packaged model carries its codec")
    if dst.exists() and src.resolve() == dst.resolve():
        raise RecipeError(f"cannot package {src} into itself")
    dst.mkdir(parents=True, exist_ok=True)
    (dst / MANIFEST).unlink(missing_ok=True)
    export_fp16(src, dst, include=is_packaged_file)
    files = sorted(p.name for p in src.iterdir() if p.is_file() and is_packaged_file(p.name))
    for stale in dst.iterdir():  # left by an earlier packaging (e.g. weights then sharded, now not)
        if stale.is_file() and is_packaged_file(stale.name) and stale.name not in files:
            stale.unlink()
    return write_manifest(dst, files, eval_summary, provenance, name)
