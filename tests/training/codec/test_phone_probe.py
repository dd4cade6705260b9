import numpy as np
import pytest
import torch

from s2tts.models.codec.codec import Codec
from s2tts.models.codec.config import CodecConfig
from s2tts.training.codec.phone_probe import (
    festival_labelled,
    frame_labels,
    parse_segs,
    phone_information,
    probe_codec,
)


@pytest.fixture(scope="module")
def labelled():
    return festival_labelled(["Hello there, the quick brown fox.", "She sells sea shells by the shore."])


def test_festival_speaks_with_its_own_phone_timing(labelled):
    first = labelled[0]
    duration = len(first.audio) / first.sample_rate
    assert first.phones[0] == "pau" and {"hh", "f", "k"} <= set(first.phones)
    assert all(a < b for a, b in zip(first.ends, first.ends[1:], strict=False))  # increasing
    assert abs(first.ends[-1] - duration) < 0.1  # the labels span the audio
    labels = frame_labels(first.phones, first.ends, 20, 10.0)  # 10 frames/s: centres 0.05 .. 1.95 s
    assert labels[0] == "pau" and len(labels) == 20
    assert set(labels) <= set(first.phones) and len(set(labels)) > 5


def test_parse_segs_reads_xlabel():
    phones, ends = parse_segs("separator ;\nnfields 1\n#\n0.2200 100 pau\n0.2871 100 hh\n")
    assert phones == ["pau", "hh"] and ends == [0.22, 0.2871]


def test_phone_information_separates_informative_codes_from_noise():
    gen = np.random.default_rng(0)
    phones = ["a", "b", "c", "d"]
    labels = [[phones[i] for i in gen.integers(0, 4, 200)] for _ in range(6)]
    exact = [np.array([phones.index(p) * 3 for p in lab]) for lab in labels]  # codes name the phone
    noise = [gen.integers(0, 64, 200) for _ in labels]
    informative, random = phone_information(exact, labels), phone_information(noise, labels)
    assert informative["accuracy"] == 1.0 and informative["nmi"] > 0.99
    assert random["accuracy"] < 0.4 and random["nmi"] < 0.1  # (chance: 0.25; small-sample bias)
    assert informative["baseline"] == random["baseline"] < 0.35


def test_probe_runs_a_codec_on_the_labelled_speech(labelled):
    torch.manual_seed(0)
    codec = Codec(CodecConfig.preset("tiny")).eval()
    result = probe_codec(codec, labelled)
    frames = sum(int(np.ceil(len(u.audio) * 44100 / u.sample_rate / 2048)) for u in labelled)
    assert result["frames"] == frames and 0.0 <= result["accuracy"] <= 1.0
