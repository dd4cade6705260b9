"""``s2tts init-checkpoint`` and ``s2tts generate-codes``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from s2tts.errors import CodesError, PromptError

if TYPE_CHECKING:  # heavy imports happen in the handlers, so `s2tts --help` stays fast
    import torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init-checkpoint", help="write a random checkpoint (LM, tokenizer, codec) for tests and demos"
    )
    p.add_argument("directory", type=Path)
    p.add_argument("--preset", default="tiny", help="LM shape: tiny, bench-small or s2-pro (default: tiny)")
    p.add_argument(
        "--codec-preset", default="tiny", help="codec shape, or 'none' for no codec (default: tiny)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.set_defaults(func=_init_checkpoint)

    g = sub.add_parser("generate-codes", help="text -> audio codes [10, T] (int64 .npy) with the Dual-AR LM")
    g.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="checkpoint directory (config.json, weights, tokenizer)",
    )
    g.add_argument("--text", required=True)
    g.add_argument(
        "--reference-codes", type=Path, action="append", default=[], help=".npy codes [10, T]; repeatable"
    )
    g.add_argument(
        "--reference-text", action="append", default=[], help="transcript of each --reference-codes"
    )
    g.add_argument("--top-k", type=int, default=30)
    g.add_argument("--top-p", type=float, default=0.9)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument(
        "--max-new-tokens", type=int, default=1024, help="steps per text batch (0: until the context ends)"
    )
    g.add_argument("--chunk-length", type=int, default=300, help="UTF-8 bytes per text batch")
    g.add_argument("--no-ras", action="store_true", help="disable repetition-aware sampling")
    g.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    g.add_argument("--device", default="cpu")
    g.add_argument(
        "--quantize",
        default=None,
        choices=["none", "int8"],
        help="weight-only int8 for the LM's Linear layers",
    )
    g.add_argument("-o", "--output", type=Path, required=True)
    g.set_defaults(func=_generate_codes)


def _init_checkpoint(args: argparse.Namespace) -> int:
    from s2tts.checkpoint import init_checkpoint

    codec = None if args.codec_preset.lower() == "none" else args.codec_preset
    path = init_checkpoint(args.directory, args.preset, args.seed, codec, args.dtype)
    print(f"wrote a random {args.preset} checkpoint to {path} (its audio is noise)")
    return 0


def load_reference_codes(path: Path) -> torch.Tensor:
    import numpy as np
    import torch

    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise CodesError(f"{path}: not a .npy array ({exc})") from exc
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise CodesError(
            f"{path}: reference codes must be an integer array [10, T], got {array.dtype} {array.shape}"
        )
    return torch.from_numpy(array.astype(np.int64))


def _generate_codes(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from s2tts.checkpoint import load_checkpoint
    from s2tts.inference.generate import stack_frames
    from s2tts.inference.long_form import generate_long_frames
    from s2tts.inference.params import SamplingParams
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.text.prompt import Reference

    if len(args.reference_codes) != len(args.reference_text):
        raise PromptError("give one --reference-text for each --reference-codes")
    params = SamplingParams(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        use_ras=not args.no_ras,
    )
    ckpt = load_checkpoint(args.checkpoint, dtype=args.dtype, device=args.device)
    prepare_for_decode(ckpt.model, quantize=args.quantize)
    refs = [
        Reference(t, load_reference_codes(c))
        for c, t in zip(args.reference_codes, args.reference_text, strict=True)
    ]
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    frames = []
    stream = generate_long_frames(
        ckpt.model, ckpt.prompt_builder(), args.text, refs, params, args.chunk_length, generator
    )
    for frame in tqdm(stream, desc="frames", unit="frame", leave=False):
        frames.append(frame.cpu())
    codes = stack_frames(frames, ckpt.config.num_codebooks)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, codes.numpy().astype(np.int64))
    print(f"wrote codes {tuple(codes.shape)} to {args.output} ({codes.shape[1] / 21.533:.2f} s of audio)")
    return 0
