"""``s2tts train rl --config FILE [a.b=value ...]``: GRPO after SFT (docs/rl.md).

The ``train`` command group is shared with the other trainers: this module adds ``rl`` to it,
creating the group when it registers first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from pathlib import Path
from typing import Any


def train_group(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-commands of ``s2tts train`` (made on first use)."""
    parser = sub.choices.get("train")
    if parser is None:
        parser = sub.add_parser("train", help="train models (see 'train --help')")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    group = parser.add_subparsers(dest="train_command", metavar="TRAINER")
    group.required = True
    return group


def register(sub: argparse._SubParsersAction) -> None:
    p = train_group(sub).add_parser(
        "rl", help="reinforcement learning after SFT (S2's GRPO with ASR, quality and speaker rewards)"
    )
    p.add_argument("--config", type=Path, default=None, help="YAML/TOML run config (configs/train/rl-*.yaml)")
    p.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. loss.beta=0.02"
    )
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads of the trainer")
    p.set_defaults(func=_train_rl)


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _train_rl(args: argparse.Namespace) -> int:
    """Train; the main rank prints the summary JSON; under torchrun every rank then exits through
    the process group's safe exit (errors still exit 1 with one line, via ``s2tts.cli.main``)."""
    import torch
    import torch.distributed as torch_dist

    from s2tts.errors import S2TTSError
    from s2tts.training.distributed import DistInfo, finish
    from s2tts.training.rl.config import RLRunConfig
    from s2tts.training.rl.recipe import train_rl
    from s2tts.training.run_config import load_config

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = load_config(RLRunConfig, args.config, args.overrides)
    code = 0
    try:
        summary = train_rl(cfg)
        if summary.pop("rank") == 0:
            print(json.dumps({k: _plain(v) for k, v in summary.items()}), flush=True)
    except BaseException as exc:
        if not torch_dist.is_initialized():
            raise  # one process: s2tts.cli.main reports it
        code = 1
        if isinstance(exc, (S2TTSError, FileNotFoundError, PermissionError)):
            print(f"s2tts: error: {exc}", file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
    finally:
        if torch_dist.is_initialized():  # exits the process (barrier, destroy, os._exit(code))
            finish(DistInfo(world_size=torch_dist.get_world_size(), rank=torch_dist.get_rank()), code)
    return code
