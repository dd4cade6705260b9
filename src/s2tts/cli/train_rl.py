"""``s2tts train rl --config FILE [a.b=value ...]``: GRPO after SFT (docs/rl.md).

The ``train`` command group is shared with the other trainers: this module adds ``rl`` to it,
creating the group when it registers first.
"""

from __future__ import annotations

import argparse
import json
import math
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
    import torch

    from s2tts.training.rl.config import RLRunConfig
    from s2tts.training.rl.recipe import train_rl
    from s2tts.training.run_config import load_config

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cfg = load_config(RLRunConfig, args.config, args.overrides)
    summary = train_rl(cfg)
    print(json.dumps({k: _plain(v) for k, v in summary.items()}))
    return 0
