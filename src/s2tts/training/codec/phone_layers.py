"""Where a codec loses the phones: softmax phone probes along its encoding path.

For festival-labelled speech (:func:`s2tts.training.codec.phone_probe.festival_labelled`: every
codec frame gets the phone at its centre), the features of each frame, with two frames of context
on either side, at each point of the path:

* ``whisper``: the Whisper base encoder (the distillation teacher; non-causal, 50 frames/s resampled
  to the codec's frame rate): what a strong speech encoder keeps, a reference;
* ``latent``: the codec encoder's output after the quantizer's downsampling and pre-module (what the
  codebooks quantise);
* ``codebooks 1..k``: the quantised latent rebuilt from codebooks 0..k-1.

A multinomial logistic regression (softmax probe, L-BFGS) is fitted on the even utterances and its
phone accuracy measured on the odd ones (:func:`layer_accuracies`).
"""

from __future__ import annotations

import torch

from s2tts.models.codec.inputs import prepare_audio
from s2tts.training.codec.distill import resample_frames
from s2tts.training.codec.phone_probe import LabelledUtterance, frame_labels


def with_context(x: torch.Tensor, width: int = 2) -> torch.Tensor:
    """(T, D) -> (T, (2 * width + 1) * D): each frame with its neighbours (edges repeated)."""
    padded = torch.cat([x[:1].expand(width, -1), x, x[-1:].expand(width, -1)])
    return torch.cat([padded[i : i + len(x)] for i in range(2 * width + 1)], dim=1)


def probe_accuracy(
    fit: torch.Tensor, fit_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor, classes: int
) -> float:
    """Softmax regression (L2 1e-3) on standardised features (N, D), fitted with L-BFGS on
    ``fit``/``fit_y`` (N,); accuracy on ``test``/``test_y``."""
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
def path_features(
    codec, utterances: list[LabelledUtterance], whisper: bool = True
) -> tuple[dict[str, list[torch.Tensor]], list[list[str]]]:
    """Per utterance, each point's features (T, D) and the phone of each of its T codec frames.
    ``whisper=False`` leaves out the teacher (it does not depend on the codec)."""
    teacher = None
    if whisper:
        from s2tts.training.codec.whisper_teacher import WhisperEncoderTeacher

        teacher = WhisperEncoderTeacher()
    q = codec.quantizer
    n_books = codec.num_codebooks
    feats: dict[str, list[torch.Tensor]] = {"whisper": []} if whisper else {}
    feats["latent"] = []
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
        if teacher is not None:
            teach = teacher(torch.from_numpy(utt.audio)[None], utt.sample_rate)
            feats["whisper"].append(
                resample_frames(teach, teacher.frame_rate, codec.frame_rate, z.shape[1])[0]
            )
        labels.append(frame_labels(utt.phones, utt.ends, z.shape[1], codec.frame_rate))
    return feats, labels


def layer_accuracies(
    codec, utterances: list[LabelledUtterance], whisper: bool = True, log=print
) -> dict[str, float | int]:
    """Held-out phone accuracy of each point of ``codec``'s path (fitted on the even utterances,
    scored on the odd ones), the majority-phone baseline and the frame counts."""
    feats, labels = path_features(codec, utterances, whisper=whisper)
    phones = sorted({p for lab in labels for p in lab})
    index = {p: i for i, p in enumerate(phones)}
    ys = [torch.tensor([index[p] for p in lab]) for lab in labels]
    fit_y, test_y = torch.cat(ys[::2]), torch.cat(ys[1::2])
    result: dict[str, float | int] = {
        "baseline": float((test_y == torch.bincount(fit_y).argmax()).float().mean()),
        "fit_frames": int(len(fit_y)),
        "test_frames": int(len(test_y)),
    }
    for name, per_utt in feats.items():
        x = [with_context(f.float()) for f in per_utt]
        result[name] = round(
            probe_accuracy(torch.cat(x[::2]), fit_y, torch.cat(x[1::2]), test_y, len(phones)), 4
        )
        if log is not None:
            log(f"{name:16s} {result[name]:.4f}")
    return result
