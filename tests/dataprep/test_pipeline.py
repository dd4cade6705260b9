"""``s2tts data run`` end to end: quarantine, summary, resume, a killed run, the Ray path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from s2tts.data.manifest import read_manifest
from s2tts.data.pipeline import run_pipeline
from s2tts.data.pipeline_config import load_config
from s2tts.data.shards import ShardReader
from s2tts.errors import ConfigError

SUMMARY_KEYS = {
    "items_in",
    "items_done",
    "items_skipped_already_done",
    "items_quarantined",
    "hours_in",
    "hours_kept",
}


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "s2tts.cli", "data", "run", *args, "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _config(tmp: Path, batch_size: int = 2) -> Path:
    path = tmp / "config.yaml"
    path.write_text(
        f"quality: {{dnsmos: false, distillmos: false, speaker_consistency: false}}\nbatch_size: {batch_size}\n"
    )
    return path


def _summary(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _state(out: Path) -> tuple:
    """What a finished run produced: manifest rows and each segment's codes."""
    reader = ShardReader(out / "shards")
    codes = {r["id"]: reader.codes(i).tolist() for i, r in enumerate(reader.rows)}
    return [(u.id, u.text, round(u.duration_s, 3)) for u in read_manifest(out)], codes


@pytest.mark.slow
def test_run_quarantines_bad_files_and_a_rerun_redoes_nothing(mixed_inputs: Path, tiny_checkpoint: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    args = ["--input", str(mixed_inputs), "--out", str(tmp_path / "out"), "--codec", str(tiny_checkpoint),
            "--config", str(_config(tmp_path)), "--workers", "2"]  # fmt: skip
    first = _summary(_cli(*args))
    assert set(first) >= SUMMARY_KEYS
    assert first["items_in"] == 8 and first["items_done"] == 8 and first["items_quarantined"] == 5
    assert 0 < first["hours_kept"] <= first["hours_in"]
    bad = {
        r["id"].rsplit("-", 1)[0]: r
        for r in pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    }
    assert bad["silent"]["reason"].startswith("silent") and bad["short"]["reason"].startswith("too_short")
    assert all(bad[k]["reason"].startswith("unreadable") for k in ("empty", "notes", "corrupt"))
    kept = read_manifest(tmp_path / "out")
    assert sorted(u.id.rsplit("-", 1)[0] for u in kept) == ["padded", "speech", "stereo"]
    assert all("three seconds" in u.text.lower() or "segment" in u.text.lower() for u in kept)
    again = _summary(_cli(*args))
    assert again["items_done"] == 0 and again["items_skipped_already_done"] == 8
    assert {k: again[k] for k in ("hours_in", "hours_kept", "items_quarantined")} == {
        k: first[k] for k in ("hours_in", "hours_kept", "items_quarantined")
    }


@pytest.mark.slow
def test_a_run_killed_midway_resumes_to_the_same_result(small_corpus: Path, tiny_checkpoint: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    manifest = str(small_corpus / "manifest.parquet")
    cfg = str(_config(tmp_path, batch_size=4))
    common = ["--input", manifest, "--codec", str(tiny_checkpoint), "--config", cfg, "--workers", "1"]
    reference = _summary(_cli(*common, "--out", str(tmp_path / "ref")))

    out = tmp_path / "killed"
    proc = _cli(*common, "--out", str(out))
    segment_parts = out / "stages" / "segment"
    deadline = time.monotonic() + 600
    while not (segment_parts.exists() and any(segment_parts.glob("part-*.parquet"))):
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in (out / "stages").rglob("part-*.parquet")}
    assert not (out / "manifest.parquet").exists()

    resumed = _summary(_cli(*common, "--out", str(out)))
    after = {p.name: p.stat().st_mtime_ns for p in (out / "stages").rglob("part-*.parquet")}
    assert all(after[name] == mtime for name, mtime in before.items())  # finished batches were not redone
    assert resumed["items_done"] == reference["items_in"]  # every item still had a stage to finish
    assert _state(out) == _state(tmp_path / "ref")
    assert resumed["hours_kept"] == reference["hours_kept"]
    final = _summary(_cli(*common, "--out", str(out)))
    assert final["items_done"] == 0 and final["items_skipped_already_done"] == reference["items_in"]


@pytest.mark.slow
def test_until_stops_before_tokenize_without_a_codec_and_a_full_run_resumes(
    small_corpus: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """--until transcribe needs no codec and writes no manifest; the full run with the codec then
    runs tokenize alone and ends as a run made in one go."""
    from s2tts.cli.data import UNTIL_CHOICES
    from s2tts.data.stages import STAGE_NAMES

    assert UNTIL_CHOICES == STAGE_NAMES
    manifest = str(small_corpus / "manifest.parquet")
    cfg = str(_config(tmp_path, batch_size=4))
    out = tmp_path / "split"
    early = _summary(_cli("--input", manifest, "--config", cfg, "--workers", "1", "--out", str(out),
                          "--until", "transcribe"))  # fmt: skip
    assert early["until"] == "transcribe" and early["items_kept"] > 0
    assert set(early["stages"]) == set(STAGE_NAMES) - {"tokenize"}
    assert not (out / "manifest.parquet").exists() and not (out / "stages" / "tokenize").exists()
    before = {p: p.stat().st_mtime_ns for p in (out / "stages").rglob("part-*.parquet")}
    common = ["--input", manifest, "--codec", str(tiny_checkpoint), "--config", cfg, "--workers", "1"]
    _summary(_cli(*common, "--out", str(out)))
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # nothing before tokenize redone
    _summary(_cli(*common, "--out", str(tmp_path / "whole")))
    assert _state(out) == _state(tmp_path / "whole")
    with pytest.raises(ConfigError, match="unknown pipeline stage"):
        run_pipeline(manifest, tmp_path / "x", load_config(cfg), until="bogus")


@pytest.mark.slow
def test_ray_path_gives_the_same_result_as_the_pool(
    mixed_inputs: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    import ray

    overrides = {
        "quality": {"dnsmos": False, "distillmos": False, "speaker_consistency": False},
        "tokenize": {"checkpoint": str(tiny_checkpoint)},
        "batch_size": 2,
    }
    config = load_config(None, overrides)
    pool = run_pipeline(mixed_inputs, tmp_path / "pool", config, workers=1, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = run_pipeline(mixed_inputs, tmp_path / "ray", config, workers=2, use_ray=True, progress=False)
    finally:
        ray.shutdown()
    assert on_ray["items_done"] == pool["items_done"] == 8
    assert on_ray["hours_kept"] == pool["hours_kept"] and on_ray["drop_reasons"] == pool["drop_reasons"]
    assert _state(tmp_path / "ray") == _state(tmp_path / "pool")


def test_synthetic_corpus_keeps_its_text_tags_and_turns(small_corpus: Path, synth_prepared: Path) -> None:
    source = {u.id: u for u in read_manifest(small_corpus)}
    prepared = read_manifest(synth_prepared)
    assert len(prepared) == len(source)
    reader = ShardReader(synth_prepared / "shards")
    assert reader.codec_info["num_codebooks"] == 10
    for i, row in enumerate(reader.rows):
        u, src = reader.utterance(i), source[row["id"]]
        assert (u.text, u.speaker_id, u.split, u.kind) == (src.text, src.speaker_id, src.split, src.kind)
        assert [t.tag for t in u.tags] == [t.tag for t in src.tags] and len(u.turns) == len(src.turns)
        assert abs(reader.codes(i).shape[1] - u.duration_s * 44100 / 2048) <= 1
        assert np.all(reader.codes(i) >= 0)


def test_run_cli_errors_are_one_line(tmp_path: Path, tiny_checkpoint: Path) -> None:
    for args in (
        ["--input", str(tmp_path / "missing"), "--codec", str(tiny_checkpoint)],
        ["--input", str(tmp_path)],
    ):
        proc = _cli(*args, "--out", str(tmp_path / "o"))
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
