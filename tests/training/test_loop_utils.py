"""Metrics log, signal stop, NaN guard, precision and single-process distributed helpers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from s2tts.errors import NonFiniteLossError, TrainConfigError
from s2tts.training.distributed import DistInfo, all_reduce_mean, any_rank, finish, init_distributed
from s2tts.training.guards import check_finite
from s2tts.training.interrupt import StopOnSignal
from s2tts.training.metrics_log import (
    MetricsLogger,
    cpu_hours,
    metrics_figure,
    plot_metrics,
    read_metrics,
    running_mean,
)
from s2tts.training.precision import Precision, cpu_has_native_bf16, resolve_auto


def test_metrics_jsonl_tensorboard_and_plot(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path) as log:
        log.log(1, {"loss": 2.0, "lr": 0.1})
        log.log(2, {"loss": torch.tensor(1.5)})
        log.log(2, {"val_loss": float("nan")})
    with MetricsLogger(tmp_path) as log:  # a resumed run appends and may repeat a step
        log.log(2, {"loss": 1.25})
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 2, 2]
    assert rows[2]["val_loss"] == "nan"
    merged = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["step"], r.get("loss")) for r in merged] == [(1, 2.0), (2, 1.25), (2, None)]
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    png = plot_metrics(tmp_path / "metrics.jsonl", tmp_path / "loss.png", ["loss"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_running_mean_is_trailing_and_short_at_the_start() -> None:
    assert running_mean([0.0, 2.0, 4.0, 6.0, 8.0], 2) == [0.0, 1.0, 3.0, 5.0, 7.0]
    assert running_mean([3.0, 0.0, 0.0, 3.0], 3) == [3.0, 1.5, 1.0, 1.0]
    assert running_mean([1.0, 5.0], 1) == [1.0, 5.0]


def test_panels_give_each_key_its_own_axes_and_a_smoothed_line() -> None:
    import matplotlib.pyplot as plt

    rows = [{"step": s, "reward_mean": float(s % 2), "kl_slow": 1e-5 * s} for s in range(1, 7)]
    fig = metrics_figure(rows, ["reward_mean", "kl_slow"], panels=True, smooth=2)
    reward_ax, kl_ax = fig.axes
    raw, smoothed = reward_ax.get_lines()
    assert list(raw.get_ydata()) == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert list(smoothed.get_ydata()) == [1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert [t.get_text() for t in kl_ax.get_legend().get_texts()] == ["kl_slow", "kl_slow (mean of 2)"]
    plt.close(fig)
    fig = metrics_figure(rows, ["reward_mean", "kl_slow"])  # one axes for both
    assert len(fig.axes) == 1 and len(fig.axes[0].get_lines()) == 2
    plt.close(fig)
    # a key the log lacks (a reward the run did not use) gets a panel that says so, no empty legend
    fig = metrics_figure(rows, ["reward_mean", "intelligibility.error_rate_mean"], panels=True)
    empty = fig.axes[1]
    assert not empty.get_lines() and empty.get_legend() is None
    assert [t.get_text() for t in empty.texts] == ["intelligibility.error_rate_mean: not logged"]
    plt.close(fig)


def test_the_logged_cpu_time_includes_what_helper_processes_report(tmp_path: Path) -> None:
    """The RL trainer hands its logger the reward workers' CPU time: the rows (and so cpu_hours and
    the recipe's compute table) count the reward service, which is about half of an RL step."""
    with MetricsLogger(tmp_path, tensorboard=False, helper_cpu_s=lambda: 7200.0) as log:
        log.log(1, {"loss": 1.0})
    assert read_metrics(tmp_path / "metrics.jsonl")[0]["cpu_s"] >= 7200.0
    assert cpu_hours(tmp_path / "metrics.jsonl") >= 2.0


def test_cpu_hours_add_up_over_resumed_attempts(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    old = [{"step": 1, "time": 0.0, "loss": 3.0}]  # written before cpu_s was recorded
    first = [{"step": s, "time": 0.0, "cpu_s": c, "loss": 2.0} for s, c in ((2, 10.0), (3, 1800.0))]
    second = [{"step": s, "time": 0.0, "cpu_s": c, "loss": 1.0} for s, c in ((3, 4.0), (4, 900.0))]
    path.write_text("".join(json.dumps(r) + "\n" for r in old + first + second))
    assert cpu_hours(path) * 3600 == pytest.approx(1800.0 + 900.0)
    # the resumed attempt's row for step 3 replaces the first attempt's, cpu_s or not
    assert [(r["step"], r["loss"]) for r in read_metrics(path)] == [(1, 3.0), (2, 2.0), (3, 1.0), (4, 1.0)]
    (tmp_path / "old.jsonl").write_text(json.dumps(old[0]) + "\n")
    assert cpu_hours(tmp_path / "old.jsonl") is None


def test_logger_records_its_process_cpu_time(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as log:
        log.log(1, {"loss": 1.0})
        x = torch.randn(256, 256)
        for _ in range(200):  # burn a little CPU between the rows
            x = torch.tanh(x @ x)
        log.log(2, {"loss": 0.5})
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["cpu_s"] > rows[0]["cpu_s"] > 0


def test_disabled_logger_writes_nothing(tmp_path: Path) -> None:
    log = MetricsLogger(tmp_path / "x", enabled=False)
    log.log(1, {"loss": 1.0})
    log.close()
    assert not (tmp_path / "x").exists()


def test_sigterm_requests_a_stop_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopOnSignal() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_second_ctrl_c_interrupts_at_once() -> None:
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)


def test_nan_guard() -> None:
    check_finite({"loss": torch.tensor(1.0), "grad_norm": 3.0}, step=1)
    with pytest.raises(NonFiniteLossError, match="non-finite grad_norm at step 7"):
        check_finite({"loss": torch.tensor(1.0), "grad_norm": torch.tensor(float("inf"))}, step=7)
    with pytest.raises(NonFiniteLossError, match="loss"):
        check_finite({"loss": torch.tensor([1.0, float("nan")])}, step=0, dist=DistInfo())


def test_single_process_distributed_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    dist = init_distributed("cpu")
    assert dist == DistInfo() and dist.is_main and not dist.enabled
    t = torch.tensor([3.0])
    assert all_reduce_mean(t, dist) is t and any_rank(True, dist) and not any_rank(False, dist)
    finish(dist)  # returns without exiting when there is no process group
    with pytest.raises(TrainConfigError):
        init_distributed("tpu")


def test_precision() -> None:
    cpu = torch.device("cpu")
    assert Precision.parse("bf16-true", cpu).param_dtype == torch.bfloat16
    with Precision.parse("bf16", cpu).autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    with pytest.raises(TrainConfigError, match="fp16 training needs CUDA"):
        Precision.parse("fp16", cpu)
    with pytest.raises(TrainConfigError):
        Precision.parse("fp8", cpu)


ZEN4_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
AVX2_FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


def test_auto_precision_is_bf16_only_where_the_cpu_has_it() -> None:
    cpu = torch.device("cpu")
    assert cpu_has_native_bf16(ZEN4_FLAGS) and not cpu_has_native_bf16(AVX2_FLAGS)
    assert cpu_has_native_bf16("flags : amx_tile amx_bf16 avx2")
    assert resolve_auto(cpu, ZEN4_FLAGS) == "bf16" and resolve_auto(cpu, AVX2_FLAGS) == "fp32"
    # On this machine: whatever its flags say, "auto" resolves to a concrete precision.
    assert Precision.parse("auto", cpu).name == ("bf16" if cpu_has_native_bf16() else "fp32")
