"""LoRA: injection is a no-op at init, only adapters train, merged == unmerged, served unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import TrainConfigError
from s2tts.models.weights import save_model
from s2tts.training.lora import LoRAConfig, LoRALinear, adapters_off, inject_lora, lora_state_dict, merge_lora


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_checkpoint(tmp_path_factory.mktemp("lora") / "ckpt", "tiny", seed=0, codec_preset="tiny")


def _values(model: torch.nn.Module, t: int = 12) -> torch.Tensor:
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    values = torch.zeros(2, 1 + cfg.num_codebooks, t, dtype=torch.long)
    values[:, 0] = torch.randint(0, 200, (2, t), generator=g)
    values[:, 0, 6:] = cfg.semantic_begin_id + torch.randint(0, 32, (2, t - 6), generator=g)
    values[:, 1:, 6:] = torch.randint(0, 32, (2, cfg.num_codebooks, t - 6), generator=g)
    return values


def _logits(model: torch.nn.Module, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hidden = model.slow(values)
    codes = values[:, 1:].transpose(1, 2).reshape(-1, model.config.num_codebooks)
    return model.slow.logits(hidden), model.fast.teacher_forced(hidden.reshape(-1, hidden.shape[-1]), codes)


def test_merged_equals_unmerged_and_loads_unchanged(ckpt_dir: Path, tmp_path: Path) -> None:
    model = load_checkpoint(ckpt_dir).model
    values = _values(model)
    with torch.no_grad():
        base = _logits(model, values)
    cfg = LoRAConfig(
        enabled=True, rank=4, alpha=8.0, rslora=True, targets=["attention.wqkv", "feed_forward.w2"]
    )
    names = inject_lora(model, cfg, seed=1)
    assert len(names) == 2 * (model.config.slow.n_layer + model.config.fast.n_layer)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        f"{n}.lora_{ab}" for n in names for ab in "AB"
    }
    with torch.no_grad():
        same = _logits(model, values)  # B = 0: the injected model is the base model
        for a, b in zip(base, same, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_(0, 0.05, generator=torch.Generator().manual_seed(2))
        unmerged = _logits(model, values)
    assert (unmerged[0] - base[0]).abs().max() > 1e-3  # the adapters change the output
    assert set(lora_state_dict(model)) == {f"{n}.lora_{ab}" for n in names for ab in "AB"}
    assert cfg.scale == pytest.approx(8.0 / 2.0)  # rsLoRA: alpha / sqrt(r)

    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    with torch.no_grad():
        merged = _logits(model, values)
    for a, b in zip(unmerged, merged, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    out = tmp_path / "merged"
    save_model(model, out)
    load_checkpoint(ckpt_dir).tokenizer.save(out)
    served = load_checkpoint(out).model
    with torch.no_grad():
        again = _logits(served, values)
    for a, b in zip(unmerged, again, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_plain_lora_scale_and_bad_targets(ckpt_dir: Path) -> None:
    assert LoRAConfig(rank=8, alpha=16).scale == 2.0
    model = load_checkpoint(ckpt_dir).model
    with pytest.raises(TrainConfigError, match="match no nn.Linear"):
        inject_lora(model, LoRAConfig(enabled=True, targets=["nope"]))
    with pytest.raises(TrainConfigError):
        LoRAConfig(rank=0)


def test_adapters_off_is_the_base_model_and_restores_the_adapters(ckpt_dir: Path) -> None:
    base = load_checkpoint(ckpt_dir).model.eval()
    policy = load_checkpoint(ckpt_dir).model.eval()
    inject_lora(policy, LoRAConfig(enabled=True, rank=4, alpha=8, targets=["feed_forward.w1"]))
    with torch.no_grad():
        for m in policy.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(1))
    values = _values(base)
    with torch.no_grad():
        want = _logits(base, values)
        adapted = _logits(policy, values)
        with adapters_off(policy):
            off = _logits(policy, values)
        again = _logits(policy, values)
    assert not torch.allclose(adapted[0], want[0], atol=1e-3)  # the adapters change the output
    for got, ref in zip(off, want, strict=True):
        torch.testing.assert_close(got, ref)
    for got, ref in zip(again, adapted, strict=True):
        torch.testing.assert_close(got, ref)
