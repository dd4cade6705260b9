"""The reference policy of the KL term, without a second model in memory.

S2 keeps the reference as a LoRA weight backup in CPU RAM and swaps it in for no-grad KL
forwards. Two ways, one interface (``with ref.active(): logprobs = ...``):

* :class:`AdapterOffReference` -- the policy trains a LoRA adapter on frozen base weights; the
  reference is the same network with the adapter switched off (nothing copied at all). The
  switch is the LoRA module's own (``s2tts.training.lora.adapters_off``).
* :class:`SnapshotReference` -- a CPU copy of the *trainable* parameters as they were when RL
  started, swapped into the live parameters for the reference forward and swapped back after.
  For a LoRA run this is S2's "adapter backup"; it also serves full fine-tuning (a copy of every
  weight, on CPU). Its snapshot goes into checkpoints, so a resumed run keeps its reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import torch
from torch import nn


class ReferencePolicy(Protocol):
    def active(self) -> AbstractContextManager[None]: ...


class AdapterOffReference:
    """``disable``: a context manager factory that switches the model's adapters off
    (``lambda: adapters_off(model)`` for ``s2tts.training.lora`` adapters)."""

    def __init__(self, disable: Callable[[], AbstractContextManager[Any]]) -> None:
        self._disable = disable

    @contextmanager
    def active(self) -> Iterator[None]:
        with torch.no_grad(), self._disable():
            yield

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class SnapshotReference:
    """A CPU copy of ``model``'s trainable parameters (by name) at construction."""

    def __init__(self, model: nn.Module) -> None:
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.snapshot = {n: p.detach().to("cpu", copy=True) for n, p in self.params.items()}

    @contextmanager
    def active(self) -> Iterator[None]:
        with torch.no_grad():
            live = {n: p.detach().clone() for n, p in self.params.items()}
            for n, p in self.params.items():
                p.copy_(self.snapshot[n])
            try:
                yield
            finally:
                for n, p in self.params.items():
                    p.copy_(live[n])

    def state_dict(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        snap = state["snapshot"]
        if set(snap) != set(self.params):
            raise KeyError(
                f"reference snapshot names differ from the trainable parameters: {sorted(set(snap) ^ set(self.params))[:5]}"
            )
        self.snapshot = {n: t.to("cpu") for n, t in snap.items()}
