"""Codec training: losses, discriminators, quantizer training, semantic distillation, the recipe.

The codec model (:mod:`s2tts.models.codec`) stays an inference model; everything that only
training needs (straight-through quantisation, EMA codebooks, discriminators, the teacher) lives
here and drives the model through its public modules.
"""
