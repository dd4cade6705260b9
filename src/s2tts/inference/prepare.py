"""Turn a loaded (training-layout) Dual-AR model into a decoding one, explicitly.

``load_model`` / ``load_checkpoint`` return a plain model: contiguous weights in the checkpoint's
layout, ready for training or for saving. Decoding wants more, and each step changes the model
in place, so it is done once, here:

1. device and dtype;
2. int8 weight-only quantization of every Linear (``quantize="int8"``, ``s2tts.inference.quantize``);
3. the CPU decode layout: fp32 CPU Linear weights stored column-major (``models.layout``),
   faster for the library's batch-1 matrix-vector products -- unless the decode frame will be
   compiled (``compile=True``): its one-row products are fused reductions that stream the
   row-major layout fastest (``models.products``), so the weights stay (or become) row-major;
4. for a caller that decodes several rows at once (``batch`` > 1: the engine's slots) in eager
   fp32 on the CPU, a oneDNN-packed copy of each Linear weight for its multi-row products
   (``s2tts.inference.packed``; the Linear layers then take twice their memory).

Compiling the decode frame is the decoder's business (``s2tts.inference.decoder``), since a
compiled function is tied to its batch buckets, not to the model.
"""

from __future__ import annotations

import torch

from s2tts.errors import ConfigError
from s2tts.inference.packed import pack_linears, packing_available, unpack_linears
from s2tts.inference.quantize import QUANTIZE_MODES, is_quantized, quantize_int8
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.layout import use_decode_layout, use_row_major
from s2tts.models.weights import parse_dtype


def check_quantize(quantize: str | None) -> str | None:
    """None/'none' -> None; a known mode -> itself; else ConfigError."""
    if quantize in (None, "", "none"):
        return None
    if quantize not in QUANTIZE_MODES:
        raise ConfigError(
            f"unknown quantize mode {quantize!r}; choose from none, {', '.join(QUANTIZE_MODES)}"
        )
    return quantize


@torch.no_grad()
def prepare_for_decode(
    model: DualARTransformer,
    dtype: str | torch.dtype | None = None,
    quantize: str | None = None,
    device: torch.device | str | None = None,
    compile: bool = False,
    batch: int = 1,
) -> DualARTransformer:
    """Apply device/dtype, optional int8 quantization and the decode layout, in place.

    ``compile``: the model will decode through a compiled frame (``Decoder(compile=True)``).
    ``batch``: the most rows the caller decodes at once (the engine's ``max_sessions``).

    Idempotent: preparing a prepared model changes nothing. Returns the model in eval mode.
    """
    mode = check_quantize(quantize)
    unpack_linears(model)
    if device is not None or dtype is not None:
        model.to(device=device, dtype=None if dtype is None else parse_dtype(dtype))
    if mode == "int8" and not is_quantized(model):
        quantize_int8(model)
    if compile:
        return use_row_major(model).eval()
    use_decode_layout(model)
    if batch > 1 and packing_available():
        pack_linears(model, batch)
    return model.eval()
