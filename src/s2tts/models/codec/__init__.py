"""S2's causal audio codec ("modded DAC"): 44.1 kHz audio <-> 10 codebooks at ~21.5 Hz.

Building blocks live in ``layers.py`` (causal convs, Snake, residual units, ConvNeXt),
``transformer.py`` (window-limited transformer) and ``quantizer.py`` (RVQ); assembled models in
``encoder.py``, ``decoder.py`` and ``codec.py``; streaming state in ``streaming.py``; checkpoint I/O
in ``weights.py``; shapes in ``config.py``. See docs/codec.md.
"""

from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import (
    CodecConfig,
    DecoderConfig,
    EncoderConfig,
    QuantizerConfig,
    WindowTransformerConfig,
)
from s2tts.models.codec.streaming import DecodeState, EncodeState, select_state, stack_states
from s2tts.models.codec.weights import load_codec, read_codec_config, save_codec

__all__ = [
    "Codec",
    "CodecConfig",
    "DecodeState",
    "DecoderConfig",
    "EncodeState",
    "EncoderConfig",
    "QuantizerConfig",
    "WindowTransformerConfig",
    "load_codec",
    "read_codec_config",
    "save_codec",
    "select_state",
    "stack_states",
]
