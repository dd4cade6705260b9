"""``s2tts eval``, ``s2tts eval-compare`` and ``s2tts eval-testset``: argparse and dispatch only."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from s2tts.cli.options import add_sampling_options


def register(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a system on a test set and write a report folder",
        description="Generate every case of a test set with SYSTEM (a checkpoint directory, a server URL, "
        "wavs:DIR of files named <id>.wav, codec:DIR to resynthesise each case's original audio through a "
        "codec, or originals), score it (WER/CER, speaker similarity, DNSMOS, "
        "DistillMOS, tag activation, long form, speed) and write a report folder.",
    )
    p.add_argument(
        "--system",
        required=True,
        help="checkpoint DIR | http://host:port | wavs:DIR | codec:DIR | originals",
    )
    p.add_argument("--testset", required=True, help="Seed-TTS-Eval .lst or s2tts .jsonl")
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument("--asr", default="base", help="'base' (default), 'tiny.en' or a CTranslate2 Whisper dir")
    p.add_argument("--no-speaker", action="store_true", help="skip speaker similarity")
    p.add_argument("--no-quality", action="store_true", help="skip DNSMOS and DistillMOS")
    p.add_argument("--batch-size", type=int, default=4, help="requests in flight (checkpoint / server)")
    p.add_argument("--asr-batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch and the scorers")
    p.add_argument("--seed", type=int, default=0, help="base seed for cases without one")
    add_sampling_options(p, chunk_length=False)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--api-key", default=os.environ.get("S2TTS_API_KEY"))
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.set_defaults(func=_eval)

    c = sub.add_parser("eval-compare", help="compare two or more report folders (the first is the baseline)")
    c.add_argument("folders", nargs="+", help="report folders written by 's2tts eval'")
    c.add_argument("--out", required=True, help="folder for compare.md / .html / .json")
    c.set_defaults(func=_compare)

    t = sub.add_parser("eval-testset", help="write a JSONL test set from a synthetic corpus's held-out split")
    t.add_argument("--corpus", required=True, help="corpus folder made by 's2tts data synth'")
    t.add_argument("--out", required=True, help="test set file (.jsonl)")
    t.add_argument("--per-category", type=int, default=10, help="cases per category (with --speaker: in all)")
    t.add_argument(
        "--speaker",
        default=None,
        help="only plain cases of this corpus speaker's own utterances, held-out sentences first "
        "(for a voice's ceiling through a codec: eval --system codec:DIR)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--long-words", type=int, default=None, help="words per long-form case (default 320, ~2 minutes)"
    )
    t.set_defaults(func=_testset)


def _eval(args: argparse.Namespace) -> int:
    from s2tts.errors import EvalError

    for name in ("batch_size", "asr_batch_size", "threads", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise EvalError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from s2tts.eval.runner import run_eval
    from s2tts.eval.scoring import ScorerConfig, Scorers
    from s2tts.eval.systems import Sampling, open_system
    from s2tts.eval.testset import load_testset

    cases = load_testset(args.testset)[: args.limit]
    sampling = Sampling(args.temperature, args.top_p, args.top_k, args.max_new_tokens)
    system = open_system(
        args.system,
        sampling,
        args.batch_size,
        api_key=args.api_key,
        base_seed=args.seed,
        dtype=args.dtype,
        device=args.device,
    )
    config = ScorerConfig(
        asr=args.asr,
        asr_batch_size=args.asr_batch_size,
        threads=args.threads or 1,
        speaker=not args.no_speaker,
        quality=not args.no_quality,
    )
    try:
        summary = run_eval(system, cases, args.out, Scorers(config), testset=str(args.testset))
    finally:
        system.close()
    keys = ("n", "wer", "cer", "sim", "dnsmos_ovrl", "distillmos", "rtf", "ttfa_s", "tag_activation")
    print(f"report: {args.out}/report.md")
    print(json.dumps({k: summary.get(k) for k in keys}))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from s2tts.eval.compare import compare

    result = compare(args.folders, args.out)
    for row in result["rows"]:
        ci = row["ci"]
        band = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "n/a"
        delta = f"{row['delta']:+.3f}" if row["delta"] is not None else "n/a"
        print(f"{row['run']:>20}  {row['label']:<22} {delta:>8}  {band:<20} {row['verdict']}")
    print(f"comparison: {args.out}/compare.md")
    return 0


def _testset(args: argparse.Namespace) -> int:
    from s2tts.errors import EvalError
    from s2tts.eval.corpus_testset import LONG_WORDS, write_corpus_testset, write_voice_testset

    if args.per_category < 1:
        raise EvalError(f"--per-category must be >= 1, got {args.per_category}")
    if args.speaker is not None:
        path, counts = write_voice_testset(args.corpus, args.out, args.speaker, args.per_category, args.seed)
        print(json.dumps({"testset": str(path), **counts}))
        return 0
    path, counts = write_corpus_testset(
        args.corpus, args.out, per_category=args.per_category, seed=args.seed,
        long_words=args.long_words or LONG_WORDS,
    )  # fmt: skip
    print(json.dumps({"testset": str(path), **counts}))
    return 0
