"""Vocabulary extension: N(mu, Sigma) rows with the source statistics, saved loadable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.errors import TrainConfigError
from s2tts.models.weights import save_model
from s2tts.training.vocab import extend_vocabulary, sample_like


def test_samples_have_the_rows_mean_and_full_covariance() -> None:
    g = torch.Generator().manual_seed(0)
    d = 8
    mix = torch.randn(d, d, generator=g)  # strongly correlated dimensions
    rows = torch.randn(4000, d, generator=g) @ mix.t() + torch.arange(d, dtype=torch.float32)
    new = sample_like(rows, 20000, torch.Generator().manual_seed(1))
    mu, sigma = rows.mean(0), torch.cov(rows.t(), correction=0)
    got_sigma = torch.cov(new.t(), correction=0)
    scale = sigma.diagonal().sqrt()
    torch.testing.assert_close(new.mean(0), mu, atol=float(0.05 * scale.max()), rtol=0)
    # correlations match (an isotropic or diagonal draw would not)
    corr = sigma / scale[:, None] / scale[None, :]
    got_corr = got_sigma / got_sigma.diagonal().sqrt()[:, None] / got_sigma.diagonal().sqrt()[None, :]
    torch.testing.assert_close(got_corr, corr, atol=0.03, rtol=0)
    torch.testing.assert_close(got_sigma.diagonal(), sigma.diagonal(), rtol=0.05, atol=0)
    assert corr.abs().triu(1).max() > 0.5


def test_rank_deficient_rows_still_sample_with_jitter() -> None:
    rows = torch.randn(50, 2) @ torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 1.0]])  # rank 2 in 3-d
    out = sample_like(rows, 10, torch.Generator().manual_seed(0))
    assert out.shape == (10, 3) and torch.isfinite(out).all()


def test_extend_saves_a_loadable_checkpoint(tmp_path: Path) -> None:
    src = init_checkpoint(tmp_path / "src", "tiny", seed=0, codec_preset="tiny")
    ckpt = load_checkpoint(src)
    model = ckpt.model
    old_vocab = model.config.vocab_size
    tokens = [f"<|tag:{i}|>" for i in range(20)]
    new_model, tok, ids = extend_vocabulary(model, ckpt.tokenizer, tokens, torch.Generator().manual_seed(0))
    assert ids == list(range(ckpt.tokenizer.vocab_size, ckpt.tokenizer.vocab_size + 20))
    assert new_model.config.vocab_size == -(-(max(ids) + 1) // 16) * 16 > old_vocab
    w_old, w_new = model.slow.embeddings.weight, new_model.slow.embeddings.weight
    n_old = ckpt.tokenizer.vocab_size  # rows past it were padding; new tokens may take them
    assert torch.equal(w_new[:n_old], w_old[:n_old])
    added = w_new[ids]
    assert (added.norm(dim=1) > 0.5 * w_old[:200].norm(dim=1).mean()).all()  # not zeros, not tiny noise
    assert len({tuple(r.tolist()) for r in added}) == 20
    for name, p in model.state_dict().items():
        if name != "slow.embeddings.weight":
            assert torch.equal(new_model.state_dict()[name], p)

    out = tmp_path / "extended"
    save_model(new_model, out)
    tok.save(out)
    loaded = load_checkpoint(out)
    assert loaded.config.vocab_size == new_model.config.vocab_size
    assert loaded.tokenizer.encode("hi <|tag:3|>")[-1] == ids[3]
    assert torch.equal(loaded.model.slow.embeddings.weight[ids], added)
    with pytest.raises(TrainConfigError, match="already in the vocabulary"):
        extend_vocabulary(new_model, tok, ["<|tag:3|>"], torch.Generator())
