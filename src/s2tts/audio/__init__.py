"""Audio helpers, the one owner of audio plumbing: file / upload decoding (soundfile, PyAV),
writing, soxr resampling, the channel-mean downmix, and resampled segments of files."""

from s2tts.audio.io import decode_bytes, ffmpeg_reason, read_audio, read_audio_window, write_audio
from s2tts.audio.resample import StreamResampler, downmix, resample
from s2tts.audio.segment import audio_frames, read_segment, resampled_length

__all__ = [
    "StreamResampler",
    "audio_frames",
    "decode_bytes",
    "downmix",
    "ffmpeg_reason",
    "read_audio",
    "read_audio_window",
    "read_segment",
    "resample",
    "resampled_length",
    "write_audio",
]
