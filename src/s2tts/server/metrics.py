"""Prometheus text exposition of the engine's metrics and the server's own counters.

The engine reports a flat ``{name: number}`` dict; each becomes ``s2tts_<name>``, typed
``counter`` when the name ends in ``_total`` and ``gauge`` otherwise (quantiles such as
``ttfa_seconds_p50`` stay gauges: the engine computes them, Prometheus just records them).
The server adds its own counters (requests by route and status, bytes sent, disconnects,
rejections) from :class:`ServerStats`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

_NAME_BAD = re.compile(r"[^a-zA-Z0-9_:]")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metric_name(raw: str, prefix: str = "s2tts_") -> str:
    name = _NAME_BAD.sub("_", raw)
    if not name or name[0].isdigit():
        name = "_" + name
    return prefix + name


def _value(v: float | int) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass
class ServerStats:
    """Counters the HTTP layer keeps (one instance per app; no globals)."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    bytes_sent_total: int = 0
    disconnects_total: int = 0
    streams_active: int = 0
    live_sessions_active: int = 0

    def count(self, route: str, status: int) -> None:
        self.requests[(route, status)] += 1


def render(engine_metrics: dict[str, float | int], stats: ServerStats, extra: dict[str, float | int]) -> str:
    """The whole /metrics page."""
    lines: list[str] = []
    for raw, value in sorted(engine_metrics.items()):
        if not isinstance(value, (int, float)):
            continue
        name = metric_name(raw)
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE {name} {kind}", f"{name} {_value(value)}"]
    name = "s2tts_http_requests_total"
    lines.append(f"# TYPE {name} counter")
    for (route, status), n in sorted(stats.requests.items()):
        lines.append(f'{name}{{route="{_label(route)}",status="{status}"}} {n}')
    server = {
        "http_bytes_sent_total": stats.bytes_sent_total,
        "http_disconnects_total": stats.disconnects_total,
        "http_streams_active": stats.streams_active,
        "live_sessions_active": stats.live_sessions_active,
        **extra,
    }
    for raw, value in server.items():
        name = metric_name(raw)
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE {name} {kind}", f"{name} {_value(value)}"]
    return "\n".join(lines) + "\n"
