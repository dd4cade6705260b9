"""``s2tts speak``: text to an audio file, streamed as it is made."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2tts.errors import AudioError, PromptError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("speak", help="synthesize text to an audio file (wav/flac/ogg/mp3 by extension)")
    p.add_argument("text", help="text to speak; may hold <|speaker:i|> turns and [tags]; '-' reads stdin")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file")
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="checkpoint dir (default: a tiny random model)"
    )
    p.add_argument("--voice", type=Path, action="append", default=[], help="reference audio; repeatable")
    p.add_argument("--voice-text", action="append", default=[], help="transcript of each --voice")
    p.add_argument("--stream", action="store_true", help="write audio to the file as it is generated")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-p", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=30)
    p.add_argument("--max-new-tokens", type=int, default=1024, help="frames per text batch (+1)")
    p.add_argument("--chunk-length", type=int, default=200, help="UTF-8 bytes per text batch")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)"
    )
    p.add_argument(
        "--quantize",
        default=None,
        choices=["none", "int8"],
        help="weight-only int8 for the LM's Linear layers",
    )
    p.set_defaults(func=_speak)


def _speak(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    import soundfile as sf
    from tqdm import tqdm

    from s2tts.audio.io import read_audio, write_audio
    from s2tts.inference.engine import EngineConfig
    from s2tts.inference.factory import load_engine
    from s2tts.inference.params import SamplingParams
    from s2tts.inference.types import SynthesisRequest, VoiceReference

    text = sys.stdin.read() if args.text == "-" else args.text
    if len(args.voice) != len(args.voice_text):
        raise PromptError("give one --voice-text for each --voice")
    suffix = args.output.suffix.lower()
    if args.stream and suffix not in (".wav", ".flac", ".ogg"):
        raise AudioError(f"--stream writes .wav, .flac or .ogg files, not {suffix or 'no extension'}")
    references = []
    for path, ref_text in zip(args.voice, args.voice_text, strict=True):
        audio, rate = read_audio(path)
        references.append(VoiceReference(ref_text, audio=audio, sample_rate=rate))
    request = SynthesisRequest(
        text,
        references=references,
        sampling=SamplingParams(
            temperature=args.temperature,
            top_p=args.top_p,
            top_k=args.top_k,
            max_new_tokens=args.max_new_tokens,
        ),
        seed=args.seed,
        chunk_length=args.chunk_length,
    )
    engine = load_engine(
        args.checkpoint, args.dtype, args.device, EngineConfig(max_sessions=1), quantize=args.quantize
    )
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        bar = tqdm(
            desc="speaking", unit="s audio", bar_format="{desc}: {n:.1f}{unit} [{elapsed}, {rate_fmt}]"
        )
        if args.stream:
            with sf.SoundFile(str(args.output), "w", samplerate=engine.sample_rate, channels=1) as out:
                for chunk in engine.iter_stream(request):
                    out.write(chunk.pcm)
                    out.flush()
                    bar.update(chunk.pcm.shape[0] / engine.sample_rate)
            seconds = bar.n
        else:
            parts = []
            for chunk in engine.iter_stream(request):
                parts.append(chunk.pcm)
                bar.update(chunk.pcm.shape[0] / engine.sample_rate)
            import numpy as np

            audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            write_audio(args.output, audio, engine.sample_rate)
            seconds = audio.shape[0] / engine.sample_rate
        bar.close()
    finally:
        engine.close()
    print(f"wrote {seconds:.2f} s of audio to {args.output}")
    return 0
