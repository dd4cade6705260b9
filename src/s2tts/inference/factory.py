"""Build a ready engine from a checkpoint directory, or from the default model.

The default model (``default_model_dir``), what runs when no checkpoint is given -- ``s2tts speak``,
``s2tts serve``, the web page, ``load_engine()`` -- is, in this order:

1. the model packaged with s2tts (``s2tts/assets/small``, or ``$S2TTS_PACKAGED_MODEL``) when its
   directory holds a manifest and every file matches it (``s2tts.inference.packaged``); a manifest
   whose files do not match is a ``PackagedModelError``, not a fallback;
2. else a tiny random checkpoint written on first use under ``$S2TTS_HOME`` (default
   ``~/.cache/s2tts``), with a warning: its audio is noise.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import WeightsError
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.packaged import find_packaged
from s2tts.inference.prepare import check_quantize, prepare_for_decode

log = logging.getLogger(__name__)


def default_checkpoint_dir() -> Path:
    """Where the tiny random checkpoint lives: $S2TTS_HOME, else ~/.cache/s2tts."""
    home = os.environ.get("S2TTS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "s2tts"
    return root / "tiny-random"


def ensure_default_checkpoint() -> Path:
    """The fallback default: a tiny random LM + codec, written on first use; its audio is noise."""
    path = default_checkpoint_dir()
    if not (path / "config.json").is_file():
        log.warning(
            "no --checkpoint given: writing a tiny random checkpoint to %s (its audio is noise)", path
        )
        init_checkpoint(path, "tiny", seed=0, codec_preset="tiny", force=True)
    return path


def default_model_dir(packaged: str | Path | None = None) -> Path:
    """The checkpoint used when none is given: the packaged model if present and whole, else the
    tiny random one (see the module docstring). ``packaged``: where to look for the packaged model
    (default ``s2tts.inference.packaged.packaged_model_dir()``)."""
    found = find_packaged(packaged)
    if found is not None:
        log.info("no checkpoint given: using the packaged model in %s", found)
        return found
    return ensure_default_checkpoint()


def load_engine(
    checkpoint: str | Path | None = None,
    dtype: str = "float32",
    device: str = "cpu",
    config: EngineConfig | None = None,
    quantize: str | None = None,
    packaged: str | Path | None = None,
) -> TTSEngine:
    """LM + tokenizer + codec from one directory (``codec.pth`` or ``codec.safetensors`` beside
    the LM files) -> a running TTSEngine. The LM is prepared for decoding (``prepare_for_decode``:
    the CPU layout that suits eager or, with ``config.compile``, compiled frames; ``quantize="int8"``
    for weight-only int8). No ``checkpoint``: the default
    model (``default_model_dir(packaged)``). Weights stored in fp16 load in ``dtype``."""
    from s2tts.models.codec import load_codec

    directory = Path(checkpoint) if checkpoint is not None else default_model_dir(packaged)
    check_quantize(quantize)
    ckpt = load_checkpoint(directory, dtype=dtype, device=device)
    engine_config = config or EngineConfig()
    prepare_for_decode(
        ckpt.model, quantize=quantize, compile=engine_config.compile, batch=engine_config.max_sessions
    )
    codec_path = ckpt.codec_path()
    if codec_path is None:
        raise WeightsError(
            f"no codec in {directory}: put codec.pth (or codec.safetensors) beside the LM files"
        )
    codec = load_codec(codec_path, device=device)
    return TTSEngine(ckpt, codec, engine_config)
