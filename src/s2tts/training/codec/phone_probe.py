"""How much phonetic information codebook 0 carries: a probe of a codec's semantic codes.

Semantic distillation is meant to make codebook 0 phonetic. This module measures it directly on
speech whose phones and their timing are known: festival synthesises English sentences and writes
its own segment labels (``utt.save.segs``: the end time of every phone), so each codec frame gets
the phone at its centre without any aligner. Then, with the frames split into a fit half and a
test half (by sentence):

* ``accuracy``: a lookup probe (the commonest phone of each code on the fit half; unseen codes
  predict the commonest phone) scored on the test half — a linear probe on one-hot codes reduces to
  this table;
* ``baseline``: the accuracy of always predicting the commonest phone;
* ``nmi``: I(code; phone) / H(phone) on all frames (0: codes say nothing about phones, 1: they
  determine the phone).

Shapes: codes (T,) int per sentence at the codec frame rate; labels (T,) phone indices.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2tts.audio.io import read_audio
from s2tts.data.tts_engines import scheme_string
from s2tts.errors import TrainingDataError

#: The voice the probe speaks with (Debian festvox-kallpc16k, installed by ``setup.sh --data``).
PROBE_VOICE = "kal_diphone"


@dataclass
class LabelledUtterance:
    audio: np.ndarray  # (n,) float32 mono
    sample_rate: int
    phones: list[str]  # festival phone names, in order
    ends: list[float]  # end time in seconds of each phone


def festival_labelled(sentences: list[str], voice: str = PROBE_VOICE) -> list[LabelledUtterance]:
    """Speak ``sentences`` with festival and read back its phone segmentation (one process)."""
    if shutil.which("festival") is None:
        raise TrainingDataError("festival not found: run scripts/setup.sh --data (Debian package festival)")
    with tempfile.TemporaryDirectory(prefix="s2tts-probe-") as tmp:
        lines = [f"(voice_{voice})"]
        for i, text in enumerate(sentences):
            lines += [
                f"(set! utt (SynthText {scheme_string(text)}))",
                f"(utt.save.wave utt {scheme_string(f'{tmp}/{i}.wav')} 'riff)",
                f"(utt.save.segs utt {scheme_string(f'{tmp}/{i}.segs')})",
            ]
        script = Path(tmp) / "probe.scm"
        script.write_text("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True, timeout=1800)
        out = []
        for i in range(len(sentences)):
            wav, segs = Path(tmp) / f"{i}.wav", Path(tmp) / f"{i}.segs"
            if not (wav.is_file() and segs.is_file()):
                raise TrainingDataError(f"festival did not speak sentence {i}: {sentences[i]!r}")
            audio, rate = read_audio(wav)
            phones, ends = parse_segs(segs.read_text())
            out.append(LabelledUtterance(audio.reshape(-1, audio.shape[-1]).mean(0), rate, phones, ends))
        return out


def parse_segs(text: str) -> tuple[list[str], list[float]]:
    """festival's xlabel segment file -> (phones, end times in seconds)."""
    body = text.split("#", 1)[1] if "#" in text else text
    phones, ends = [], []
    for line in body.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            ends.append(float(parts[0]))
            phones.append(parts[2])
    return phones, ends


def frame_labels(phones: list[str], ends: list[float], n_frames: int, frame_rate: float) -> list[str]:
    """The phone at the centre of each of ``n_frames`` frames (the last phone past the end)."""
    ends_arr = np.asarray(ends)
    centres = (np.arange(n_frames) + 0.5) / frame_rate
    index = np.minimum(np.searchsorted(ends_arr, centres, side="right"), len(phones) - 1)
    return [phones[i] for i in index]


def _entropy(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values() if c)


def phone_information(codes: list[np.ndarray], labels: list[list[str]]) -> dict[str, float]:
    """Per-sentence codes (T,) and frame labels -> ``accuracy``, ``baseline``, ``nmi``, ``frames``.

    Sentences alternate between the fit half (even) and the test half (odd)."""
    if len(codes) < 2 or len(codes) != len(labels):
        raise ValueError("phone_information needs at least two sentences with one label list each")
    fit: dict[int, Counter] = {}
    fit_phones: Counter = Counter()
    for c, lab in zip(codes[::2], labels[::2], strict=True):
        for code, phone in zip(c.tolist(), lab, strict=True):
            fit.setdefault(code, Counter())[phone] += 1
            fit_phones[phone] += 1
    common = fit_phones.most_common(1)[0][0]
    table = {code: counter.most_common(1)[0][0] for code, counter in fit.items()}
    right = base = total = 0
    for c, lab in zip(codes[1::2], labels[1::2], strict=True):
        for code, phone in zip(c.tolist(), lab, strict=True):
            right += table.get(code, common) == phone
            base += common == phone
            total += 1
    joint: Counter = Counter()
    for c, lab in zip(codes, labels, strict=True):
        joint.update(zip(c.tolist(), lab, strict=True))
    phones = Counter()
    by_code = Counter()
    for (code, phone), n in joint.items():
        phones[phone] += n
        by_code[code] += n
    h_phone = _entropy(phones)
    mutual = h_phone + _entropy(by_code) - _entropy(joint)
    return {
        "accuracy": right / max(total, 1),
        "baseline": base / max(total, 1),
        "nmi": mutual / h_phone if h_phone > 0 else 0.0,
        "frames": float(sum(len(c) for c in codes)),
    }


@torch.no_grad()
def probe_codec(codec, utterances: list[LabelledUtterance], codebook: int = 0) -> dict[str, float]:
    """Encode each utterance with ``codec`` and measure ``codebook``'s phone information."""
    codes, labels = [], []
    for utt in utterances:
        audio = torch.from_numpy(np.ascontiguousarray(utt.audio, dtype=np.float32))[None, None]
        out, lengths = codec.encode(audio, utt.sample_rate)
        c = out[0, codebook, : int(lengths[0])].cpu().numpy()
        codes.append(c)
        labels.append(frame_labels(utt.phones, utt.ends, len(c), codec.frame_rate))
    return phone_information(codes, labels)
