"""``s2tts init-checkpoint`` and ``s2tts generate-codes``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from s2tts.cli.options import (
    DTYPES,
    add_runtime_options,
    add_sampling_options,
    apply_threads,
    audio_progress,
)
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
    p.add_argument("--dtype", default="float32", choices=DTYPES)
    p.add_argument("--force", action="store_true", help="overwrite a directory that is not empty")
    p.add_argument(
        "--text-frontend",
        default="text",
        choices=("text", "espeak"),
        help="what the model reads: text as written, or espeak-ng IPA phonemes (default: text)",
    )
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
    add_sampling_options(g, min_new_tokens=True)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--no-ras", action="store_true", help="disable repetition-aware sampling")
    add_runtime_options(g, quantize=True)
    g.add_argument("-o", "--output", type=Path, required=True)
    g.set_defaults(func=_generate_codes)


def _init_checkpoint(args: argparse.Namespace) -> int:
    from s2tts.checkpoint import init_checkpoint

    codec = None if args.codec_preset.lower() == "none" else args.codec_preset
    path = init_checkpoint(
        args.directory,
        args.preset,
        args.seed,
        codec,
        args.dtype,
        force=args.force,
        text_frontend=args.text_frontend,
    )
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


FRAMES_PER_SECOND = 44100 / 2048  # S2's codec: one frame of codes per 2048 samples at 44.1 kHz


def _generate_codes(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from s2tts.checkpoint import RANDOM_NOTICE, load_checkpoint
    from s2tts.inference.generate import stack_frames
    from s2tts.inference.long_form import generate_long_frames
    from s2tts.inference.params import SamplingParams
    from s2tts.inference.prepare import prepare_for_decode
    from s2tts.text.prompt import Reference

    apply_threads(args)
    if len(args.reference_codes) != len(args.reference_text):
        raise PromptError("give one --reference-text for each --reference-codes")
    knobs = (args.temperature, args.top_p, args.top_k, args.max_new_tokens, args.min_new_tokens)
    use_ras = False if args.no_ras else None
    SamplingParams.from_user(*knobs, use_ras=use_ras)  # a bad value fails before the model loads
    ckpt = load_checkpoint(args.checkpoint, dtype=args.dtype, device=args.device)
    params = SamplingParams.from_user(*knobs, use_ras=use_ras, defaults=ckpt.sampling)
    if ckpt.random_weights:
        print(f"s2tts: note: {RANDOM_NOTICE}", file=sys.stderr)
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
    with audio_progress("generating") as bar:
        for frame in stream:
            frames.append(frame.cpu())
            bar.update(1 / FRAMES_PER_SECOND)
    codes = stack_frames(frames, ckpt.config.num_codebooks)
    if codes.shape[1] == 0:
        raise CodesError("the model made no frames (it ended at once); nothing written, try another --seed")
    codes = fit_to_codec(codes, ckpt.codec_path())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.output, codes.numpy().astype(np.int64))
    seconds = codes.shape[1] / FRAMES_PER_SECOND
    print(f"wrote codes {tuple(codes.shape)} to {args.output} ({seconds:.2f} s of audio)")
    return 0


def fit_to_codec(codes: torch.Tensor, codec_path: Path | None) -> torch.Tensor:
    """Codes (N, T) clamped to the codebooks of the checkpoint's codec, as the engine does before
    decoding, so ``s2tts codec decode`` takes them. The LM draws every codebook from one range; a
    codec's residual codebooks may be smaller (a trained LM stays inside them)."""
    import torch

    if codec_path is None:
        return codes
    from s2tts.models.codec import read_codec_config

    sizes = read_codec_config(codec_path).codebook_sizes
    if len(sizes) != codes.shape[0]:
        raise CodesError(
            f"the LM makes {codes.shape[0]} codebooks, its codec {codec_path.name} has {len(sizes)}"
        )
    limits = torch.tensor(sizes, dtype=codes.dtype).view(-1, 1) - 1
    return torch.minimum(codes, limits)
