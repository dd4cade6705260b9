"""Options shared by the commands that run a model (``--device``, ``--dtype``, ``--threads``), checked up front,
and the progress bar they share (seconds of audio made).

Each check is an argparse ``type``, so a bad value is a one-line usage error (exit 2) before any model
is loaded: an unknown device, a CUDA device on a torch without CUDA (or a GPU index that does not
exist), an unknown dtype, a thread count below 1. Sampling flags go through ``SamplingParams``, the
one validation the server shares (see ``sampling_params``).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

DTYPES = ("float32", "bfloat16", "float16")
_DEVICE = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")


def device(value: str) -> str:
    """A torch device this process can use: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    name = value.strip().lower()
    if not _DEVICE.match(name):
        raise argparse.ArgumentTypeError(f"unknown device {value!r} (use cpu, cuda, cuda:N or mps)")
    kind, _, index = name.partition(":")
    if kind == "cpu":
        return name
    import torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA GPU"
            raise argparse.ArgumentTypeError(
                f"{value!r}: this torch ({torch.__version__}) {build}; use --device cpu"
            )
        if index and int(index) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f"{value!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{value!r}: MPS is not available here; use --device cpu")
    return name


def threads(value: str) -> int:
    """A torch intra-op thread count >= 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def add_runtime_options(parser: argparse.ArgumentParser, dtype: bool = True, quantize: bool = False) -> None:
    """``--device`` (default cpu), ``--threads``, for the LM ``--dtype`` and, where it decodes, ``--quantize``."""
    parser.add_argument(
        "--device", type=device, default="cpu", help="cpu, cuda, cuda:N or mps (default: cpu)"
    )
    parser.add_argument(
        "--threads", type=threads, default=None, help="torch intra-op threads (default: torch's)"
    )
    if dtype:
        parser.add_argument(
            "--dtype", default="float32", choices=DTYPES, help="weights dtype (default: float32)"
        )
    if quantize:
        parser.add_argument(
            "--quantize",
            default=None,
            choices=["none", "int8"],
            help="weight-only int8 for the LM's Linear layers (default: none)",
        )


def add_sampling_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    chunk_length: bool = True,
    min_new_tokens: bool = False,
) -> None:
    """--temperature --top-p --top-k --max-new-tokens (and --chunk-length, --min-new-tokens). The
    sampling flags default to None: the checkpoint's own defaults (its ``sampling.json``), else
    ``DEFAULT_SAMPLING``, like the HTTP fields and the engine (``SamplingParams.from_user``)."""
    from s2tts.inference.params import DEFAULT_SAMPLING  # light: dataclasses only
    from s2tts.text.split import DEFAULT_CHUNK_LENGTH

    d = DEFAULT_SAMPLING
    model = "the model's sampling.json, else"
    parser.add_argument(
        "--temperature", type=float, default=None, help=f"0-1, 0 is greedy (default: {model} {d.temperature})"
    )
    parser.add_argument(
        "--top-p", type=float, default=None, help=f"0-1, 0 is greedy (default: {model} {d.top_p})"
    )
    parser.add_argument("--top-k", type=int, default=None, help=f"1 is greedy (default: {model} {d.top_k})")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help=f"steps per text batch, frames + 1; 0: until the context ends (default {d.max_new_tokens})",
    )
    if min_new_tokens:
        parser.add_argument(
            "--min-new-tokens",
            type=int,
            default=None,
            help="steps per text batch before the end token is allowed, e.g. to give a random "
            f"checkpoint (which stops at random) a length (default {d.min_new_tokens})",
        )
    if chunk_length:
        parser.add_argument(
            "--chunk-length",
            type=int,
            default=DEFAULT_CHUNK_LENGTH,
            help=f"UTF-8 bytes per text batch (default {DEFAULT_CHUNK_LENGTH})",
        )


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count when ``--threads`` was given (a process setting, made by the CLI only)."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)


def audio_progress(desc: str) -> Any:
    """The progress bar of every command that makes audio: seconds of audio made so far. Use it in a
    ``with`` block: closing it ends its line, so an error printed after it starts on a line of its own."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit="s", bar_format="{desc}: {n:.1f} s of audio [{elapsed}]")
