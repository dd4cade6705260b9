"""``s2tts data synth|run``: make a synthetic corpus; turn recordings into training shards.

    s2tts data synth --hours 20 --out corpus/ [--seed 0] [--languages en,de] [--workers 2]
    s2tts data run --input corpus/manifest.parquet --out prepared/ --codec CKPT [--config FILE] [--ray]

The last line on stdout is one JSON object (the summary).
"""

from __future__ import annotations

import argparse
import json

from s2tts.errors import S2TTSError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="make a synthetic speech corpus or prepare recordings for training", description=__doc__
    )
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION")
    actions.required = True

    syn = actions.add_parser(
        "synth",
        help="synthetic multi-speaker corpus (festival, piper, espeak-ng) with tags and dialogues",
        description="Speak real sentences with many pseudo-speakers into 44.1 kHz FLAC + manifest.parquet.",
    )
    syn.add_argument("--hours", type=float, required=True, help="hours of audio to make (estimated)")
    syn.add_argument("--out", required=True, help="output directory (re-run the same command to resume)")
    syn.add_argument("--seed", type=int, default=0, help="seed of the plan and the effect noise (default 0)")
    syn.add_argument(
        "--languages", default="en", help="comma-separated: en, de, es, it (others via espeak-ng; default en)"
    )
    syn.add_argument(
        "--mix",
        default="festival=0.65,piper=0.15,espeak=0.2",
        help="share of the English hours per engine (default festival=0.65,piper=0.15,espeak=0.2)",
    )
    syn.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    syn.add_argument("--chunk-size", type=int, default=80, help="utterances per work item (default 80)")
    syn.add_argument(
        "--chars-per-second",
        type=float,
        default=17.0,
        help="speaking rate the plan assumes to reach --hours (default 17; corpora begun before it "
        "was measured used 15: pass that to resume them)",
    )
    syn.add_argument("--no-progress", action="store_true", help="no progress bar")
    syn.set_defaults(func=_synth)
    register_run(actions)


class _ArgError(S2TTSError, ValueError):
    pass


def _parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    from s2tts.data.tts_engines import ENGINES

    out = []
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name.strip() not in ENGINES:
            raise _ArgError(f"--mix: unknown engine {name.strip()!r} (use {', '.join(ENGINES)})")
        try:
            share = float(value)
        except ValueError:
            raise _ArgError(f"--mix: {item!r} is not engine=share") from None
        if share < 0:
            raise _ArgError(f"--mix: share of {name} must be >= 0")
        out.append((name.strip(), share))
    if not any(w > 0 for _, w in out):
        raise _ArgError("--mix: at least one engine needs a positive share")
    return tuple(out)


def _synth(args: argparse.Namespace) -> int:
    from s2tts.data.synth import synthesize_corpus
    from s2tts.data.synth_plan import SynthConfig
    from s2tts.data.text_source import LANGUAGES

    languages = tuple(x.strip() for x in args.languages.split(",") if x.strip())
    unknown = [x for x in languages if x not in LANGUAGES]
    if unknown:
        raise _ArgError(f"--languages: no text source for {', '.join(unknown)} (have {', '.join(LANGUAGES)})")
    if args.workers < 1:
        raise _ArgError("--workers must be >= 1")
    config = SynthConfig(
        hours=args.hours,
        seed=args.seed,
        languages=languages,
        mix=_parse_mix(args.mix),
        chunk_size=args.chunk_size,
        chars_per_second=args.chars_per_second,
    )
    summary = synthesize_corpus(config, args.out, workers=args.workers, progress=not args.no_progress)
    print(json.dumps(summary))
    return 0


# s2tts.data.stages.STAGE_NAMES, spelled out: importing the stages loads their audio libraries
UNTIL_CHOICES = ("ingest", "denoise", "segment", "quality", "transcribe", "tokenize")


def register_run(actions: argparse._SubParsersAction) -> None:
    run = actions.add_parser(
        "run",
        help="recordings -> clean, segmented, scored, transcribed, tokenized shards (resumable)",
        description="Ingest, denoise, segment, score, transcribe and tokenize audio; re-run to resume.",
    )
    run.add_argument("--input", required=True, help="a directory of audio files, or a manifest .parquet")
    run.add_argument("--out", required=True, help="output directory (stage tables, audio, shards, manifest)")
    run.add_argument("--config", help="YAML/JSON settings per stage (see s2tts.data.pipeline_config)")
    run.add_argument("--codec", help="codec checkpoint for tokenize (overrides tokenize.checkpoint)")
    run.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    run.add_argument(
        "--until",
        choices=UNTIL_CHOICES,
        help="stop after this stage (before tokenize no codec is needed; re-run without it to finish)",
    )
    run.add_argument(
        "--ray", action="store_true", help="run the stages on Ray Data instead of a process pool"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from s2tts.data.pipeline import run_pipeline
    from s2tts.data.pipeline_config import load_config

    if args.workers < 1:
        raise _ArgError("--workers must be >= 1")
    overrides = {"tokenize": {"checkpoint": args.codec}} if args.codec else None
    config = load_config(args.config, overrides)
    if not config.tokenize.checkpoint and args.until in (None, "tokenize"):
        raise _ArgError("no codec: pass --codec PATH (a codec file or checkpoint directory)")
    summary = run_pipeline(
        args.input, args.out, config, args.workers, args.ray, progress=not args.no_progress, until=args.until
    )
    print(json.dumps(summary))
    return 0
