"""Worker for test_distributed.py, run under ``torchrun --nproc_per_node 2`` (gloo on CPU).

Each rank takes its half of one global batch, runs one DDP (or FSDP2) step through the library's
helpers, saves a checkpoint collectively and writes its gradients and loss for the test to compare
with one process on the whole batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from s2tts.training.checkpointing import Checkpointer, ModelState, OptimizerState
from s2tts.training.distributed import all_reduce_mean, apply_fsdp2, finish, init_distributed, wrap_ddp


def build() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 4, generator=g)
    return x, x.sum(-1, keepdim=True)


def main(mode: str, out: Path) -> None:
    torch.set_num_threads(1)
    dist = init_distributed("cpu")
    model = build()
    model = apply_fsdp2(model, [model[0], model[2]]) if mode == "fsdp" else wrap_ddp(model, dist)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = batch()
    half = x.shape[0] // dist.world_size
    xs, ys = x[dist.rank * half : (dist.rank + 1) * half], y[dist.rank * half : (dist.rank + 1) * half]
    loss = (model(xs) - ys).pow(2).mean()
    loss.backward()
    opt.step()
    ckpt = Checkpointer(out / "ck", is_main=dist.is_main, barrier=dist.barrier)
    ckpt.save(1, {"model": ModelState(model), "optim": OptimizerState(model, opt)})
    mean_loss = all_reduce_mean(loss.detach(), dist)
    if dist.is_main:
        torch.save({"loss": mean_loss}, out / "rank0.pt")
    finish(dist, 0)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
