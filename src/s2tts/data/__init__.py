"""Data: a synthetic speech corpus generator, the preparation pipeline for recordings, training views.

synth:    text_source (sentences) + voices (pseudo-speakers) -> synth_plan -> synth_render
          (tts_engines + effects) -> audio/*.flac + manifest.parquet          [s2tts data synth]
manifest: the one schema every stage and consumer shares
"""
