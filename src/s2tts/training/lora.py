"""LoRA for ``nn.Linear`` layers: inject, train only the adapters, merge back.

``inject_lora(model, cfg)`` replaces each ``nn.Linear`` whose qualified name ends with one of
``cfg.targets`` by a :class:`LoRALinear` that *shares* the original weight and bias (so state-dict
keys of the base weights do not change) and adds ``lora_A`` (r, in) and ``lora_B`` (out, r)::

    y = x W^T + b + scale * dropout(x) A^T B^T,   scale = alpha / r   (rsLoRA: alpha / sqrt(r))

B starts at zero, so an injected model computes exactly what the base model did. Base weights are
frozen (``requires_grad=False``); only the adapters train. ``merge_lora(model)`` folds
``W += scale * B A`` into each weight and puts plain ``nn.Linear`` modules back, so the merged model
is the original architecture, saved with the ordinary ``save_model`` and served unchanged.
``lora_state_dict(model)`` returns only the adapter tensors (small files to share).
``adapters_off(model)`` is a context in which every adapter is switched off (the base model, as
the KL reference of RL uses it, without a second copy in memory).

Works on any model; the LM trainer targets the attention and MLP projections of the slow and fast
ARs by default (``attention.wqkv``, ``attention.wo``, ``feed_forward.w1/w2/w3``); S2's RL stage used
rsLoRA r=16, alpha=64 on the MLPs only (``targets=["feed_forward.w1", ...]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from s2tts.errors import TrainConfigError

__all__ = ["LoRAConfig", "LoRALinear", "adapters_off", "inject_lora", "lora_state_dict", "merge_lora"]

DEFAULT_TARGETS = [
    "attention.wqkv",
    "attention.wo",
    "feed_forward.w1",
    "feed_forward.w2",
    "feed_forward.w3",
]


@dataclass(frozen=True)
class LoRAConfig:
    enabled: bool = False
    rank: int = 8
    alpha: float = 16.0
    rslora: bool = False
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    train_also: list[str] = field(default_factory=list)  # name prefixes trained in full (e.g. "fast.")

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha <= 0 or not 0.0 <= self.dropout < 1.0:
            raise TrainConfigError("lora needs rank >= 1, alpha > 0 and 0 <= dropout < 1")
        if not self.targets:
            raise TrainConfigError("lora.targets is empty")

    @property
    def scale(self) -> float:
        return self.alpha / (math.sqrt(self.rank) if self.rslora else self.rank)


class LoRALinear(nn.Linear):
    """An ``nn.Linear`` plus a low-rank update; weight and bias are the wrapped layer's tensors."""

    def __init__(
        self, base: nn.Linear, rank: int, scale: float, dropout: float, generator: torch.Generator
    ) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.scale = scale
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        w = base.weight
        a = torch.empty(rank, self.in_features, dtype=torch.float32)
        nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
        self.lora_A = nn.Parameter(a.to(device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, device=w.device, dtype=w.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.scale * F.linear(
            F.linear(self.dropout(x), self.lora_A), self.lora_B
        )

    def delta(self) -> torch.Tensor:
        """scale * B A, (out, in) in the weight's dtype."""
        return (self.scale * (self.lora_B.float() @ self.lora_A.float())).to(self.weight.dtype)


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


def inject_lora(model: nn.Module, cfg: LoRAConfig, seed: int = 0) -> list[str]:
    """Wrap the targeted Linear layers in place, freeze everything else; returns the wrapped names."""
    gen = torch.Generator().manual_seed(seed)
    names = [
        name
        for name, m in model.named_modules()
        if type(m) is nn.Linear and any(name == t or name.endswith("." + t) for t in cfg.targets)
    ]
    if not names:
        raise TrainConfigError(f"lora.targets {cfg.targets} match no nn.Linear layer of the model")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent, child = _parent(model, name)
        setattr(parent, child, LoRALinear(getattr(parent, child), cfg.rank, cfg.scale, cfg.dropout, gen))
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in cfg.train_also):
            p.requires_grad_(True)
    return names


@torch.no_grad()
def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight and restore plain ``nn.Linear`` layers (in place)."""
    for name, m in list(model.named_modules()):
        if isinstance(m, LoRALinear):
            with torch.device("meta"):  # parameters are replaced just below
                merged = nn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
            merged.weight = nn.Parameter(m.weight.detach() + m.delta(), requires_grad=True)
            if m.bias is not None:
                merged.bias = nn.Parameter(m.bias.detach(), requires_grad=True)
            parent, child = _parent(model, name)
            setattr(parent, child, merged)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors (``*.lora_A``, ``*.lora_B``)."""
    return {k: v for k, v in model.state_dict().items() if k.endswith((".lora_A", ".lora_B"))}


@contextmanager
def adapters_off(model: nn.Module) -> Iterator[None]:
    """Every ``LoRALinear`` of ``model`` computes its base layer alone (scale 0) inside the block."""
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    scales = [m.scale for m in layers]
    for m in layers:
        m.scale = 0.0
    try:
        yield
    finally:
        for m, scale in zip(layers, scales, strict=True):
            m.scale = scale
