"""Audio for codec training: a folder of audio files (or a corpus manifest's rows), cut into random crops.

Two sources of samples behind one :class:`ClipSource` interface (clip count, clip length at the
codec rate, a segment of a clip): :class:`InMemoryClips` reads and resamples every file once and
holds the waveforms (the default); :class:`~s2tts.training.codec.stream.StreamingClips`
(``data.stream``) holds only an index and reads each crop from disk. Files are read and resampled
to the codec rate through :mod:`s2tts.audio`, mixed down to mono. :class:`CropSampler` draws the
*global* batch from one explicit ``torch.Generator`` seeded alike on every rank, and each rank
keeps its slice, so data order is identical with one or N processes and the generator's state
(checkpointed) is the whole data position, whichever source serves the samples.
:func:`synthesize_corpus` writes espeak-ng sentences for smoke runs and tests.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from s2tts.audio import downmix, read_audio, resample
from s2tts.errors import TrainingDataError

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


@dataclass
class Clip:
    name: str
    audio: torch.Tensor  # (n,) float32 at the codec rate


class ClipSource(Protocol):
    """Clips at the codec rate, by index (sorted file order)."""

    def __len__(self) -> int: ...

    def length(self, index: int) -> int:
        """Samples of clip ``index`` at the codec rate."""
        ...

    def segment(self, index: int, start: int, count: int) -> torch.Tensor:
        """Samples ``[start, start + count)`` of clip ``index``: (m,) float32, m < count at its end."""
        ...


class InMemoryClips:
    """Every clip's waveform in memory (what :func:`load_folder` read)."""

    def __init__(self, clips: list[Clip]) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)

    def length(self, index: int) -> int:
        return int(self.clips[index].audio.shape[0])

    def segment(self, index: int, start: int, count: int) -> torch.Tensor:
        return self.clips[index].audio[start : start + count]


def list_audio(folder: str | Path) -> list[str]:
    """Audio files under ``folder`` (recursively), as sorted paths relative to it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingDataError(f"audio folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    return [str(p.relative_to(folder)) for p in files]


def list_manifest(path: str | Path, split: str) -> tuple[Path, list[str]]:
    """(root, sorted relative audio paths) of a corpus manifest's rows in ``split`` ("" for all).

    ``path`` is a ``manifest.parquet`` (written by ``s2tts data synth`` and the data pipeline) or
    the directory holding it; row paths are relative to that directory.
    """
    from s2tts.data.manifest import MANIFEST_NAME, ManifestError, read_manifest

    path = Path(path)
    try:
        rows = read_manifest(path)
    except ManifestError as exc:
        raise TrainingDataError(str(exc)) from exc
    root = path if path.is_dir() else path.parent
    names = sorted({u.path for u in rows if not split or u.split == split})
    if not names:
        where = path / MANIFEST_NAME if path.is_dir() else path
        raise TrainingDataError(f"no rows of split {split!r} in {where}")
    return root, names


def load_folder(
    folder: str | Path, sample_rate: int, min_samples: int, names: list[str] | None = None
) -> list[Clip]:
    """Every audio file under ``folder`` (recursively, sorted; or ``names`` in it) at ``sample_rate``, mono."""
    folder = Path(folder)
    clips = []
    for name in list_audio(folder) if names is None else names:
        audio, rate = read_audio(folder / name)
        mono = downmix(audio)
        if rate != sample_rate:
            mono = resample(mono, rate, sample_rate)
        if mono.shape[-1] >= min_samples:
            clips.append(Clip(name, torch.from_numpy(np.ascontiguousarray(mono))))
    if not clips:
        raise TrainingDataError(f"no audio file of at least {min_samples} samples under {folder}")
    return clips


class CropSampler:
    """Random crops of ``crop`` samples. ``next_batch`` -> (audio (B_local, 1, crop), clip ids, starts)."""

    def __init__(
        self, source: ClipSource, crop: int, batch_size: int, rank: int, world: int, seed: int
    ) -> None:
        if batch_size % world:
            raise TrainingDataError(f"batch_size {batch_size} must divide among {world} processes")
        self.source, self.crop, self.batch_size = source, crop, batch_size
        self.rank, self.world = rank, world
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self) -> tuple[torch.Tensor, list[int], list[int]]:
        picks = torch.randint(0, len(self.source), (self.batch_size,), generator=self.generator).tolist()
        fractions = torch.rand(self.batch_size, generator=self.generator).tolist()
        per = self.batch_size // self.world
        lo, hi = self.rank * per, (self.rank + 1) * per
        rows, starts = [], []
        for index, frac in zip(picks[lo:hi], fractions[lo:hi], strict=True):
            start = int(frac * max(self.source.length(index) - self.crop, 0))
            piece = self.source.segment(index, start, self.crop)
            rows.append(torch.nn.functional.pad(piece, (0, self.crop - piece.shape[0])))
            starts.append(start)
        return torch.stack(rows)[:, None], picks[lo:hi], starts


def fixed_crops(source: ClipSource, crop: int, count: int) -> torch.Tensor:
    """The first ``crop`` samples of the first ``count`` clips: (count, 1, crop), for validation."""
    rows = []
    for index in range(min(count, len(source))):
        piece = source.segment(index, 0, crop)
        rows.append(torch.nn.functional.pad(piece, (0, crop - piece.shape[0])))
    return torch.stack(rows)[:, None]


SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "A large number of people gathered in the old town square.",
    "Please call me back when you have a moment to talk.",
    "The weather today is cold, with a chance of rain in the evening.",
    "Seven silver spoons were found under the kitchen table.",
    "We will meet at the station at half past nine tomorrow.",
    "Reading a good book is the best way to spend a quiet afternoon.",
)
VOICES = ("en-us", "en-us+f3", "en-gb", "en-us+m3")


def synthesize_corpus(folder: str | Path, count: int, seed: int = 0) -> Path:
    """Write ``count`` espeak-ng utterances (sentences x voices x speeds) as WAV files into ``folder``."""
    if shutil.which("espeak-ng") is None:
        raise TrainingDataError("synthetic data needs the espeak-ng program (apt-get install espeak-ng)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        path = folder / f"utt{i:04d}.wav"
        if path.is_file():
            continue
        text = SENTENCES[i % len(SENTENCES)]
        voice = VOICES[(i // len(SENTENCES)) % len(VOICES)]
        speed = str(int(rng.integers(140, 190)))
        pitch = str(int(rng.integers(30, 70)))
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", speed, "-p", pitch, "-w", str(path), text],
            check=True,
            capture_output=True,
        )
    return folder


def crop_samples(seconds: float, sample_rate: int, frame_length: int) -> int:
    """Seconds -> samples, rounded up to whole codec frames."""
    return max(1, math.ceil(seconds * sample_rate / frame_length)) * frame_length
