"""Bounded LRU caches owned by the engine: reference-voice codes and KV prefixes.

* ``VoiceCache``: codec codes of reference audio, keyed by a content hash (sha256 of the samples
  and their rate) and, when given, by a stored voice id -- reference audio is encoded once.
* ``PrefixCache``: slow-AR keys/values of a system prompt (system turn + reference voices), keyed
  by the prompt's content. A second request with the same voice copies them into its cache slot
  and prefills only its own text.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


def audio_key(audio: np.ndarray, sample_rate: int) -> str:
    """Content hash of an audio array and its rate."""
    h = hashlib.sha256()
    h.update(str(sample_rate).encode())
    h.update(str(audio.shape).encode())
    h.update(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    return h.hexdigest()


def prompt_key(values: torch.Tensor) -> str:
    """Content hash of a prompt tensor (1+N, T)."""
    return hashlib.sha256(values.detach().cpu().to(torch.int64).numpy().tobytes()).hexdigest()


class VoiceCache:
    """codes (N, T) by content hash, bounded by entry count; thread-safe."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_encode(self, key: str, encode: Callable[[], torch.Tensor]) -> torch.Tensor:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        codes = encode()
        with self._lock:
            self._items[key] = codes
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return codes

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Prefix:
    """Saved prefix: keys/values (n_layer, H_kv, L, hd) and the hidden state of its last position."""

    k: torch.Tensor
    v: torch.Tensor
    hidden: torch.Tensor

    @property
    def length(self) -> int:
        return self.k.shape[2]

    def nbytes(self) -> int:
        return (self.k.numel() + self.v.numel()) * self.k.element_size()


class PrefixCache:
    """KV prefixes by prompt hash, bounded by bytes (LRU). Used from the engine thread only."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Prefix] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Prefix | None:
        prefix = self._items.get(key)
        if prefix is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return prefix

    def put(self, key: str, prefix: Prefix) -> None:
        if prefix.nbytes() > self.max_bytes or key in self._items:
            return
        self._items[key] = prefix
        self._bytes += prefix.nbytes()
        while self._bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes()

    def __len__(self) -> int:
        return len(self._items)
