"""s2tts: an open implementation of Fish Audio S2.

The pipeline, top to bottom, and where each stage lives::

    text ──► s2tts.text       normaliser, tokenizer, prompt builder ([11, T] int64 prompt)
         ──► s2tts.models     slow AR (Qwen3 decoder, one semantic token per ~21.5 Hz frame)
                              fast AR (4 layers, the other 9 codebooks of the frame)
         ──► s2tts.models.codec   causal DAC-style codec, 44.1 kHz, streaming decode
         ──► s2tts.inference  sampling, generation, engine (KV caches, batching, streaming)
         ──► s2tts.server / s2tts.cli   HTTP API, web page, command line

``s2tts.models`` are pure ``nn.Module``s: no sampling, I/O or request state inside.
"""

__version__ = "0.1.0"
