"""VoiceStore: ids, path escapes, persistence, atomicity, concurrent writers, cached codes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from s2tts.errors import VoiceNotFoundError
from s2tts.server.voices import VoiceExistsError, VoiceIdError, VoiceStore


@pytest.fixture
def store(tmp_path: Path) -> VoiceStore:
    return VoiceStore(tmp_path / "voices", max_id_chars=32)


def test_add_get_list_delete(store: VoiceStore) -> None:
    info = store.add("alice", b"RIFFdata", "hello there")
    assert info.id == "alice" and info.audio_bytes == 8
    voice = store.get("alice")
    assert voice.audio == b"RIFFdata" and voice.text == "hello there"
    store.add("bob 2", b"x", "")
    assert store.ids() == ["alice", "bob 2"]
    assert store.exists("alice")
    store.delete("alice")
    assert not store.exists("alice")
    with pytest.raises(VoiceNotFoundError):
        store.get("alice")
    with pytest.raises(VoiceNotFoundError):
        store.delete("alice")


def test_duplicate_and_rename(store: VoiceStore) -> None:
    store.add("a", b"1", "one")
    with pytest.raises(VoiceExistsError):
        store.add("a", b"2", "two")
    store.add("b", b"2", "two")
    with pytest.raises(VoiceExistsError):
        store.rename("a", "b")
    store.put_codes("a", np.ones((10, 3), np.int64))
    store.rename("a", "c")
    assert store.ids() == ["b", "c"]
    assert store.get("c").text == "one"
    assert store.get_codes("c").shape == (10, 3)
    with pytest.raises(VoiceNotFoundError):
        store.rename("a", "d")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "..",
        ".",
        "../x",
        "a/b",
        "a\\b",
        "/etc",
        "x\x00y",
        " lead",
        "trail ",
        "é",
        "a.b",
        "~",
        "a" * 33,
        "\n",
    ],
)
def test_bad_ids_are_refused(store: VoiceStore, bad: str) -> None:
    with pytest.raises(VoiceIdError):
        store.add(bad, b"x", "t")
    with pytest.raises(VoiceIdError):
        store.get(bad)
    with pytest.raises(VoiceIdError):
        store.delete(bad)


def test_nothing_is_written_outside_root(tmp_path: Path) -> None:
    root = tmp_path / "data" / "voices"
    store = VoiceStore(root)
    for bad in ("../escape", "../../escape", "..", "x/../../y"):
        with pytest.raises(VoiceIdError):
            store.add(bad, b"x", "t")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "voices"]


def test_symlinked_voice_is_refused(tmp_path: Path, store: VoiceStore) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "meta.json").write_text("{}")
    os.symlink(outside, store.root / "evil")
    with pytest.raises(VoiceIdError):
        store.get("evil")
    assert "evil" not in store.ids()


def test_survives_restart_and_sweeps_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "voices"
    VoiceStore(root).add("keep", b"abc", "text")
    (root / ".tmp-crashed").mkdir()
    (root / ".tmp-crashed" / "audio").write_bytes(b"half")
    again = VoiceStore(root)
    assert again.ids() == ["keep"] and again.get("keep").audio == b"abc"
    assert not (root / ".tmp-crashed").exists()


def test_concurrent_adds_of_one_id_store_exactly_one(store: VoiceStore) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            store.add("race", bytes([i]) * 100, f"writer {i}")
            results.append("ok")
        except VoiceExistsError:
            results.append("exists")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("exists") == 7
    voice = store.get("race")
    writer = int(voice.text.split()[1])
    assert voice.audio == bytes([writer]) * 100  # audio and text from the same writer
    assert [p.name for p in store.root.iterdir()] == ["race"]


def test_codes_cache(store: VoiceStore) -> None:
    store.add("v", b"x", "t")
    assert store.get_codes("v") is None
    codes = np.arange(30, dtype=np.int64).reshape(10, 3)
    store.put_codes("v", codes)
    np.testing.assert_array_equal(store.get_codes("v"), codes)
    (store.root / "v" / "codes.npy").write_bytes(b"damaged")
    assert store.get_codes("v") is None
    store.put_codes("missing", codes)  # no-op for an absent voice
    assert not (store.root / "missing").exists()
