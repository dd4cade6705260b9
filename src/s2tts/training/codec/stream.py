"""Streaming codec-training audio: an index of the files, each crop read from disk.

``data.stream=true`` trains on folders far larger than memory: the trainer keeps one
:class:`IndexEntry` per file (relative path, frames, sample rate, and the size and mtime that
validate the cache), never a waveform, and reads each crop with a seek and a partial read,
resampled through :func:`s2tts.audio.read_segment`. A crop is the same stretch of audio that
the in-memory source would cut (same clips, same lengths at the codec rate, same starts from the
same generator), equal to float rounding when the file is resampled and bit-identical when it is
already at the codec rate; so data order, checkpoints and exact resume do not depend on the mode.

The index is built with a progress bar (a header read per file) and cached as JSON next to the
run (``<out_dir>/audio-index.json``); a later start re-reads only the files whose size or mtime
changed, and drops those that disappeared.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from s2tts.audio import audio_frames, read_segment, resampled_length
from s2tts.errors import TrainingDataError

INDEX_VERSION = 1


@dataclass(frozen=True)
class IndexEntry:
    path: str  # relative to the source's root
    frames: int  # at the file's own rate
    rate: int
    size: int  # bytes, and
    mtime_ns: int  # modification time: a changed file is re-read


def build_index(
    root: str | Path, names: Sequence[str], cache: str | Path | None = None, progress: bool = True
) -> list[IndexEntry]:
    """One entry per file of ``names`` (paths relative to ``root``), reusing ``cache`` where valid."""
    root = Path(root).resolve()
    known: dict[str, IndexEntry] = {}
    if cache is not None and Path(cache).is_file():
        known = _read_cache(Path(cache), root)
    entries, fresh = [], 0
    for name in tqdm(names, desc="indexing audio", unit="file", disable=not progress, leave=False):
        try:
            stat = os.stat(root / name)
        except FileNotFoundError as exc:
            raise TrainingDataError(f"audio file not found: {root / name}") from exc
        entry = known.get(name)
        if entry is None or (entry.size, entry.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            frames, rate = audio_frames(root / name)
            entry = IndexEntry(name, frames, rate, stat.st_size, stat.st_mtime_ns)
            fresh += 1
        entries.append(entry)
    if cache is not None and (fresh or len(known) != len(entries)):
        _write_cache(Path(cache), root, entries)
    return entries


def _read_cache(path: Path, root: Path) -> dict[str, IndexEntry]:
    try:
        data = json.loads(path.read_text())
        if data.get("version") != INDEX_VERSION or data.get("root") != str(root):
            return {}
        return {row[0]: IndexEntry(*row) for row in data["entries"]}
    except (ValueError, KeyError, TypeError):
        return {}  # unreadable or stale: rebuilt


def _write_cache(path: Path, root: Path, entries: list[IndexEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    payload = {"version": INDEX_VERSION, "root": str(root), "entries": [astuple(e) for e in entries]}
    tmp.write_text(json.dumps(payload, separators=(",", ":")))
    tmp.replace(path)


class StreamingClips:
    """Clips read from disk on demand; holds paths and lengths only (a :class:`ClipSource`)."""

    def __init__(
        self, root: str | Path, entries: Sequence[IndexEntry], sample_rate: int, min_samples: int
    ) -> None:
        self.root = Path(root)
        self.sample_rate = sample_rate
        kept = [e for e in entries if resampled_length(e.frames, e.rate, sample_rate) >= min_samples]
        if not kept:
            raise TrainingDataError(f"no audio file of at least {min_samples} samples under {self.root}")
        self.paths: tuple[str, ...] = tuple(e.path for e in kept)
        self.lengths: tuple[int, ...] = tuple(resampled_length(e.frames, e.rate, sample_rate) for e in kept)

    def __len__(self) -> int:
        return len(self.paths)

    def length(self, index: int) -> int:
        return self.lengths[index]

    def segment(self, index: int, start: int, count: int) -> torch.Tensor:
        """(m,) float32 at the codec rate, m < count only at the clip's end."""
        audio = read_segment(self.root / self.paths[index], start, count, self.sample_rate)
        return torch.from_numpy(audio)
