"""Data benchmark: how many seconds of audio per second each data stage processes, and end to end.

1. ``synthesis``: ``s2tts data synth`` for ``--seconds`` of audio with the default engine mix, on
   ``--workers`` processes (x real time = audio seconds / wall seconds).
2. Per stage, one process and one thread, on the synthesized files: ``ingest`` (decode, resample,
   loudness), ``denoise`` (RNNoise), ``vad`` (silero-vad), ``quality`` (SNR, clipping, DNSMOS,
   DistillMOS, speaker consistency; models loaded inside the measurement), ``quality_no_models``
   (SNR and clipping only) and ``quality_{dnsmos,distillmos,speaker}_only`` (one model each);
   transcription with one loaded faster-whisper tiny.en (int8): ``transcription`` (the stage,
   batches of 8), ``transcription_batch1`` (the stage, batches of 1) and
   ``transcription_sequential`` (``WhisperModel.transcribe`` per segment); ``tokenization`` (the
   ``small`` codec preset, random weights, batches of 8).
3. ``end_to_end``: ``s2tts data run`` over the synthetic manifest with the default (recordings)
   settings, RNNoise and the three quality models included, on ``--workers`` processes; the corpus has its text, so
   transcription is skipped (``end_to_end_x_realtime`` is end to end without transcription), and
   the small codec tokenizes. ``end_to_end_synthetic_config`` runs configs/data/synthetic.yaml.

Each figure comes twice: ``*_x_realtime`` (audio seconds per wall second, what this machine did
under its current load) and ``*_x_realtime_per_cpu`` (audio seconds per CPU second of the process
and its children: what one idle core does; n idle cores do about n times that, less a little). The
machine is shared: the load average before and after is printed; compare figures of one run. The
last line is one JSON object.

    python bench/data.py [--seconds 300] [--workers 2] [--stage-items 24]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for descendants (pool workers, engines)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(fn, seconds: float) -> tuple[float, float]:
    """(audio s per wall s, audio s per CPU s) of running ``fn()`` on ``seconds`` of audio."""
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return round(seconds / (time.perf_counter() - wall), 2), round(seconds / (_cpu() - cpu), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="seconds of audio to synthesize")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stage-items", type=int, default=24, help="utterances per single-stage measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from s2tts.data.manifest import read_manifest
    from s2tts.data.pipeline import run_pipeline
    from s2tts.data.pipeline_config import (
        PIPELINE_RATE,
        DenoiseConfig,
        IngestConfig,
        QualityConfig,
        SegmentConfig,
        TokenizeConfig,
        TranscribeConfig,
        load_config,
    )
    from s2tts.data.records import new_record
    from s2tts.data.stages import denoise, ingest, quality, segment, tokenize, transcribe
    from s2tts.data.synth import synthesize_corpus
    from s2tts.data.synth_plan import SynthConfig
    from s2tts.models.codec import Codec, CodecConfig
    from s2tts.models.codec.weights import save_codec

    load_before = os.getloadavg()[0]
    result: dict = {"threads_per_process": 1, "workers": args.workers}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        root = Path(tmp)
        config = SynthConfig(hours=args.seconds / 3600, chunk_size=20)
        wall, cpu = time.perf_counter(), _cpu()
        synth = synthesize_corpus(config, root / "corpus", args.workers, progress=False)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        result["synthesis_audio_s"] = synth["rendered_audio_s"]
        result["synthesis_x_realtime"] = round(synth["rendered_audio_s"] / wall, 2)
        result["synthesis_x_realtime_per_cpu"] = round(synth["rendered_audio_s"] / cpu, 2)

        rows = [u for u in read_manifest(root / "corpus") if u.kind == "single"][: args.stage_items]
        raw = [sf.read(root / "corpus" / u.path, dtype="float32", always_2d=True) for u in rows]
        raw = [(d.T, r) for d, r in raw]
        seconds = sum(d.shape[1] / r for d, r in raw)
        result["stage_audio_s"] = round(seconds, 1)
        rec = [new_record(id=u.id) for u in rows]
        ing = ingest.process(list(zip(rec, raw, strict=True)), IngestConfig(), None)
        audio = [(r, a) for [(r, a)] in ing]
        NO_MODELS = QualityConfig(dnsmos=False, distillmos=False, speaker_consistency=False)  # noqa: N806
        ONE_MODEL = {  # noqa: N806
            "dnsmos": replace(NO_MODELS, dnsmos=True),
            "distillmos": replace(NO_MODELS, distillmos=True),
            "speaker": replace(NO_MODELS, speaker_consistency=True),
        }
        ASR_CFG = TranscribeConfig(keep_known_text=False, batch_size=8)  # noqa: N806
        asr = transcribe.setup(ASR_CFG)
        stages = {
            "ingest": lambda items: ingest.process(list(zip(rec, raw, strict=True)), IngestConfig(), None),
            "denoise": lambda items: denoise.process(items, DenoiseConfig(), None),
            "vad": lambda items: segment.process(items, SegmentConfig(), segment.setup(SegmentConfig())),
            "quality": lambda items: quality.process(items, QualityConfig(), quality.setup(QualityConfig())),
            "quality_no_models": lambda items: quality.process(items, NO_MODELS, quality.Scorers()),
            **{
                f"quality_{m}_only": lambda items, c=c: quality.process(items, c, quality.setup(c))
                for m, c in ONE_MODEL.items()
            },
            # one Whisper model for the three: batches of 8, batches of 1, and WhisperModel.transcribe per segment
            "transcription": lambda items: transcribe.process(items, ASR_CFG, asr),
            "transcription_batch1": lambda items: transcribe.process(
                items, replace(ASR_CFG, batch_size=1), asr
            ),
            "transcription_sequential": lambda items: [
                transcribe.transcribe(a, PIPELINE_RATE, asr, 1) for _, a in items
            ],
        }
        for name, fn in stages.items():
            rates = _measure(lambda f=fn: f(audio), seconds)
            result[f"{name}_x_realtime"], result[f"{name}_x_realtime_per_cpu"] = rates

        torch.manual_seed(0)
        codec_path = root / "small_codec.safetensors"
        save_codec(Codec(CodecConfig.preset("small")).eval(), codec_path)
        cfg = TokenizeConfig(checkpoint=str(codec_path))
        codec = tokenize.setup(cfg)
        batches = [audio[i : i + 8] for i in range(0, len(audio), 8)]
        rates = _measure(lambda: [tokenize.process(b, cfg, codec) for b in batches], seconds)
        result["tokenization_x_realtime"], result["tokenization_x_realtime_per_cpu"] = rates

        codec_override = {"tokenize": {"checkpoint": str(codec_path)}}
        settings = {
            "end_to_end": load_config(None, codec_override),  # recordings defaults: RNNoise, DNSMOS
            "end_to_end_synthetic_config": load_config(ROOT / "configs/data/synthetic.yaml", codec_override),
        }
        for name, config in settings.items():
            wall, cpu = time.perf_counter(), _cpu()
            e2e = run_pipeline(
                root / "corpus" / "manifest.parquet", root / name, config, args.workers, progress=False
            )
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            result[f"{name}_x_realtime"] = round(e2e["hours_in"] * 3600 / wall, 2)
            result[f"{name}_x_realtime_per_cpu"] = round(e2e["hours_in"] * 3600 / cpu, 2)
        result["end_to_end_audio_s"] = round(e2e["hours_in"] * 3600, 1)
    result["loadavg_before"] = round(load_before, 2)
    result["loadavg_after"] = round(os.getloadavg()[0], 2)
    result["cpus"] = os.cpu_count()
    for key, value in result.items():
        print(f"{key:32s} {value}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
