"""Codec shapes for training: the model's presets plus ``cpu-small``, the fast CPU configuration.

``cpu-small`` (about 5.4 M parameters, 4 M of them in the decoder) is the shape for the small model trained on CPU: the
released frame rate (44.1 kHz, 2048 samples per code frame, 21.5 frames/s), a narrow causal
encoder without transformers, a one-layer quantizer transformer, 1 semantic codebook of 1024 + 3
residual codebooks of 256 (the 4 x 256-ish layout measured on this machine), and the Vocos-style
iSTFT decoder (ConvNeXt at 86 frames/s), which trained faster and better than a mirrored
transposed-conv decoder at equal CPU time.

``cpu-small-stft`` is ``cpu-small`` with the spectral encoder (``encoder.kind="stft"``: causal STFT,
then 4 ConvNeXt blocks of width 256 at 86 frames/s): the same codebooks and frame rate, so an LM
of ``cpu-small``'s shape reads its codes. Measured by ``bench/codec_encoder.py`` (600 steps each,
same audio): phone probe on codebook 0 0.483 against the conv encoder's 0.413 (baseline 0.219), at
0.29x the generator's step time.
"""

from __future__ import annotations

from s2tts.models.codec.config import (
    CodecConfig,
    DecoderConfig,
    EncoderConfig,
    QuantizerConfig,
    WindowTransformerConfig,
)

TRAINING_PRESETS: dict[str, CodecConfig] = {
    "cpu-small": CodecConfig(
        latent_dim=128,
        encoder=EncoderConfig(dim=8, transformer_layers=(0, 0, 0, 0)),
        quantizer=QuantizerConfig(
            codebook_dim=8,
            semantic_codebook_size=1024,
            codebook_size=256,
            n_codebooks=3,
            transformer=WindowTransformerConfig(
                n_layer=1, n_head=4, head_dim=32, intermediate_size=384, window_size=32
            ),
        ),
        decoder=DecoderConfig(dim=256, kind="istft", istft_layers=6),
    ),
}
TRAINING_PRESETS["cpu-small-stft"] = TRAINING_PRESETS["cpu-small"].replace(
    encoder=EncoderConfig(dim=256, kind="stft", stft_layers=4, transformer_layers=(0, 0, 0, 0))
)


def codec_preset(name: str) -> CodecConfig:
    """A training preset, else a model preset (``tiny``, ``small``, ``s2-codec``)."""
    if name in TRAINING_PRESETS:
        return TRAINING_PRESETS[name]
    return CodecConfig.preset(name)
