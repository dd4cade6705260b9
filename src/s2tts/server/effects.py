"""Output post-processing, chunk by chunk: speed (pitch-preserving tempo) and volume.

OpenAI's ``speed`` (0.25-4) and fish.audio's ``prosody.speed`` (0.5-2) / ``prosody.volume`` (dB)
change the audio after the model made it: FFmpeg's ``atempo`` filter (a WSOLA time stretch, pitch
unchanged) runs as a streaming filter graph, chained when the factor is outside its 0.5-2 band;
volume is a plain gain. With speed 1 and volume 0 the chunks pass through untouched.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


def _tempo_steps(speed: float) -> list[float]:
    """Split a tempo factor into atempo stages, each within [0.5, 2]."""
    steps = []
    while speed > 2.0:
        steps.append(2.0)
        speed /= 2.0
    while speed < 0.5:
        steps.append(0.5)
        speed /= 0.5
    steps.append(speed)
    return steps


class PostProcessor:
    """Mono float32 chunks at ``sample_rate`` -> chunks changed by ``speed`` and ``gain_db``."""

    def __init__(self, sample_rate: int, speed: float = 1.0, gain_db: float = 0.0) -> None:
        if not 0.25 <= speed <= 4.0:
            raise ValueError(f"speed must be in [0.25, 4], got {speed}")
        self.sample_rate = sample_rate
        self.gain = float(10.0 ** (gain_db / 20.0))
        self._graph: av.filter.Graph | None = None
        self._pts = 0
        if abs(speed - 1.0) > 1e-6:
            graph = av.filter.Graph()
            node = graph.add_abuffer(
                format="flt", sample_rate=sample_rate, layout="mono", time_base=Fraction(1, sample_rate)
            )
            for step in _tempo_steps(speed):
                nxt = graph.add("atempo", f"tempo={step:.6f}")
                node.link_to(nxt)
                node = nxt
            sink = graph.add("abuffersink")
            node.link_to(sink)
            graph.configure()
            self._graph = graph

    @property
    def identity(self) -> bool:
        return self._graph is None and self.gain == 1.0

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """One chunk in, whatever is ready out (maybe empty while the filter fills)."""
        pcm = np.asarray(pcm, dtype=np.float32).reshape(-1)
        if self._graph is not None and len(pcm):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm)[None, :], format="flt", layout="mono"
            )
            frame.sample_rate = self.sample_rate
            frame.pts = self._pts
            self._pts += len(pcm)
            self._graph.push(frame)
            pcm = self._drain()
        elif self._graph is not None:
            return np.zeros(0, np.float32)
        return pcm * self.gain if self.gain != 1.0 else pcm

    def flush(self) -> np.ndarray:
        """The filter's remaining output at the end of the stream."""
        if self._graph is None:
            return np.zeros(0, np.float32)
        self._graph.push(None)
        out = self._drain()
        self._graph = None
        return out * self.gain if self.gain != 1.0 else out

    def _drain(self) -> np.ndarray:
        assert self._graph is not None
        parts = []
        while True:
            try:
                frame = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            parts.append(frame.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
