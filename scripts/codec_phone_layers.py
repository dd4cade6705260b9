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
phone accuracy measured on the odd ones. The last line is one JSON object of the accuracies, the
majority-phone baseline and the frame counts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from s2tts.data.manifest import read_manifest
from s2tts.models.codec import load_codec
from s2tts.models.codec.inputs import prepare_audio
from s2tts.training.codec.distill import resample_frames
from s2tts.training.codec.phone_probe import festival_labelled, frame_labels
from s2tts.training.codec.whisper_teacher import WhisperEncoderTeacher


def with_context(x: torch.Tensor, width: int = 2) -> torch.Tensor:
    """(T, D) -> (T, (2 * width + 1) * D): each frame with its neighbours (edges repeated)."""
    padded = torch.cat([x[:1].expand(width, -1), x, x[-1:].expand(width, -1)])
    return torch.cat([padded[i : i + len(x)] for i in range(2 * width + 1)], dim=1)


def probe_accuracy(
    fit: torch.Tensor, fit_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor, classes: int
) -> float:
    """Softmax regression (L2 1e-3) on standardised features, fitted with L-BFGS; test accuracy."""
    mean, std = fit.mean(0), fit.std(0).clamp_min(1e-6)
    fit, test = (fit - mean) / std, (test - mean) / std
    w = torch.zeros(fit.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=300, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(fit @ w + b, fit_y) + 1e-3 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((test @ w + b).argmax(1) == test_y).float().mean())


@torch.no_grad()
def features(codec, utterances) -> tuple[dict[str, list[torch.Tensor]], list[list[str]]]:
    teacher = WhisperEncoderTeacher()
    q = codec.quantizer
    n_books = codec.num_codebooks
    feats: dict[str, list[torch.Tensor]] = {"whisper": [], "latent": []}
    feats.update({f"codebooks 1..{k}": [] for k in range(1, n_books + 1)})
    labels = []
    for utt in utterances:
        wave, _ = prepare_audio(utt.audio, utt.sample_rate, None, codec.sample_rate)
        n, frame = wave.shape[1], codec.frame_length
        frames = -(-n // frame)
        audio = torch.zeros(1, frames * frame, 1)
        audio[0, :n, 0] = torch.from_numpy(wave[0])
        state = codec.encoder.init_state(1, codec.device, codec.dtype)
        latent = torch.cat([codec.encoder.step(c, state) for c in audio.split(16 * frame, dim=1)], dim=1)
        z = q.pre_module(q.downsample(latent))  # (1, T, D)
        codes, _ = q.quantize(z)
        feats["latent"].append(z[0])
        rebuilt = q.semantic_quantizer.quantizers[0].embed(codes[:, 0])
        feats["codebooks 1..1"].append(rebuilt[0])
        for k in range(1, n_books):
            rebuilt = rebuilt + q.quantizer.quantizers[k - 1].embed(codes[:, k])
            feats[f"codebooks 1..{k + 1}"].append(rebuilt[0])
        teach = teacher(torch.from_numpy(utt.audio)[None], utt.sample_rate)
        feats["whisper"].append(resample_frames(teach, teacher.frame_rate, codec.frame_rate, z.shape[1])[0])
        labels.append(frame_labels(utt.phones, utt.ends, z.shape[1], codec.frame_rate))
    return feats, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("codec", type=Path)
    ap.add_argument("manifest", type=Path, help="a corpus's manifest.parquet")
    ap.add_argument("--sentences", dest="count", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    codec = load_codec(args.codec).eval()
    rows = [
        u
        for u in read_manifest(args.manifest)
        if u.language == "en" and u.kind == "single" and u.split != "train"
    ]
    lines = list(dict.fromkeys(u.plain_text.strip() for u in rows if u.plain_text.strip()))[: args.count]
    feats, labels = features(codec, festival_labelled(lines))
    phones = sorted({p for lab in labels for p in lab})
    index = {p: i for i, p in enumerate(phones)}
    ys = [torch.tensor([index[p] for p in lab]) for lab in labels]
    fit_y, test_y = torch.cat(ys[::2]), torch.cat(ys[1::2])
    result: dict[str, float] = {
        "baseline": float((test_y == torch.bincount(fit_y).argmax()).float().mean()),
        "fit_frames": int(len(fit_y)),
        "test_frames": int(len(test_y)),
    }
    for name, per_utt in feats.items():
        x = [with_context(f.float()) for f in per_utt]
        result[name] = round(
            probe_accuracy(torch.cat(x[::2]), fit_y, torch.cat(x[1::2]), test_y, len(phones)), 4
        )
        print(f"{name:16s} {result[name]:.4f}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
