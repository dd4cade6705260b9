"""The whole preparation run: stage after stage over the inputs, then the manifest, index and summary.

``run_pipeline(input, out, config, workers, use_ray)`` is what ``s2tts data run`` calls. Per stage it
computes each input record's key, skips those a part file already holds, and runs the rest in
batches (``runner.run_batch``) on a process pool, or with ``use_ray`` as a Ray Data ``map`` over the
batches (same function, so a cluster scales out unchanged). The summary's last line fields:
``items_in``, ``items_done`` (inputs some stage worked on in this run), ``items_skipped_already_done``
(inputs every stage had already done), ``items_quarantined``, ``hours_in``, ``hours_kept``,
``drop_reasons`` and per-stage counts. ``until`` stops after a stage (e.g. ``transcribe``: everything
but tokenize, which needs the codec; a later run with the codec resumes at tokenize).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from s2tts.data import shards as shard_io
from s2tts.data.manifest import MANIFEST_NAME, TagSpan, Turn, Utterance, write_manifest
from s2tts.data.pipeline_config import PipelineConfig
from s2tts.data.records import RECORD_SCHEMA, read_parts, stage_key
from s2tts.data.runner import _stage_config, discover_inputs, run_batch
from s2tts.data.stages import STAGE_NAMES, STAGES
from s2tts.errors import ConfigError


def _batches(todo: list[tuple[str, dict]], size: int) -> list[list[tuple[str, dict]]]:
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def _run_stage_batches(index: int, config: PipelineConfig, batches: list, out: Path, workers: int,
                       use_ray: bool, progress: bool, pool: ProcessPoolExecutor | None) -> None:  # fmt: skip
    name = STAGES[index].NAME
    if not batches:
        return
    bar = tqdm(total=sum(len(b) for b in batches), desc=name, unit="item", disable=not progress)
    if use_ray:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        ds = ray.data.from_items(
            [{"batch": i} for i in range(len(batches))], override_num_blocks=len(batches)
        )
        done = ds.map(lambda row: {"rows": run_batch(index, config, batches[row["batch"]], str(out))})
        for _ in done.iter_rows():
            pass
        bar.update(bar.total)
    elif pool is None:
        for batch in batches:
            run_batch(index, config, batch, str(out))
            bar.update(len(batch))
    else:
        futures = {pool.submit(run_batch, index, config, b, str(out)): len(b) for b in batches}
        for fut in as_completed(futures):
            fut.result()
            bar.update(futures[fut])
    bar.close()


def run_pipeline(input_path: str | Path, out_dir: str | Path, config: PipelineConfig, workers: int = 2,
                 use_ray: bool = False, progress: bool = True, until: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the stages over the inputs (see the module's docstring). ``until``: the name of the last
    stage to run; a run that stops before tokenize writes no manifest or index (the stages' part
    files are kept, so a later full run resumes after them) and returns the per-stage counts."""
    if until is not None and until not in STAGE_NAMES:
        raise ConfigError(f"unknown pipeline stage {until!r} (stages: {', '.join(STAGE_NAMES)})")
    last = STAGE_NAMES.index(until) if until is not None else len(STAGES) - 1
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inputs = discover_inputs(input_path)
    origin = {r["id"]: r["id"] for r in inputs}  # any record id -> the input id it came from
    current = inputs
    worked: set[str] = set()
    stage_counts: dict[str, dict[str, int]] = {}
    pool = None
    if workers > 1 and not use_ray:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        for index, stage in enumerate(STAGES[: last + 1]):
            cfg = _stage_config(config, stage)
            keyed = [(stage_key(stage.NAME, cfg, r), r) for r in current]
            stage_dir = out / "stages" / stage.NAME
            done = {row["key"] for row in read_parts(stage_dir)}
            todo = [(k, r) for k, r in keyed if k not in done]
            worked.update(origin_of(r["id"], origin) for _, r in todo)
            batches = _batches(todo, max(1, config.batch_size))
            _run_stage_batches(index, config, batches, out, workers, use_ray, progress, pool)
            wanted = {k for k, _ in keyed}
            rows = [row for row in read_parts(stage_dir) if row["key"] in wanted]
            for row in rows:
                origin.setdefault(row["id"], origin_of(row["id"], origin))
            stage_counts[stage.NAME] = dict(Counter(row["status"] for row in rows))
            current = [row for row in rows if row["status"] == "ok"]
            _remember(out, stage.NAME, rows)
    finally:
        if pool is not None:
            pool.shutdown()
    if last < len(STAGES) - 1:
        return {
            "until": STAGE_NAMES[last],
            "items_in": len(inputs),
            "items_kept": len(current),
            "stages": stage_counts,
            "wall_s": round(time.perf_counter() - start, 1),
        }
    return _finish(out, config, inputs, current, worked, stage_counts, time.perf_counter() - start)


