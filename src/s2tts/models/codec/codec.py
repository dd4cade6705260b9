"""The S2 codec: 44.1 kHz mono audio <-> 10 codebooks at ~21.5 frames/s, one-shot or streaming.

    codes, code_lengths = codec.encode(audio, sample_rate)    # (B, 10, T), (B,)
    audio = codec.decode(codes)                               # (B, 1, T * 2048)

    state = codec.init_decode_state(batch_size)               # one per batch of streams
    pcm = codec.decode_step(codes_chunk, state)               # (B, 10, t) -> (B, 1, t * 2048)

Every layer is causal, so streaming is exact: each step runs the new frames through the layers
with their carried context (conv buffers, windowed KV caches) and the concatenated output equals
the one-shot output. One-shot ``encode``/``decode`` run their audio-rate part (encoder / decoder)
as a loop of such steps over chunks of ``chunk_frames`` frames: on CPU, chunks that fit in cache
are faster than whole-signal tensors (which cost a page fault per 4 KiB on every op) and bound
memory. The light frame-rate part (quantizer, transformers) runs once over the whole sequence.

Public tensors are channel-first like the reference (audio (B, 1, n), codes (B, 10, T)); inside, the
layers work time-major (B, T, C) (see ``layers.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from s2tts.errors import AudioError, CodesError
from s2tts.models.codec.config import CodecConfig
from s2tts.models.codec.decoder import Decoder
from s2tts.models.codec.encoder import Encoder
from s2tts.models.codec.inputs import check_codes, prepare_audio
from s2tts.models.codec.istft import ISTFTDecoder
from s2tts.models.codec.quantizer import DownsampleQuantizer
from s2tts.models.codec.stft_encoder import STFTEncoder
from s2tts.models.codec.streaming import DecodeState, EncodeState

#: Frames per internal step of one-shot encode/decode, by device type.
CPU_CHUNK_FRAMES = 16
ACCELERATOR_CHUNK_FRAMES = 256


class Codec(nn.Module):
    """Encoder + quantizer + decoder with the reference's parameter names (``encoder.block.*``,
    ``quantizer.*``, ``decoder.model.*``). Randomly initialised; load weights with ``load_codec``."""

    def __init__(self, config: CodecConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else CodecConfig()
        self.encoder = (
            STFTEncoder(self.config) if self.config.encoder.kind == "stft" else Encoder(self.config)
        )
        self.quantizer = DownsampleQuantizer(self.config)
        self.decoder = (
            ISTFTDecoder(self.config) if self.config.decoder.kind == "istft" else Decoder(self.config)
        )

    # -- facts ---------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def frame_length(self) -> int:
        """Audio samples per code frame (2048 for S2)."""
        return self.config.frame_length

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.frame_length

    @property
    def num_codebooks(self) -> int:
        return self.config.num_codebooks

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return self.config.codebook_sizes

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _chunk_frames(self, chunk_frames: int | None) -> int:
        if chunk_frames is None:
            return CPU_CHUNK_FRAMES if self.device.type == "cpu" else ACCELERATOR_CHUNK_FRAMES
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        return chunk_frames

    # -- one-shot ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(
        self,
        audio: torch.Tensor | np.ndarray,
        sample_rate: float,
        lengths: Sequence[int] | torch.Tensor | None = None,
        chunk_frames: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio of any rate and channel count -> codes.

        audio: (B, C, n), (C, n) or (n,) float (or integer PCM); channels are averaged and the
        audio is resampled to 44.1 kHz with soxr. lengths: valid samples per item at the input rate
        (default: all). Returns codes (B, 10, T) int64, right-padded to the longest item with 0
        past each item's ``code_lengths`` (B,) = ceil(resampled length / 2048). Causality makes
        every item's codes the same as if it were encoded alone.
        """
        wave, lengths_44k = prepare_audio(audio, sample_rate, lengths, self.sample_rate)
        batch, n = wave.shape
        frame = self.frame_length
        frames = math.ceil(n / frame)
        padded = torch.zeros(batch, 1, frames * frame)
        padded[:, 0, :n] = torch.from_numpy(wave)
        # The encoder runs chunk by chunk with carried state; the light frame-rate stages after it
        # run once over the whole latent (same result: every stage is causal).
        state = self.encoder.init_state(batch, self.device, self.dtype)
        step = self._chunk_frames(chunk_frames) * frame
        latent = torch.cat(
            [
                self.encoder.step(c.to(self.device, self.dtype).transpose(1, 2), state)
                for c in padded.split(step, dim=-1)
            ],
            dim=1,
        )
        codes = self.quantizer.encode(latent)
        code_lengths = torch.tensor([math.ceil(x / frame) for x in lengths_44k], device=codes.device)
        codes.masked_fill_(torch.arange(frames, device=codes.device) >= code_lengths[:, None, None], 0)
        return codes, code_lengths

    @torch.no_grad()
    def decode(self, codes: torch.Tensor | np.ndarray, chunk_frames: int | None = None) -> torch.Tensor:
        """codes (B, 10, T) (or (10, T)) int -> audio (B, 1, T * 2048) in [-1, 1], on the codec's device.

        Raises CodesError for a wrong shape/dtype or a code outside its codebook (the reference
        silently clamps too-large codes; clamp yourself if you want that).
        """
        codes = check_codes(codes, self.codebook_sizes).to(self.device)
        latent = self.quantizer.decode(codes)  # (B, T * 4, D): light, done in one pass
        state = self.decoder.init_state(codes.shape[0], self.device, self.dtype)
        step = self._chunk_frames(chunk_frames) * (self.frame_length // self.hop_length)
        return torch.cat(
            [self.decoder.step(z, state).transpose(1, 2) for z in latent.split(step, dim=1)], dim=-1
        )

    def clamp_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (..., 10, T) int -> the same with each row clamped into its codebook, as the
        reference does before decoding (the LM samples residual codes from 4096 values, the
        residual codebooks hold 1024)."""
        limits = torch.tensor(self.codebook_sizes, dtype=codes.dtype, device=codes.device).view(-1, 1) - 1
        return torch.minimum(codes, limits).clamp_min(0)

    # -- streaming -----------------------------------------------------------------------------
    def init_encode_state(self, batch_size: int = 1) -> EncodeState:
        device, dtype = self.device, self.dtype
        downsample, pre = self.quantizer.init_encode_state(batch_size, device, dtype)
        return EncodeState(self.encoder.init_state(batch_size, device, dtype), downsample, pre, batch_size)

    def init_decode_state(self, batch_size: int = 1) -> DecodeState:
        device, dtype = self.device, self.dtype
        post, upsample = self.quantizer.init_decode_state(batch_size, device, dtype)
        return DecodeState(post, upsample, self.decoder.init_state(batch_size, device, dtype), batch_size)

    @torch.no_grad()
    def encode_step(self, audio: torch.Tensor, state: EncodeState) -> torch.Tensor:
        """Next chunk of 44.1 kHz mono audio (B, 1, k * 2048) -> its codes (B, 10, k), exactly the
        codes a one-shot ``encode`` of the whole stream gives for those frames."""
        if not isinstance(audio, torch.Tensor) or not audio.dtype.is_floating_point:
            raise AudioError("encode_step takes a float torch.Tensor of shape (B, 1, k * frame_length)")
        if audio.dim() != 3 or audio.shape[1] != 1 or audio.shape[0] != state.batch_size:
            raise AudioError(
                f"encode_step audio must have shape ({state.batch_size}, 1, n) for this state, "
                f"got {tuple(audio.shape)}"
            )
        n = audio.shape[-1]
        if n == 0 or n % self.frame_length:
            raise AudioError(f"encode_step needs a positive multiple of {self.frame_length} samples, got {n}")
        if not bool(torch.isfinite(audio).all()):
            raise AudioError("encode_step audio has non-finite samples (NaN or inf)")
        return self._encode_chunk(audio, state)

    @torch.no_grad()
    def decode_step(self, codes: torch.Tensor | np.ndarray, state: DecodeState) -> torch.Tensor:
        """Next codes (B, 10, t) of each stream -> their audio (B, 1, t * 2048)."""
        codes = check_codes(codes, self.codebook_sizes)
        if codes.shape[0] != state.batch_size:
            raise CodesError(f"decode_step got {codes.shape[0]} streams for a state of {state.batch_size}")
        return self._decode_chunk(codes, state)

    def _encode_chunk(self, audio: torch.Tensor, state: EncodeState) -> torch.Tensor:
        x = audio.to(self.device, self.dtype).transpose(1, 2)  # (B, n, 1)
        latent = self.encoder.step(x, state.encoder)
        z = self.quantizer.downsample.step(latent, state.downsample)
        z = self.quantizer.pre_module.step(z, state.pre_module)
        codes = self.quantizer.quantize(z)[0]
        state.frames += codes.shape[-1]
        return codes

    def _decode_chunk(self, codes: torch.Tensor, state: DecodeState) -> torch.Tensor:
        z = self.quantizer.embed(codes.to(self.device))
        z = self.quantizer.post_module.step(z, state.post_module)
        z = self.quantizer.upsample.step(z, state.upsample)
        audio = self.decoder.step(z, state.decoder)  # (B, t * frame, 1)
        state.frames += codes.shape[-1]
        return audio.transpose(1, 2)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write ``path`` (.safetensors, folded weights) and ``<stem>_config.json`` beside it."""
        from s2tts.models.codec.weights import save_codec

        save_codec(self, path)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"sample_rate={c.sample_rate}, frame_length={c.frame_length}, "
            f"codebooks={list(c.codebook_sizes)}, latent_dim={c.latent_dim}"
        )
