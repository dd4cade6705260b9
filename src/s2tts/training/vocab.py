"""Vocabulary extension: add tokens (tags, speaker ids, languages) to a Dual-AR model and tokenizer.

New rows of the (tied) embedding/output matrix are drawn from N(mu, Sigma), the mean and *full*
covariance of the existing real text rows (semantic rows and padding excluded), as S2 §4.2 does for
its added tokens -- neither zeros nor a tiny isotropic noise, so a new token starts as a plausible
text token and its logit is neither dominant nor dead. Sigma is factorised by Cholesky with a jitter
``eps * trace(Sigma) / d`` on the diagonal (raised tenfold up to four times if the factorisation
fails), and samples are ``mu + Z L^T`` with Z ~ N(0, I) from an explicit generator.

The vocab grows to cover the new ids, rounded up to ``multiple`` rows; rows between the old and new
size that no token uses are drawn the same way. The result is an ordinary ``DualARTransformer`` +
``S2Tokenizer`` pair; ``save_model`` + ``tokenizer.save`` write it in the layout ``load_checkpoint``
reads (``config.json`` with the new ``vocab_size``, ``tokenizer.json`` with the new tokens).

API::

    model, tokenizer, ids = extend_vocabulary(model, tokenizer, ["[laugh]", "<|lang:xx|>"], gen)
    rows = sample_like(existing_rows, k, gen)     # the N(mu, Sigma) draw alone
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from tokenizers import AddedToken, Tokenizer

from s2tts.errors import ConfigError, TrainConfigError
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.weights import materialise_buffers
from s2tts.text.tokenizer import S2Tokenizer

__all__ = ["extend_vocabulary", "sample_like"]


def sample_like(rows: torch.Tensor, k: int, generator: torch.Generator, eps: float = 1e-6) -> torch.Tensor:
    """k rows ~ N(mean(rows), cov(rows)) (full covariance, biased estimate); rows (n, d) -> (k, d) fp32."""
    x = rows.detach().to("cpu", torch.float64)
    n, d = x.shape
    if n < 2:
        raise ConfigError("need at least two existing rows to estimate a covariance")
    mu = x.mean(0)
    xc = x - mu
    sigma = xc.t() @ xc / n
    jitter = eps * float(sigma.diagonal().sum()) / d
    for _ in range(5):
        chol, info = torch.linalg.cholesky_ex(sigma + jitter * torch.eye(d, dtype=x.dtype))
        if int(info) == 0:
            break
        jitter *= 10
    else:
        raise ConfigError("covariance of the embedding rows is not positive definite even with jitter")
    z = torch.randn(k, d, generator=generator, dtype=torch.float64)
    return (mu + z @ chol.t()).float()


def _add_tokens(
    tokenizer: S2Tokenizer, tokens: Sequence[str], special: bool
) -> tuple[S2Tokenizer, list[int]]:
    backend = Tokenizer.from_str(tokenizer.backend.to_str())
    fresh = [t for t in dict.fromkeys(tokens) if backend.token_to_id(t) is None]
    if len(fresh) != len(list(dict.fromkeys(tokens))):
        known = [t for t in tokens if backend.token_to_id(t) is not None]
        raise TrainConfigError(f"token(s) already in the vocabulary: {known}")
    added = [AddedToken(t, special=special, normalized=False) for t in fresh]
    if special:
        backend.add_special_tokens(added)
    else:
        backend.add_tokens(added)
    new = S2Tokenizer(backend)
    if (new.semantic_begin_id, new.semantic_end_id) != (
        tokenizer.semantic_begin_id,
        tokenizer.semantic_end_id,
    ):
        raise ConfigError("adding tokens moved the semantic id range")  # pragma: no cover - defensive
    ids = [int(backend.token_to_id(t)) for t in fresh]
    return new, ids


@torch.no_grad()
def extend_vocabulary(
    model: DualARTransformer,
    tokenizer: S2Tokenizer,
    tokens: Sequence[str],
    generator: torch.Generator,
    special: bool = True,
    multiple: int = 16,
    eps: float = 1e-6,
) -> tuple[DualARTransformer, S2Tokenizer, list[int]]:
    """A new model + tokenizer with ``tokens`` added; returns (model, tokenizer, new ids)."""
    if not tokens:
        raise TrainConfigError("no tokens to add")
    cfg = model.config
    new_tok, ids = _add_tokens(tokenizer, tokens, special)
    weight = model.slow.embeddings.weight
    old_vocab = cfg.vocab_size
    needed = max(ids) + 1
    new_vocab = max(old_vocab, -(-needed // multiple) * multiple)
    real = torch.tensor(
        [
            i
            for i in range(min(tokenizer.vocab_size, old_vocab))
            if not cfg.semantic_begin_id <= i <= cfg.semantic_end_id
        ]
    )
    fill = sorted(set(ids) | set(range(max(old_vocab, tokenizer.vocab_size), new_vocab)))
    rows = sample_like(weight[real], len(fill), generator, eps)
    table = torch.empty(new_vocab, weight.shape[1], dtype=weight.dtype, device=weight.device)
    table[:old_vocab] = weight
    table[torch.tensor(fill)] = rows.to(weight.dtype).to(weight.device)
    new_cfg = replace(cfg, vocab_size=new_vocab)
    state = model.state_dict()
    state["slow.embeddings.weight"] = table
    with torch.device("meta"):
        new_model = DualARTransformer(new_cfg)
    new_model.load_state_dict(state, assign=True)
    materialise_buffers(new_model, weight.device)
    return new_model.train(model.training), new_tok, ids
