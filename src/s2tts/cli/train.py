"""``s2tts train lm`` (train the Dual-AR LM) and ``s2tts train export`` (publish a checkpoint)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train models (see 's2tts train lm --help')")
    tsub = train.add_subparsers(dest="train_command", metavar="WHAT")
    tsub.required = True

    lm = tsub.add_parser(
        "lm",
        help="pre-train, fine-tune or LoRA-tune the Dual-AR LM from a YAML/TOML run config",
        description="Train the Dual-AR LM. Overrides are KEY=VALUE pairs, e.g. steps=200 optim.lr=1e-4. "
        "For several processes use: torchrun --nproc_per_node N -m s2tts.training.lm --config FILE.",
    )
    from s2tts.training.lm.__main__ import add_arguments

    add_arguments(lm)
    lm.set_defaults(func=_train_lm)

    ex = tsub.add_parser("export", help="write a training checkpoint as a published model directory")
    ex.add_argument("--run", type=Path, required=True, help="the run's out_dir")
    ex.add_argument("--checkpoint", type=Path, help="a step directory (default: the latest)")
    ex.add_argument("-o", "--out", type=Path, help="output directory (default: RUN/model)")
    ex.set_defaults(func=_export)


def _train_lm(args: argparse.Namespace) -> int:
    from s2tts.errors import TrainConfigError
    from s2tts.training.lm.__main__ import run

    if args.config is None and not args.overrides:
        raise TrainConfigError(
            "give --config FILE (e.g. configs/train/lm-smoke.yaml) and/or KEY=VALUE overrides"
        )
    return run(args.config, args.overrides)


def _export(args: argparse.Namespace) -> int:
    from s2tts.training.lm.export import export_run

    path = export_run(args.run, args.checkpoint, args.out)
    print(json.dumps({"export": str(path)}))
    return 0
