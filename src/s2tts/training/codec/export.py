"""Export a trained codec to the layout inference loads.

``export_codec(codec, DIR)`` writes ``DIR/codec.safetensors`` + ``DIR/codec_config.json`` with weight
norm folded (what :func:`s2tts.models.codec.load_codec` and an ``S2Checkpoint`` directory read).
The folding is the loader's own (:func:`fold_weight_norm`), applied to a copy of the state dict,
so the training model keeps its parametrisation.
"""

from __future__ import annotations

from pathlib import Path

from s2tts.models.codec.codec import Codec
from s2tts.models.codec.weights import fold_weight_norm, load_state


def export_codec(codec: Codec, directory: str | Path) -> Path:
    """Write the folded codec into ``directory``; returns the weights file."""
    tensors = fold_weight_norm({k: v.detach().float().cpu() for k, v in codec.state_dict().items()})
    plain = Codec(codec.config)
    load_state(plain, tensors)
    path = Path(directory) / "codec.safetensors"
    plain.save(path)
    return path


def export_checkpoint(
    run_dir: str | Path, checkpoint: str | Path | None = None, out: str | Path | None = None
) -> Path:
    """A codec training checkpoint (default: the run's latest) -> ``out`` (default ``RUN/export``),
    the same files the trainer writes at the end: evaluate or tokenize with a codec mid-run."""
    from dataclasses import replace

    from s2tts.errors import CheckpointError
    from s2tts.training.checkpointing import Checkpointer
    from s2tts.training.codec.config import CodecTrainConfig
    from s2tts.training.codec.recipe import build_codec
    from s2tts.training.run_config import config_from_dict

    run_dir = Path(run_dir)
    checkpoint = Checkpointer.resolve(run_dir, checkpoint)
    payload = Checkpointer.read(checkpoint)
    generator = payload["objects"].get("generator")
    if generator is None or "config" not in payload["extra"]:
        raise CheckpointError(f"{checkpoint} is not a codec training checkpoint")
    cfg = config_from_dict(CodecTrainConfig, payload["extra"]["config"])
    codec = build_codec(replace(cfg, model=replace(cfg.model, init_from=None)))
    state = {k.removeprefix("codec."): v for k, v in generator.items() if k.startswith("codec.")}
    try:
        codec.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint} does not match its run config's codec: {exc}") from exc
    return export_codec(codec, Path(out) if out is not None else run_dir / "export")
