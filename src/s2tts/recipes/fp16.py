"""Export a directory of weights (a published checkpoint, or a codec alone) in fp16 (what a small
repo ships).

``export_fp16(src, dst)`` copies every file of ``src`` to ``dst``; ``*.safetensors`` files are
rewritten with their floating-point tensors cast to float16 (integer tensors and the metadata kept).
The loaders cast weights to the dtype asked for at load time, so an fp16 export loads as float32 on
CPU. Files are written to temporary names and renamed, so an interrupted export leaves either the
old file or the new one. A weights file already in fp16 is copied byte for byte: re-serialising
it would reorder its metadata (safetensors writes it from a hash map, in an order that changes from
process to process), and every milestone would then commit the same codec again as new bytes.
``include(name)`` picks which files of ``src`` to export (default: all). Returns the bytes written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from s2tts.atomic import atomic_copy, atomic_write
from s2tts.errors import RecipeError


def _half(src: Path, dst: Path) -> None:
    tensors, cast = {}, False
    with safe_open(str(src), framework="pt") as f:
        metadata = f.metadata()
        for key in f.keys():  # noqa: SIM118 (safe_open is not iterable)
            t = f.get_tensor(key)
            if t.is_floating_point() and t.dtype != torch.float16:
                t, cast = t.to(torch.float16), True
            tensors[key] = t
    if not cast:  # already fp16: the same bytes
        atomic_copy(src, dst)
        return
    atomic_write(dst, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def export_fp16(src: str | Path, dst: str | Path, include: Callable[[str], bool] | None = None) -> int:
    src, dst = Path(src), Path(dst)
    if not any(src.glob("*.safetensors")):
        raise RecipeError(f"{src} holds no *.safetensors weights")
    dst.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted(p for p in src.iterdir() if p.is_file() and (include is None or include(p.name))):
        target = dst / path.name
        if path.suffix == ".safetensors":
            _half(path, target)
        else:
            atomic_copy(path, target)
        target.chmod(0o644)
        total += target.stat().st_size
    return total
