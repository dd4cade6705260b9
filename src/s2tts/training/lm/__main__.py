"""``python -m s2tts.training.lm --config FILE [a.b=value ...]`` (also under ``torchrun``).

Prints progress on stderr and, as the last stdout line, one JSON object with ``steps``,
``first_loss``, ``final_loss``, ``val_loss``, ``checkpoint`` (and ``export``, ``tokens_per_s``,
``stopped_by``). Errors in the config, data or checkpoint, and a NaN loss, end the run with one
line on stderr and exit status 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from s2tts.errors import S2TTSError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="run config (YAML or TOML)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.lr=1e-4")


def run(config: Path | None, overrides: Sequence[str]) -> int:
    """Train; print the summary JSON; return the exit status (under torchrun: exits the process)."""
    from s2tts.training.distributed import DistInfo, finish
    from s2tts.training.lm.config import LMRunConfig
    from s2tts.training.lm.recipe import train_lm
    from s2tts.training.run_config import load_config

    code = 0
    dist = DistInfo()
    try:
        cfg = load_config(LMRunConfig, config, overrides)
        summary = train_lm(cfg)
        import torch.distributed as torch_dist

        if torch_dist.is_initialized():
            dist = DistInfo(world_size=torch_dist.get_world_size(), rank=torch_dist.get_rank())
        if dist.is_main:
            print(json.dumps(summary), flush=True)
    except (S2TTSError, FileNotFoundError, PermissionError) as exc:
        if os.environ.get("RANK", "0") == "0":  # one line, not one per process
            print(f"s2tts: error: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        import torch.distributed as torch_dist

        if torch_dist.is_initialized():
            finish(DistInfo(world_size=torch_dist.get_world_size(), rank=torch_dist.get_rank()), code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m s2tts.training.lm", description="Train the Dual-AR LM.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args.config, args.overrides)


if __name__ == "__main__":
    sys.exit(main())
