"""Pipeline stages, in order. Each module has ``NAME``, ``setup(config) -> models`` (heavy objects,
built once per batch in the worker that runs it) and ``process(items, config, models) -> outputs``,
a function over ``(record, audio)`` pairs: audio is float32 ``(n,)`` at 44.1 kHz (``ingest`` gets the
decoded file as ``((channels, n), rate)`` instead). A stage returns one list per input holding 0..n
output pairs, each record derived from its input's (``s2tts.data.records``); a record whose status is not "ok" has no
audio. Reading and writing files is the runner's job (``s2tts.data.runner``).
"""

from s2tts.data.stages import denoise, ingest, quality, segment, tokenize, transcribe

STAGES = (ingest, denoise, segment, quality, transcribe, tokenize)
STAGE_NAMES = tuple(s.NAME for s in STAGES)
