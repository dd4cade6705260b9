"""The small model's targets, checked against an evaluation report (``summary.json`` of ``s2tts eval``).

Each target reads its figure from the summary and says whether it passes; a figure the report
does not have (no cases of that category, a scorer switched off) is "not measured", never a pass.

| target | figure | passes when |
|---|---|---|
| intelligible | WER of the ``plain`` category (held-out English sentences, default voice) | <= 0.20 |
| cloning | ``speaker_id_accuracy`` (closer to its own held-out speaker than to any other) | >= 0.80 |
| dialogue | ``dialogue.turn_accuracy`` (turns closer to their own speaker's reference), no dialogue refused | == 1.0 |
| instructions | the lowest ``tag_activation`` over the trained tags | >= 0.80 |
| long form | ``long_form``: no collapse, and WER of the last minute <= 1.5x the first (+0.02) | both |
| speed | ``rtf`` of the evaluation's requests | < 1.0 |
| first audio | ``ttfa_s`` | <= 0.300 s |
| size | the model directory's ``*.safetensors`` as the export writes them (fp16) | <= 60 MB |

The evaluation's speed figures are those of its own batch of requests on the machine it ran on;
``bench/engine.py`` measures batch 1 and 8 concurrent streams on their own.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TargetResult:
    name: str
    figure: str  # what was measured
    value: float | None  # None: not measured
    threshold: str
    passed: bool | None  # None: not measured


def _get(summary: dict[str, Any], *path: str) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


def _result(name: str, figure: str, value: float | None, threshold: str, ok: bool | None) -> TargetResult:
    return TargetResult(name, figure, None if value is None else float(value), threshold, ok)


def check_targets(summary: dict[str, Any], model_dir: str | Path | None = None) -> list[TargetResult]:
    """Every target of the small model against ``summary`` (and the weights in ``model_dir``)."""
    out = []
    wer = _get(summary, "by_category", "plain", "wer")
    out.append(
        _result(
            "intelligible", "WER, held-out sentences", wer, "<= 0.20", None if wer is None else wer <= 0.20
        )
    )
    sid = summary.get("speaker_id_accuracy")
    out.append(
        _result(
            "cloning", "closest to own held-out speaker", sid, ">= 0.80", None if sid is None else sid >= 0.80
        )
    )
    turns = _get(summary, "dialogue", "turn_accuracy")
    refused = _get(summary, "dialogue", "refused") or 0  # a dialogue the model turned down has no turns
    out.append(
        _result(
            "dialogue",
            "turns closest to own speaker" + (f" ({refused} dialogues refused)" if refused else ""),
            turns,
            "= 1.00",
            None if turns is None else bool(turns >= 1.0 and not refused),
        )
    )
    tags = summary.get("tag_activation") or {}
    low = min(tags.values()) if tags else None
    out.append(
        _result("instructions", "lowest tag activation", low, ">= 0.80", None if low is None else low >= 0.80)
    )
    lf = summary.get("long_form")
    if lf and lf.get("wer_per_minute"):
        minutes = lf["wer_per_minute"]
        ratio_ok = (
            minutes[-1] is not None and minutes[0] is not None and minutes[-1] <= 1.5 * minutes[0] + 0.02
        )
        ok = bool(ratio_ok and lf.get("collapse_rate") == 0)
        out.append(
            _result(
                "long form",
                "collapse rate (last-minute WER <= 1.5x first)",
                lf.get("collapse_rate"),
                "0, and ratio",
                ok,
            )
        )
    else:
        out.append(
            _result("long form", "collapse rate (last-minute WER <= 1.5x first)", None, "0, and ratio", None)
        )
    rtf = summary.get("rtf")
    out.append(_result("speed", "real-time factor", rtf, "< 1.0", None if rtf is None else rtf < 1.0))
    ttfa = summary.get("ttfa_s")
    out.append(
        _result(
            "first audio",
            "time to first audio (s)",
            ttfa,
            "<= 0.300",
            None if ttfa is None else ttfa <= 0.300,
        )
    )
    mb = None
    if model_dir is not None and Path(model_dir).is_dir():
        mb = sum(shipped_bytes(p) for p in Path(model_dir).glob("*.safetensors")) / 1e6
    out.append(
        _result("size", "weights as shipped, fp16 (MB)", mb, "<= 60", None if mb is None else mb <= 60.0)
    )
    return out  # fmt: skip


def shipped_bytes(path: Path) -> int:
    """Bytes of a safetensors file's tensors once exported in fp16 (what ships: floating tensors at 2
    bytes an element, the others as they are), read from its header without loading the weights."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not iterable)
            part = f.get_slice(key)
            total += math.prod(part.get_shape()) * _SHIPPED_WIDTH.get(part.get_dtype(), 1)
    return total


#: bytes an element of each safetensors dtype takes as shipped (floating tensors go to fp16)
_SHIPPED_WIDTH = {
    "F64": 2, "F32": 2, "F16": 2, "BF16": 2,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip


def targets_markdown(results: list[TargetResult]) -> str:
    rows = ["| target | figure | value | threshold | result |", "|---|---|---|---|---|"]
    for r in results:
        value = "–" if r.value is None else f"{r.value:.3f}"
        verdict = "not measured" if r.passed is None else ("pass" if r.passed else "**fail**")
        rows.append(f"| {r.name} | {r.figure} | {value} | {r.threshold} | {verdict} |")
    return "\n".join(rows) + "\n"


def write_targets(report_dir: str | Path, model_dir: str | Path | None = None) -> list[TargetResult]:
    """Read ``report_dir/summary.json``; write ``targets.md`` and ``targets.json`` beside it."""
    report_dir = Path(report_dir)
    summary = json.loads((report_dir / "summary.json").read_text())
    results = check_targets(summary, model_dir)
    (report_dir / "targets.md").write_text(targets_markdown(results))
    (report_dir / "targets.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return results
