"""``s2tts data run``: drive the stages over inputs, resumable, on a process pool or on Ray Data.

Output directory::

    stages/<stage>/part-*.parquet   each stage's records (s2tts.data.records), one file per batch
    audio/<stage>/..../*.flac       audio written by ingest, denoise and segment
    shards/codes-*.npy              codes, one shard per tokenize batch; shards/index.parquet at the end
    manifest.parquet                the kept segments (schema: s2tts.data.manifest)
    quarantine.parquet              every record not kept, with its stage, status and reason
    summary.json                    the summary printed as the last stdout line

Stages run one after another; each splits the items it has not done yet into batches, and each batch
(read audio, ``stage.process``, write audio or shard, then the part file) runs in one worker. An
item is done for a stage when a part file holds its key (stage settings + item id + audio hash),
so a re-run skips it, and a run killed at any point loses at most the batches in flight: their
outputs are only referenced from a part file written (atomically) after them.

A batch runs on one thread (torch and the BLAS/OpenMP pools, through threadpoolctl): workers are
the parallelism, and a thread count that followed the executor would change results (the
transcript of a borderline clip moves with numpy's BLAS threads), so the pool, the in-process path
and Ray give the same output for the same input.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from s2tts.audio import downmix, read_audio, write_audio
from s2tts.data import shards as shard_io
from s2tts.data.manifest import MANIFEST_NAME, read_manifest
from s2tts.data.pipeline_config import PIPELINE_RATE, PipelineConfig
from s2tts.data.records import file_hash, new_record, reject, write_part
from s2tts.data.stages import STAGES
from s2tts.errors import S2TTSError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm")


class PipelineError(S2TTSError, ValueError):
    """Bad pipeline input (no such directory or manifest, nothing to process)."""


def discover_inputs(path: str | Path) -> list[dict[str, Any]]:
    """Input records from a directory (every file in it, recursively: non-audio files get quarantined)
    or from a manifest (.parquet, s2tts.data.manifest schema: text, speaker and tags carried along)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".parquet" or (path / MANIFEST_NAME).is_file():
        root = path.parent if path.is_file() else path
        rows = read_manifest(path)
        return [
            new_record(
                id=u.id,
                source_path=str((root / u.path).resolve()),
                text=u.text,
                plain_text=u.plain_text,
                speaker_id=u.speaker_id,
                language=u.language,
                split=u.split,
                source=u.source,
                kind=u.kind,
                tags=json.dumps([asdict(t) for t in u.tags]),
                turns=json.dumps([asdict(t) for t in u.turns]),
            )  # fmt: skip
            for u in rows
        ]
    if not path.is_dir():
        raise PipelineError(f"--input {path}: not a directory or a manifest .parquet")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [new_record(id=_file_id(p, path), source_path=str(p.resolve())) for p in files]


def _file_id(path: Path, root: Path) -> str:
    rel = str(path.relative_to(root))
    return Path(rel).stem.replace(" ", "_")[:60] + "-" + hashlib.sha1(rel.encode()).hexdigest()[:8]


def _stage_config(config: PipelineConfig, stage: Any) -> dict[str, Any]:
    cfg = asdict(config.stage(stage.NAME))
    if stage.NAME == "tokenize" and cfg["checkpoint"]:
        from s2tts.models.codec.weights import _resolve_checkpoint

        cfg["checkpoint_sha256"] = file_hash(_resolve_checkpoint(Path(cfg["checkpoint"])))
    return cfg


def _load(stage_name: str, record: dict[str, Any], out: Path) -> tuple[dict, Any]:
    if stage_name == "ingest":
        return record, read_audio(record["source_path"])
    data, _ = read_audio(out / record["audio"])
    return record, downmix(data)


def _save(stage_name: str, key: str, pairs: list, out: Path, in_audio: dict[int, np.ndarray]) -> list[dict]:
    rows = []
    codes, coded = [], []
    for k, (record, audio) in enumerate(pairs):
        record = {**record, "key": key}
        if record["status"] != "ok" or audio is None:
            rows.append({**record, "audio": ""} if record["status"] != "ok" else record)
        elif stage_name == "tokenize":
            codes.append(audio)
            coded.append(len(rows))
            rows.append(record)
        elif any(audio is a for a in in_audio.values()):  # passed through unchanged (e.g. denoise: none)
            rows.append(record)
        else:
            rel = f"audio/{stage_name}/{key[:2]}/{key}_{k:03d}.flac"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            write_audio(out / rel, audio, PIPELINE_RATE)
            digest = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()
            rows.append({**record, "audio": rel, "content_hash": digest})
    if codes:
        name = f"codes-{key}.npy"
        refs = shard_io.write_shard(out / "shards", name, codes)
        for i, ref in zip(coded, refs, strict=True):
            rows[i] = {**rows[i], "shard": ref.shard, "offset": ref.offset, "frames": ref.frames}
    return rows


def run_batch(stage_index: int, config: PipelineConfig, batch: list[tuple[str, dict]], out_dir: str) -> int:
    """Run one stage on one batch of (key, record) and write its part file. Returns rows written."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        return _run_batch(stage_index, config, batch, Path(out_dir))


def _run_batch(stage_index: int, config: PipelineConfig, batch: list[tuple[str, dict]], out: Path) -> int:
    stage = STAGES[stage_index]
    cfg = config.stage(stage.NAME)
    models = stage.setup(cfg)
    rows: list[dict] = []
    loaded: list[tuple[str, dict, Any]] = []
    for key, record in batch:
        try:
            loaded.append((key, *_load(stage.NAME, record, out)))
        except (S2TTSError, OSError, RuntimeError, ValueError) as exc:
            reason = f"unreadable: {str(exc).splitlines()[0][:200]}"
            rows.append({**reject(record, "quarantined", reason), "key": key, "audio": ""})
    if loaded:
        outputs = stage.process([(r, a) for _, r, a in loaded], cfg, models)
        for (key, _, audio), pairs in zip(loaded, outputs, strict=True):
            inputs = {id(audio): audio} if isinstance(audio, np.ndarray) else {}
            rows.extend(_save(stage.NAME, key, pairs, out, inputs))
    write_part(out / "stages" / stage.NAME / f"part-{batch[0][0]}.parquet", rows)
    return len(rows)
