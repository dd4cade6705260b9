"""Per-utterance records -> ``summary.json``: every figure of a run, overall and per category.

Keys (None where the test set or the scorers give nothing to average): ``n``, ``wer``, ``cer``,
``error_rate`` (WER or CER by language), ``sim``, ``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl``,
``dnsmos_p808``, ``distillmos``, ``rtf``, ``ttfa_s``, ``ttfa_p90_s``, ``duration_s``; each mean has
a ``<key>_ci`` bootstrap 95 % interval; ``tag_activation`` {tag: share activated} and
``tag_cases`` {tag: count}; ``speaker_id_accuracy`` (share of single-voice cloning cases closer
to their own voice than to any other voice of the test set; ``speaker_id_cases``, ``speaker_id_candidates``); ``dialogue`` (turn similarity to own / other speakers, turn
accuracy), ``long_form`` (WER per minute averaged by minute, collapse rate, similarity drift);
``by_category`` and ``by_language`` repeat the main means for each group; ``refused`` counts the
cases the system turned down (``refused_by_category``; in ``dialogue`` those of that category).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from s2tts.eval.stats import bootstrap_ci, finite, mean

MEAN_KEYS = (
    "wer",
    "cer",
    "error_rate",
    "sim",
    "dnsmos_sig",
    "dnsmos_bak",
    "dnsmos_ovrl",
    "dnsmos_p808",
    "distillmos",
    "rtf",
    "ttfa_s",
    "duration_s",
)
GROUP_KEYS = ("wer", "cer", "error_rate", "sim", "dnsmos_ovrl", "distillmos")


def _means(records: list[dict[str, Any]], keys: tuple[str, ...], with_ci: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"n": len(records)}
    for key in keys:
        values = [r.get(key) for r in records]
        out[key] = mean(values)
        if with_ci:
            out[f"{key}_ci"] = bootstrap_ci(values)
    return out


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary = _means(records, MEAN_KEYS, with_ci=True)
    refused = [r for r in records if r.get("refused")]
    summary["refused"] = len(refused)
    summary["refused_by_category"] = {
        c: sum(r.get("category") == c for r in refused) for c in sorted({r.get("category") for r in refused})
    }
    ttfa = finite([r.get("ttfa_s") for r in records])
    summary["ttfa_p90_s"] = float(np.percentile(ttfa, 90)) if ttfa.size else None
    hits: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        for t in r.get("tags", []):
            hits[t["tag"]].append(bool(t["activated"]))
    summary["tag_activation"] = {t: float(np.mean(v)) for t, v in sorted(hits.items())}
    summary["tag_cases"] = {t: len(v) for t, v in sorted(hits.items())}
    identified = [r for r in records if "id_correct" in r]
    summary["speaker_id_accuracy"] = (
        float(np.mean([r["id_correct"] for r in identified])) if identified else None
    )
    summary["speaker_id_cases"] = len(identified)
    summary["speaker_id_candidates"] = max((r["id_candidates"] for r in identified), default=0)
    dialogues = [r["dialogue"] for r in records if r.get("dialogue")]
    summary["dialogue"] = (
        {
            "n": len(dialogues),
            "sim_own": mean([d["sim_own"] for d in dialogues]),
            "sim_other": mean([d["sim_other"] for d in dialogues]),
            "turn_accuracy": mean([d["turn_accuracy"] for d in dialogues]),
            "refused": sum(bool(r.get("refused")) for r in records if r.get("category") == "dialogue"),
        }
        if dialogues
        else None
    )
    longs = [r["long_form"] for r in records if r.get("long_form")]
    if longs:
        minutes = max(len(lf["wer_per_minute"]) for lf in longs)
        per_minute = [
            mean([lf["wer_per_minute"][m] for lf in longs if m < len(lf["wer_per_minute"])])
            for m in range(minutes)
        ]
        summary["long_form"] = {
            "n": len(longs),
            "wer_per_minute": per_minute,
            "collapse_rate": float(np.mean([lf["collapse"]["collapsed"] for lf in longs])),
            "sim_drift_per_min": mean([lf.get("sim_drift_per_min") for lf in longs]),
        }
    else:
        summary["long_form"] = None
    for field in ("category", "language"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in records:
            groups[str(r.get(field, "?"))].append(r)
        summary[f"by_{field}"] = {
            g: _means(rs, GROUP_KEYS, with_ci=False) for g, rs in sorted(groups.items())
        }
    return summary
