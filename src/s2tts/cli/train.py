"""``s2tts train <recipe> --config FILE [key=value ...]``: run a trainer in this process.

Recipes: ``lm`` (the Dual-AR LM), ``codec`` (when ``s2tts.training.codec`` is present),
``export`` (an LM or RL training checkpoint -> the published layout) and ``codec-export`` (a codec
training checkpoint -> ``codec.safetensors``). For several processes launch the
recipe module with torchrun instead, e.g. ``torchrun --nproc_per_node 2 -m s2tts.training.lm``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model from a run config (YAML/TOML)")
    tsub = train.add_subparsers(dest="recipe", metavar="RECIPE")
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

    ex = tsub.add_parser(
        "export", help="write a training checkpoint (LM or RL run) as a published model directory"
    )
    ex.add_argument("--run", type=Path, required=True, help="the run's out_dir (an LM or an RL run)")
    ex.add_argument("--checkpoint", type=Path, help="a step directory (default: the latest)")
    ex.add_argument("-o", "--out", type=Path, help="output directory (default: RUN/model)")
    ex.set_defaults(func=_export)

    if importlib.util.find_spec("s2tts.training.codec") is not None:
        codec = tsub.add_parser("codec", help="train the codec (GAN + RVQ + semantic distillation)")
        codec.add_argument("--config", help="run config file, e.g. configs/train/codec-smoke.yaml")
        codec.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=100 optim.lr_g=2e-4")
        codec.set_defaults(func=_codec)
        cex = tsub.add_parser(
            "codec-export", help="write a codec training checkpoint as codec.safetensors (mid-run too)"
        )
        cex.add_argument("--run", type=Path, required=True, help="the codec run's out_dir")
        cex.add_argument("--checkpoint", type=Path, help="a step directory (default: the latest)")
        cex.add_argument("-o", "--out", type=Path, help="output directory (default: RUN/export)")
        cex.set_defaults(func=_codec_export)


def _codec(args: argparse.Namespace) -> int:
    from s2tts.training.codec.recipe import run

    return run(args.config, args.overrides)


def _codec_export(args: argparse.Namespace) -> int:
    from s2tts.training.codec.export import export_checkpoint

    path = export_checkpoint(args.run, args.checkpoint, args.out)
    print(json.dumps({"export": str(path.parent)}))
    return 0


def _train_lm(args: argparse.Namespace) -> int:
    from s2tts.errors import TrainConfigError
    from s2tts.training.lm.__main__ import run

    if args.config is None and not args.overrides:
        raise TrainConfigError(
            "give --config FILE (e.g. configs/train/lm-smoke.yaml) and/or KEY=VALUE overrides"
        )
    return run(args.config, args.overrides)


def _export(args: argparse.Namespace) -> int:
    from s2tts.training.checkpointing import Checkpointer
    from s2tts.training.lm.export import export_run
    from s2tts.training.rl.export import export_rl_run, is_rl_checkpoint

    checkpoint = Checkpointer.resolve(args.run, args.checkpoint)
    export = export_rl_run if is_rl_checkpoint(checkpoint) else export_run
    path = export(args.run, checkpoint, args.out)
    print(json.dumps({"export": str(path)}))
    return 0
