"""``s2tts speak``: text to an audio file, streamed as it is made."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2tts.cli.audio_out import OUTPUT_SUFFIXES, AudioFileWriter, check_output
from s2tts.cli.options import add_runtime_options, add_sampling_options, apply_threads, audio_progress
from s2tts.errors import PromptError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "speak",
        help=f"synthesize text to an audio file ({'/'.join(x[1:] for x in OUTPUT_SUFFIXES)} by extension)",
    )
    p.add_argument("text", help="text to speak; may hold <|speaker:i|> turns and [tags]; '-' reads stdin")
    p.add_argument("-o", "--output", type=Path, required=True, help="output audio file")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint dir (default: the model packaged with s2tts, else a tiny random model)",
    )
    p.add_argument(
        "--language",
        default=None,
        help="language of the text (ISO 639-1 code such as en, de, es, or an espeak-ng voice name): what "
        "a phoneme model reads it as (default: English); text models ignore it",
    )
    p.add_argument("--voice", type=Path, action="append", default=[], help="reference audio; repeatable")
    p.add_argument("--voice-text", action="append", default=[], help="transcript of each --voice")
    p.add_argument(
        "--no-default-voice",
        dest="default_voice",
        action="store_false",
        help="without --voice, let the model pick a voice instead of the checkpoint's default voice "
        "(its voice.json; the packaged model has one)",
    )
    p.add_argument("--stream", action="store_true", help="write audio to the file as it is generated")
    p.add_argument("--seed", type=int, default=None)
    add_sampling_options(p, min_new_tokens=True)
    add_runtime_options(p, quantize=True)
    p.set_defaults(func=_speak)


def _speak(args: argparse.Namespace) -> int:
    apply_threads(args)
    from s2tts.audio.io import read_audio
    from s2tts.checkpoint import RANDOM_NOTICE
    from s2tts.inference.engine import EngineConfig
    from s2tts.inference.factory import load_engine
    from s2tts.inference.params import SamplingParams
    from s2tts.inference.types import SynthesisRequest, VoiceReference

    check_output(args.output)  # before any work: a wrong extension costs nothing
    text = sys.stdin.read() if args.text == "-" else args.text
    if len(args.voice) != len(args.voice_text):
        raise PromptError("give one --voice-text for each --voice")
    references = []
    for path, ref_text in zip(args.voice, args.voice_text, strict=True):
        audio, rate = read_audio(path)
        references.append(VoiceReference(ref_text, audio=audio, sample_rate=rate))
    knobs = (args.temperature, args.top_p, args.top_k, args.max_new_tokens, args.min_new_tokens)
    SamplingParams.from_user(*knobs)  # a bad value fails before the model loads
    engine = load_engine(
        args.checkpoint, args.dtype, args.device, EngineConfig(max_sessions=1), quantize=args.quantize
    )
    try:
        request = SynthesisRequest(
            text,
            references=references,
            sampling=SamplingParams.from_user(*knobs, defaults=engine.default_sampling),
            seed=args.seed,
            chunk_length=args.chunk_length,
            language=args.language,
            default_voice=args.default_voice,
        )
        if engine.random_weights:
            print(f"s2tts: note: {RANDOM_NOTICE}", file=sys.stderr)
        with (
            AudioFileWriter(args.output, engine.sample_rate, args.stream) as out,
            audio_progress("speaking") as bar,
        ):
            for chunk in engine.iter_stream(request):
                out.write(chunk.pcm)
                bar.update(chunk.pcm.shape[0] / engine.sample_rate)
        seconds = out.samples / engine.sample_rate
    finally:
        engine.close()
    print(f"wrote {seconds:.2f} s of audio to {args.output}")
    return 0
