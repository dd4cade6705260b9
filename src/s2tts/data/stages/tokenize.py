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


def encode(codec: object, audios: list[np.ndarray]) -> list[np.ndarray]:
    """Mono 44.1 kHz arrays -> their codes, each (K, T_i) int64 (one batched, causal encode)."""
    import torch

    n = max(a.size for a in audios)
    batch = np.zeros((len(audios), 1, n), dtype=np.float32)
    for i, a in enumerate(audios):
        batch[i, 0, : a.size] = a
    codes, lengths = codec.encode(torch.from_numpy(batch), PIPELINE_RATE, lengths=[a.size for a in audios])
    return [codes[i, :, : int(lengths[i])].cpu().numpy() for i in range(len(audios))]


def process(items: list, config: TokenizeConfig, models: object) -> list:
    if not items:
        return []
    codes = encode(models, [audio for _, audio in items])
    return [
        [(derive(record, frames=int(c.shape[1])), c)] for (record, _), c in zip(items, codes, strict=True)
    ]
