"""The systems: a checkpoint through the engine, the real server on loopback, and the runner on
both (a copy of the packaged small model, 12 frames a case: these tests check plumbing, seeds,
request records and speed figures, not scores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from s2tts.cli import main
from s2tts.errors import EvalError
from s2tts.eval.runner import run_eval
from s2tts.eval.scoring import ScorerConfig, Scorers
from s2tts.eval.systems import EngineSystem, Sampling, ServerSystem, case_seed, open_system
from s2tts.eval.testset import PromptVoice, TestCase, resolve_seeds, write_testset

from .speech import SENTENCES

pytestmark = pytest.mark.slow

SAMPLING = Sampling(max_new_tokens=12)
SHORT = 320


def talking_copy(packaged_copy, directory: Path, max_seq_len: int | None = None) -> Path:
    """A copy of the packaged model without its default voice (a trained model says something
    where a random one may stop at once); ``max_seq_len`` shortens its context."""
    packaged_copy(directory, without=("voice.json",))
    if max_seq_len is not None:
        config = json.loads((directory / "config.json").read_text())
        config["text_config"]["max_seq_len"] = max_seq_len
        (directory / "config.json").write_text(json.dumps(config))
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, packaged_copy) -> Path:
    return talking_copy(packaged_copy, tmp_path_factory.mktemp("ckpt") / "small")


@pytest.fixture(scope="module")
def engine_system(checkpoint: Path) -> Iterator[EngineSystem]:
    system = EngineSystem(checkpoint, SAMPLING, batch_size=2)
    yield system
    system.close()


@pytest.fixture(scope="module")
def cases(speech: dict[str, Path]) -> list[TestCase]:
    ref = (PromptVoice(speech["kal_d"], SENTENCES["d"]),)
    return [
        TestCase("p", SENTENCES["a"], seed=5),
        TestCase("t", "[loud] " + SENTENCES["a"], tags=("loud",), baseline="p"),
        TestCase("clone", SENTENCES["b"], ref, category="clone"),
    ]


def test_seeds_pair_tagged_cases_with_their_baseline(cases: list[TestCase]) -> None:
    p, t, clone = cases
    assert case_seed(p) == 5
    assert case_seed(TestCase("x", "y", baseline="q")) == case_seed(TestCase("q", "y"))
    assert resolve_seeds(cases)[1].seed == 5  # the tagged case takes its baseline's seed
    assert case_seed(clone, base_seed=1) != case_seed(clone, base_seed=0)


def test_engine_system_is_seeded_and_records_requests(
    engine_system: EngineSystem, cases: list[TestCase]
) -> None:
    first = list(engine_system.generate(cases))
    again = list(engine_system.generate(cases))
    for a, b in zip(first, again, strict=True):
        # same seeds -> same codes; the engine decodes audio for the sessions due in one step together,
        # and that grouping depends on timing, so samples agree to float rounding (~1e-7), not bit for bit
        assert len(a.audio) == len(b.audio)
        np.testing.assert_allclose(a.audio, b.audio, rtol=0, atol=1e-5)
        assert a.sample_rate == 44100 and 0 < len(a.audio) <= 12 * 2048
        assert a.metrics["ttfa_s"] > 0 and a.metrics["rtf"] > 0
    assert first[0].request["seed"] == 5 and first[0].request["max_new_tokens"] == 12
    assert first[2].request["references"] == [str(cases[2].references[0].audio)]
    assert engine_system.describe()["sampling"]["max_new_tokens"] == 12


def test_server_system_gets_the_engines_audio(
    engine_system: EngineSystem, cases: list[TestCase], tmp_path: Path
) -> None:
    from s2tts.server.app import create_app
    from s2tts.server.run import serve_in_thread
    from s2tts.server.settings import ServerSettings

    direct = [engine_system.generate_one(c) for c in cases]
    app = create_app(engine_system.engine, ServerSettings(data_dir=tmp_path / "data"))
    with serve_in_thread(app) as url:
        # One request at a time on both sides: other batch neighbours change the engine's float sums
        # (and so the random model's noise) slightly, so a sample-level comparison needs equal batching.
        server = open_system(url, SAMPLING, batch_size=1)
        assert isinstance(server, ServerSystem)
        try:
            remote = list(server.generate(cases))
        finally:
            server.close()
    for d, r in zip(direct, remote, strict=True):
        assert r.sample_rate == d.sample_rate and len(r.audio) == len(d.audio)
        np.testing.assert_allclose(r.audio, d.audio, atol=2 / 32768)  # 16-bit PCM on the wire
        assert r.metrics["ttfa_s"] > 0 and r.metrics["rtf"] > 0
    dead = ServerSystem("http://127.0.0.1:9", SAMPLING, batch_size=1)
    with pytest.raises(EvalError, match="cannot reach"):
        list(dead.generate(cases[:1]))
    dead.close()


def test_run_eval_on_the_engine_records_speed(
    engine_system: EngineSystem, cases: list[TestCase], tmp_path: Path
) -> None:
    scorers = Scorers(ScorerConfig(asr="tiny.en", asr_beam_size=1, quality=False))
    summary = run_eval(engine_system, cases, tmp_path / "out", scorers, progress=False)
    assert summary["n"] == 3 and summary["rtf"] > 0 and summary["ttfa_s"] > 0
    assert set(summary["tag_cases"]) == {"loud"}
    assert summary["meta"]["system"]["kind"] == "checkpoint"
    records = [json.loads(x) for x in (tmp_path / "out" / "utterances.jsonl").read_text().splitlines()]
    assert records[1]["request"]["seed"] == records[0]["request"]["seed"]
    assert "sim" in records[2] and "sim" not in records[0]
    assert (tmp_path / "out" / "plots" / "rtf.png").is_file()


def test_cli_eval_on_a_checkpoint(checkpoint: Path, cases: list[TestCase], tmp_path: Path) -> None:
    testset = write_testset(tmp_path / "set.jsonl", cases[:2])
    out = tmp_path / "report"
    args = ["eval", "--system", str(checkpoint), "--testset", str(testset), "--out", str(out)]
    args += ["--asr", "tiny.en", "--no-quality", "--no-speaker", "--max-new-tokens", "8", "--batch-size", "2"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["system"]["sampling"]["max_new_tokens"] == 8
    assert summary["n"] == 2 and summary["rtf"] > 0


def test_a_case_the_model_cannot_take_is_scored_as_refused(
    tmp_path: Path, speech: dict[str, Path], packaged_copy
) -> None:
    """A dialogue whose two references overflow the model's context is turned down by the engine:
    the run goes on, the case has no audio, counts as refused and scores as a failure."""
    ckpt = talking_copy(
        packaged_copy, tmp_path / "short", max_seq_len=SHORT
    )  # a sentence fits, two references not
    refs = (PromptVoice(speech["kal_d"], SENTENCES["d"]), PromptVoice(speech["slt_c"], SENTENCES["c"]))
    cases = [
        TestCase("plain", SENTENCES["a"], seed=1),
        TestCase(
            "dlg", f"<|speaker:0|>{SENTENCES['a']}<|speaker:1|>{SENTENCES['b']}", refs, category="dialogue"
        ),
    ]
    from s2tts.server.app import create_app
    from s2tts.server.run import serve_in_thread
    from s2tts.server.settings import ServerSettings

    system = EngineSystem(ckpt, SAMPLING, batch_size=1)
    try:
        made = list(system.generate(cases))
        scorers = Scorers(ScorerConfig(asr="tiny.en", asr_beam_size=1, quality=False))
        summary = run_eval(system, cases, tmp_path / "out", scorers, progress=False)
        with serve_in_thread(create_app(system.engine, ServerSettings(data_dir=tmp_path / "data"))) as url:
            server = ServerSystem(url, SAMPLING, batch_size=1)
            try:
                remote = list(server.generate(cases))
            finally:
                server.close()
    finally:
        system.close()
    assert remote[0].refused is None and len(remote[0].audio) > 0
    assert remote[1].refused is not None and remote[1].refused.startswith("4") and len(remote[1].audio) == 0
    assert made[0].refused is None and len(made[0].audio) > 0
    assert made[1].refused is not None and "longer than" in made[1].refused and len(made[1].audio) == 0
    assert summary["refused"] == 1 and summary["refused_by_category"] == {"dialogue": 1}
    assert summary["dialogue"]["refused"] == 1
    records = {
        r["id"]: r for r in map(json.loads, (tmp_path / "out" / "utterances.jsonl").read_text().splitlines())
    }
    assert records["dlg"]["refused"] == made[1].refused and records["dlg"]["audio"] is None
    assert records["dlg"]["wer"] == 1.0  # nothing said: every word missed
    assert records["plain"]["refused"] is None
    assert "Refused cases" in (tmp_path / "out" / "report.md").read_text()
