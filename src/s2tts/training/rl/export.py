"""Export any checkpoint of an RL run to the published layout (``s2tts train export --run RL_RUN``).

An RL checkpoint holds only the trainable tensors (the LoRA adapters by default) and, in ``extra``,
the run config. ``export_rl_run(run_dir, checkpoint=None, out=None)`` rebuilds the policy as the run
did (the ``model.init_from`` checkpoint in training layout, the adapters injected), loads the
checkpoint's tensors, merges them and writes ``out`` (default ``run_dir/model``) exactly as the run
exports its last step: so an earlier step (the best before rewards were gamed, say) or a run that
stopped early becomes a model directory that ``load_checkpoint``, ``s2tts speak`` and the server
read unchanged.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from s2tts.checkpoint import load_checkpoint
from s2tts.errors import CheckpointError
from s2tts.text.tokenizer import S2Tokenizer
from s2tts.training.checkpointing import Checkpointer
from s2tts.training.lm.setup import export_published
from s2tts.training.rl.config import RLRunConfig
from s2tts.training.run_config import config_from_dict

__all__ = ["export_policy", "export_rl_run", "is_rl_checkpoint"]


def is_rl_checkpoint(checkpoint: str | Path) -> bool:
    """Whether a checkpoint directory is an RL run's (it holds the ``trainable`` tensors only); reads
    its ``meta.json``, not the state."""
    return "trainable" in Checkpointer.object_names(checkpoint)


def export_policy(model: nn.Module, tokenizer: S2Tokenizer, cfg: RLRunConfig, out: Path) -> Path:
    """The policy (training layout, adapters merged if any) -> published layout at ``out``, with the
    codec of the checkpoint the run started from."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return export_published(
        state, model.config, tokenizer, cfg.lora, out, codec_from=Path(cfg.model.init_from or "")
    )


def export_rl_run(
    run_dir: str | Path, checkpoint: str | Path | None = None, out: str | Path | None = None
) -> Path:
    from s2tts.training.lm.setup import training_layout
    from s2tts.training.lora import inject_lora
    from s2tts.training.rl.recipe import TrainableState

    run_dir = Path(run_dir)
    checkpoint = Checkpointer.resolve(run_dir, checkpoint)
    payload = Checkpointer.read(checkpoint)
    extra = payload["extra"]
    if "trainable" not in payload["objects"]:
        raise CheckpointError(f"{checkpoint} is not an RL checkpoint")
    if "config" not in extra:
        raise CheckpointError(
            f"{checkpoint} was written before RL checkpoints carried their run config: rerun the RL "
            f"command with steps={payload['step']} to export the latest checkpoint"
        )
    cfg = config_from_dict(RLRunConfig, extra["config"])
    init_from = Path(cfg.model.init_from or "")
    if not init_from.is_dir():
        raise CheckpointError(f"{checkpoint}: the checkpoint the run started from, {init_from}, is gone")
    start = load_checkpoint(init_from, dtype="float32", device="cpu")
    model = training_layout(start.model)
    if cfg.lora.enabled:
        inject_lora(model, cfg.lora, seed=cfg.seed)
    else:
        model.requires_grad_(True)
    TrainableState(model).load_state_dict(payload["objects"]["trainable"])
    return export_policy(model, start.tokenizer, cfg, Path(out) if out is not None else run_dir / "model")
