"""Resumable training checkpoints: atomic, complete, loadable with ``weights_only=True``.

A checkpoint is one directory ``<root>/step-00001000/`` holding ``state.pt`` (everything needed to
continue exactly) and ``meta.json`` (step, time, object names: for people and tools), plus a
``<root>/latest`` text file naming the newest *complete* checkpoint. Writes are atomic: files go
to a hidden temp directory, are fsynced, and the directory is renamed into place; ``latest`` is
replaced by rename too. A crash (or ``kill -9``) mid-save leaves the previous checkpoint intact.

What is saved is generic: any number of named *stateful* objects (anything with
``state_dict()``/``load_state_dict()``: models, optimizers, LR schedulers, grad scalers, data
iterators), the global torch RNG states (CPU and every CUDA device) and an ``extra`` dict of plain
values (step, data position, run config as a dict). A GAN trainer passes
``{"generator": ModelState(g), "discriminator": ModelState(d), "opt_g": OptimizerState(g, og),
"opt_d": OptimizerState(d, od), "sched_g": sg, "sched_d": sd}``; the LM trainer passes one model
and one optimizer. Explicit ``torch.Generator``/numpy ``Generator`` objects are wrapped in
:class:`GeneratorState` / :class:`NumpyGeneratorState`.

API::

    ckpt = Checkpointer("runs/x/checkpoints", keep_last=2, is_main=dist.is_main, barrier=dist.barrier)
    objects = {"model": ModelState(model), "optim": OptimizerState(model, opt), "sched": sched,
               "data_rng": GeneratorState(gen)}
    ckpt.save(step, objects, extra={"step": step, "data": loader.state_dict(), "config": cfg_dict})
    path = ckpt.latest()                      # None when there is nothing to resume
    extra = ckpt.load(path, objects)          # exact resume: every object + RNG states
    ckpt.load(path, {"model": ModelState(model)}, restore_rng=False)   # weights only

:class:`ModelState` and :class:`OptimizerState` go through
``torch.distributed.checkpoint.state_dict`` with full (unsharded, CPU) state dicts, so the same
checkpoint works for a plain module, a DDP-wrapped one and an FSDP2 (``fully_shard``) one, and
optimizer states are keyed by parameter name (robust to parameter order). Under DDP/FSDP every
rank must call :meth:`Checkpointer.save` (gathering is collective); only ``is_main`` writes.
RNG states saved are those of the main rank.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from s2tts.atomic import atomic_write_text, fsync_dir
from s2tts.errors import CheckpointError

__all__ = [
    "Checkpointer",
    "GeneratorState",
    "ModelState",
    "NumpyGeneratorState",
    "OptimizerState",
    "Stateful",
    "capture_rng_state",
    "restore_rng_state",
]

FORMAT_VERSION = 1
STATE_FILE = "state.pt"
META_FILE = "meta.json"
LATEST_FILE = "latest"


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any: ...


def _full_options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def _shorten(message: str, limit: int = 600) -> str:
    """A state-dict mismatch lists every tensor; the first few say what is wrong."""
    return (
        message if len(message) <= limit else f"{message[:limit]}... ({len(message) - limit} more characters)"
    )


class ModelState:
    """A model (plain, DDP or FSDP2) as a stateful object with a full, CPU state dict.

    ``drop_prefixes``: loaded keys under these prefixes are ignored (a weights-only start that
    leaves out a part of the saved model, e.g. a training-only head)."""

    def __init__(self, model: nn.Module, drop_prefixes: tuple[str, ...] = ()) -> None:
        self.model = model
        self.drop_prefixes = drop_prefixes

    def state_dict(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(self.model, options=_full_options())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        if self.drop_prefixes:
            state_dict = {k: v for k, v in state_dict.items() if not k.startswith(self.drop_prefixes)}
        try:
            set_model_state_dict(self.model, state_dict, options=_full_options())
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"checkpoint weights do not match the model: {_shorten(str(exc))}") from exc


class OptimizerState:
    """An optimizer of ``model`` as a stateful object (state keyed by parameter name)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.model = model
        self.optimizer = optimizer

    def state_dict(self) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        return get_optimizer_state_dict(self.model, self.optimizer, options=_full_options())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

        try:
            set_optimizer_state_dict(self.model, self.optimizer, state_dict, options=_full_options())
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"checkpoint optimizer state does not match: {exc}") from exc


