"""Write a run's report folder: ``report.md``, ``report.html``, ``plots/*.png``.

The report is built once as a list of blocks (headings, paragraphs, tables, images) and rendered
twice, to Markdown and to a self-contained HTML page (audio players for the worst cases). Sections:
summary table (with 95 % bootstrap intervals), breakdown per category and per language,
instruction following per tag, dialogue turns, long form, speed, the worst cases by error rate
(text, transcript, audio link) and the plots.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from s2tts.eval.plots import all_plots

Block = tuple[str, Any]
WORST = 10


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.{digits}f}, {value[1]:.{digits}f}]"
    return str(value)


def _blocks(
    summary: dict[str, Any], records: list[dict[str, Any]], plots: list[str], meta: dict[str, Any]
) -> list[Block]:
    b: list[Block] = [("h1", f"Evaluation: {meta.get('system', {}).get('name', '?')}")]
    b.append(
        (
            "p",
            f"Test set `{meta.get('testset', '?')}`, {summary['n']} utterances; ASR `{meta.get('scorers', {}).get('asr', '?')}`.",
        )
    )
    rows = []
    for key, label in (
        ("wer", "WER"),
        ("cer", "CER"),
        ("sim", "speaker similarity"),
        ("dnsmos_ovrl", "DNSMOS overall"),
        ("dnsmos_sig", "DNSMOS signal"),
        ("dnsmos_bak", "DNSMOS background"),
        ("distillmos", "DistillMOS"),
        ("rtf", "RTF"),
        ("ttfa_s", "time to first audio (s)"),
        ("duration_s", "duration (s)"),
    ):
        if summary.get(key) is not None:
            rows.append([label, fmt(summary[key]), fmt(summary.get(f"{key}_ci"))])
    b += [("h2", "Summary"), ("table", (["metric", "mean", "95% CI"], rows))]
    for field in ("category", "language"):
        groups = summary.get(f"by_{field}") or {}
        if len(groups) > 1 or field == "category":
            head = [field, "n", "WER", "CER", "sim", "DNSMOS", "DistillMOS"]
            body = [
                [g, str(v["n"]), *(fmt(v[k]) for k in ("wer", "cer", "sim", "dnsmos_ovrl", "distillmos"))]
                for g, v in groups.items()
            ]
            b += [("h2", f"By {field}"), ("table", (head, body))]
    if summary.get("tag_activation"):
        body = [[t, str(summary["tag_cases"][t]), fmt(r, 2)] for t, r in summary["tag_activation"].items()]
        b += [
            ("h2", "Instruction following"),
            (
                "p",
                "Share of tagged cases whose measurement moved the tag's way past its threshold, against the same sentence untagged (same seed).",
            ),
            ("table", (["tag", "cases", "activation"], body)),
        ]
    if summary.get("speaker_id_accuracy") is not None:
        b += [
            ("h2", "Speaker identification"),
            (
                "p",
                "Share of single-voice cloning cases whose audio is closer to its own reference voice than to any other voice of the test set.",
            ),
            (
                "table",
                (
                    ["cases", "voices", "closest to own voice"],
                    [
                        [
                            str(summary["speaker_id_cases"]),
                            str(summary["speaker_id_candidates"]),
                            fmt(summary["speaker_id_accuracy"], 2),
                        ]
                    ],
                ),
            ),
        ]
    if summary.get("dialogue"):
        d = summary["dialogue"]
        b += [
            ("h2", "Dialogue"),
            (
                "table",
                (
                    ["dialogues", "sim to own speaker", "sim to others", "turns closest to own speaker"],
                    [[str(d["n"]), fmt(d["sim_own"]), fmt(d["sim_other"]), fmt(d["turn_accuracy"])]],
                ),
            ),
        ]
    if summary.get("long_form"):
        lf = summary["long_form"]
        b += [
            ("h2", "Long form"),
            (
                "table",
                (
                    ["texts", "WER per minute", "collapse rate", "similarity drift / min"],
                    [
                        [
                            str(lf["n"]),
                            ", ".join(fmt(v, 2) for v in lf["wer_per_minute"]),
                            fmt(lf["collapse_rate"], 2),
                            fmt(lf["sim_drift_per_min"]),
                        ]
                    ],
                ),
            ),
        ]
    refused = [r for r in records if r.get("refused")]
    if refused:
        b += [
            ("h2", "Refused cases"),
            ("p", "Cases the system turned down: no audio, scored as failures (WER 1)."),
            (
                "table",
                (
                    ["id", "category", "reason"],
                    [[r["id"], r.get("category", ""), r["refused"]] for r in refused],
                ),
            ),
        ]
    worst = sorted((r for r in records if r.get("error_rate") is not None), key=lambda r: -r["error_rate"])[
        :WORST
    ]
    if worst:
        body = [
            [
                r["id"],
                fmt(r["error_rate"]),
                fmt(r.get("sim")),
                r.get("text", ""),
                r.get("transcript", ""),
                ("audio", r.get("audio", "")),
            ]
            for r in worst
        ]
        b += [
            ("h2", "Worst cases"),
            ("table", (["id", "WER/CER", "sim", "text", "transcript", "audio"], body)),
        ]
    if plots:
        b.append(("h2", "Plots"))
        b += [("img", f"plots/{p}") for p in plots]
    return b


def _md_cell(cell: Any) -> str:
    if isinstance(cell, tuple) and cell[0] == "audio":
        return f"[▶]({cell[1]})" if cell[1] else ""
    return str(cell).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for kind, value in blocks:
        if kind == "h1":
            lines += [f"# {value}", ""]
        elif kind == "h2":
            lines += [f"## {value}", ""]
        elif kind == "p":
            lines += [value, ""]
        elif kind == "table":
            head, rows = value
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{Path(value).stem}]({value})", ""]
    return "\n".join(lines)


def _html_cell(cell: Any) -> str:
    if isinstance(cell, tuple) and cell[0] == "audio":
        src = html.escape(cell[1] or "", quote=True)  # None: the case made no audio
        return (
            f'<audio controls preload="none" src="{src}"></audio> <a href="{src}">wav</a>' if cell[1] else ""
        )
    return html.escape(str(cell))


def render_html(blocks: list[Block], title: str) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "th{background:#f3f3f3}img{max-width:48%;margin:4px}</style></head><body>",
    ]
    for kind, value in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"<{kind}>{html.escape(value)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(value)}</p>")
        elif kind == "table":
            head, rows = value
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
        elif kind == "img":
            parts.append(
                f'<img src="{html.escape(value, quote=True)}" alt="{html.escape(Path(value).stem)}">'
            )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out: Path, summary: dict[str, Any], records: list[dict[str, Any]], meta: dict[str, Any]
) -> list[Path]:
    """Write summary.json, report.md, report.html and plots/ into ``out``; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    plots = all_plots(records, summary, out / "plots")
    blocks = _blocks(summary, records, plots, meta)
    (out / "summary.json").write_text(json.dumps({**summary, "meta": meta}, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(blocks))
    (out / "report.html").write_text(render_html(blocks, str(blocks[0][1])))
    return [out / "summary.json", out / "report.md", out / "report.html", *(out / "plots" / p for p in plots)]
