"""Training precision: parameter dtype and autocast per device.

``precision`` strings in run configs: ``fp32`` (default; fp32 weights, no autocast), ``bf16``
(autocast to bfloat16 on CUDA and CPU, fp32 master weights), ``fp16`` (CUDA only: autocast plus a
``GradScaler``), ``bf16-true`` (weights themselves in bf16, no autocast; halves memory).

API::

    prec = Precision.parse("bf16", device)
    model.to(prec.param_dtype)
    with prec.autocast():
        loss = ...
    scaler = prec.grad_scaler()     # a disabled scaler unless fp16
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from s2tts.errors import TrainConfigError

__all__ = ["PRECISIONS", "Precision"]

PRECISIONS = ("fp32", "bf16", "fp16", "bf16-true")


@dataclass(frozen=True)
class Precision:
    name: str
    device: torch.device

    @classmethod
    def parse(cls, name: str, device: torch.device) -> Precision:
        if name not in PRECISIONS:
            raise TrainConfigError(f"precision must be one of {list(PRECISIONS)}, got {name!r}")
        if name == "fp16" and device.type != "cuda":
            raise TrainConfigError("fp16 training needs CUDA; use bf16 or fp32 on CPU")
        return cls(name, device)

    @property
    def param_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.name == "bf16-true" else torch.float32

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        dtype = self.autocast_dtype
        if dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=dtype):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")