def origin_of(record_id: str, origin: dict[str, str]) -> str:
    while record_id not in origin and "_" in record_id:
        record_id = record_id.rsplit("_", 1)[0]
    return origin.get(record_id, record_id)


def _remember(out: Path, stage: str, rows: list[dict]) -> None:
    """Keep this stage's not-kept rows for quarantine.parquet."""
    bad = [
        {**r, "scores": json.dumps({"stage": stage, **json.loads(r["scores"])})}
        for r in rows
        if r["status"] != "ok"
    ]
    path = out / "stages" / f"{stage}.rejected.parquet"
    pq.write_table(pa.Table.from_pylist(bad, schema=RECORD_SCHEMA), path)


def _utterance(row: dict) -> Utterance:
    return Utterance(
        id=row["id"], path=row["audio"] or "", duration_s=row["duration_s"], sample_rate=44100, text=row["text"],
        plain_text=row["plain_text"], speaker_id=row["speaker_id"], language=row["language"],
        source=row["source"], split=row["split"], kind=row["kind"],
        tags=tuple(TagSpan(**t) for t in json.loads(row["tags"])),
        turns=tuple(Turn(**t) for t in json.loads(row["turns"])),
    )  # fmt: skip


def _finish(out: Path, config: PipelineConfig, inputs: list[dict], kept: list[dict], worked: set[str],
            stage_counts: dict, wall: float) -> dict[str, Any]:  # fmt: skip
    kept = sorted(kept, key=lambda r: r["id"])
    write_manifest(out / MANIFEST_NAME, [_utterance(r) for r in kept])
    if kept:
        rows = [
            {**_utterance(r).to_row(), "shard": r["shard"], "offset": r["offset"], "frames": r["frames"]}
            for r in kept
        ]
        first = np.load(out / "shards" / kept[0]["shard"], mmap_mode="r")
        info = {
            "sample_rate": 44100,
            "frame_rate": 44100 / 2048,
            "num_codebooks": int(first.shape[0]),
            "checkpoint": config.tokenize.checkpoint,
        }
        shard_io.write_index(out / "shards", rows, info)
    rejected = []
    for stage in STAGES:
        path = out / "stages" / f"{stage.NAME}.rejected.parquet"
        if path.exists():
            rejected += pq.read_table(path).to_pylist()
    pq.write_table(pa.Table.from_pylist(rejected, schema=RECORD_SCHEMA), out / "quarantine.parquet")
    ingested = [r for r in read_parts(out / "stages" / "ingest") if r["status"] == "ok"]
    input_ids = {r["id"] for r in inputs}
    hours_in = sum(r["end_s"] for r in ingested if r["id"] in input_ids) / 3600
    reasons = Counter(r["reason"].split(":")[0].split(" ")[0] for r in rejected)
    summary = {
        "items_in": len(inputs),
        "items_done": len(worked & input_ids),
        "items_skipped_already_done": len(input_ids - worked),
        "items_quarantined": sum(r["status"] == "quarantined" for r in rejected),
        "items_dropped": sum(r["status"] == "dropped" for r in rejected),
        "segments_kept": len(kept),
        "hours_in": round(hours_in, 4),
        "hours_kept": round(sum(r["duration_s"] for r in kept) / 3600, 4),
        "drop_reasons": dict(reasons),
        "stages": stage_counts,
        "wall_s": round(wall, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
