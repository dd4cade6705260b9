"""Engine and request metrics as plain structures (the server renders them for Prometheus)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class RequestMetrics:
    """Per request: time to first audio, real-time factor, frames/s, prefill work."""

    request_id: str
    submitted: float
    started: float | None = None
    first_audio: float | None = None
    finished: float | None = None
    frames: int = 0
    audio_seconds: float = 0.0
    prefill_tokens: int = 0
    prefix_cache_hit: bool = False

    @property
    def ttfa_s(self) -> float | None:
        return None if self.first_audio is None else self.first_audio - self.submitted

    @property
    def rtf(self) -> float | None:
        if self.finished is None or self.audio_seconds <= 0:
            return None
        return (self.finished - self.submitted) / self.audio_seconds

    @property
    def frames_per_s(self) -> float | None:
        if self.finished is None or self.started is None or self.finished <= self.started:
            return None
        return self.frames / (self.finished - self.started)

    def to_dict(self) -> dict[str, float | int | str | bool | None]:
        return {
            "request_id": self.request_id,
            "ttfa_s": self.ttfa_s,
            "rtf": self.rtf,
            "frames_per_s": self.frames_per_s,
            "frames": self.frames,
            "audio_seconds": self.audio_seconds,
            "prefill_tokens": self.prefill_tokens,
            "prefix_cache_hit": self.prefix_cache_hit,
        }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class EngineStats:
    """Counters and recent-request windows; every method is thread-safe."""

    window: int = 512
    counters: dict[str, int] = field(default_factory=dict)
    occupancy_sum: float = 0.0
    decode_steps: int = 0
    recent_ttfa: deque[float] = field(default_factory=deque)
    recent_rtf: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def incr(self, name: str, value: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + value

    def step(self, active: int, capacity: int) -> None:
        with self._lock:
            self.decode_steps += 1
            self.occupancy_sum += active / max(capacity, 1)

    def finish(self, m: RequestMetrics) -> None:
        with self._lock:
            for buf, value in ((self.recent_ttfa, m.ttfa_s), (self.recent_rtf, m.rtf)):
                if value is not None:
                    buf.append(value)
                    while len(buf) > self.window:
                        buf.popleft()

    def snapshot(self) -> dict[str, float | int]:
        with self._lock:
            out: dict[str, float | int] = dict(self.counters)
            out["decode_steps_total"] = self.decode_steps
            out["batch_occupancy"] = self.occupancy_sum / self.decode_steps if self.decode_steps else 0.0
            ttfa, rtf = list(self.recent_ttfa), list(self.recent_rtf)
        out["ttfa_seconds_p50"] = _quantile(ttfa, 0.5)
        out["ttfa_seconds_p95"] = _quantile(ttfa, 0.95)
        out["rtf_p50"] = _quantile(rtf, 0.5)
        out["rtf_p95"] = _quantile(rtf, 0.95)
        return out
