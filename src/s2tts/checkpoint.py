"""A checkpoint directory as one object: LM config + weights, tokenizer, and (optionally) the codec.

Layout (the released ``s2-pro`` layout, plus the codec beside it)::

    DIR/config.json                 fish_qwen3_omni config
    DIR/model.safetensors           or model-0000i-of-0000n.safetensors + index, or model.pth
    DIR/tokenizer.json              (+ tokenizer_config.json)
    DIR/codec.pth | codec.safetensors (+ codec_config.json)
    DIR/voice.json                  optional: the default voice (s2tts.inference.default_voice)
    DIR/sampling.json               optional: the model's sampling defaults (s2tts.inference.model_sampling)

``init_checkpoint`` writes a random checkpoint in that layout (tests, demos, the default until a
trained model ships); its audio is noise.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from s2tts.errors import ConfigError, WeightsError
from s2tts.inference.default_voice import read_default_voice
from s2tts.inference.model_sampling import read_model_sampling
from s2tts.inference.params import DEFAULT_SAMPLING, SamplingParams
from s2tts.models.config import DualARConfig
from s2tts.models.dual_ar import DualARTransformer
from s2tts.models.weights import load_model, parse_dtype, save_model
from s2tts.text.frontend import TextFrontend
from s2tts.text.prompt import PromptBuilder, Reference
from s2tts.text.tokenizer import S2Tokenizer, make_byte_tokenizer

log = logging.getLogger(__name__)

CODEC_FILES = ("codec.safetensors", "codec.pth")
RANDOM_MARKER = "random_init.json"  # written by init_checkpoint: these weights are random
# Said by every speak, by the server's log at start, /v1/health and the web page while it is present.
RANDOM_NOTICE = (
    "the model has random weights (its checkpoint holds random_init.json): the audio is noise, not "
    "speech; pass --checkpoint with trained weights for speech"
)


@dataclass
class S2Checkpoint:
    """A loaded LM with its tokenizer and text front end (the config's ``text_frontend``);
    ``max_prompt_len`` follows the reference (context - 2048). ``default_voice``: the reference
    spoken with when a request names none (the directory's ``voice.json``; None: no default).
    ``sampling``: the sampling a request that sets none gets (``sampling.json``, else the global
    defaults)."""

    model: DualARTransformer
    tokenizer: S2Tokenizer
    directory: Path
    random_weights: bool = False
    frontend: TextFrontend = field(default_factory=TextFrontend)
    default_voice: Reference | None = None
    sampling: SamplingParams = DEFAULT_SAMPLING

    @property
    def config(self) -> DualARConfig:
        return self.model.config

    def prompt_builder(self, max_prompt_len: int | None = None) -> PromptBuilder:
        cfg = self.config
        if max_prompt_len is None:
            max_prompt_len = default_max_prompt_len(cfg)
        return PromptBuilder(
            self.tokenizer,
            num_codebooks=cfg.num_codebooks,
            codebook_size=cfg.codebook_size,
            max_prompt_len=max_prompt_len,
            frontend=self.frontend,
        )

    def codec_path(self) -> Path | None:
        for name in CODEC_FILES:
            if (self.directory / name).is_file():
                return self.directory / name
        return None


def default_max_prompt_len(cfg: DualARConfig) -> int:
    """The reference refuses prompts longer than max_seq_len - 2048 (room to generate); small
    models keep at least half their context for generation."""
    limit = cfg.slow.max_seq_len
    return limit - 2048 if limit > 4096 else limit // 2


def load_checkpoint(
    directory: str | Path, dtype: str | torch.dtype = "float32", device: torch.device | str = "cpu"
) -> S2Checkpoint:
    """Load the LM and tokenizer of a checkpoint directory. The tokenizer's semantic id range
    overrides the config's, as in the reference."""
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsError(f"checkpoint directory not found: {directory}")
    tokenizer = S2Tokenizer.from_dir(directory)
    config = DualARConfig.from_json(directory)
    if (tokenizer.semantic_begin_id, tokenizer.semantic_end_id) != (
        config.semantic_begin_id,
        config.semantic_end_id,
    ):
        log.warning(
            "tokenizer semantic ids [%d, %d] override the config's [%d, %d]",
            tokenizer.semantic_begin_id, tokenizer.semantic_end_id, config.semantic_begin_id, config.semantic_end_id,
        )  # fmt: skip
        config = config.with_ids(tokenizer.semantic_begin_id, tokenizer.semantic_end_id)
    if tokenizer.im_end_id != config.eos_token_id:
        raise ConfigError(
            f"config eos_token_id {config.eos_token_id} differs from the tokenizer's <|im_end|> id {tokenizer.im_end_id}"
        )
    frontend = TextFrontend(config.text_frontend)  # an unknown kind or a missing espeak-ng fails here
    voice = read_default_voice(directory, config.num_codebooks, config.codebook_size)  # before the weights
    sampling = read_model_sampling(directory)
    model = load_model(directory, config=config, dtype=dtype, device=device)
    random_weights = (directory / RANDOM_MARKER).is_file()
    return S2Checkpoint(
        model=model,
        tokenizer=tokenizer,
        directory=directory,
        random_weights=random_weights,
        frontend=frontend,
        default_voice=voice,
        sampling=sampling,
    )


def random_init(model: DualARTransformer, seed: int = 0, std: float = 0.02) -> DualARTransformer:
    """Seeded N(0, std^2) for every Linear/Embedding, ones for norms (the reference's init)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    return model


def random_model(
    config: DualARConfig,
    seed: int = 0,
    dtype: str | torch.dtype = "float32",
    device: torch.device | str = "cpu",
    std: float = 0.02,
) -> DualARTransformer:
    """A randomly initialised model built straight on ``device`` in ``dtype`` (meta init, no CPU
    copy): benchmarks use it for the full ``s2-pro`` shape on a GPU. Plain layout, like
    ``load_model``."""
    from s2tts.models.weights import materialise_buffers

    with torch.device("meta"):
        model = DualARTransformer(config)
    model = model.to_empty(device=device).to(parse_dtype(dtype))
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.normal_(0.0, std, generator=gen)
    materialise_buffers(model, device)
    return model.eval()


def preset_with_tokenizer(
    preset: str = "tiny",
    codec_preset: str | None = "tiny",
    dtype: str = "float32",
    text_frontend: str = "text",
) -> tuple[DualARConfig, S2Tokenizer]:
    """An LM preset made consistent with the byte-level tokenizer of random/small checkpoints
    (and with the semantic codebook of ``codec_preset``): what ``init_checkpoint`` writes and
    what pre-training from scratch starts from, reading text through ``text_frontend``."""
    TextFrontend(text_frontend)  # fail early on an unknown kind
    base = DualARConfig.preset(preset)
    if codec_preset is not None:
        from s2tts.models.codec import CodecConfig

        # The LM's codebook is the codec's semantic codebook (residual codes are clamped to theirs).
        codec_config = CodecConfig.preset(codec_preset)
        base = replace(base, codebook_size=codec_config.quantizer.semantic_codebook_size)
    tokenizer = make_byte_tokenizer(base.codebook_size)
    vocab = (
        -(-tokenizer.vocab_size // 16) * 16
        if codec_preset is not None
        else max(base.vocab_size, tokenizer.vocab_size)
    )
    config = replace(
        base,
        vocab_size=vocab,
        semantic_begin_id=tokenizer.semantic_begin_id,
        semantic_end_id=tokenizer.semantic_end_id,
        eos_token_id=tokenizer.im_end_id,
        pad_token_id=tokenizer.pad_id,
        audio_pad_token_id=tokenizer.token_to_id("<|audio_pad|>"),
        dtype=dtype,
        text_frontend=text_frontend,
    )
    return config, tokenizer


def init_checkpoint(
    directory: str | Path,
    preset: str = "tiny",
    seed: int = 0,
    codec_preset: str | None = "tiny",
    dtype: str = "float32",
    force: bool = False,
    text_frontend: str = "text",
) -> Path:
    """Write a random checkpoint (config, weights, tokenizer, codec) in the published layout;
    its config records ``text_frontend`` (see ``s2tts.text.frontend``).

    Raises FileExistsError when ``directory`` exists and is not empty, unless ``force``: a
    checkpoint (maybe trained weights) is never overwritten by accident."""
    directory = Path(directory)
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise FileExistsError(f"{directory} is not empty; refusing to overwrite it (--force overwrites)")
    directory.mkdir(parents=True, exist_ok=True)
    config, tokenizer = preset_with_tokenizer(preset, codec_preset, dtype, text_frontend)
    codec_config = None
    if codec_preset is not None:
        from s2tts.models.codec import CodecConfig

        codec_config = CodecConfig.preset(codec_preset)
    with torch.random.fork_rng(devices=[]):  # module construction draws a default init; not the caller's RNG
        model = random_init(DualARTransformer(config), seed).to(parse_dtype(dtype))
    save_model(model, directory)
    tokenizer.save(directory)
    marker = {
        "preset": preset,
        "codec_preset": codec_preset,
        "seed": seed,
        "note": "random weights: the audio is noise",
    }
    (directory / RANDOM_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    if codec_config is not None:
        from s2tts.models.codec import Codec

        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            Codec(codec_config).save(directory / "codec.safetensors")
    return directory
