"""The GRPO objective of S2 §4.3: group advantages, the token policy-gradient loss, k3 KL.

Advantages (Dr.GRPO, as S2): ``A_i = R_i - mean_group(R)``, one number per sample, shared by
all its slow tokens and fast codes; no division by the group's std (``scale_by_std`` exists for
comparison with the original GRPO).

Per token t of sample i, with log-probs ``logp`` (policy, with grad), ``old`` (the policy that
sampled, no grad) and ``ref`` (reference policy, no grad)::

    rho_t = exp(logp_t - old_t)                                   importance ratio
    pg_t  = -A_i * rho_t                                          (REINFORCE when old == logp)
    pg_t  = -min(rho_t A_i, clip(rho_t, 1 - eps_low, 1 + eps_high) A_i)   with clipping (PPO)
    kl_t  = exp(ref_t - logp_t) - (ref_t - logp_t) - 1            Schulman's k3, >= 0
    term_t = pg_t + beta * kl_t

With ``old = logp.detach()`` the ratio is 1 and its gradient is ``grad logp``, so one update per
rollout batch is exactly S2's REINFORCE-with-group-baseline; several updates on one batch (or
rollouts from an older policy) need the ratio and, usually, clipping.

Normalisation of the token sum (``norm``):

* ``"sequence"`` -- S2's formula: ``(1/|T_i|) sum_t`` per sample, then the mean over samples;
* ``"token"`` -- one mean over every token of the batch (DAPO);
* ``"constant"`` -- Dr.GRPO: the batch sum divided by ``batch * norm_constant`` (no length bias).

The same function serves the slow tokens (B, T) and the fast codes (B, T, K): every dimension
after the batch counts as "the tokens of sample i", so the fast term is the mean over all
(t, k) codes of a sample -- our reading of the report's 1/C(k) factor (see docs/rl.md).
``L_RL = L_slow + gamma * L_fast``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from s2tts.errors import TrainConfigError

NORMS = ("sequence", "token", "constant")


def group_advantages(rewards: torch.Tensor, scale_by_std: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """rewards (P, G): P prompts x G samples -> advantages (P, G) = R - mean over the group.

    ``scale_by_std`` divides by the group's (unbiased) std + eps as the original GRPO did."""
    if rewards.dim() != 2:
        raise ValueError(f"rewards must be (prompts, group), got {tuple(rewards.shape)}")
    adv = rewards - rewards.mean(dim=1, keepdim=True)
    if scale_by_std:
        std = rewards.std(dim=1, keepdim=True) if rewards.shape[1] > 1 else torch.ones_like(adv[:, :1])
        adv = adv / (std + eps)
    return adv


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref): exp(d) - d - 1 with d = ref - logp (>= 0)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


@dataclass(frozen=True)
class GRPOLossConfig:
    """beta: KL coefficient; gamma: weight of the fast-AR term; clip_eps(_high): PPO clipping
    (None = no clipping); norm / norm_constant: see the module docstring."""

    beta: float = 0.04
    gamma: float = 1.0
    clip_eps: float | None = None
    clip_eps_high: float | None = None
    norm: str = "sequence"
    norm_constant: float = 1.0

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise TrainConfigError(f"loss.norm must be one of {NORMS}, got {self.norm!r}")
        if self.beta < 0 or self.gamma < 0:
            raise TrainConfigError("loss.beta and loss.gamma must be >= 0")
        if self.clip_eps is not None and not (0 < self.clip_eps < 1):
            raise TrainConfigError(f"loss.clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.norm_constant <= 0:
            raise TrainConfigError("loss.norm_constant must be > 0")


@dataclass
class TokenLoss:
    """loss: scalar; kl / ratio / clip_frac: masked token means (no grad), for logging."""

    loss: torch.Tensor
    kl: float
    ratio: float
    clip_frac: float
    tokens: int


def _reduce(values: torch.Tensor, mask: torch.Tensor, norm: str, constant: float) -> torch.Tensor:
    """values, mask (B, ...) -> scalar under the chosen normalisation."""
    v = values * mask
    if norm == "token":
        return v.sum() / mask.sum().clamp_min(1)
    if norm == "constant":
        per_step = mask[0, 0].numel()  # tokens per time step: 1 (slow) or K (fast)
        return v.sum() / (mask.shape[0] * constant * per_step)
    dims = tuple(range(1, values.dim()))
    per_seq = v.sum(dim=dims) / mask.sum(dim=dims).clamp_min(1)
    return per_seq.mean()


def token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: GRPOLossConfig,
) -> TokenLoss:
    """Policy-gradient + beta * k3 KL over one kind of token.

    logp: (B, T) or (B, T, K) with grad; old_logp, ref_logp: same shape (no grad; ref None when
    beta == 0); advantages: (B,); mask: same shape as logp, 1 for real tokens.
    ``constant`` normalisation divides by B * norm_constant * (tokens per time step).
    """
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).view(-1, *([1] * (logp.dim() - 1)))
    ratio = torch.exp(logp - old_logp.detach())
    pg = -adv * ratio
    clipped = torch.zeros_like(pg, dtype=torch.bool)
    if cfg.clip_eps is not None:
        low, high = cfg.clip_eps, cfg.clip_eps_high if cfg.clip_eps_high is not None else cfg.clip_eps
        pg_clip = -adv * ratio.clamp(1.0 - low, 1.0 + high)
        clipped = pg_clip > pg
        pg = torch.maximum(pg, pg_clip)
    terms = pg
    kl = torch.zeros((), dtype=logp.dtype)
    count = mask.sum().clamp_min(1)
    if cfg.beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs the reference log-probs")
        kl_t = k3_kl(logp, ref_logp.detach())
        terms = terms + cfg.beta * kl_t
        kl = (kl_t.detach() * mask).sum() / count
    loss = _reduce(terms, mask, cfg.norm, cfg.norm_constant)
    with torch.no_grad():
        mean_ratio = float((ratio * mask).sum() / count)
        clip_frac = float((clipped.to(mask.dtype) * mask).sum() / count)
    return TokenLoss(loss, float(kl), mean_ratio, clip_frac, int(mask.sum()))


@dataclass
class GRPOLoss:
    """total = slow.loss + gamma * fast.loss."""

    total: torch.Tensor
    slow: TokenLoss
    fast: TokenLoss


def grpo_loss(
    slow: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor],
    fast: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor],
    advantages: torch.Tensor,
    cfg: GRPOLossConfig,
) -> GRPOLoss:
    """slow: (logp, old, ref, mask) each (B, T); fast: the same, each (B, T, K); advantages (B,)."""
    s = token_loss(*slow[:3], advantages, slow[3], cfg)
    f = token_loss(*fast[:3], advantages, fast[3], cfg)
    return GRPOLoss(s.loss + cfg.gamma * f.loss, s, f)
