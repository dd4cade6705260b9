"""``s2tts data synth|run``: make a synthetic corpus; turn recordings into training shards.

    s2tts data synth --hours 20 --out corpus/ [--seed 0] [--languages en,de] [--workers 2]

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
        default="festival=0.55,piper=0.2,espeak=0.25",
        help="share of the English hours per engine (default festival=0.55,piper=0.2,espeak=0.25)",
    )
    syn.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    syn.add_argument("--chunk-size", type=int, default=80, help="utterances per work item (default 80)")
    syn.add_argument("--no-progress", action="store_true", help="no progress bar")
    syn.set_defaults(func=_synth)


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
    )
    summary = synthesize_corpus(config, args.out, workers=args.workers, progress=not args.no_progress)
    print(json.dumps(summary))
    return 0
