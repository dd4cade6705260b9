"""CPU hours per recipe stage: markers for one-attempt stages, trainer logs across sessions."""

from __future__ import annotations

import json
from pathlib import Path

from s2tts.cli import main as cli_main
from s2tts.recipes.compute import compute_table, stage_compute
from s2tts.recipes.stages import write_marker


def test_stage_compute_sums_trainer_attempts_and_falls_back_to_markers(tmp_path: Path) -> None:
    write_marker(tmp_path, "corpus", {"stage": "corpus", "hash": "x", "wall_s": 900.0, "cpu_s": 1800.0})
    # pretrain ran in two sessions; its marker (written by the second) knows only the last attempt
    write_marker(tmp_path, "pretrain", {"stage": "pretrain", "hash": "y", "wall_s": 3600.0, "cpu_s": 7200.0})
    log = tmp_path / "lm" / "pretrain" / "metrics.jsonl"
    log.parent.mkdir(parents=True)
    rows = [(10, 3600.0), (20, 10800.0), (20, 5.0), (30, 7200.0)]  # second attempt restarts cpu_s
    log.write_text(
        "".join(json.dumps({"step": s, "time": 0.0, "cpu_s": c, "loss": 1.0}) + "\n" for s, c in rows)
    )

    corpus = stage_compute(tmp_path, "corpus")
    assert (corpus.cpu_hours, corpus.source, corpus.done) == (0.5, "marker", True)
    pretrain = stage_compute(tmp_path, "pretrain")
    assert (pretrain.cpu_hours, pretrain.source) == (5.0, "metrics")  # 3 h + 2 h, not the marker's 2 h
    sft = stage_compute(tmp_path, "sft")
    assert (sft.cpu_hours, sft.done) == (None, False)
    # a trainer whose log predates CPU times: only the marker's last attempt is known, and said so
    write_marker(tmp_path, "codec", {"stage": "codec", "hash": "z", "wall_s": 1800.0, "cpu_s": 3600.0})
    (tmp_path / "codec" / "run").mkdir(parents=True)
    (tmp_path / "codec" / "run" / "metrics.jsonl").write_text(
        json.dumps({"step": 1, "time": 0.0, "loss": 1.0}) + "\n"
    )
    codec = stage_compute(tmp_path, "codec")
    assert (codec.cpu_hours, codec.source, codec.partial) == (1.0, "marker", True)
    assert not corpus.partial
    table = compute_table(tmp_path, ["corpus", "pretrain", "sft", "codec"])
    assert (
        "| codec | yes | 1.00 | stage marker (last attempt only: its log has no CPU times) | 0.50 |" in table
    )
    assert "| pretrain | yes | 5.00 | trainer log, all attempts | 1.00 |" in table
    assert "| sft | no | – | – | – |" in table


def test_recipe_cli_prints_the_compute_table(tmp_path: Path, capsys) -> None:
    write_marker(tmp_path, "corpus", {"stage": "corpus", "hash": "x", "wall_s": 36.0, "cpu_s": 72.0})
    assert cli_main(["recipe", "small", "--out", str(tmp_path), "--compute"]) == 0
    out = capsys.readouterr().out
    assert "| corpus | yes | 0.02 | stage marker | 0.01 |" in out and "| export | no |" in out
