"""Distributed set-up for trainers launched with ``torchrun`` (or as one plain process).

``init_distributed()`` reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them it returns a
single-process :class:`DistInfo` and initialises nothing. With them it starts a process group
(``nccl`` on CUDA, ``gloo`` on CPU), pins the local CUDA device, and returns the info. Models are
wrapped with :func:`wrap_ddp` (default) or sharded with :func:`apply_fsdp2` (``fully_shard`` on
each block, then the root; build optimizers *after* sharding).

Exit through :func:`finish`: under a process group it runs ``barrier; destroy_process_group``
and ends the process with ``os._exit(code)`` after flushing stdout/stderr. With gloo on CPU a
normal interpreter exit after DDP aborts in a fraction of runs ("terminate called without an
active exception"); ``os._exit`` avoids it. So ``finish`` does not return under torchrun: write
results and close files first.

API::

    dist = init_distributed(device="auto")           # DistInfo(rank, world_size, local_rank, device)
    model = wrap_ddp(model, dist)                     # no-op when world_size == 1
    loss = all_reduce_mean(loss.detach(), dist)       # for logging
    if any_rank(stop.requested, dist): ...            # agree on stopping (SIGTERM on one rank)
    finish(dist, 0)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn

from s2tts.errors import TrainConfigError

__all__ = [
    "DistInfo",
    "all_reduce_mean",
    "any_rank",
    "apply_fsdp2",
    "finish",
    "init_distributed",
    "resolve_device",
    "unwrap",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        """Whether a process group is running (launched by torchrun with WORLD_SIZE > 1)."""
        return self.world_size > 1 and torch_dist.is_available() and torch_dist.is_initialized()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is present else ``cpu``; else the named device."""
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise TrainConfigError(f"unknown device {device!r}") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainConfigError("device 'cuda' requested but CUDA is not available")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
    return dev


def init_distributed(device: str = "auto", backend: str | None = None) -> DistInfo:
    """Read the torchrun environment and start the process group if WORLD_SIZE > 1."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not torch_dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **kwargs)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def finish(dist: DistInfo, code: int = 0) -> None:
    """End the run: under a process group, barrier + destroy + ``os._exit(code)``; else return."""
    if not dist.enabled:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        torch_dist.barrier()
        torch_dist.destroy_process_group()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wrap_ddp(model: nn.Module, dist: DistInfo, **kwargs: object) -> nn.Module:
    """``DistributedDataParallel(model)`` under a process group, else ``model`` unchanged."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist.device.index] if dist.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, **kwargs)  # type: ignore[arg-type]


def apply_fsdp2(
    model: nn.Module,
    blocks: Iterable[nn.Module],
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype | None = torch.float32,
) -> nn.Module:
    """Shard ``model`` with FSDP2: ``fully_shard`` each module of ``blocks``, then the root.

    ``param_dtype`` (e.g. bf16) turns on mixed precision with ``reduce_dtype`` gradients. Works with
    any process group (gloo on CPU in tests). Build the optimizer after this call.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for block in blocks:
        fully_shard(block, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (FSDP2 modules are their own module)."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model


def all_reduce_mean(value: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Mean of ``value`` over ranks (a copy); ``value`` itself when not distributed."""
    if not dist.enabled:
        return value
    out = value.detach().clone()
    torch_dist.all_reduce(out, op=torch_dist.ReduceOp.SUM)
    return out / dist.world_size


def any_rank(flag: bool, dist: DistInfo) -> bool:
    """True on every rank if ``flag`` is true on any rank."""
    if not dist.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=dist.device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item() > 0)
