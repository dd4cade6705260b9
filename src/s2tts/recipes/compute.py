"""What each stage of a recipe run cost: wall hours and CPU (core) hours, across sessions.

A stage's marker (``OUT/stages/NAME.json``) holds the wall and CPU time of the attempt that
finished it. A training stage that ran over several sessions was restarted several times, so its
marker covers only its last attempt; for those stages the figure comes from the trainer's
``metrics.jsonl`` instead, whose rows carry the writing process's CPU time (``cpu_s``; summed over
the attempts by :func:`s2tts.training.metrics_log.cpu_hours`). A stage not done yet is reported
with what its metrics say so far. A stage adopted from another run (``--adopt``) is reported with
that run's figures, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from s2tts.recipes.stages import read_marker
from s2tts.training.metrics_log import cpu_hours

__all__ = ["StageCompute", "compute_table", "stage_compute"]

#: training stages -> their metrics file under the run directory
TRAINER_METRICS: dict[str, str] = {
    "codec": "codec/run/metrics.jsonl",
    "pretrain": "lm/pretrain/metrics.jsonl",
    "sft": "lm/sft/metrics.jsonl",
    "rl": "rl/metrics.jsonl",
}


@dataclass(frozen=True)
class StageCompute:
    stage: str
    done: bool
    cpu_hours: float | None  # None: not known (not started, or logged before CPU time was recorded)
    source: str  # "metrics" (all attempts), "marker" (the finishing attempt) or "none"
    last_attempt_wall_hours: float | None
    partial: bool = False  # a training stage known only from its marker: earlier attempts are missing
    adopted_from: str | None = None  # done by another run (``--adopt``): that run's figures


def stage_compute(out_dir: Path, stage: str) -> StageCompute:
    marker = read_marker(out_dir, stage)
    if marker is not None and marker.get("adopted_from"):
        source = Path(marker["adopted_from"])
        return replace(stage_compute(source, stage), done=True, adopted_from=str(source))
    wall = marker["wall_s"] / 3600 if marker else None
    metrics = out_dir / TRAINER_METRICS[stage] if stage in TRAINER_METRICS else None
    if metrics is not None and metrics.is_file():
        hours = cpu_hours(metrics)
        if hours is not None:
            # the trainer's own process; the marker adds the recipe's children (e.g. a data step)
            if marker and marker["cpu_s"] / 3600 > hours:
                hours = marker["cpu_s"] / 3600
            return StageCompute(stage, marker is not None, hours, "metrics", wall)
    if marker is not None:
        # a trainer stage that trained nothing (codec.path) has no earlier attempts to miss
        partial = metrics is not None and marker["wall_s"] > 0
        return StageCompute(stage, True, marker["cpu_s"] / 3600, "marker", wall, partial=partial)
    return StageCompute(stage, False, None, "none", None)


def compute_table(out_dir: Path, stages: list[str]) -> str:
    """A markdown table of :func:`stage_compute` for ``stages``."""
    rows = ["| stage | done | CPU hours | from | wall hours (finishing attempt) |", "|---|---|---|---|---|"]
    for name in stages:
        c = stage_compute(out_dir, name)
        cpu = "–" if c.cpu_hours is None else f"{c.cpu_hours:.2f}"
        wall = "–" if c.last_attempt_wall_hours is None else f"{c.last_attempt_wall_hours:.2f}"
        source = {"metrics": "trainer log, all attempts", "marker": "stage marker", "none": "–"}[c.source]
        if c.partial:
            source += " (last attempt only: its log has no CPU times)"
        if c.adopted_from:
            source += f", adopted from {c.adopted_from}"
        rows.append(f"| {name} | {'yes' if c.done else 'no'} | {cpu} | {source} | {wall} |")
    return "\n".join(rows) + "\n"
