"""Building what the LM trainer trains: model + tokenizer, optimizer groups, and the export.

* :func:`build_model` -- pre-training: a preset made consistent with the byte-level tokenizer and
  the codec's semantic codebook (and ``model.text_frontend`` in its config), seeded random init;
  fine-tuning: ``load_checkpoint(init_from)``.
  Then vocabulary extension and LoRA injection when configured.
* :func:`param_groups` -- AdamW groups with separate learning rates for the text backbone
  (``slow.embeddings``, ``slow.layers``, ``slow.norm``) and the audio modules
  (``slow.codebook_embeddings``, ``fast.*``), S2 §4.2; no weight decay on norms, biases, embeddings.
* :func:`build_optimizer` -- AdamW over those groups, fused into one kernel per step when the
  parameters allow it (``optim.fused``): the per-tensor loop costs a tenth of a CPU step on the
  ``bench-small`` shape, mostly on the 40,960-row codebook embedding every step touches.
* :func:`export_published` -- a model state (from a training checkpoint, LoRA or not) to the
  published layout ``load_checkpoint`` reads: LoRA merged, ``config.json`` + ``model.safetensors``
  + ``tokenizer.json`` (+ the codec copied from the source checkpoint when there is one).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from s2tts.checkpoint import CODEC_FILES, load_checkpoint, preset_with_tokenizer, random_init
from s2tts.models.config import DualARConfig
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.weights import materialise_buffers, save_model
from s2tts.text.tokenizer import S2Tokenizer
from s2tts.training.lm.config import LMRunConfig
from s2tts.training.lora import LoRAConfig, inject_lora, merge_lora
from s2tts.training.vocab import extend_vocabulary

__all__ = [
    "build_model",
    "build_optimizer",
    "export_published",
    "param_groups",
    "skeleton",
    "training_layout",
]

TEXT_BACKBONE = ("slow.embeddings.", "slow.layers.", "slow.norm.")


def training_layout(model: nn.Module) -> nn.Module:
    """Contiguous (row-major) parameters: undoes the column-major CPU decode layout, if applied."""
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            if not p.is_contiguous():
                setattr(module, name, nn.Parameter(p.detach().contiguous(), requires_grad=p.requires_grad))
    return model


def build_model(cfg: LMRunConfig) -> tuple[DualARTransformer, S2Tokenizer]:
    """The model to train (fp32, CPU, train mode) and its tokenizer."""
    if cfg.model.init_from is not None:
        ckpt = load_checkpoint(cfg.model.init_from, dtype="float32")
        model, tokenizer = ckpt.model, ckpt.tokenizer
        model.requires_grad_(True)  # the loader hands out frozen (inference) weights; LoRA refreezes
    else:
        config, tokenizer = preset_with_tokenizer(
            cfg.model.preset, cfg.model.codec_preset, "float32", cfg.model.text_frontend
        )
        model = random_init(DualARTransformer(config), seed=cfg.model.init_seed)
    if cfg.vocab.add_tokens:
        gen = torch.Generator().manual_seed(cfg.vocab.seed)
        model, tokenizer, _ = extend_vocabulary(
            model, tokenizer, cfg.vocab.add_tokens, gen, cfg.vocab.special
        )
    if cfg.lora.enabled:
        inject_lora(model, cfg.lora, seed=cfg.seed)
    return model.train(), tokenizer


def skeleton(config: DualARConfig, lora: LoRAConfig) -> DualARTransformer:
    """An uninitialised (meta) model of ``config``, with LoRA layers if ``lora.enabled``."""
    with torch.device("meta"):
        model = DualARTransformer(config)
        if lora.enabled:
            inject_lora(model, lora)
    return model


def param_groups(model: DualARTransformer, cfg: LMRunConfig) -> list[dict[str, Any]]:
    """AdamW groups: (text backbone | audio modules) x (decay | no decay); trainable params only."""
    o = cfg.optim
    text_lr = o.text_lr if o.text_lr is not None else o.lr
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "text" if name.startswith(TEXT_BACKBONE) else "audio"
        decay = p.ndim >= 2 and "embeddings" not in name
        groups.setdefault((part, decay), []).append(p)
    return [
        {
            "params": params,
            "lr": text_lr if part == "text" else o.lr,
            "weight_decay": o.weight_decay if decay else 0.0,
            "name": f"{part}{'' if decay else '_no_decay'}",
        }
        for (part, decay), params in sorted(groups.items())
    ]


def build_optimizer(model: DualARTransformer, cfg: LMRunConfig) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; fused when ``cfg.optim.fused`` and every parameter is a
    floating-point tensor on a device torch has the fused kernel for (CPU, CUDA)."""
    o = cfg.optim
    groups = param_groups(model, cfg)
    params = [p for g in groups for p in g["params"]]
    fused = o.fused and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=o.lr, betas=o.betas, eps=o.eps, fused=fused or None)


def export_published(
    state: Mapping[str, torch.Tensor],
    config: DualARConfig,
    tokenizer: S2Tokenizer,
    lora: LoRAConfig,
    out: str | Path,
    codec_from: Path | None = None,
    trainer_state: dict[str, Any] | None = None,
) -> Path:
    """Write the published layout from a model state dict (keys as ``DualARTransformer``'s)."""
    out = Path(out)
    model = skeleton(config, lora)
    model.load_state_dict(dict(state), assign=True)
    materialise_buffers(model, "cpu")
    if lora.enabled:
        merge_lora(model)
    model = model.to(torch.float32)
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model(model, tmp)
    tokenizer.save(tmp)
    if codec_from is not None:
        for name in CODEC_FILES + ("codec_config.json",):
            if (codec_from / name).is_file():
                shutil.copy2(codec_from / name, tmp / name)
    if trainer_state is not None:
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
