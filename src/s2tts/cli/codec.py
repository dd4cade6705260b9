"""``s2tts codec encode|decode``: audio files <-> S2 codes (``.npy``, int64 [10, T]).

    s2tts codec encode in.wav -o codes.npy --checkpoint codec.pth [--config codec_config.json]
    s2tts codec decode codes.npy -o out.wav --checkpoint codec.pth [--config codec_config.json]

The config may be ours or the reference's constructor values; without one, the checkpoint's own
(beside it / in its metadata) or the released codec's shape is used. ``--random-weights`` runs a
randomly initialised codec (seed 0) instead of a checkpoint, for demos and smoke tests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from s2tts.cli.options import add_runtime_options, apply_threads
from s2tts.errors import CodesError, WeightsError

if TYPE_CHECKING:  # heavy imports happen in the handlers, so `s2tts --help` stays fast
    import numpy as np

    from s2tts.models.codec import Codec


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "codec",
        help="encode audio to S2 codec codes, or decode codes to audio",
        description=__doc__.split("\n\n")[0],
    )
    actions = parser.add_subparsers(dest="codec_action", metavar="ACTION")
    actions.required = True

    enc = actions.add_parser("encode", help="audio file (wav/flac/ogg/mp3/...) -> codes .npy [10, T]")
    enc.add_argument("input", help="audio file; any sample rate and channel count")
    enc.add_argument("-o", "--output", required=True, help="codes file to write (.npy, int64 [10, T])")
    _add_model_options(enc)
    enc.set_defaults(func=_encode)

    dec = actions.add_parser("decode", help="codes .npy [10, T] -> audio file (.wav/.flac/.ogg/.mp3)")
    dec.add_argument("input", help="codes file (.npy, integers [10, T])")
    dec.add_argument("-o", "--output", required=True, help="audio file to write; format from the extension")
    _add_model_options(dec)
    dec.set_defaults(func=_decode)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", help="codec weights: codec.pth, .safetensors, or a directory holding one"
    )
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--config", help="codec config JSON (ours or the reference's constructor values)")
    shape.add_argument(
        "--preset",
        help="a built-in codec shape instead of --config: s2-codec, small, tiny, cpu-small, cpu-small-stft or cpu-small-stft-deep",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="use a random codec (seed 0) instead of a checkpoint (demo)",
    )
    add_runtime_options(parser, dtype=False)


def _load(args: argparse.Namespace) -> Codec:
    import torch

    apply_threads(args)
    from s2tts.models.codec import Codec, CodecConfig, load_codec

    config: CodecConfig | str | None = CodecConfig.preset(args.preset) if args.preset else args.config
    if args.checkpoint:
        if args.random_weights:
            raise WeightsError("--checkpoint and --random-weights exclude each other")
        return load_codec(args.checkpoint, config=config, device=args.device)
    if not args.random_weights:
        raise WeightsError(
            "no codec weights: pass --checkpoint codec.pth|codec.safetensors "
            "(nothing is downloaded), or --random-weights for a demo"
        )
    if isinstance(config, str):
        config = CodecConfig.from_json(config)
    torch.manual_seed(0)
    return Codec(config or CodecConfig.preset("s2-codec")).to(args.device).eval()


def _encode(args: argparse.Namespace) -> int:
    import numpy as np

    from s2tts.audio import read_audio

    audio, rate = read_audio(args.input)
    codec = _load(args)
    codes, _ = codec.encode(audio, rate)
    out = codes[0].cpu().numpy().astype(np.int64)
    np.save(args.output, out)
    print(
        f"{args.output}: codes [{out.shape[0]}, {out.shape[1]}] "
        f"({audio.shape[1] / rate:.2f} s at {rate} Hz, {audio.shape[0]} channel(s))",
        file=sys.stderr,
    )
    return 0


def _read_codes(path: str) -> np.ndarray:
    import numpy as np

    if not Path(path).exists():
        raise FileNotFoundError(f"codes file not found: {path}")
    try:
        codes = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CodesError(f"cannot read codes from {path}: not a .npy file") from exc
    if not isinstance(codes, np.ndarray):
        raise CodesError(f"{path} holds several arrays; expected one int array [10, T]")
    if codes.ndim == 3 and codes.shape[0] == 1:
        codes = codes[0]
    if codes.ndim != 2:
        raise CodesError(f"{path}: codes must have shape [10, T], got {list(codes.shape)}")
    return codes


def _decode(args: argparse.Namespace) -> int:
    from s2tts.audio import write_audio

    codes = _read_codes(args.input)
    codec = _load(args)
    audio = codec.decode(codes)[0].float().cpu().numpy()
    write_audio(args.output, audio, codec.sample_rate)
    print(
        f"{args.output}: {audio.shape[1] / codec.sample_rate:.2f} s at {codec.sample_rate} Hz",
        file=sys.stderr,
    )
    return 0
