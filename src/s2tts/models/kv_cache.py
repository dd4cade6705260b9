"""Static, preallocated key/value caches written at explicit positions (gpt-fast style).

The cache belongs to the caller (the generator or the engine), never to the model: the model's
forward takes it as an argument. Shapes never change after allocation, so a decode step can be
compiled or captured in a CUDA graph. Each batch row ("slot") holds one sequence at its own length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class KVCache:
    """Keys and values of every layer of one decoder stack.

    k, v: (n_layer, max_batch, n_kv_head, max_seq_len, head_dim). rows: (max_batch, 1) int64, the
    row indices the write path uses (made once, not per layer and step).
    """

    k: torch.Tensor
    v: torch.Tensor
    rows: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rows = torch.arange(self.k.shape[1], device=self.k.device).unsqueeze(1)

    @classmethod
    def allocate(
        cls,
        n_layer: int,
        max_batch: int,
        n_kv_head: int,
        max_seq_len: int,
        head_dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> KVCache:
        shape = (n_layer, max_batch, n_kv_head, max_seq_len, head_dim)
        return cls(
            torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device)
        )

    @property
    def max_batch(self) -> int:
        return self.k.shape[1]

    @property
    def max_seq_len(self) -> int:
        return self.k.shape[3]

    def nbytes(self) -> int:
        return self.k.numel() * self.k.element_size() * 2

    def update(
        self,
        layer: int,
        input_pos: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        kv_len: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The one write path: store new keys/values, return the layer's window to attend over.

        input_pos: (B, T) positions of rows 0..B-1; k, v: (B, T, n_kv_head, head_dim).
        Returns keys, values (B, n_kv_head, kv_len, head_dim) of rows 0..B-1, positions
        [0, kv_len) (default: all). Shapes depend only on B, T and kv_len, never on the positions.
        """
        bsz = k.shape[0]
        rows = self.rows if bsz == self.max_batch else self.rows[:bsz]  # (B, 1)
        k_layer, v_layer = self.k[layer], self.v[layer]
        # Advanced indices on dims 0 and 2 around a slice: the indexed view is (B, T, H_kv, hd).
        k_layer[rows, :, input_pos] = k if k.dtype == k_layer.dtype else k.to(k_layer.dtype)
        v_layer[rows, :, input_pos] = v if v.dtype == v_layer.dtype else v.to(v_layer.dtype)
        if bsz < self.max_batch:  # (no-op slices skipped: a decode step runs this per layer)
            k_layer, v_layer = k_layer[:bsz], v_layer[:bsz]
        if kv_len is not None and kv_len < self.max_seq_len:
            k_layer, v_layer = k_layer[:, :, :kv_len], v_layer[:, :, :kv_len]
        return k_layer, v_layer

    def copy_prefix(self, src_row: int, dst_row: int, length: int) -> None:
        """Copy the first ``length`` positions of one slot into another (prefix reuse)."""
        self.k[:, dst_row, :, :length] = self.k[:, src_row, :, :length]
        self.v[:, dst_row, :, :length] = self.v[:, src_row, :, :length]

    def load_prefix(self, dst_row: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Write saved prefix tensors (n_layer, n_kv_head, L, head_dim) into a slot's positions 0..L-1."""
        length = k.shape[2]
        self.k[:, dst_row, :, :length] = k
        self.v[:, dst_row, :, :length] = v

    def read_prefix(self, row: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A copy of a slot's first ``length`` positions: (n_layer, n_kv_head, length, head_dim) x2."""
        return self.k[:, row, :, :length].clone(), self.v[:, row, :, :length].clone()
