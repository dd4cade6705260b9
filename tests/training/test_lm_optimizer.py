"""The LM trainer's AdamW: parameter groups (S2 §4.2 learning rates, no decay on embeddings and
norms) and the fused kernel, which must give the update of the per-tensor loop."""

from __future__ import annotations

import torch

from s2tts.checkpoint import random_init
from s2tts.models.config import DualARConfig
from s2tts.models.dual_ar import DualARTransformer
from s2tts.training.lm.config import LMRunConfig, OptimSection
from s2tts.training.lm.losses import LossConfig
from s2tts.training.lm.objective import DualARObjective
from s2tts.training.lm.samples import AUDIO, TEXT
from s2tts.training.lm.setup import build_optimizer


def _model() -> DualARTransformer:
    return random_init(DualARTransformer(DualARConfig.preset("tiny")), seed=0).train()


def _batch(config: DualARConfig, seq: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    values = torch.zeros(2, 1 + config.num_codebooks, seq, dtype=torch.long)
    values[:, 0, :4] = torch.randint(0, 200, (2, 4), generator=gen)
    codes = torch.randint(0, config.codebook_size, (2, config.num_codebooks, seq - 4), generator=gen)
    values[:, 0, 4:] = config.semantic_begin_id + codes[:, 0]
    values[:, 1:, 4:] = codes
    kinds = torch.full((2, seq), AUDIO, dtype=torch.long)
    kinds[:, :3] = TEXT
    kinds[:, -1] = 0
    return values, kinds


def _gradients() -> dict[str, torch.Tensor]:
    """The objective's gradients at the initial weights (computed once, shared by both optimizers)."""
    model = _model()
    obj = DualARObjective(model, LossConfig())
    values, kinds = _batch(model.config)
    s, f = obj(values, kinds)
    n_slow, n_fast = obj.counts(values, kinds)
    (s / n_slow + f / n_fast).backward()
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _train(fused: bool, grads: dict[str, torch.Tensor], steps: int = 3) -> dict[str, torch.Tensor]:
    """``steps`` optimizer updates from the same weights with the same gradients: only the
    optimizer's arithmetic differs between the fused kernel and the loop."""
    model = _model()
    cfg = LMRunConfig(optim=OptimSection(lr=1e-2, text_lr=1e-3, weight_decay=0.1, fused=fused))
    opt = build_optimizer(model, cfg)
    assert bool(opt.defaults["fused"]) is fused
    for _ in range(steps):
        for name, p in model.named_parameters():
            p.grad = grads[name].clone() if name in grads else None
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_groups_split_learning_rates_and_decay() -> None:
    model = _model()
    cfg = LMRunConfig(optim=OptimSection(lr=1e-2, text_lr=1e-3, weight_decay=0.1))
    groups = {g["name"]: g for g in build_optimizer(model, cfg).param_groups}
    names = {id(p): n for n, p in model.named_parameters()}

    def members(group: str) -> set[str]:
        return {names[id(p)] for p in groups[group]["params"]}

    assert groups["text"]["lr"] == 1e-3 and groups["audio"]["lr"] == 1e-2
    assert groups["text_no_decay"]["weight_decay"] == 0.0 and groups["text"]["weight_decay"] == 0.1
    assert "slow.embeddings.weight" in members("text_no_decay")
    assert "slow.codebook_embeddings.weight" in members("audio_no_decay")
    assert "slow.layers.0.attention.wqkv.weight" in members("text")
    assert "fast.layers.0.feed_forward.w1.weight" in members("audio")
    assert "slow.norm.weight" in members("text_no_decay")
    every = set().union(*(members(g) for g in groups))
    assert every == set(names.values())  # each trainable parameter in exactly one group
    assert sum(len(g["params"]) for g in groups.values()) == len(names)


def test_fused_adamw_matches_the_loop() -> None:
    grads = _gradients()
    fused, loop = _train(True, grads), _train(False, grads)
    start = _model().state_dict()
    for name, value in loop.items():
        assert not torch.equal(value, start[name]), f"{name} did not train"
        torch.testing.assert_close(fused[name], value, rtol=1e-5, atol=1e-6, msg=name)
