"""End-to-end training recipes: resumable stages that call the project's own tools.

``stages`` is the generic runner (markers, hashes, skip/resume); ``small`` is the small CPU model's
recipe (``s2tts recipe small``); ``fp16`` exports a checkpoint directory with fp16 weights.
"""
