"""Resumable stages: run what is not done, skip what is, record completion atomically.

A recipe is an ordered list of :class:`Stage` s. Each stage has a name, the stages it reads from
(``needs``), a *config* (any JSON-able dict: the settings that decide its output) and a ``run``
callable. The stage's **hash** is the sha256 of its config and of the hashes of the stages it
needs, so changing a stage's settings (or anything upstream) makes it, and everything after it,
due again.

When a stage finishes, ``OUT/stages/NAME.json`` is written atomically (temporary file +
``os.replace``): ``{"stage", "hash", "finished_at", "wall_s", "cpu_s", "outputs"}`` (cpu_s: this
process and its children). A stage
is *done* when that marker exists with the current hash. A stage interrupted half-way has no
marker and runs again; the tools the stages call resume their own work (chunks, stage keys,
training checkpoints), so the re-run continues rather than restarts.

**Adopting** (:func:`adopt_stages`): a stage another run directory finished with the same hash is
done there already; its marker is copied here with ``adopted_from`` (the outputs stay where that
run has them), so a variant of a finished run starts at its first changed stage.

Selection: ``only`` (a set of names, run in recipe order; a needed stage outside it must already be
done) or ``until`` (every stage up to and including that one). Done stages are skipped either way.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from s2tts.atomic import atomic_write_text
from s2tts.errors import RecipeError

MARKER_DIR = "stages"


@dataclass(frozen=True)
class Stage:
    """One step of a recipe. ``run(out_dir)`` returns a JSON-able dict of what it produced."""

    name: str
    run: Callable[[Path], dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    about: str = ""


def stage_hashes(stages: Sequence[Stage]) -> dict[str, str]:
    """Name -> hash of (config, hashes of needed stages), in recipe order."""
    out: dict[str, str] = {}
    for st in stages:
        missing = [n for n in st.needs if n not in out]
        if missing:
            raise RecipeError(f"stage {st.name!r} needs {missing}, which do not come before it")
        blob = json.dumps({"config": st.config, "needs": {n: out[n] for n in st.needs}}, sort_keys=True)
        out[st.name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


def marker_path(out_dir: Path, name: str) -> Path:
    return out_dir / MARKER_DIR / f"{name}.json"


def read_marker(out_dir: Path, name: str) -> dict[str, Any] | None:
    path = marker_path(out_dir, name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # cannot happen with atomic writes, but a hand-edited file might
        return None


def write_marker(out_dir: Path, name: str, record: dict[str, Any]) -> Path:
    """Write the marker atomically: a reader sees the old file or the whole new one."""
    path = marker_path(out_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def is_done(out_dir: Path, name: str, digest: str) -> bool:
    marker = read_marker(out_dir, name)
    return marker is not None and marker.get("hash") == digest


def adopt_stages(
    stages: Sequence[Stage],
    out_dir: Path,
    source: Path,
    names: Sequence[str],
    log: Callable[[str], None] = print,
) -> list[str]:
    """Copy the markers of ``names`` (leading stages, in recipe order) that ``source`` finished with
    the hash they have here, each tagged ``adopted_from``; returns the adopted names.

    Stops at the first stage that is not done in ``source`` with the same hash (what follows reads
    it). A stage already done here is left alone. A ``source`` without that first stage is an error:
    adopting nothing is never what the caller meant.
    """
    hashes = stage_hashes(stages)
    order = [s.name for s in stages]
    unknown = [n for n in names if n not in order]
    if unknown:
        raise RecipeError(f"cannot adopt unknown stages {unknown}")
    if source.resolve() == out_dir.resolve():
        raise RecipeError("a run cannot adopt stages from itself")
    adopted: list[str] = []
    for name in sorted(names, key=order.index):
        theirs = read_marker(source, name)
        if theirs is None or theirs.get("hash") != hashes[name]:
            why = "is not done there" if theirs is None else "was done there with other settings"
            if not adopted and not is_done(out_dir, name, hashes[name]):
                raise RecipeError(f"cannot adopt from {source}: its stage {name!r} {why}")
            log(f"adopt: {name} {why}; it and what follows run here")
            break
        if is_done(out_dir, name, hashes[name]):
            continue
        write_marker(out_dir, name, {**theirs, "adopted_from": str(source.resolve())})
        log(f"adopt: {name} from {source} (outputs stay there)")
        adopted.append(name)
    return adopted


def select(
    stages: Sequence[Stage], only: Sequence[str] | None = None, until: str | None = None
) -> list[Stage]:
    """The stages to consider, in recipe order (done ones are skipped later)."""
    names = [s.name for s in stages]
    for name in [*(only or []), *([until] if until else [])]:
        if name not in names:
            raise RecipeError(f"unknown stage {name!r}; stages: {', '.join(names)}")
    if only and until:
        raise RecipeError("give --stages or --until, not both")
    if only:
        return [s for s in stages if s.name in set(only)]
    if until:
        return list(stages[: names.index(until) + 1])
    return list(stages)


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_stages(
    stages: Sequence[Stage],
    out_dir: Path,
    only: Sequence[str] | None = None,
    until: str | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the selected stages that are not done; returns one status dict per selected stage."""
    out_dir.mkdir(parents=True, exist_ok=True)
    hashes = stage_hashes(stages)
    chosen = select(stages, only, until)
    chosen_names = {s.name for s in chosen}
    results = []
    for i, st in enumerate(chosen, start=1):
        head = f"[{i}/{len(chosen)}] {st.name}"
        if is_done(out_dir, st.name, hashes[st.name]):
            log(f"{head}: done (skipped)")
            results.append({"stage": st.name, "status": "skipped", "hash": hashes[st.name]})
            continue
        for need in st.needs:
            if need not in chosen_names and not is_done(out_dir, need, hashes[need]):
                raise RecipeError(f"stage {st.name!r} needs {need!r}, which is not done: run it first")
        before = read_marker(out_dir, st.name)
        why = " (its settings or inputs changed)" if before is not None else ""
        log(f"{head}: running{why}" + (f": {st.about}" if st.about else ""))
        start, cpu0 = time.perf_counter(), _child_cpu_s() + _self_cpu_s()
        outputs = st.run(out_dir)
        wall = time.perf_counter() - start
        cpu = _child_cpu_s() + _self_cpu_s() - cpu0
        record = {
            "stage": st.name,
            "hash": hashes[st.name],
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "outputs": outputs,
        }
        write_marker(out_dir, st.name, record)
        log(f"{head}: finished in {wall:.0f} s ({cpu / 3600:.2f} CPU-hours)")
        results.append({**record, "status": "ran"})
    return results