class GeneratorState:
    """An explicit ``torch.Generator`` (e.g. the data-order or dropout generator) as stateful."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.generator.set_state(state_dict["state"])


class NumpyGeneratorState:
    """A ``numpy.random.Generator`` as stateful (its bit generator's state is plain ints/strs)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def state_dict(self) -> dict[str, Any]:
        return {"bit_generator": self.rng.bit_generator.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state_dict["bit_generator"]


def capture_rng_state() -> dict[str, Any]:
    """Global torch RNG states: CPU and every visible CUDA device."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


class Checkpointer:
    """Saves and finds checkpoints under ``root``; keeps the newest ``keep_last`` step directories.

    ``is_main``: whether this process writes (rank 0); ``barrier``: called after a save so other
    ranks do not race ahead of the write (pass ``DistInfo.barrier`` under torchrun).
    """

    def __init__(
        self,
        root: str | Path,
        keep_last: int = 2,
        is_main: bool = True,
        barrier: Callable[[], None] | None = None,
    ) -> None:
        if keep_last < 1:
            raise CheckpointError(f"keep_last must be >= 1, got {keep_last}")
        self.root = Path(root)
        self.keep_last = keep_last
        self.is_main = is_main
        self._barrier = barrier

    # ------------------------------------------------------------------ paths
    @staticmethod
    def step_name(step: int) -> str:
        return f"step-{step:08d}"

    def checkpoints(self) -> list[Path]:
        """Complete step checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.glob("step-*") if (p / STATE_FILE).is_file()]
        return sorted(found, key=lambda p: p.name)

    def latest(self) -> Path | None:
        """The newest complete checkpoint (from ``latest``, else by scanning), or None."""
        pointer = self.root / LATEST_FILE
        if pointer.is_file():
            path = self.root / pointer.read_text().strip()
            if (path / STATE_FILE).is_file():
                return path
        found = self.checkpoints()
        return found[-1] if found else None

    @staticmethod
    def resolve(run_dir: str | Path, checkpoint: str | Path | None = None) -> Path:
        """``checkpoint`` when given, else the newest under ``run_dir/checkpoints``; CheckpointError
        when there is none (what every ``export`` of a run takes)."""
        if checkpoint is not None:
            return Path(checkpoint)
        found = Checkpointer(Path(run_dir) / "checkpoints").latest()
        if found is None:
            raise CheckpointError(f"no training checkpoint under {Path(run_dir) / 'checkpoints'}")
        return found

    @staticmethod
    def object_names(path: str | Path) -> list[str]:
        """The names of the objects a checkpoint directory holds, from its small ``meta.json``
        (without loading the state)."""
        meta = Path(path) / META_FILE
        try:
            return list(json.loads(meta.read_text())["objects"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"no readable {META_FILE} in {path}: {exc}") from exc

    # ------------------------------------------------------------------ save
    def save(
        self,
        step: int,
        objects: Mapping[str, Stateful],
        extra: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a checkpoint for ``step``; every rank calls this, ``is_main`` writes. Returns its path."""
        payload = {
            "format": FORMAT_VERSION,
            "step": int(step),
            "objects": {name: obj.state_dict() for name, obj in objects.items()},
            "rng": capture_rng_state(),
            "extra": dict(extra or {}),
        }
        final = self.root / self.step_name(step)
        if self.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / f".tmp-{final.name}-{os.getpid()}"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            with open(tmp / STATE_FILE, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            meta = {"step": int(step), "time": time.time(), "objects": sorted(objects)}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
            fsync_dir(tmp)
            if final.exists():  # re-saving a step (e.g. at SIGTERM right after a periodic save)
                old = self.root / f".old-{final.name}-{os.getpid()}"
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
            fsync_dir(self.root)
            atomic_write_text(self.root / LATEST_FILE, final.name + "\n", durable=True)
            self._prune()
        if self._barrier is not None:
            self._barrier()
        return final

    def _prune(self) -> None:
        for old in self.checkpoints()[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ load
    @staticmethod
    def read(path: str | Path) -> dict[str, Any]:
        """The raw payload of a checkpoint directory (or its ``state.pt``)."""
        path = Path(path)
        file = path / STATE_FILE if path.is_dir() else path
        if not file.is_file():
            raise CheckpointError(f"no training checkpoint at {path} (expected {STATE_FILE})")
        try:
            payload = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"cannot read checkpoint {file}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"{file} is not a s2tts training checkpoint (format {FORMAT_VERSION})")
        return payload

    def load(
        self,
        path: str | Path,
        objects: Mapping[str, Stateful],
        restore_rng: bool = True,
    ) -> dict[str, Any]:
        """Restore ``objects`` (a subset of what was saved is fine) and RNG; returns ``extra``.

        Weights-only resume: pass only the model and ``restore_rng=False``.
        """
        payload = self.read(path)
        saved = payload["objects"]
        missing = sorted(set(objects) - set(saved))
        if missing:
            raise CheckpointError(f"checkpoint {path} has no state for {missing}; it holds {sorted(saved)}")
        for name, obj in objects.items():
            obj.load_state_dict(saved[name])
        if restore_rng:
            restore_rng_state(payload["rng"])
        extra = dict(payload["extra"])
        extra.setdefault("step", payload["step"])
        return extra
