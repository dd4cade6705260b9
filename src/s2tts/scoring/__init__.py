"""Model-based scorers shared by the data pipeline and the evaluation harness.

``quality`` (DNSMOS, DistillMOS), ``speaker`` (GE2E d-vectors, cosine) and ``local_models`` (where
their weights live: installed package directories, never a hub). This package sits below both
``s2tts.data`` (which drops segments by these scores) and ``s2tts.eval`` (which reports them), so
each model is loaded and called in one place. It imports only ``s2tts.errors``; a scorer error is
an :class:`~s2tts.errors.EvalError` (a bad clip, a model package that is not installed).
"""
