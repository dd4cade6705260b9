"""Causal building blocks of the codec, each usable one-shot (``forward``) or chunk by chunk (``step``).

Layout: every tensor inside the codec is **time-major**, ``(B, T, C)``. A convolution views it as
``(B, C, 1, T)``, which is exactly PyTorch's channels-last 2-D layout, and runs ``conv2d`` with a
``(1, K)`` kernel. On CPU oneDNN's channels-last kernels are ~1.3x faster than ``conv1d`` on
``(B, C, T)``, and the transformer, LayerNorm and Linear layers need no transposes in this layout.

Streaming protocol (duck-typed, shared by every module here and in ``transformer.py``)::

    state = module.init_state(batch_size, device, dtype)   # None for stateless layers
    y = module.step(x, state)                              # updates ``state`` in place
    module(x) == module.step(x, module.init_state(...))    # one-shot = one step from zero state

A step on ``x`` of length ``T`` returns exactly the frames whose inputs are complete: ``T // s`` for
a stride-``s`` conv (``T`` must be a multiple of ``s``), ``T * s`` for a transposed conv. So any split
of the input into valid chunks reproduces the one-shot output (up to float summation order).

Parameter names follow the reference checkpoint (``conv.weight``, ``alpha``, ``dwconv``...). Weight
norm is folded into plain weights at load time (see ``weights.py``), so no layer here recomputes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from s2tts.models.codec.streaming import ConvState


def conv_time_major(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Valid (unpadded) conv of time-major ``x`` (B, T, Cin) with ``weight`` (Cout, Cin/g, K).

    Returns (B, (T - dilation*(K-1) - 1) // stride + 1, Cout).
    """
    y = F.conv2d(
        x.transpose(1, 2).unsqueeze(2),
        weight.unsqueeze(2),
        bias,
        stride=(1, stride),
        dilation=(1, dilation),
        groups=groups,
    )
    return y.squeeze(2).transpose(1, 2)


class Snake(nn.Module):
    """Snake activation ``x + sin^2(alpha x) / (alpha + 1e-9)`` with a learned per-channel alpha.

    x: (B, T, C) -> (B, T, C). ``alpha`` is stored as (1, C, 1), the checkpoint's shape. Computed
    with in-place ops on one fresh buffer: on large activations this halves the memory traffic of
    the straightforward expression.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        return None

    def step(self, x: torch.Tensor, state: Any = None) -> torch.Tensor:
        if torch.is_grad_enabled():  # training: the out= fast path is not differentiable
            alpha = self.alpha.reshape(1, 1, -1)
            return x + torch.sin(alpha * x).square() / (alpha + 1e-9)
        return self.into(x, torch.empty_like(x))

    def into(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Write snake(x) into ``out`` (same shape as x, may be a view) and return it."""
        alpha = self.alpha.reshape(1, 1, -1)
        torch.mul(x, alpha, out=out)
        out.sin_().square_().mul_((alpha + 1e-9).reciprocal())
        return out.add_(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x)


