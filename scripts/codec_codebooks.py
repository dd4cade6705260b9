"""Whisper-judged resynthesis of a codec decoding 1..N of its codebooks (diagnostic).

    python scripts/codec_codebooks.py CODEC_DIR TESTSET.jsonl MANIFEST.parquet [--threads 1]

For each case of an ``s2tts eval-testset`` file (its ``original`` recording), encodes the audio
once and decodes it with codebook 0 alone, 0-1, ..., all of them, and from the unquantized
encoder latent; Whisper base transcribes each and the WER is averaged per source engine of the
corpus manifest. Prints one line per case and, last, one JSON object of the means.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from s2tts.audio.io import read_audio
from s2tts.audio.resample import resample
from s2tts.data.manifest import read_manifest
from s2tts.eval.asr import WhisperASR
from s2tts.eval.wer import wer
from s2tts.models.codec import load_codec
from s2tts.models.codec.inputs import prepare_audio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("codec", help="folder with codec.safetensors (+ codec_config.json)")
    ap.add_argument("testset")
    ap.add_argument("manifest", help="the corpus's manifest.parquet (source engine of each case)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec(args.codec)
    cases = [json.loads(line) for line in Path(args.testset).read_text().splitlines() if line.strip()]
    source = {row.id: row.source for row in read_manifest(Path(args.manifest))}
    asr = WhisperASR("base", threads=args.threads)
    q = codec.quantizer
    residual = list(q.quantizer.quantizers)
    scores: dict[str, dict[str, list[float]]] = {}

    def render(latent: torch.Tensor) -> torch.Tensor:
        return codec.decoder.step(latent, codec.decoder.init_state(1, codec.device, codec.dtype)).transpose(
            1, 2
        )

    with torch.no_grad():
        for case in cases:
            audio, rate = read_audio(case["original"])
            wave, _ = prepare_audio(audio, rate, None, codec.sample_rate)
            n = wave.shape[1]
            padded = torch.zeros(1, 1, math.ceil(n / codec.frame_length) * codec.frame_length)
            padded[:, 0, :n] = torch.from_numpy(wave)
            latent = codec.encoder.step(
                padded.transpose(1, 2), codec.encoder.init_state(1, codec.device, codec.dtype)
            )
            codes = q.encode(latent)
            outputs = {"original": torch.from_numpy(wave)[None]}
            for k in range(1, len(residual) + 2):
                embedded = q.semantic_quantizer.embed(codes[:, :1])
                for i in range(k - 1):
                    embedded = embedded + residual[i].embed(codes[:, 1 + i])
                outputs[f"codebooks 0-{k - 1}"] = render(q.upsample(q.post_module(embedded)))
            outputs["unquantized"] = render(q.upsample(q.post_module(q.pre_module(q.downsample(latent)))))
            uid = case["id"].split("-", 1)[1]
            engine = source.get(uid, "unknown")
            for name, y in outputs.items():
                clip = resample(y.reshape(-1).float().numpy()[:n], codec.sample_rate, 16000)
                [heard] = asr.transcribe([clip])
                scores.setdefault(name, {}).setdefault(engine, []).append(wer(case["text"], heard))
            print(uid, engine, {k: round(v[engine][-1], 2) for k, v in scores.items()}, flush=True)
    summary = {
        name: {e: round(float(np.mean(v)), 3) for e, v in d.items()}
        | {"all": round(float(np.mean(sum(d.values(), []))), 3)}
        for name, d in scores.items()
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
