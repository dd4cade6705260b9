"""End to end on a folder of wavs: ``s2tts eval`` writes the report folder, ``s2tts eval-compare``
finds the noisy copy worse; the CLI turns user errors into one line on stderr."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from s2tts.audio import read_audio, write_audio
from s2tts.cli import main
from s2tts.eval.audio import load_16k
from s2tts.eval.testset import PromptVoice, TestCase, write_testset

from .speech import SENTENCES, noisy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wav_runs(speech: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A JSONL test set (clone, tagged pair, dialogue) and two wav folders: clean and noisy."""
    root = tmp_path_factory.mktemp("runs")
    clean, dirty = root / "clean", root / "noisy"
    clean.mkdir()
    dirty.mkdir()
    cases = [
        TestCase(
            "clone_kal", SENTENCES["a"], (PromptVoice(speech["kal_d"], SENTENCES["d"]),), category="clone"
        ),
        TestCase(
            "clone_slt", SENTENCES["b"], (PromptVoice(speech["slt_c"], SENTENCES["c"]),), category="clone"
        ),
        TestCase("plain_c", SENTENCES["c"], category="tagged", seed=7),
        TestCase(
            "fast_c",
            "[fast] " + SENTENCES["c"],
            category="tagged",
            tags=("fast",),
            baseline="plain_c",
            seed=7,
        ),
        TestCase(
            "dialogue",
            f"<|speaker:0|>{SENTENCES['a']}<|speaker:1|>{SENTENCES['b']}",
            (PromptVoice(speech["kal_d"], SENTENCES["d"]), PromptVoice(speech["slt_d"], SENTENCES["d"])),
            category="dialogue",
        ),
    ]
    testset = write_testset(root / "set.jsonl", cases)
    sources = {"clone_kal": speech["kal_a"], "clone_slt": speech["slt_b"], "plain_c": speech["slt_c"]}
    for uid, src in sources.items():
        write_audio(clean / f"{uid}.wav", load_16k(src), 16000)
    subprocess.run(
        ["sox", str(speech["slt_c"]), str(clean / "fast_c.wav"), "tempo", "1.35"], check=True, timeout=60
    )
    gap = np.zeros(8000, np.float32)
    write_audio(
        clean / "dialogue.wav",
        np.concatenate([load_16k(speech["kal_a"]), gap, load_16k(speech["slt_b"])]),
        16000,
    )
    for wav in clean.iterdir():
        data, rate = read_audio(wav)
        write_audio(dirty / wav.name, noisy(data[0], snr_db=0.0, seed=len(wav.name)), rate)
    return {"testset": testset, "clean": clean, "noisy": dirty, "root": root}


def test_eval_on_a_wav_folder_writes_the_report(
    wav_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = wav_runs["root"] / "report-clean"
    assert (
        main(
            [
                "eval",
                "--system",
                f"wavs:{wav_runs['clean']}",
                "--testset",
                str(wav_runs["testset"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((out / "summary.json").read_text())
    for key in ("n", "wer", "cer", "sim", "dnsmos_ovrl", "distillmos", "tag_activation"):
        assert key in summary and key in printed
    assert summary["n"] == 5
    assert summary["wer"] < 0.1
    assert summary["tag_activation"] == {"fast": 1.0}
    assert summary["by_category"]["clone"]["n"] == 2 and summary["by_category"]["clone"]["sim"] > 0.75
    dialogue = summary["dialogue"]
    assert dialogue["turn_accuracy"] == 1.0 and dialogue["sim_own"] > dialogue["sim_other"] + 0.15
    assert summary["wer_ci"][0] <= summary["wer"] <= summary["wer_ci"][1]
    records = [json.loads(line) for line in (out / "utterances.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["clone_kal", "clone_slt", "plain_c", "fast_c", "dialogue"]
    assert all(r["transcript"] and (out / r["audio"]).is_file() for r in records)
    fast = next(r for r in records if r["id"] == "fast_c")["tags"][0]
    assert fast["tag"] == "fast" and fast["activated"] and fast["change"] > 1.25
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for section in (
        "## Summary",
        "## By category",
        "## Instruction following",
        "## Dialogue",
        "## Worst cases",
        "## Plots",
    ):
        assert section in md
    assert "](audio/" in md and "<audio controls" in page and 'src="plots/wer_hist.png"' in page
    for plot in ("wer_hist.png", "sim_hist.png", "tag_activation.png"):
        assert (out / "plots" / plot).stat().st_size > 1000


def test_compare_flags_the_noisy_copy(wav_runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    clean = wav_runs["root"] / "report-clean"
    if not (clean / "summary.json").is_file():
        pytest.fail("runs after test_eval_on_a_wav_folder_writes_the_report")
    dirty = wav_runs["root"] / "report-noisy"
    args = [
        "eval",
        "--system",
        f"wavs:{wav_runs['noisy']}",
        "--testset",
        str(wav_runs["testset"]),
        "--out",
        str(dirty),
    ]
    assert main([*args, "--no-speaker", "--asr", "tiny.en"]) == 0
    out = wav_runs["root"] / "cmp"
    assert main(["eval-compare", str(clean), str(dirty), "--out", str(out)]) == 0
    rows = {r["metric"]: r for r in json.loads((out / "compare.json").read_text())["rows"]}
    assert rows["dnsmos_ovrl"]["paired"] and rows["dnsmos_ovrl"]["verdict"] == "worse"
    assert rows["distillmos"]["verdict"] == "worse"
    assert rows["dnsmos_ovrl"]["ci"][1] < 0
    assert "sim" not in rows or rows["sim"]["value"] is None
    assert "within noise" in (out / "compare.md").read_text() or "worse" in (out / "compare.md").read_text()
    assert "worse" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--system", "wavs:/nonexistent", "--testset", "SET"], "not a directory"),
        (["--system", "/nonexistent-ckpt", "--testset", "SET"], "not a checkpoint directory"),
        (["--system", "wavs:EMPTY", "--testset", "SET"], "no audio for"),
        (["--system", "wavs:EMPTY", "--testset", "/nonexistent.jsonl"], "test set not found"),
        (["--system", "wavs:EMPTY", "--testset", "SET", "--batch-size", "0"], "--batch-size must be >= 1"),
    ],
)
def test_cli_errors_are_one_line(
    args: list[str],
    message: str,
    wav_runs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "empty").mkdir()
    args = [
        a.replace("SET", str(wav_runs["testset"])).replace("EMPTY", str(tmp_path / "empty")) for a in args
    ]
    assert main(["eval", *args, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("s2tts: error:") and message in err and "\n" not in err
    assert (
        main(["eval-compare", str(tmp_path / "empty"), str(tmp_path / "empty"), "--out", str(tmp_path / "c")])
        == 1
    )
    assert "not an evaluation report folder" in capsys.readouterr().err
