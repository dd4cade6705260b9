"""tokenize: encode kept segments with an s2tts codec checkpoint into codes (K, T).

``checkpoint`` is a codec file (.safetensors / .pth) or a directory holding one (an ``s2tts
init-checkpoint`` directory works: its codec.safetensors is used). The runner writes the codes of a
batch as one shard (s2tts.data.shards). Output pairs are (record, codes (K, T) int64).
"""

from __future__ import annotations

import numpy as np

from s2tts.data.pipeline_config import PIPELINE_RATE, TokenizeConfig
from s2tts.data.records import derive
from s2tts.errors import ConfigError

NAME = "tokenize"


def setup(config: TokenizeConfig) -> object:
    if not config.checkpoint:
        raise ConfigError("tokenize.checkpoint is not set: pass --codec PATH or set it in the config")
    from s2tts.models.codec.weights import load_codec

    return load_codec(config.checkpoint)


def encode(codec: object, audios: list[np.ndarray], max_padded_s: float = 60.0) -> list[np.ndarray]:
    """Mono 44.1 kHz arrays -> their codes, each (K, T_i) int64.

    Items are encoded in order of length, in groups whose padded size (items x longest) stays
    within ``max_padded_s`` seconds: a batch in manifest order padded every item to its longest
    (3.2x the audio on the synthetic corpus). The encoder is causal, so an item's codes do not
    depend on its group.
    """
    import torch

    order = sorted(range(len(audios)), key=lambda i: audios[i].size)
    budget = max_padded_s * PIPELINE_RATE
    groups: list[list[int]] = []
    for i in order:
        if groups and (len(groups[-1]) + 1) * audios[i].size > budget:
            groups.append([])
        if not groups:
            groups.append([])
        groups[-1].append(i)
    out: list[np.ndarray] = [np.empty(0)] * len(audios)
    for group in groups:
        n = audios[group[-1]].size
        batch = np.zeros((len(group), 1, n), dtype=np.float32)
        for row, i in enumerate(group):
            batch[row, 0, : audios[i].size] = audios[i]
        codes, lengths = codec.encode(
            torch.from_numpy(batch), PIPELINE_RATE, lengths=[audios[i].size for i in group]
        )
        for row, i in enumerate(group):
            out[i] = codes[row, :, : int(lengths[row])].cpu().numpy()
    return out


def process(items: list, config: TokenizeConfig, models: object) -> list:
    if not items:
        return []
    codes = encode(models, [audio for _, audio in items])
    return [
        [(derive(record, frames=int(c.shape[1])), c)] for (record, _), c in zip(items, codes, strict=True)
    ]
