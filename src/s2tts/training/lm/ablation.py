"""Compare LM runs that differ in one setting (e.g. the text front end) from their metrics logs.

Reads each run's ``metrics.jsonl`` and lines up, at the steps where all of them validated:

* ``val_audio_ce`` -- cross-entropy of the audio tokens of held-out samples given their text (the
  text tokens are left out, so runs whose text differs, bytes against phonemes, stay comparable;
  the plain ``val_loss`` includes text tokens and is not);
* ``val_text_gain`` -- how much worse that audio CE gets with another sample's text: whether the
  model reads its text at all, and how much it relies on it;
* the run's speed: training tokens a second (mean of the logged rows) and wall seconds a step
  (median of the logged intervals, so a pause or a restart does not count).

Writes ``curves.json`` and ``curves.png`` (both figures against step, one line per run) and prints a
markdown table::

    python -m s2tts.training.lm.ablation RUN_A RUN_B --labels bytes phonemes --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

from s2tts.training.metrics_log import read_metrics

__all__ = ["compare_runs", "main"]

FIGURES = ("val_audio_ce", "val_text_gain")


def _run_summary(run: Path) -> dict[str, Any]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (is {run} an LM training run?)")
    rows = read_metrics(path)
    series = {
        k: {int(r["step"]): float(r[k]) for r in rows if isinstance(r.get(k), (int, float))} for k in FIGURES
    }
    train = [r for r in rows if isinstance(r.get("tokens_per_s"), (int, float))]
    speed = sum(r["tokens_per_s"] for r in train) / len(train) if train else None
    timed = [r for r in train if isinstance(r.get("time"), (int, float))]
    # median of the logged intervals: a pause or restart between two rows does not count
    rates = sorted(
        (b["time"] - a["time"]) / (b["step"] - a["step"])
        for a, b in pairwise(timed)
        if b["step"] > a["step"] and b["time"] >= a["time"]
    )
    s_per_step = rates[len(rates) // 2] if rates else None
    return {"run": str(run), "series": series, "tokens_per_s": speed, "s_per_step": s_per_step}


def compare_runs(runs: Sequence[Path], labels: Sequence[str]) -> dict[str, Any]:
    """Per-label summaries and the figures at the steps every run validated at."""
    if len(runs) != len(labels):
        raise ValueError(f"{len(runs)} runs but {len(labels)} labels")
    summaries = {label: _run_summary(Path(run)) for run, label in zip(runs, labels, strict=True)}
    common = sorted(set.intersection(*(set(s["series"]["val_audio_ce"]) for s in summaries.values())))
    table = [
        {
            "step": step,
            **{f"{label}.{k}": summaries[label]["series"][k].get(step) for label in labels for k in FIGURES},
        }
        for step in common
    ]
    return {"labels": list(labels), "runs": summaries, "common_steps": common, "table": table}


def _markdown(result: dict[str, Any]) -> str:
    labels = result["labels"]
    head = "| step | " + " | ".join(f"{label} audio CE | {label} text gain" for label in labels) + " |"
    rows = [head, "|---|" + "---|---|" * len(labels)]
    for row in result["table"]:
        cells = []
        for label in labels:
            for k in FIGURES:
                v = row[f"{label}.{k}"]
                cells.append("–" if v is None else f"{v:.4f}")
        rows.append(f"| {row['step']} | " + " | ".join(cells) + " |")
    speed = ", ".join(
        f"{label}: {s['tokens_per_s']:.0f} tokens/s, {s['s_per_step']:.2f} s/step"
        for label, s in result["runs"].items()
        if s["tokens_per_s"] is not None and s["s_per_step"] is not None
    )
    return "\n".join(rows) + ("\n\nspeed: " + speed if speed else "") + "\n"


def _plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in zip(
        axes, FIGURES, ("held-out audio CE (nats)", "text gain: CE(other text) - CE(own text)"), strict=True
    ):
        for label, s in result["runs"].items():
            pts = sorted(s["series"][key].items())
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=label)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m s2tts.training.lm.ablation", description=__doc__.split("\n")[0]
    )
    ap.add_argument("runs", nargs="+", type=Path, help="LM training output folders (with metrics.jsonl)")
    ap.add_argument("--labels", nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True, help="folder for curves.json / curves.png")
    args = ap.parse_args(argv)
    try:
        result = compare_runs(args.runs, args.labels)
    except (FileNotFoundError, ValueError) as e:
        print(f"ablation: error: {e}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curves.json").write_text(json.dumps(result, indent=2) + "\n")
    _plot(result, args.out / "curves.png")
    text = _markdown(result)
    (args.out / "curves.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
