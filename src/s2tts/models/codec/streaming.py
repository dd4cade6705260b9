"""Streaming state of the codec: plain dataclasses of tensors, one object per batch of streams.

Every causal layer keeps exactly what its next call needs and nothing else:

* a causal convolution keeps the last ``receptive - stride`` input frames (``ConvState``);
* a transposed convolution (computed in polyphase form, see ``layers.py``) keeps its last input
  frame, also as a ``ConvState``;
* a window-limited transformer keeps, per layer, the keys/values of the last ``window - 1``
  positions and the absolute position of each stream (``TransformerState``).

Containers hold lists of their children's states (``None`` for stateless layers). Models hold no
per-request state; callers own these objects (e.g. one per engine session) and layers update them
in place on each ``step``. Because every tensor has the batch first, :func:`stack_states` and
:func:`select_state` can merge streams into one batch or pick some out, whatever their positions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@dataclass
class ConvState:
    """Left context of a causal conv. buffer: (B, context, C), time-major."""

    buffer: torch.Tensor


@dataclass
class WindowKVCache:
    """Keys/values of the previous ``window - 1`` positions. k, v: (B, H, window - 1, D)."""

    k: torch.Tensor
    v: torch.Tensor


@dataclass
class TransformerState:
    """Per-layer KV caches plus the absolute position of the next frame of each stream.

    pos: (B,) int64. ``end`` is a host-side upper bound of ``pos`` (avoids a device sync when sizing
    the rotary table).
    """

    layers: list[WindowKVCache]
    pos: torch.Tensor
    end: int


@dataclass
class EncodeState:
    """State of :meth:`Codec.encode_step` for ``batch_size`` streams."""

    encoder: list[Any]
    downsample: list[Any]
    pre_module: TransformerState
    batch_size: int
    frames: int = 0


@dataclass
class DecodeState:
    """State of :meth:`Codec.decode_step` for ``batch_size`` streams."""

    post_module: TransformerState
    upsample: list[Any]
    decoder: list[Any]
    batch_size: int
    frames: int = 0


def stack_states(states: list[T]) -> T:
    """Merge same-typed states of several stream batches into one (batch dims concatenated).

    Integers are combined by ``max`` except ``batch_size`` (summed), so the result stays valid for
    streams at different positions.
    """
    if not states:
        raise ValueError("stack_states needs at least one state")
    return _merge(states, "")


def select_state(state: T, index: torch.Tensor | list[int] | slice) -> T:
    """The state of a subset of the streams (rows ``index`` of every batched tensor)."""
    if isinstance(index, slice):
        rows = list(range(*index.indices(_batch_of(state))))
    elif isinstance(index, torch.Tensor):
        rows = [int(i) for i in index.tolist()]
    else:
        rows = [int(i) for i in index]
    return _select(state, rows, "")


def _batch_of(state: Any) -> int:
    size = getattr(state, "batch_size", None)
    if size is None:
        raise ValueError("select_state with a slice needs a state that has batch_size")
    return int(size)


def _merge(items: list[Any], name: str) -> Any:
    first = items[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat(items, dim=0)
    if isinstance(first, list):
        return [_merge([it[i] for it in items], name) for i in range(len(first))]
    if dataclasses.is_dataclass(first):
        kwargs = {
            f.name: _merge([getattr(it, f.name) for it in items], f.name) for f in dataclasses.fields(first)
        }
        return type(first)(**kwargs)
    if isinstance(first, int):
        return sum(items) if name == "batch_size" else max(items)
    raise TypeError(f"cannot merge state field {name!r} of type {type(first).__name__}")


def _select(item: Any, rows: list[int], name: str) -> Any:
    if item is None:
        return None
    if isinstance(item, torch.Tensor):
        return item[torch.tensor(rows, dtype=torch.long, device=item.device)]
    if isinstance(item, list):
        return [_select(x, rows, name) for x in item]
    if dataclasses.is_dataclass(item):
        kwargs = {f.name: _select(getattr(item, f.name), rows, f.name) for f in dataclasses.fields(item)}
        return type(item)(**kwargs)
    if isinstance(item, int):
        return len(rows) if name == "batch_size" else item
    raise TypeError(f"cannot select from state field {name!r} of type {type(item).__name__}")
