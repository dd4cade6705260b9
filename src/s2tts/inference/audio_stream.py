"""Incremental codec decode of many streams at once: code frames -> PCM chunks.

Each stream (an engine session) owns a codec ``DecodeState``. Per engine step, every stream with
a chunk due hands in its new frames; streams with the same number of new frames are decoded in
one batched ``Codec.decode_step`` (their states stacked with ``stack_states`` and split again
with ``select_state``), so a step with many sessions makes one codec call per chunk size, not
one per session. The causal codec makes chunked decode equal the one-shot decode per stream.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from s2tts.models.codec.streaming import DecodeState, select_state, stack_states


class AudioStreams:
    """Batched streaming codec decode (``codec``: a ``s2tts.models.codec.Codec``)."""

    def __init__(self, codec) -> None:
        self.codec = codec
        self.sample_rate = int(codec.sample_rate)
        self.frame_length = int(codec.frame_length)

    def open(self) -> DecodeState:
        """A fresh decode state for one stream."""
        return self.codec.init_decode_state(1)

    @torch.inference_mode()
    def decode(self, items: list[tuple[DecodeState, torch.Tensor]]) -> list[tuple[np.ndarray, DecodeState]]:
        """items: (state, codes (N, t) int64, unclamped) per stream -> (audio (t * frame_length,)
        float32, the stream's state to keep) per stream, in order."""
        out: list[tuple[np.ndarray, DecodeState] | None] = [None] * len(items)
        groups: dict[int, list[int]] = defaultdict(list)
        for i, (_, codes) in enumerate(items):
            groups[codes.shape[1]].append(i)
        for members in groups.values():
            codes = torch.stack([items[i][1] for i in members]).to(self.codec.device)
            codes = self.codec.clamp_codes(codes)
            if len(members) == 1:
                state = items[members[0]][0]
                states = [state]
            else:
                state = stack_states([items[i][0] for i in members])
            pcm = self.codec.decode_step(codes, state)[:, 0].float().cpu().numpy()
            if len(members) > 1:
                states = [select_state(state, [j]) for j in range(len(members))]
            for j, i in enumerate(members):
                out[i] = (pcm[j], states[j])
        return [o for o in out if o is not None]
