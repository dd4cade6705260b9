"""Comparing LM runs from their metrics logs (the text front-end ablation's summary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.training.lm.ablation import compare_runs, main


def _run(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _log(ce: dict[int, float], gain: dict[int, float], t0: float, s_per_step: float) -> list[dict]:
    rows: list[dict] = [{"step": 0, "time": t0, "precision": "bf16"}]
    for step in (10, 20, 30, 40):
        pause = 600.0 if step == 40 else 0.0  # a restart between steps 30 and 40 is not training time
        rows.append(
            {"step": step, "time": t0 + step * s_per_step + pause, "loss": 9.0, "tokens_per_s": 100.0 * step}
        )
    rows += [{"step": s, "time": t0, "val_loss": 7.0} for s in ce]
    rows += [{"step": s, "time": t0, "val_audio_ce": ce[s], "val_text_gain": gain[s]} for s in ce]
    return rows


def test_runs_line_up_at_common_validation_steps(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", _log({20: 6.0, 40: 5.5}, {20: 0.01, 40: 0.05}, 1000.0, 2.0))
    b = _run(tmp_path / "b", _log({20: 5.9, 30: 5.6, 40: 5.2}, {20: 0.02, 30: 0.05, 40: 0.11}, 5000.0, 2.5))
    result = compare_runs([a, b], ["bytes", "phonemes"])
    assert result["common_steps"] == [20, 40]  # b's step 30 has no counterpart in a
    assert result["table"][1] == {
        "step": 40,
        "bytes.val_audio_ce": 5.5,
        "bytes.val_text_gain": 0.05,
        "phonemes.val_audio_ce": 5.2,
        "phonemes.val_text_gain": 0.11,
    }
    assert result["runs"]["bytes"]["s_per_step"] == pytest.approx(2.0)
    assert result["runs"]["phonemes"]["s_per_step"] == pytest.approx(2.5)
    assert result["runs"]["bytes"]["tokens_per_s"] == pytest.approx(2500.0)


def test_cli_writes_table_and_plot_and_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path / "a", _log({20: 6.0}, {20: 0.01}, 0.0, 1.0))
    b = _run(tmp_path / "b", _log({20: 5.8}, {20: 0.03}, 0.0, 1.0))
    assert main([str(a), str(b), "--labels", "bytes", "phonemes", "--out", str(tmp_path / "out")]) == 0
    assert "| 20 | 6.0000 | 0.0100 | 5.8000 | 0.0300 |" in capsys.readouterr().out
    assert (tmp_path / "out" / "curves.png").stat().st_size > 1000
    assert json.loads((tmp_path / "out" / "curves.json").read_text())["common_steps"] == [20]
    assert main([str(a), str(tmp_path / "missing"), "--labels", "x", "y", "--out", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ablation: error:") and "missing" in err and len(err.splitlines()) == 1
