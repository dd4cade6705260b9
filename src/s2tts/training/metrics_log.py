"""Training metrics: a tqdm progress bar, a JSONL log, TensorBoard scalars and loss-curve plots.

Only the main rank writes (pass ``enabled=dist.is_main``); on other ranks every method is a no-op.

API::

    log = MetricsLogger("runs/x", enabled=dist.is_main, tensorboard=True)
    bar = progress_bar(total=cfg.steps, initial=start_step, enabled=dist.is_main, desc="train")
    log.log(step, {"loss": 2.3, "lr": 1e-4, "tokens_per_s": 5e3})   # -> runs/x/metrics.jsonl + tb
    bar.set_postfix(loss="2.300"); bar.update(1)
    log.close()
    read_metrics("runs/x/metrics.jsonl")                # list of dicts (resume appends to the file)
    plot_metrics("runs/x/metrics.jsonl", "loss.png", ["loss", "val_loss"])
    plot_metrics("runs/x/metrics.jsonl", "rl.png", ["reward_mean", "kl_slow"], panels=True, smooth=10)

Each JSONL line is ``{"step": int, "time": unix_seconds, "cpu_s": seconds, **metrics}``; a resumed
run appends, so a curve spans interruptions (rows with a step at or beyond the resume point from the
interrupted attempt are left in place; :func:`read_metrics` keeps the last row per (step, keys)).
``cpu_s`` is the CPU time of the writing process so far (all its threads, ``time.process_time``),
plus what its helper processes reported when the logger was given ``helper_cpu_s`` (the RL
trainer's reward workers): :func:`cpu_hours` adds it up over the attempts of a run that spanned
several sessions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

__all__ = [
    "MetricsLogger",
    "cpu_hours",
    "metrics_figure",
    "plot_metrics",
    "progress_bar",
    "read_metrics",
    "running_mean",
]

_META = ("step", "time", "cpu_s")  # row keys that are not metrics


class MetricsLogger:
    def __init__(
        self,
        directory: str | Path,
        enabled: bool = True,
        tensorboard: bool = True,
        helper_cpu_s: Callable[[], float] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.helper_cpu_s = helper_cpu_s  # CPU seconds of helper processes (RL reward workers) so far
        self.enabled = enabled
        self.path = self.directory / "metrics.jsonl"
        self._fh = None
        self._tb = None
        if not enabled:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a")  # noqa: SIM115 - held open for the run, closed in close()
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(self.directory / "tb"))

    def log(self, step: int, metrics: Mapping[str, float | int | str]) -> None:
        if not self.enabled or self._fh is None:
            return
        row: dict[str, Any] = {
            "step": int(step),
            "time": round(time.time(), 3),
            "cpu_s": round(time.process_time() + (self.helper_cpu_s() if self.helper_cpu_s else 0.0), 1),
        }
        for key, value in metrics.items():
            row[key] = _plain(value)
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key not in _META and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, int(step))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def progress_bar(total: int, initial: int = 0, enabled: bool = True, desc: str = "train") -> tqdm:
    """A tqdm bar over optimizer steps (disabled on non-main ranks)."""
    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, dynamic_ncols=True)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics JSONL file; of rows with the same step and keys, the last one wins."""
    rows: dict[tuple[int, tuple[str, ...]], dict[str, Any]] = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            keys = tuple(sorted(k for k in row if k not in _META))
            rows[(int(row["step"]), keys)] = row
    return sorted(rows.values(), key=lambda r: r["step"])


def cpu_hours(path: str | Path) -> float | None:
    """CPU hours of the process(es) that wrote a metrics file, over every attempt of the run.

    Each attempt (a start or resume) is a new process whose ``cpu_s`` starts again near zero; the
    total is the sum of each attempt's last ``cpu_s``. Work after an attempt's last row (up to one
    logging interval) is not counted. None when no row has ``cpu_s`` (a log from before it was
    recorded). On several ranks only the main rank writes: multiply by the ranks for the total.
    """
    total, last, seen = 0.0, None, False
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            value = json.loads(line).get("cpu_s")
            if not isinstance(value, (int, float)):
                continue
            seen = True
            if last is not None and value < last:  # a new attempt started
                total += last
            last = value
    if not seen:
        return None
    return (total + (last or 0.0)) / 3600


def running_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start); ``window <= 1``: the values."""
    if window <= 1:
        return [float(v) for v in values]
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def metrics_figure(
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    title: str | None = None,
    log_y: bool = False,
    panels: bool = False,
    smooth: int = 0,
) -> Any:
    """A matplotlib figure of ``keys`` against step: one axes for all keys, or one panel per key
    (``panels``: keys of different scales, such as a reward and a KL). ``smooth > 1`` draws each
    series faintly with its trailing mean over ``smooth`` rows on top (noisy per-step figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(keys) if panels else 1
    fig, axes = plt.subplots(
        n, 1, figsize=(7, 2.2 + 1.8 * n) if panels else (7, 4), sharex=True, squeeze=False
    )
    for i, key in enumerate(keys):
        ax = axes[i if panels else 0][0]
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if pts:
            xs, ys = zip(*pts, strict=True)
            marker = "o" if len(pts) < 30 else None
            if smooth > 1:
                (line,) = ax.plot(xs, ys, alpha=0.3, label=key)
                ax.plot(
                    xs, running_mean(ys, smooth), color=line.get_color(), label=f"{key} (mean of {smooth})"
                )
            else:
                ax.plot(xs, ys, marker=marker, label=key)
        if log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend()
        elif panels:  # a key the log does not have (yet): say so in its panel
            ax.text(0.5, 0.5, f"{key}: not logged", ha="center", va="center", transform=ax.transAxes)
    axes[-1][0].set_xlabel("step")
    if title:
        axes[0][0].set_title(title)
    fig.tight_layout()
    return fig


def plot_metrics(
    path: str | Path,
    out: str | Path,
    keys: Sequence[str],
    title: str | None = None,
    log_y: bool = False,
    panels: bool = False,
    smooth: int = 0,
) -> Path:
    """Plot ``keys`` against step from a metrics JSONL file into a PNG (see :func:`metrics_figure`)."""
    import matplotlib.pyplot as plt

    fig = metrics_figure(read_metrics(path), keys, title=title, log_y=log_y, panels=panels, smooth=smooth)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
