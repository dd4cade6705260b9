"""Build a ready engine from a checkpoint directory (or the default random one)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import WeightsError
from s2tts.inference.engine import EngineConfig, TTSEngine
from s2tts.inference.prepare import check_quantize, prepare_for_decode

log = logging.getLogger(__name__)


def default_checkpoint_dir() -> Path:
    """Where the default checkpoint lives: $S2TTS_HOME, else ~/.cache/s2tts."""
    home = os.environ.get("S2TTS_HOME")
    root = Path(home) if home else Path.home() / ".cache" / "s2tts"
    return root / "tiny-random"


def ensure_default_checkpoint() -> Path:
    """The default checkpoint: a tiny random LM + codec, written on first use.

    Until a trained model ships with the package this is what runs when no --checkpoint is
    given; its audio is noise."""
    path = default_checkpoint_dir()
    if not (path / "config.json").is_file():
        log.warning(
            "no --checkpoint given: writing a tiny random checkpoint to %s (its audio is noise)", path
        )
        init_checkpoint(path, "tiny", seed=0, codec_preset="tiny", force=True)
    return path


def load_engine(
    checkpoint: str | Path | None = None,
    dtype: str = "float32",
    device: str = "cpu",
    config: EngineConfig | None = None,
    quantize: str | None = None,
) -> TTSEngine:
    """LM + tokenizer + codec from one directory (``codec.pth`` or ``codec.safetensors`` beside
    the LM files) -> a running TTSEngine. The LM is prepared for decoding (``prepare_for_decode``:
    CPU decode layout, ``quantize="int8"`` for weight-only int8)."""
    from s2tts.models.codec import load_codec

    directory = Path(checkpoint) if checkpoint is not None else ensure_default_checkpoint()
    check_quantize(quantize)
    ckpt = load_checkpoint(directory, dtype=dtype, device=device)
    prepare_for_decode(ckpt.model, quantize=quantize)
    codec_path = ckpt.codec_path()
    if codec_path is None:
        raise WeightsError(
            f"no codec in {directory}: put codec.pth (or codec.safetensors) beside the LM files"
        )
    codec = load_codec(codec_path, device=device)
    return TTSEngine(ckpt, codec, config)
