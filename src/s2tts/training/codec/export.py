"""Export a trained codec to the layout inference loads.

``export_codec(codec, DIR)`` writes ``DIR/codec.safetensors`` + ``DIR/codec_config.json`` with weight
norm folded (what :func:`s2tts.models.codec.load_codec` and an ``S2Checkpoint`` directory read).
The folding is the loader's own (:func:`fold_weight_norm`), applied to a copy of the state dict,
so the training model keeps its parametrisation.
"""

from __future__ import annotations

from pathlib import Path

from s2tts.models.codec.codec import Codec
from s2tts.models.codec.weights import fold_weight_norm, load_state


def export_codec(codec: Codec, directory: str | Path) -> Path:
    """Write the folded codec into ``directory``; returns the weights file."""
    tensors = fold_weight_norm({k: v.detach().float().cpu() for k, v in codec.state_dict().items()})
    plain = Codec(codec.config)
    load_state(plain, tensors)
    path = Path(directory) / "codec.safetensors"
    plain.save(path)
    return path
