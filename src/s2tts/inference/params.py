"""Sampling parameters (a frozen dataclass, validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from s2tts.errors import SamplingError

# The range users may ask for (CLI flags and HTTP fields alike; fish.audio's API range).
MAX_TEMPERATURE = 1.0


@dataclass(frozen=True)
class SamplingParams:
    """How the slow token and the fast codebooks of each frame are drawn.

    top_k: keep the k most likely tokens (1 = greedy). top_p: nucleus mass, computed on the
    *untempered* logits as the reference does. temperature: divides the logits after filtering.
    ras_*: repetition-aware sampling -- when the drawn semantic token already appears in the last
    ``ras_window`` main tokens, a second draw at ``ras_temperature``/``ras_top_p`` is used instead.
    max_new_tokens: steps per text batch (1 prefill step + decode steps); 0 means "until the
    context is full". min_new_tokens: ``<|im_end|>`` is not allowed before this many steps
    (benchmarks use it to decode a fixed number of frames with random weights).
    """

    temperature: float = 0.8
    top_p: float = 0.8
    top_k: int = 30
    max_new_tokens: int = 1024
    min_new_tokens: int = 0
    use_ras: bool = True
    ras_window: int = 10
    ras_temperature: float = 1.0
    ras_top_p: float = 0.9

    def __post_init__(self) -> None:
        if not (0.0 < self.top_p <= 1.0):
            raise SamplingError(f"top_p must be in (0, 1], got {self.top_p}")
        if not (self.temperature > 0.0):
            raise SamplingError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 1:
            raise SamplingError(f"top_k must be >= 1, got {self.top_k}")
        if self.max_new_tokens < 0:
            raise SamplingError(f"max_new_tokens must be >= 0, got {self.max_new_tokens}")
        if self.min_new_tokens < 0:
            raise SamplingError(f"min_new_tokens must be >= 0, got {self.min_new_tokens}")
        if self.ras_window < 1:
            raise SamplingError(f"ras_window must be >= 1, got {self.ras_window}")
        if not (0.0 < self.ras_top_p <= 1.0) or self.ras_temperature <= 0.0:
            raise SamplingError("ras_top_p must be in (0, 1] and ras_temperature > 0")

    @classmethod
    def from_user(
        cls,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int | None = None,
        use_ras: bool | None = None,
        defaults: SamplingParams | None = None,
    ) -> SamplingParams:
        """The knobs as the CLI and the HTTP API take them, with one validation for both:
        temperature in [0, MAX_TEMPERATURE] and top_p in [0, 1], either 0 meaning greedy. A knob
        left None takes its value from ``defaults`` (a model's own, ``s2tts.inference.model_sampling``;
        ``DEFAULT_SAMPLING`` when None)."""
        d = defaults or DEFAULT_SAMPLING
        temperature = d.temperature if temperature is None else temperature
        top_p = d.top_p if top_p is None else top_p
        if not 0.0 <= temperature <= MAX_TEMPERATURE:
            raise SamplingError(
                f"temperature must be in [0, {MAX_TEMPERATURE:g}] (0: greedy), got {temperature:g}"
            )
        if not 0.0 <= top_p <= 1.0:
            raise SamplingError(f"top_p must be in [0, 1] (0: greedy), got {top_p:g}")
        top_k = d.top_k if top_k is None else top_k
        if temperature == 0.0 or top_p == 0.0:
            temperature, top_p, top_k = 1.0, 1.0, 1
        return replace(
            d,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            max_new_tokens=d.max_new_tokens if max_new_tokens is None else max_new_tokens,
            min_new_tokens=d.min_new_tokens if min_new_tokens is None else min_new_tokens,
            use_ras=d.use_ras if use_ras is None else use_ras,
        )

    @property
    def greedy(self) -> bool:
        return self.top_k == 1


#: The sampling defaults every surface reads (CLI flags, HTTP fields, the engine, eval, LM samples).
DEFAULT_SAMPLING = SamplingParams()
