"""``s2tts recipe small --out DIR``: run (or resume) a whole training recipe, stage by stage.

    s2tts recipe small --out runs/small [--threads 2] [--until pretrain | --stages codec,pipeline]
                       [--configs DIR] [--set corpus.path=/data/corpus] [--set pretrain.overrides+=steps=100]
    s2tts recipe small --out runs/longer --adopt runs/small --set pretrain.config=pretrain-more.yaml ...
                       # a variant: runs/small's finished data stages are done here, read in place
    s2tts recipe small --out runs/small --milestone pretrain --to src/s2tts/assets/small   # fp16 snapshot
    s2tts recipe small --out runs/small --milestone codec --to models/small-codec          # codec.path
    s2tts recipe small --out runs/small --milestone export --to src/s2tts/assets/small     # ship the result
    s2tts recipe small --out runs/small --compute      # CPU hours of each stage so far (markdown)

Re-running the same command skips the stages that are done and resumes the one that was interrupted.
The last stdout line is one JSON object: the status of every selected stage.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "recipe", help="run a resumable end-to-end training recipe (see 's2tts recipe small --help')"
    )
    recipes = parser.add_subparsers(dest="recipe_name", metavar="RECIPE")
    recipes.required = True
    from s2tts.recipes.small import DEFAULT_CONFIGS, STAGE_NAMES

    small = recipes.add_parser(
        "small",
        help="the small CPU model: corpus, codec, pipeline, pretrain, sft, rl, eval, export",
        description="Train the small model end to end. Stages: " + ", ".join(STAGE_NAMES) + ". "
        "Re-run the same command to resume; finished stages are skipped.",
    )
    small.add_argument("--out", type=Path, required=True, help="run directory (everything is written here)")
    small.add_argument(
        "--configs", type=Path, default=DEFAULT_CONFIGS, help="folder with recipe.yaml and the tool configs"
    )
    small.add_argument(
        "--threads", type=int, default=2, help="torch threads of every training stage (default 2)"
    )
    small.add_argument("--stages", help="comma-separated stages to run (their inputs must be done)")
    small.add_argument("--until", choices=STAGE_NAMES, help="run every stage up to and including this one")
    small.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="change a recipe.yaml setting; SECTION.overrides+=KEY=VALUE adds a tool override",
    )
    small.add_argument(
        "--adopt",
        type=Path,
        metavar="RUN",
        help="count RUN's finished corpus, codec and pipeline stages as done here when their settings "
        "are the same (read in place, not copied): a variant of a finished run starts at its first "
        "changed stage",
    )
    small.add_argument(
        "--milestone",
        choices=("codec", "pretrain", "sft", "export"),
        help="instead of running: package the latest checkpoint of this stage (or the export stage's "
        "result) as fp16 with a manifest into --to; codec: the codec stage's codec alone, in fp16 "
        "(what codec.path resumes from)",
    )
    small.add_argument(
        "--to", type=Path, help="folder for --milestone (the package's own: src/s2tts/assets/small)"
    )
    small.add_argument(
        "--compute",
        action="store_true",
        help="instead of running: print the CPU hours each stage took so far, over all sessions",
    )
    small.set_defaults(func=_small)


def _small(args: argparse.Namespace) -> int:
    from s2tts.errors import RecipeError
    from s2tts.recipes.small import STAGE_NAMES, export_milestone, milestone_recipe, run_small

    if args.compute:
        from s2tts.recipes.compute import compute_table

        print(compute_table(args.out.resolve(), list(STAGE_NAMES)), end="")
        return 0
    if args.milestone:
        if args.to is None:
            raise RecipeError("--milestone needs --to DIR")
        recipe = milestone_recipe(args.out.resolve(), args.configs, args.assignments)
        print(json.dumps(export_milestone(recipe, args.milestone, args.to.resolve())))
        return 0
    only = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    results = run_small(
        args.out, args.configs, args.threads, args.assignments, only, args.until, adopt=args.adopt
    )
    print(json.dumps({"stages": [{k: r.get(k) for k in ("stage", "status", "wall_s")} for r in results]}))
    return 0
