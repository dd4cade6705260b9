"""Code shards: codec codes of many utterances in a few memory-mappable files, with a Parquet index.

Layout of a shard directory::

    codes-00000.npy ...   int16 (K, T_total): the (K, T_i) codes of each utterance, concatenated on time
    index.parquet         one row per utterance: the manifest columns (s2tts.data.manifest) plus
                          shard (file name), offset (first frame in the shard), frames (T_i)
    codec.json            the codec that made them: sample_rate, frame_rate, num_codebooks,
                          codebook_sizes, checkpoint path and its sha256

Readers ``np.load(path, mmap_mode="r")`` a shard and slice ``[:, offset:offset + frames]``; nothing
needs the audio again. ``write_shard`` writes atomically (temporary name, then rename), so a shard
file either is complete or does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from s2tts.data.manifest import MANIFEST_SCHEMA, ManifestError, Utterance

INDEX_NAME = "index.parquet"
CODEC_INFO_NAME = "codec.json"
INDEX_SCHEMA = (
    MANIFEST_SCHEMA.append(pa.field("shard", pa.string()))
    .append(pa.field("offset", pa.int64()))
    .append(pa.field("frames", pa.int32()))
)


@dataclass(frozen=True)
class CodesRef:
    """Where one utterance's codes live."""

    shard: str
    offset: int
    frames: int


def write_shard(directory: str | Path, name: str, codes: Sequence[np.ndarray]) -> list[CodesRef]:
    """Concatenate ``codes`` (each (K, T_i) integers < 32768) into ``directory/name``; their refs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not codes:
        raise ValueError("write_shard needs at least one item")
    k = codes[0].shape[0]
    if any(c.ndim != 2 or c.shape[0] != k for c in codes):
        raise ValueError("every item must be (K, T) with the same K")
    if any(c.size and (c.min() < 0 or c.max() > np.iinfo(np.int16).max) for c in codes):
        raise ValueError("codes must lie in [0, 32767] to be stored as int16")
    joined = np.concatenate([c.astype(np.int16) for c in codes], axis=1)
    tmp = directory / f".{name}.tmp.npy"
    np.save(tmp, joined)
    tmp.replace(directory / name)
    refs, offset = [], 0
    for c in codes:
        refs.append(CodesRef(name, offset, int(c.shape[1])))
        offset += int(c.shape[1])
    return refs


def index_rows(utterances: Sequence[Utterance], refs: Sequence[CodesRef]) -> list[dict[str, Any]]:
    return [
        {**u.to_row(), "shard": r.shard, "offset": r.offset, "frames": r.frames}
        for u, r in zip(utterances, refs, strict=True)
    ]


def write_index(directory: str | Path, rows: list[dict[str, Any]], codec_info: dict[str, Any]) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (INDEX_NAME + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA), tmp)
    tmp.replace(directory / INDEX_NAME)
    (directory / CODEC_INFO_NAME).write_text(json.dumps(codec_info, indent=2))


class ShardReader:
    """Index rows and their codes: ``reader.codes(i)`` -> (K, T_i) int64. Shards are memory-mapped."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        index = self.directory / INDEX_NAME
        if not index.exists():
            raise ManifestError(f"no {INDEX_NAME} in {self.directory}: not a code shard directory")
        self.rows: list[dict[str, Any]] = pq.read_table(index).to_pylist()
        info = self.directory / CODEC_INFO_NAME
        self.codec_info: dict[str, Any] = json.loads(info.read_text()) if info.exists() else {}
        self._maps: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def utterance(self, i: int) -> Utterance:
        return Utterance.from_row(self.rows[i])

    def codes(self, i: int) -> np.ndarray:
        row = self.rows[i]
        shard = self._maps.get(row["shard"])
        if shard is None:
            shard = self._maps[row["shard"]] = np.load(self.directory / row["shard"], mmap_mode="r")
        return np.asarray(shard[:, row["offset"] : row["offset"] + row["frames"]], dtype=np.int64)
