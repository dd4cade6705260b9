"""Audio helpers: file reading/writing (soundfile, PyAV) and soxr resampling / downmix."""

from s2tts.audio.io import read_audio, write_audio
from s2tts.audio.resample import downmix, resample

__all__ = ["downmix", "read_audio", "resample", "write_audio"]
