"""Where a codec loses the phones: linear phone probes along its encoding path (diagnostic).

    python scripts/codec_phone_layers.py CODEC_DIR CORPUS/manifest.parquet [--sentences 200] [--threads 1]

festival (``kal_diphone``) speaks the first ``--sentences`` distinct English single-utterance texts
of the manifest's held-out rows (``heldout_text`` and ``heldout_speaker``) and writes each
phone's end time (``s2tts.training.codec.phone_probe``), so every codec frame gets the phone at its
centre. Features of each frame, with two frames of context on either side, at each point of the
path:

* ``whisper``: the Whisper base encoder (the distillation teacher; non-causal, 50 frames/s resampled
  to the codec's frame rate): what a strong speech encoder keeps, a reference;
* ``latent``: the codec encoder's output after the quantizer's downsampling and pre-module (what the
  codebooks quantise);
* ``codebooks 1..N``: the quantised latent rebuilt from codebook 0 alone, 0-1, ..., all N.

A multinomial logistic regression (softmax probe, L-BFGS) is fitted on the even sentences and its
phone accuracy measured on the odd ones (``s2tts.training.codec.phone_layers``). The last line is
one JSON object of the accuracies, the majority-phone baseline and the frame counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from s2tts.data.manifest import read_manifest
from s2tts.models.codec import load_codec
from s2tts.training.codec.phone_layers import layer_accuracies
from s2tts.training.codec.phone_probe import festival_labelled


def heldout_lines(manifest: Path, count: int) -> list[str]:
    """The first ``count`` distinct English single-utterance texts of the manifest's held-out rows."""
    rows = [
        u for u in read_manifest(manifest) if u.language == "en" and u.kind == "single" and u.split != "train"
    ]
    return list(dict.fromkeys(u.plain_text.strip() for u in rows if u.plain_text.strip()))[:count]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("codec", type=Path)
    ap.add_argument("manifest", type=Path, help="a corpus's manifest.parquet")
    ap.add_argument("--sentences", dest="count", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec(args.codec).eval()
    speech = festival_labelled(heldout_lines(args.manifest, args.count))
    result = layer_accuracies(codec, speech, log=lambda m: print(m, flush=True))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
