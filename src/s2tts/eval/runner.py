"""One evaluation run: generate every case with a system, score it, write the report folder.

``run_eval(system, cases, out)`` writes::

    out/audio/<id>.wav        what the system made (its native rate)
    out/utterances.jsonl      one JSON object per utterance: text, transcript, every score, tag
                              measurements, speed, the request as sent
    out/summary.json          every figure of the run (s2tts.eval.summary) + "meta"
    out/report.md / .html     summary, breakdowns, worst cases with audio links, plots
    out/plots/*.png

A case the system turns down (``Generated.refused``: a prompt over its model's limit, say) gets
no audio and its reason in ``refused``; it is scored like any silent clip (WER 1, no turns), counted
in the summary's ``refused`` and listed in the report, so it lowers the figures instead of stopping
the run or vanishing from them.

Generation runs first (the system batches as it can), then scoring in batches of
``ScorerConfig.asr_batch_size``; both show progress bars. A stopped run resumes: the same command
again generates only the cases its journal (``out/generated.jsonl``, s2tts.eval.journal) lacks.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from s2tts.audio import write_audio
from s2tts.errors import EvalError
from s2tts.eval.audio import load_16k
from s2tts.eval.journal import JOURNAL, append, open_journal, read_journal
from s2tts.eval.report import write_report
from s2tts.eval.scoring import Scorers, score_tags
from s2tts.eval.summary import summarize
from s2tts.eval.systems import System
from s2tts.eval.testset import TestCase, resolve_seeds


def run_eval(
    system: System,
    cases: list[TestCase],
    out: str | Path,
    scorers: Scorers | None = None,
    testset: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate, score and report; returns the summary (also in out/summary.json)."""
    out = Path(out)
    system_info = {"name": system.name, **system.describe()}
    unfinished = (out / JOURNAL).is_file()
    if out.exists() and any(out.iterdir()) and not (out / "summary.json").is_file() and not unfinished:
        raise EvalError(f"{out} exists and is not an earlier report folder; choose an empty --out")
    (out / "audio").mkdir(parents=True, exist_ok=True)
    scorers = scorers or Scorers()
    cases = resolve_seeds(cases)
    done = read_journal(out, cases, system_info)
    base: dict[str, dict[str, Any]] = dict(done)
    todo = [c for c in cases if c.id not in done]
    started = time.time()
    generating = system.generate(todo)  # a wav folder checks its files here, before any progress bar
    journal = open_journal(out, system_info, [(c, done[c.id]) for c in cases if c.id in done])
    with (
        journal,
        tqdm(total=len(cases), initial=len(done), desc="generate", unit="utt", disable=not progress) as bar,
    ):
        for case, gen in zip(todo, generating, strict=True):
            rel = f"audio/{case.id}.wav"
            if len(gen.audio):
                write_audio(out / rel, gen.audio, gen.sample_rate)
            base[case.id] = {
                "id": case.id,
                "category": case.category,
                "language": case.language,
                "text": case.text,
                "spoken_text": case.spoken_text,
                "speakers": list(case.speakers),
                "audio": rel if len(gen.audio) else None,
                "sample_rate": gen.sample_rate,
                **{k: gen.metrics.get(k) for k in ("ttfa_s", "rtf", "wall_s")},
                "request": gen.request,
                "refused": gen.refused,
            }
            append(journal, case, base[case.id])
            bar.update(1)
    # Every clip is scored as its file holds it (16-bit), so a resumed run scores what a straight
    # run does, and the report's audio is what was scored.
    clips = {
        c.id: load_16k(out / base[c.id]["audio"]) if base[c.id]["audio"] else np.zeros(0, np.float32)
        for c in cases
    }
    generated = time.time()
    records: list[dict[str, Any]] = []
    step = max(1, scorers.config.asr_batch_size)
    with tqdm(total=len(cases), desc="score", unit="utt", disable=not progress) as bar:
        for start in range(0, len(cases), step):
            batch = cases[start : start + step]
            for scored in scorers.score(batch, [clips[c.id] for c in batch]):
                records.append({**base[scored["id"]], **scored})
            bar.update(len(batch))
    identified = scorers.identify_speakers(cases, [clips[c.id] for c in cases])
    for r in records:
        r.update(identified.get(r["id"], {}))
    tags = score_tags(cases, clips)
    for r in records:
        r["tags"] = tags.get(r["id"], [])
    with open(out / "utterances.jsonl", "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    summary = summarize(records)
    meta = {
        "system": system_info,
        "testset": testset,
        "scorers": {k: v for k, v in vars(scorers.config).items()},
        "generate_s": generated - started,  # this run's share, without the resumed cases
        "resumed": len(done),
        "score_s": time.time() - generated,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
    }
    write_report(out, summary, records, meta)
    (out / JOURNAL).unlink()
    return {**summary, "meta": meta}


def load_records(folder: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, per-utterance records) of a finished report folder."""
    folder = Path(folder)
    if not (folder / "summary.json").is_file() or not (folder / "utterances.jsonl").is_file():
        raise EvalError(f"{folder} is not an evaluation report folder (no summary.json / utterances.jsonl)")
    summary = json.loads((folder / "summary.json").read_text())
    lines = (folder / "utterances.jsonl").read_text(encoding="utf-8").splitlines()
    return summary, [json.loads(line) for line in lines if line.strip()]
