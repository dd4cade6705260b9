"""Report plots (matplotlib, Agg backend, PNG): WER histogram, similarity distribution, tag
activation bars, RTF per utterance, long-form WER per minute. Each returns its file name, or
None when the run has nothing to plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from s2tts.eval.stats import finite


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    return plt, fig, ax


def _save(plt: Any, fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


def wer_histogram(records: list[dict[str, Any]], out: Path) -> str | None:
    values = finite([r.get("error_rate") for r in records])
    if not values.size:
        return None
    plt, fig, ax = _figure()
    ax.hist(values, bins=20, range=(0, max(1.0, float(values.max()))), color="#4c72b0")
    ax.set_xlabel("WER / CER per utterance")
    ax.set_ylabel("utterances")
    ax.set_title(f"Error rate (mean {values.mean():.3f})")
    return _save(plt, fig, out / "wer_hist.png")


def similarity_distribution(records: list[dict[str, Any]], out: Path) -> str | None:
    values = finite([r.get("sim") for r in records])
    if not values.size:
        return None
    plt, fig, ax = _figure()
    ax.hist(values, bins=20, range=(min(0.0, float(values.min())), 1.0), color="#55a868")
    ax.set_xlabel("speaker similarity (cosine, GE2E)")
    ax.set_ylabel("utterances")
    ax.set_title(f"Speaker similarity (mean {values.mean():.3f})")
    return _save(plt, fig, out / "sim_hist.png")


def tag_bars(summary: dict[str, Any], out: Path) -> str | None:
    rates = summary.get("tag_activation") or {}
    if not rates:
        return None
    plt, fig, ax = _figure()
    names = list(rates)
    ax.bar(names, [rates[n] for n in names], color="#c44e52")
    ax.set_ylim(0, 1)
    ax.set_ylabel("activation rate")
    ax.set_title("Instruction following")
    ax.tick_params(axis="x", rotation=30)
    return _save(plt, fig, out / "tag_activation.png")


def rtf_plot(records: list[dict[str, Any]], out: Path) -> str | None:
    pairs = [(r["duration_s"], r["rtf"]) for r in records if r.get("rtf") is not None]
    if not pairs:
        return None
    plt, fig, ax = _figure()
    ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=12, color="#8172b2")
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("audio duration (s)")
    ax.set_ylabel("RTF (wall / audio)")
    ax.set_title("Real-time factor per request")
    return _save(plt, fig, out / "rtf.png")


def wer_per_minute_plot(summary: dict[str, Any], out: Path) -> str | None:
    lf = summary.get("long_form")
    if not lf or not lf.get("wer_per_minute"):
        return None
    plt, fig, ax = _figure()
    values = lf["wer_per_minute"]
    ax.plot(range(1, len(values) + 1), values, marker="o")
    ax.set_xlabel("minute")
    ax.set_ylabel("WER")
    ax.set_title("Long form: WER per minute")
    return _save(plt, fig, out / "wer_per_minute.png")


def all_plots(records: list[dict[str, Any]], summary: dict[str, Any], out: Path) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    made = [
        wer_histogram(records, out),
        similarity_distribution(records, out),
        tag_bars(summary, out),
        rtf_plot(records, out),
        wer_per_minute_plot(summary, out),
    ]
    return [m for m in made if m]
