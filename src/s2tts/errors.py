"""Typed exceptions raised by s2tts.

Every error the library raises on bad input derives from :class:`S2TTSError`, so callers (the CLI,
the server) can turn it into a one-line message or a 4xx response without catching unrelated bugs.
"""

from __future__ import annotations


class S2TTSError(Exception):
    """Base class of every error s2tts raises on bad input or bad files."""


class ConfigError(S2TTSError, ValueError):
    """A model config is missing a field, has a wrong type, or is inconsistent."""


class WeightsError(S2TTSError, ValueError):
    """A checkpoint has missing, unexpected or mis-shaped tensors, or cannot be read."""


class PackagedModelError(WeightsError):
    """The model shipped inside the package (or the directory ``S2TTS_PACKAGED_MODEL`` names) is
    incomplete or corrupt: its manifest does not parse, or a file it lists is missing or differs."""


class TokenizerError(S2TTSError, ValueError):
    """A tokenizer file is missing or lacks the tokens S2 needs."""


class PromptError(S2TTSError, ValueError):
    """A prompt cannot be built (bad reference codes, bad speaker tags)."""


class PromptTooLongError(PromptError):
    """A prompt does not fit the model's context window."""


class SamplingError(S2TTSError, ValueError):
    """Sampling parameters out of range."""


class AudioError(S2TTSError, ValueError):
    """Audio input is empty, too short, non-finite, or a file cannot be decoded."""


class AudioTooLongError(AudioError):
    """Audio (a reference clip, a codec request) runs longer than a configured cap."""


class CodesError(S2TTSError, ValueError):
    """Codec codes of the wrong shape, dtype or range."""


class TrainingError(S2TTSError):
    """Base class of errors raised by the trainers (s2tts.training)."""


class TrainConfigError(TrainingError, ValueError):
    """A run config (YAML/TOML file or ``a.b=value`` override) is malformed or inconsistent."""


class CheckpointError(TrainingError):
    """A training checkpoint is missing, unreadable, or does not match the run it is loaded into."""


class NonFiniteLossError(TrainingError):
    """A loss or gradient became NaN/inf; the run stops and keeps its last good checkpoint."""


class TrainingDataError(TrainingError, ValueError):
    """Training data is missing, empty, or malformed."""


class EngineError(S2TTSError):
    """Base class of engine-level errors (scheduling, limits)."""


class EngineOverloadedError(EngineError):
    """The engine's concurrent-session or queue limit is reached; retry later."""


class RequestTimeoutError(EngineError):
    """A request exceeded its deadline."""


class RequestCancelledError(EngineError):
    """A request was cancelled before it finished."""


class VoiceNotFoundError(S2TTSError, KeyError):
    """A stored voice id does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it plain.
        return str(self.args[0]) if self.args else "voice not found"


class RewardError(TrainingError):
    """Reward scoring failed (a reward could not be built, raised, or its worker died)."""


class EvalError(S2TTSError, ValueError):
    """An evaluation input is wrong: a test set that does not parse, a missing utterance, a scorer
    model that is not installed, an unknown system."""


class RecipeError(S2TTSError, ValueError):
    """A recipe cannot run: an unknown stage, a stage whose inputs are not done, bad recipe settings,
    or a stage tool that failed."""


class TextFrontendError(S2TTSError, ValueError):
    """The text front end cannot run: an unknown front-end kind or language, or the espeak-ng
    phonemizer is missing or fails."""