class Tanh(nn.Module):
    """Stateless tanh with the streaming interface."""

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        return None

    def step(self, x: torch.Tensor, state: Any = None) -> torch.Tensor:
        return torch.tanh(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


class CausalConv1d(nn.Module):
    """Causal conv: left context ``(K-1)*dilation + 1 - stride`` frames, no look-ahead.

    x: (B, T, Cin) -> (B, ceil(T / stride), Cout). One-shot input of any length is right-padded
    with zeros to a multiple of the stride (as the reference does); ``step`` needs a multiple.
    Output frame ``j`` sees inputs ``[(j+1)*stride - receptive, (j+1)*stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, groups=groups, bias=bias
        )
        # Lay the weight out as (Cout, K, Cin) in memory: its (Cout, Cin, 1, K) view is then
        # channels-last, which oneDNN uses without re-ordering the weight on every call.
        # (load_state_dict and .to() preserve these strides.)
        with torch.no_grad():
            self.conv.weight.data = self.conv.weight.data.transpose(1, 2).contiguous().transpose(1, 2)
        self.pointwise = kernel_size == 1 and stride == 1 and groups == 1
        self.in_channels = in_channels
        self.stride = stride
        self.dilation = dilation
        self.groups = groups
        self.context = (kernel_size - 1) * dilation + 1 - stride
        if self.context < 0:
            raise ValueError(f"causal conv needs kernel >= stride, got kernel {kernel_size}, stride {stride}")

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> ConvState | None:
        if self.context == 0:
            return None
        return ConvState(torch.zeros(batch_size, self.context, self.in_channels, device=device, dtype=dtype))

    def step(self, x: torch.Tensor, state: ConvState | None, activation: Snake | None = None) -> torch.Tensor:
        """Conv of the next frames; with ``activation``, of ``activation(x)`` (fused: the activation
        writes straight after the carried context, saving a copy of the whole chunk)."""
        b, t, c = x.shape
        if t % self.stride:
            raise ValueError(f"causal conv step needs a multiple of {self.stride} frames, got {t}")
        if state is not None and torch.is_grad_enabled():  # training: no in-place writes
            if activation is not None:
                x = activation.step(x)
            x = torch.cat([state.buffer, x], dim=1)
            state.buffer = x[:, t:].detach().clone()
        elif state is not None:
            padded = x.new_empty(b, self.context + t, c)
            padded[:, : self.context] = state.buffer
            if activation is not None:
                activation.into(x, padded[:, self.context :])
            else:
                padded[:, self.context :] = x
            state.buffer = padded[:, t:].clone()
            x = padded
        elif activation is not None:
            x = activation.step(x)
        if self.pointwise:
            return F.linear(x, self.conv.weight[:, :, 0], self.conv.bias)
        return conv_time_major(x, self.conv.weight, self.conv.bias, self.stride, self.dilation, self.groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = -x.shape[1] % self.stride
        if extra:
            x = F.pad(x, (0, 0, 0, extra))
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))


class CausalConvTranspose1d(nn.Module):
    """Transposed conv with the ``kernel - stride`` trailing samples trimmed (causal upsampling).

    x: (B, T, Cin) -> (B, T * stride, Cout); ``kernel`` must be ``stride`` or ``2 * stride``.
    Output sample ``m * stride + r`` depends on input frames ``m`` and (for a 2-stride kernel)
    ``m - 1`` only, so it is computed as a *regular* causal conv over input frames (kernel
    ``kernel / stride``) with ``stride * Cout`` output channels, reshaped to ``stride`` samples per
    frame ("polyphase" form). That is one GEMM-shaped oneDNN conv instead of PyTorch's CPU
    transposed conv (col2im, several times slower here), and its streaming state is simply the
    previous input frame. The checkpoint's ``conv.weight`` (Cin, Cout, K) stays the parameter; the
    re-arranged copy is cached and rebuilt whenever the parameter changes (tracked by its version).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, bias: bool = True
    ) -> None:
        super().__init__()
        if kernel_size not in (stride, 2 * stride):
            raise ValueError(
                f"transposed conv needs kernel = stride or 2*stride, got {kernel_size}, {stride}"
            )
        self.conv = nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=stride, bias=bias)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.taps = kernel_size // stride
        self._cache: tuple[tuple[Any, ...], torch.Tensor, torch.Tensor | None] | None = None

    def _polyphase(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weight (stride*Cout, Cin, taps) (channels-last strides) and bias (stride*Cout,).

        With autograd on (training) it is rebuilt on every call from the live parameters, so
        gradients reach ``conv.weight``; otherwise the detached copy is cached.
        """
        w, b = self.conv.weight, self.conv.bias
        trained = w.requires_grad or (b is not None and b.requires_grad)
        if (torch.is_grad_enabled() and trained) or parametrize.is_parametrized(self.conv):
            return self._arrange(w, b)  # a weight-norm weight is a fresh tensor on every access
        key = (w.data_ptr(), w._version, w.dtype, w.device, None if b is None else (b.data_ptr(), b._version))
        if self._cache is None or self._cache[0] != key:
            poly, bias = self._arrange(w.detach(), None if b is None else b.detach())
            self._cache = (key, poly, bias)
        return self._cache[1], self._cache[2]

    def _arrange(self, w: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        cin, cout, s, taps = self.in_channels, self.out_channels, self.stride, self.taps
        # w[ci, co, j*s + r] feeds output r of frame m from input frame m - j; conv tap
        # ``taps-1-j`` is input frame m - j, so flip j, then order as (r, co, tap, ci).
        poly = w.reshape(cin, cout, taps, s).flip(2).permute(3, 1, 2, 0).contiguous()
        poly = poly.reshape(s * cout, taps, cin).transpose(1, 2)
        return poly, None if b is None else b.repeat(s)

    def _apply(
        self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True
    ) -> nn.Module:  # .to()/.cuda()/.half(): drop the stale copy now
        self._cache = None
        return super()._apply(fn, recurse)

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> ConvState | None:
        if self.taps == 1:
            return None
        return ConvState(torch.zeros(batch_size, self.taps - 1, self.in_channels, device=device, dtype=dtype))

    def step(self, x: torch.Tensor, state: ConvState | None) -> torch.Tensor:
        weight, bias = self._polyphase()
        b, t, _ = x.shape
        if state is None:
            y = F.linear(x, weight[:, :, 0], bias)
        else:
            x = torch.cat([state.buffer, x], dim=1)
            state.buffer = x[:, x.shape[1] - (self.taps - 1) :].clone()
            y = conv_time_major(x, weight, bias)
        return y.reshape(b, t * self.stride, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))


class CausalSequential(nn.ModuleList):
    """Streaming modules applied in order; its state is the list of their states.

    A ``ModuleList`` (not ``Sequential``) so that keys are ``<name>.<index>.*`` as in the reference.
    """

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return [m.init_state(batch_size, device, dtype) for m in self]

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        if len(state) != len(self):
            raise ValueError(f"state has {len(state)} entries for {len(self)} modules")
        pending: Snake | None = None  # a Snake directly before a conv is fused into the conv
        for module, sub in zip(self, state, strict=True):
            if pending is not None:
                if isinstance(module, CausalConv1d):
                    x = module.step(x, sub, activation=pending)
                    pending = None
                    continue
                x = pending.step(x)
                pending = None
            if isinstance(module, Snake):
                pending = module
            else:
                x = module.step(x, sub)
        return pending.step(x) if pending is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))


class ResidualUnit(nn.Module):
    """Snake -> causal conv k7 (dilated) -> Snake -> 1x1 conv, plus the input.

    x: (B, T, C) -> (B, T, C). Keys ``block.{0,1,2,3}``.
    """

    def __init__(self, channels: int, dilation: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.block = CausalSequential(
            [
                Snake(channels),
                CausalConv1d(channels, channels, kernel_size, dilation=dilation),
                Snake(channels),
                CausalConv1d(channels, channels, 1),
            ]
        )

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> list[Any]:
        return self.block.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: list[Any]) -> torch.Tensor:
        return self.block.step(x, state).add_(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))


class ConvNeXtBlock(nn.Module):
    """Causal depthwise conv k7 -> LayerNorm -> Linear 4x -> GELU -> Linear -> gamma, plus the input.

    x: (B, T, C) -> (B, T, C). Keys ``dwconv.conv``, ``norm``, ``pwconv1``, ``pwconv2``, ``gamma``.
    """

    def __init__(self, dim: int, kernel_size: int = 7, mlp_ratio: int = 4, eps: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = CausalConv1d(dim, dim, kernel_size, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, mlp_ratio * dim)
        self.pwconv2 = nn.Linear(mlp_ratio * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def init_state(self, batch_size: int, device: torch.device, dtype: torch.dtype) -> ConvState | None:
        return self.dwconv.init_state(batch_size, device, dtype)

    def step(self, x: torch.Tensor, state: ConvState | None) -> torch.Tensor:
        h = self.norm(self.dwconv.step(x, state))
        h = self.pwconv2(F.gelu(self.pwconv1(h)))
        return torch.addcmul(x, h, self.gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.step(x, self.init_state(x.shape[0], x.device, x.dtype))
