"""The stage runner: done stages are skipped, changed settings re-run a stage and what follows,
an interrupted stage leaves no marker and runs again, selection by --stages / --until."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2tts.errors import RecipeError
from s2tts.recipes.stages import Stage, adopt_stages, read_marker, run_stages


def _recipe(calls: list[str], config_b: dict | None = None, fail: str | None = None) -> list[Stage]:
    def step(name: str):
        def run(out: Path) -> dict:
            calls.append(name)
            if name == fail:
                (out / f"{name}.partial").write_text("half")
                raise KeyboardInterrupt  # what an interrupted run looks like to the runner
            (out / f"{name}.txt").write_text(name)
            return {"file": f"{name}.txt"}

        return run

    return [
        Stage("a", step("a"), {"n": 1}),
        Stage("b", step("b"), config_b or {"n": 2}, needs=("a",)),
        Stage("c", step("c"), {"n": 3}, needs=("b",)),
        Stage("d", step("d"), {"n": 4}, needs=("a",)),
    ]


def _quiet(_: str) -> None:
    pass


def test_second_run_skips_everything(tmp_path: Path) -> None:
    calls: list[str] = []
    first = run_stages(_recipe(calls), tmp_path, log=_quiet)
    assert calls == ["a", "b", "c", "d"]
    assert [r["status"] for r in first] == ["ran"] * 4
    marker = read_marker(tmp_path, "c")
    assert marker is not None and marker["outputs"] == {"file": "c.txt"} and marker["wall_s"] >= 0
    second = run_stages(_recipe(calls), tmp_path, log=_quiet)
    assert calls == ["a", "b", "c", "d"]
    assert [r["status"] for r in second] == ["skipped"] * 4
    assert not list((tmp_path / "stages").glob(".*")), "a temporary marker file was left behind"


def test_changed_settings_rerun_the_stage_and_its_dependents_only(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_recipe(calls), tmp_path, log=_quiet)
    calls.clear()
    run_stages(_recipe(calls, config_b={"n": 20}), tmp_path, log=_quiet)
    assert calls == ["b", "c"]  # d depends on a only


def test_interrupted_stage_runs_again_and_done_ones_do_not(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_stages(_recipe(calls, fail="b"), tmp_path, log=_quiet)
    assert read_marker(tmp_path, "a") is not None
    assert read_marker(tmp_path, "b") is None  # no marker for a stage that did not finish
    calls.clear()
    run_stages(_recipe(calls), tmp_path, log=_quiet)
    assert calls == ["b", "c", "d"]


def test_until_and_stages_select(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_recipe(calls), tmp_path, until="b", log=_quiet)
    assert calls == ["a", "b"]
    calls.clear()
    run_stages(_recipe(calls), tmp_path, only=["d", "c"], log=_quiet)
    assert calls == ["c", "d"]  # recipe order, not the order given


def test_stage_whose_input_is_not_done_is_refused(tmp_path: Path) -> None:
    calls: list[str] = []
    with pytest.raises(RecipeError, match="needs 'a'"):
        run_stages(_recipe(calls), tmp_path, only=["b"], log=_quiet)
    assert calls == []
    with pytest.raises(RecipeError, match="unknown stage"):
        run_stages(_recipe(calls), tmp_path, until="z", log=_quiet)


def test_marker_from_other_settings_is_not_done(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_recipe(calls), tmp_path, log=_quiet)
    path = tmp_path / "stages" / "a.json"
    marker = json.loads(path.read_text())
    path.write_text(json.dumps({**marker, "hash": "0" * 16}))
    calls.clear()
    run_stages(_recipe(calls), tmp_path, log=_quiet)
    # Hashes chain the settings, not the markers: the stages after it had the same inputs.
    assert calls == ["a"]
    assert read_marker(tmp_path, "a")["hash"] == marker["hash"]


def test_a_variant_adopts_the_finished_stages_it_shares_and_runs_the_rest(tmp_path: Path) -> None:
    """--adopt: stages another run finished with the same settings are done here (markers copied,
    tagged, outputs left there); the first changed stage and what follows it run here."""
    first, calls = tmp_path / "first", []
    run_stages(_recipe(calls), first, log=_quiet)
    variant, calls = tmp_path / "variant", []
    stages = _recipe(calls, config_b={"n": 20})  # b changed: b and c run, a and d need not
    assert adopt_stages(stages, variant, first, ["a", "b", "c", "d"], _quiet) == ["a"]
    marker = read_marker(variant, "a")
    assert marker is not None and marker["adopted_from"] == str(first.resolve())
    assert marker["outputs"] == read_marker(first, "a")["outputs"]
    assert not (variant / "a.txt").exists()  # read in place, not copied
    run_stages(stages, variant, log=_quiet)
    assert calls == ["b", "c", "d"]
    # adopting again changes nothing; an unchanged recipe adopts every stage
    assert adopt_stages(stages, variant, first, ["a"], _quiet) == []
    same: list[str] = []
    assert adopt_stages(_recipe(same), tmp_path / "same", first, ["a", "b", "c"], _quiet) == ["a", "b", "c"]
    run_stages(_recipe(same), tmp_path / "same", until="c", log=_quiet)
    assert same == []


def test_adopting_from_a_run_without_the_first_stage_is_an_error(tmp_path: Path) -> None:
    calls: list[str] = []
    run_stages(_recipe(calls), tmp_path / "first", log=_quiet)
    with pytest.raises(RecipeError, match="its stage 'a' is not done there"):
        adopt_stages(_recipe(calls), tmp_path / "v", tmp_path / "empty", ["a"], _quiet)
    changed = [Stage("a", lambda out: {}, {"n": 9})]
    with pytest.raises(RecipeError, match="was done there with other settings"):
        adopt_stages(changed, tmp_path / "v", tmp_path / "first", ["a"], _quiet)
    with pytest.raises(RecipeError, match="from itself"):
        adopt_stages(_recipe(calls), tmp_path / "first", tmp_path / "first", ["a"], _quiet)
