"""The small model's targets read from an evaluation summary: pass, fail, and not measured."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from s2tts.recipes.targets import check_targets, write_targets

GOOD = {
    "by_category": {"plain": {"wer": 0.08}},
    "speaker_id_accuracy": 0.85,
    "dialogue": {"turn_accuracy": 1.0},
    "tag_activation": {"whisper": 0.9, "fast": 0.85},
    "long_form": {"wer_per_minute": [0.10, 0.12], "collapse_rate": 0.0},
    "rtf": 0.4,
    "ttfa_s": 0.21,
}


def _by_name(results):
    return {r.name: r for r in results}


def test_a_good_report_passes_every_target(tmp_path: Path) -> None:
    # fp32 weights are judged at the size they ship in (fp16); integer tensors keep their width
    save_file(
        {"w": torch.zeros(1_000_000), "steps": torch.zeros(1000, dtype=torch.int64)},
        tmp_path / "model.safetensors",
    )
    results = _by_name(check_targets(GOOD, tmp_path))
    assert all(r.passed for r in results.values()), results
    assert results["size"].value == 2.008


def test_each_target_fails_on_its_own_figure() -> None:
    bad = {
        **GOOD,
        "by_category": {"plain": {"wer": 0.31}},
        "speaker_id_accuracy": 0.6,
        "dialogue": {"turn_accuracy": 0.95},
        "tag_activation": {"whisper": 0.9, "fast": 0.5},  # the weakest tag decides
        "long_form": {"wer_per_minute": [0.10, 0.30], "collapse_rate": 0.0},  # last minute 3x the first
        "rtf": 1.3,
        "ttfa_s": 0.45,
    }
    results = _by_name(check_targets(bad))
    assert [n for n, r in results.items() if r.passed is False] == [
        "intelligible", "cloning", "dialogue", "instructions", "long form", "speed", "first audio",
    ]  # fmt: skip
    assert results["instructions"].value == 0.5
    collapsed = {**GOOD, "long_form": {"wer_per_minute": [0.1, 0.1], "collapse_rate": 0.05}}
    assert _by_name(check_targets(collapsed))["long form"].passed is False


def test_missing_figures_are_not_measured_and_written(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"by_category": {"plain": {"wer": 0.1}}}))
    results = _by_name(write_targets(tmp_path))
    assert results["intelligible"].passed is True
    assert all(
        results[n].passed is None for n in ("cloning", "dialogue", "instructions", "long form", "size")
    )
    table = (tmp_path / "targets.md").read_text()
    assert "| intelligible | WER, held-out sentences | 0.100 | <= 0.20 | pass |" in table
    assert table.count("not measured") == 7
    assert json.loads((tmp_path / "targets.json").read_text())[0]["passed"] is True
