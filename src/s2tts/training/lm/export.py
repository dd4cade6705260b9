"""Export a training checkpoint of an LM run to the published layout (``s2tts train export``).

``export_run(run_dir, checkpoint=None, out=None)`` reads ``run_dir/checkpoints/latest`` (or the
given step directory), the run's ``model_config.json`` and ``tokenizer.json`` (which include any
added tokens) and its run config (stored in the checkpoint), merges LoRA adapters if the run used
them, and writes ``config.json`` + ``model.safetensors`` + ``tokenizer.json`` (+ the codec of the
checkpoint the run fine-tuned, when there was one) to ``out`` (default ``run_dir/model``): a
directory that ``load_checkpoint``, ``s2tts speak`` and the server read unchanged.
"""

from __future__ import annotations

from pathlib import Path

from s2tts.errors import CheckpointError
from s2tts.models.config import DualARConfig
from s2tts.text.tokenizer import S2Tokenizer
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lm.setup import export_published
from s2tts.training.run_config import config_from_dict

__all__ = ["export_run"]


def export_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, out: str | Path | None = None
) -> Path:
    run_dir = Path(run_dir)
    checkpoint = Checkpointer.resolve(run_dir, checkpoint)
    payload = Checkpointer.read(checkpoint)
    extra = payload["extra"]
    if "config" not in extra:
        raise CheckpointError(f"{checkpoint} is not an LM training checkpoint (no run config)")
    cfg = config_from_dict(LMRunConfig, extra["config"])
    if not (run_dir / "model_config.json").is_file():
        raise CheckpointError(f"{run_dir} has no model_config.json (is it an LM run directory?)")
    model_config = DualARConfig.from_json(run_dir / "model_config.json")
    tokenizer = S2Tokenizer.from_dir(run_dir)
    state = {k.removeprefix("model."): v for k, v in payload["objects"]["model"].items()}
    try:
        return export_published(
            state,
            model_config,
            tokenizer,
            cfg.lora,
            Path(out) if out is not None else run_dir / "model",
            codec_from=cfg.model.init_from,
            trainer_state={"step": int(payload["step"]), "config": extra["config"]},
        )
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"{checkpoint} does not match the run's model config: {exc}") from exc
