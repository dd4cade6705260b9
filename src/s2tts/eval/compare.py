"""Compare two or more report folders side by side, with noise bands.

The first folder is the baseline. For every metric and every other folder the table shows both
means, the difference, its 95 % bootstrap interval (paired over shared utterance ids,
``s2tts.eval.stats.delta_ci``) and whether the interval excludes zero. Tag activation is compared
per tag over the cases' 0/1 outcomes. Writes ``compare.md``, ``compare.html`` and
``compare.json`` into the output folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s2tts.errors import EvalError
from s2tts.eval.report import Block, fmt, render_html, render_markdown
from s2tts.eval.runner import load_records
from s2tts.eval.stats import delta_ci, mean

METRICS = (
    ("wer", "WER", "lower"),
    ("cer", "CER", "lower"),
    ("sim", "speaker similarity", "higher"),
    ("dnsmos_ovrl", "DNSMOS overall", "higher"),
    ("distillmos", "DistillMOS", "higher"),
    ("rtf", "RTF", "lower"),
    ("ttfa_s", "TTFA (s)", "lower"),
)


def _per_utt(records: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    return {r["id"]: r.get(key) for r in records}


def _tag_outcomes(records: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for r in records:
        for t in r.get("tags", []):
            out.setdefault(t["tag"], {})[r["id"]] = float(t["activated"])
    return out


def compare(folders: list[str | Path], out: str | Path) -> dict[str, Any]:
    if len(folders) < 2:
        raise EvalError("compare needs at least two report folders")
    runs = [(Path(f), *load_records(f)) for f in folders]
    base_path, _, base_records = runs[0]
    rows: list[dict[str, Any]] = []
    base_tags = _tag_outcomes(base_records)
    for path, _, records in runs[1:]:
        tags = _tag_outcomes(records)
        metrics = [
            (k, label, better, _per_utt(base_records, k), _per_utt(records, k))
            for k, label, better in METRICS
        ]
        metrics += [
            (f"tag:{t}", f"[{t}] activation", "higher", base_tags[t], tags[t])
            for t in sorted(base_tags)
            if t in tags
        ]
        for key, label, better, a, b in metrics:
            ci = delta_ci(a, b)
            ma, mb = mean(list(a.values())), mean(list(b.values()))
            if ma is None and mb is None:
                continue
            delta, low, high, paired = ci if ci else (None, None, None, False)
            significant = ci is not None and (low > 0 or high < 0)  # type: ignore[operator]
            improved = significant and ((delta > 0) == (better == "higher"))  # type: ignore[operator]
            rows.append(
                {
                    "run": path.name,
                    "metric": key,
                    "label": label,
                    "baseline": ma,
                    "value": mb,
                    "delta": delta,
                    "ci": [low, high] if ci else None,
                    "paired": paired,
                    "significant": significant,
                    "verdict": ("better" if improved else "worse") if significant else "within noise",
                }
            )
    result = {"baseline": str(base_path), "runs": [str(p) for p, _, _ in runs[1:]], "rows": rows}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    blocks: list[Block] = [
        ("h1", f"Comparison against {base_path.name}"),
        (
            "p",
            "Delta = run - baseline; 95% bootstrap interval over utterances (paired when the runs share utterance ids). 'within noise' means the interval contains 0.",
        ),
    ]
    summaries = [(p.name, s) for p, s, _ in runs]
    head = ["metric", *(n for n, _ in summaries)]
    body = [[label, *(fmt(s.get(k)) for _, s in summaries)] for k, label, _ in METRICS]
    blocks += [("h2", "Side by side"), ("table", (head, body))]
    body = [
        [
            r["run"],
            r["label"],
            fmt(r["baseline"]),
            fmt(r["value"]),
            fmt(r["delta"]),
            fmt(tuple(r["ci"]) if r["ci"] else None),
            r["verdict"],
        ]
        for r in rows
    ]
    blocks += [
        ("h2", "Deltas"),
        ("table", (["run", "metric", "baseline", "run value", "delta", "95% CI", "verdict"], body)),
    ]
    (out / "compare.md").write_text(render_markdown(blocks))
    (out / "compare.html").write_text(render_html(blocks, str(blocks[0][1])))
    return result
