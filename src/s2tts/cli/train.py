"""``s2tts train <recipe> --config FILE [key=value ...]``: run a trainer in this process.

For several processes, launch the recipe module with torchrun instead, e.g.
``torchrun --nproc_per_node 2 -m s2tts.training.codec --config FILE``.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a model from a run config (YAML/TOML)")
    recipes = train.add_subparsers(dest="recipe", metavar="RECIPE")
    recipes.required = True
    codec = recipes.add_parser("codec", help="train the codec (GAN + RVQ + semantic distillation)")
    codec.add_argument("--config", help="run config file, e.g. configs/train/codec-smoke.yaml")
    codec.add_argument("overrides", nargs="*", help="key=value overrides, e.g. steps=100 optim.lr_g=2e-4")
    codec.set_defaults(func=_codec)


def _codec(args: argparse.Namespace) -> int:
    from s2tts.training.codec.recipe import run

    return run(args.config, args.overrides)
