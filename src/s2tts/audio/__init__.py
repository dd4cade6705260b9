"""Audio helpers, the one owner of audio plumbing: file / upload decoding (soundfile, PyAV),
writing, soxr resampling and the channel-mean downmix."""

from s2tts.audio.io import decode_bytes, ffmpeg_reason, read_audio, read_audio_window, write_audio
from s2tts.audio.resample import StreamResampler, downmix, resample

__all__ = [
    "StreamResampler",
    "decode_bytes",
    "downmix",
    "ffmpeg_reason",
    "read_audio",
    "read_audio_window",
    "resample",
    "write_audio",
]
