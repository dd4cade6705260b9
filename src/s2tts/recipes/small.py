"""``s2tts recipe small``: the small CPU model, from a synthetic corpus to exported fp16 weights.

Stages (each a call of the project's own command-line tool, in a child process so that every stage
starts with fresh memory and the tool's own resume logic)::

    corpus    s2tts data synth            a multi-speaker corpus (or an existing one: corpus.path)
    codec     s2tts train codec           the small codec on training-split audio (or an exported
                                          one: codec.path)
    pipeline  s2tts data run --codec      clean/segment/score/transcribe, tokenize with that codec
    pretrain  s2tts train lm              the cpu-small Dual-AR LM from random init on the shards
    sft       s2tts train lm (init_from)  cloning / dialogue / tag turns, SFT loss
    decoder   s2tts train codec           the codec's decoder on the whole training split, codes frozen
    rl        s2tts train rl              GRPO on training-split prompts (some with references)
    eval      s2tts eval-testset + eval   held-out sentences and speakers
    export    (here)                      the chosen model packaged: fp16 safetensors + manifest

Settings live in ``configs/recipe/small/`` (``recipe.yaml`` + one config per tool). Each stage's
hash covers its settings (the tool config's content, overrides) and the hashes of its inputs; see
:mod:`s2tts.recipes.stages` for markers, skipping and resuming. ``threads`` is passed to every
tool and is not part of any hash.

The decoder stage refines what turns codes into audio without changing any code (``freeze_codes``),
so the LM stages before it stay valid; RL, evaluation and export use its codec (``final_codec``).

The codec trains before the pipeline because the pipeline ends with tokenize; the codec therefore
reads the corpus's audio directly (``s2tts data run --until transcribe`` can run the pipeline's
other stages beforehand, by hand; the pipeline stage then resumes at tokenize).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from s2tts.atomic import atomic_copy
from s2tts.errors import RecipeError, SamplingError
from s2tts.inference.model_sampling import SAMPLING_FILE, write_model_sampling
from s2tts.inference.packaged import file_sha256, verify_packaged
from s2tts.recipes.fp16 import export_fp16
from s2tts.recipes.package import eval_summary, package_model
from s2tts.recipes.stages import Stage, adopt_stages, read_marker, run_stages
from s2tts.recipes.targets import write_targets
from s2tts.recipes.tool import run_tool
from s2tts.recipes.voice import add_voice

STAGE_NAMES = ("corpus", "codec", "pipeline", "pretrain", "sft", "decoder", "rl", "eval", "export")
#: stages another run may lend (``--adopt``): data that later stages only read
ADOPTABLE = ("corpus", "codec", "pipeline")
DEFAULT_CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "recipe" / "small"


@dataclass
class SmallRecipe:
    """Where the recipe writes and how it runs its tools."""

    out_dir: Path
    configs: Path = DEFAULT_CONFIGS
    threads: int = 2
    settings: dict[str, Any] = field(default_factory=dict)  # recipe.yaml, with --set applied
    runner: Callable[[list[str], Path], dict | None] | None = None  # None: run_tool

    # ------------------------------------------------------------------ paths
    def _adopted(self, stage: str, key: str) -> Path | None:
        """Where an adopted stage's output is (another run's folder), or None when not adopted."""
        marker = read_marker(self.out_dir, stage) or {}
        value = (marker.get("outputs") or {}).get(key)
        return Path(value) if marker.get("adopted_from") and value else None

    @property
    def corpus(self) -> Path:
        path = self.settings["corpus"].get("path")
        if path:
            return Path(path).resolve()
        return self._adopted("corpus", "corpus") or self.out_dir / "corpus"

    @property
    def shards(self) -> Path:
        """The LM's training shards: the pipeline stage's (this run's, or the run it was adopted from)."""
        return self._adopted("pipeline", "shards") or self.out_dir / "data" / "shards"

    def model_dir(self, stage: str) -> Path:
        return {
            "pretrain": self.out_dir / "lm" / "pretrain" / "model",
            "sft": self.out_dir / "lm" / "sft" / "model",
            "rl": self.out_dir / "rl" / "model",
        }[stage]

    @property
    def codec_export(self) -> Path:
        """The codec the pipeline tokenizes with: ``codec.path`` when given, else the codec stage's."""
        path = self.settings["codec"].get("path")
        if path:
            return Path(path).resolve()
        return self._adopted("codec", "codec") or self.out_dir / "codec" / "run" / "export"

    @property
    def final_codec(self) -> Path:
        """The codec the finished model speaks with: the decoder stage's when it refined one (its
        marker says so), else the codec stage's."""
        marker = read_marker(self.out_dir, "decoder")
        refined = (marker or {}).get("outputs", {}).get("codec")
        return Path(refined) if refined else self.codec_export

    @property
    def export_dir(self) -> Path:
        to = self.settings["export"].get("to")
        return Path(to).resolve() if to else self.out_dir / "export"

    # ------------------------------------------------------------------ stages
    def stages(self) -> list[Stage]:
        s = self.settings
        final = s["export"]["model"]
        if final not in ("pretrain", "sft", "rl"):
            raise RecipeError(f"export.model must be pretrain, sft or rl, not {final!r}")
        return [
            Stage("corpus", self._corpus, self._corpus_config(), about="synthetic multi-speaker corpus"),
            Stage("codec", self._codec, self._tool_config("codec"), ("corpus",), "codec training"),
            Stage(
                "pipeline",
                self._pipeline,
                self._tool_config("pipeline"),
                ("corpus", "codec"),
                "data pipeline and tokenization",
            ),
            Stage(
                "pretrain", self._pretrain, self._tool_config("pretrain"), ("pipeline",), "LM pre-training"
            ),
            Stage("sft", self._sft, self._tool_config("sft"), ("pipeline", "pretrain"), "SFT"),
            Stage(
                "decoder",
                self._decoder,
                self._tool_config("decoder"),
                ("corpus", "codec"),
                "decoder refinement",
            ),
            Stage(
                "rl",
                self._rl,
                dict(self._tool_config("rl"), voice=s["export"].get("voice")),
                ("corpus", "sft", "decoder"),
                "RL (GRPO)",
            ),
            Stage(
                "eval",
                self._eval,
                dict(
                    s["eval"],
                    model=final,
                    voice=s["export"].get("voice"),
                    sampling=s["export"].get("sampling"),
                ),
                ("corpus", final, "decoder"),
                "evaluation",
            ),
            Stage(
                "export",
                self._export,
                {k: s["export"].get(k) for k in ("max_mb", "voice", "sampling")} | {"model": final},
                ("corpus", final, "decoder"),
                "fp16 export",
            ),
        ]

    def _corpus_config(self) -> dict[str, Any]:
        c = self.settings["corpus"]
        if c.get("path"):
            manifest = self.corpus / "manifest.parquet"
            if not manifest.is_file():
                raise RecipeError(f"corpus.path {self.corpus} has no manifest.parquet (is it finished?)")
            return {"path": str(self.corpus), "manifest_sha256": file_sha256(manifest)}
        return {k: c[k] for k in ("hours", "languages", "seed", "chars_per_second")}

    def _tool_config(self, stage: str) -> dict[str, Any]:
        """The stage's settings as hashed: recipe.yaml's section + the tool config file's content."""
        section = dict(self.settings[stage])
        if stage == "codec" and section.get("path"):  # an exported codec: what it is, not how to train one
            weights = self.codec_export / "codec.safetensors"
            if not weights.is_file():
                raise RecipeError(f"codec.path {self.codec_export} has no codec.safetensors")
            return {"path": str(self.codec_export), "sha256": file_sha256(weights)}
        section.pop("path", None)  # null: the hash of a trained codec is its settings, as before the key
        if stage == "decoder" and not section.get("config"):
            return {"enabled": False}  # no decoder section: the codec stage's codec is final
        section.pop("workers", None)  # how fast, not what
        path = self.configs / section["config"]
        if not path.is_file():
            raise RecipeError(f"{stage}: config file {path} does not exist")
        section["config"] = yaml.safe_load(path.read_text()) or {}
        return section

    def _tool(self, args: list[str], log_name: str) -> dict | None:
        """Run a tool; a trainer that stopped early (SIGTERM, Ctrl-C) leaves its stage not done."""
        summary = (self.runner or run_tool)(args, self.out_dir / "logs" / f"{log_name}.log")
        if summary and (summary.get("stopped") or summary.get("stopped_by")):
            raise RecipeError(
                f"{log_name} stopped at step {summary.get('steps', '?')} before the end; "
                "run the recipe again to resume it"
            )
        return summary

    def _corpus(self, out: Path) -> dict[str, Any]:
        c = self.settings["corpus"]
        if not c.get("path"):
            langs = ",".join(c["languages"])
            self._tool(
                ["data", "synth", "--hours", str(c["hours"]), "--out", str(self.corpus), "--seed",
                 str(c["seed"]), "--languages", langs, "--chars-per-second", str(c["chars_per_second"]),
                 "--workers", str(c.get("workers", 2))],
                "corpus",
            )  # fmt: skip
        return {"corpus": str(self.corpus)}

    def _codec(self, out: Path) -> dict[str, Any]:
        c = self.settings["codec"]
        if c.get("path"):
            return {"codec": str(self.codec_export)}
        audio = out / "codec" / "audio"
        seconds = link_training_audio(self.corpus, audio, float(c["hours"]) * 3600, int(c.get("seed", 0)))
        run = out / "codec" / "run"
        self._tool(
            ["train", "codec", "--config", str(self.configs / c["config"]), f"out_dir={run}",
             f"data.audio_dir={audio}", f"threads={self.threads}", *c.get("overrides", [])],
            "codec",
        )  # fmt: skip
        if not (self.codec_export / "codec.safetensors").is_file():
            raise RecipeError(f"codec: the trainer finished without {self.codec_export}/codec.safetensors")
        return {"codec": str(self.codec_export), "audio_s": round(seconds, 1)}

    def _pipeline(self, out: Path) -> dict[str, Any]:
        p = self.settings["pipeline"]
        data = out / "data"
        self._tool(
            ["data", "run", "--input", str(self.corpus / "manifest.parquet"), "--out", str(data),
             "--config", str(self.configs / p["config"]), "--codec", str(self.codec_export),
             "--workers", str(p.get("workers", 2)), "--no-progress"],
            "pipeline",
        )  # fmt: skip
        return {"data": str(data), "shards": str(data / "shards")}

    def _train_lm(self, stage: str, extra: list[str]) -> dict[str, Any]:
        t = self.settings[stage]
        run = self.model_dir(stage).parent
        self._tool(
            ["train", "lm", "--config", str(self.configs / t["config"]), f"out_dir={run}",
             "data.source=shards", f"data.path={self.shards}",
             f"threads={self.threads}", *extra, *t.get("overrides", [])],
            stage,
        )  # fmt: skip
        model = self.model_dir(stage)
        if not (model / "model.safetensors").is_file():
            raise RecipeError(f"{stage}: the trainer finished without an exported model in {model}")
        put_codec(self.codec_export, model)
        return {"model": str(model)}

    def _pretrain(self, out: Path) -> dict[str, Any]:
        return self._train_lm("pretrain", [])

    def _sft(self, out: Path) -> dict[str, Any]:
        return self._train_lm("sft", [f"model.init_from={self.model_dir('pretrain')}"])

    def _decoder(self, out: Path) -> dict[str, Any]:
        d = self.settings["decoder"]
        if not d.get("config"):
            return {}
        from s2tts.training.checkpointing import Checkpointer

        if self.settings["codec"].get("path"):  # an exported codec (a milestone): its weights, no checkpoint
            start, origin = f"model.init_from={self.codec_export}", self.codec_export.name
        else:
            source = Checkpointer(out / "codec" / "run" / "checkpoints").latest()
            if source is None:
                raise RecipeError(
                    f"decoder: the codec stage left no training checkpoint under {out / 'codec' / 'run'}"
                )
            start, origin = f"weights_from={source}", source.name
        run = out / "codec" / "decoder"
        self._tool(
            ["train", "codec", "--config", str(self.configs / d["config"]), f"out_dir={run}",
             start, "freeze_codes=true",
             f"data.manifest={self.corpus / 'manifest.parquet'}", f"threads={self.threads}",
             *d.get("overrides", [])],
            "decoder",
        )  # fmt: skip
        if not (run / "export" / "codec.safetensors").is_file():
            raise RecipeError(f"decoder: the trainer finished without {run / 'export'}/codec.safetensors")
        return {"codec": str(run / "export"), "from": origin}

    def _rl(self, out: Path) -> dict[str, Any]:
        r = self.settings["rl"]
        prompts = out / "rl" / "prompts.jsonl"
        count = write_rl_prompts(
            self.corpus,
            prompts,
            int(r["prompts"]),
            float(r.get("references", 0.0)),
            int(r.get("seed", 0)),
            r.get("languages"),
        )
        self.add_voice(self.model_dir("sft"))  # prompts without a reference: the voice that ships
        self._tool(
            ["train", "rl", "--config", str(self.configs / r["config"]), "--threads", str(self.threads),
             f"out_dir={out / 'rl'}", f"model.init_from={self.model_dir('sft')}",
             f"data.prompts={prompts}", *r.get("overrides", [])],
            "rl",
        )  # fmt: skip
        model = self.model_dir("rl")
        if not (model / "model.safetensors").is_file():
            raise RecipeError(f"rl: the trainer finished without an exported model in {model}")
        put_codec(self.final_codec, model)
        return {"model": str(model), "prompts": count}

    def _eval(self, out: Path) -> dict[str, Any]:
        e = self.settings["eval"]
        testset = out / "eval" / "testset.jsonl"
        report = out / "eval" / "report"
        self._tool(
            ["eval-testset", "--corpus", str(self.corpus), "--out", str(testset),
             "--per-category", str(e["per_category"])],
            "eval-testset",
        )  # fmt: skip
        model = self.model_dir(self.settings["export"]["model"])
        put_codec(self.final_codec, model)  # the model as it ships: final codec, default voice, sampling
        self.add_voice(model)
        self.add_sampling(model)
        flags = ["--limit", str(e["limit"])] if e.get("limit") else []
        flags += [] if e.get("speaker", True) else ["--no-speaker"]
        flags += [] if e.get("quality", True) else ["--no-quality"]
        self._tool(
            ["eval", "--system", str(model), "--testset",
             str(testset), "--out", str(report), "--asr", str(e.get("asr", "base")),
             "--threads", str(self.threads), *flags],
            "eval",
        )  # fmt: skip
        results = write_targets(report, model)
        passed = [r.name for r in results if r.passed]
        return {"testset": str(testset), "report": str(report), "targets_passed": passed}

    def _export(self, out: Path) -> dict[str, Any]:
        x = self.settings["export"]
        put_codec(self.final_codec, self.model_dir(x["model"]))
        voice = self.add_voice(self.model_dir(x["model"]))
        self.add_sampling(self.model_dir(x["model"]))
        manifest = package_model(
            self.model_dir(x["model"]),
            self.export_dir,
            eval_summary=eval_summary(out / "eval" / "report"),
            provenance={"model": x["model"], "stages": _marker_summary(out)},
        )
        mb = _mb(manifest)
        if x.get("max_mb") and mb > float(x["max_mb"]):
            print(
                f"recipe: warning: the export is {mb:.1f} MB, over export.max_mb = {x['max_mb']}",
                file=sys.stderr,
            )
        return {"export": str(self.export_dir), "mb": mb, "voice": voice}

    def add_voice(self, model_dir: Path) -> dict[str, Any] | None:
        """Write the default voice (``export.voice``: speaker, seconds) into ``model_dir``; None
        when the recipe packages none (a stale ``voice.json`` is then removed)."""
        v = self.settings["export"].get("voice")
        if not v:
            (model_dir / "voice.json").unlink(missing_ok=True)
            return None
        if not isinstance(v, dict) or not isinstance(v.get("speaker"), str):
            raise RecipeError("export.voice must be null or {speaker: ID, seconds: S}")
        return add_voice(model_dir, self.corpus, v["speaker"], float(v.get("seconds", 6.0)))

    def add_sampling(self, model_dir: Path) -> None:
        """Write the model's sampling defaults (``export.sampling``: knobs of
        ``s2tts.inference.model_sampling``) into ``model_dir``; without them, remove a stale file."""
        knobs = self.settings["export"].get("sampling")
        if not knobs:
            (model_dir / SAMPLING_FILE).unlink(missing_ok=True)
            return
        if not isinstance(knobs, dict):
            raise RecipeError("export.sampling must be null or a mapping such as {temperature: 0.5}")
        try:
            write_model_sampling(model_dir, **knobs)
        except SamplingError as exc:
            raise RecipeError(f"export.sampling: {exc}") from exc


# ---------------------------------------------------------------------- helpers


def load_settings(configs: Path, assignments: Sequence[str] = ()) -> dict[str, Any]:
    """``configs/recipe.yaml`` with ``SECTION.KEY=VALUE`` assignments applied (values parsed as YAML);
    ``SECTION.overrides+=KEY=VALUE`` appends a tool override."""
    path = configs / "recipe.yaml"
    if not path.is_file():
        raise RecipeError(f"no recipe.yaml in {configs}")
    settings = yaml.safe_load(path.read_text()) or {}
    for name in STAGE_NAMES:
        settings.setdefault(name, {})
    for item in assignments:
        key, sep, value = item.partition("=")
        section, dot, field_name = key.partition(".")
        if not sep or not dot or section not in settings:
            raise RecipeError(
                f"--set {item!r}: expected SECTION.KEY=VALUE with SECTION one of {list(settings)}"
            )
        if field_name == "overrides+":
            settings[section].setdefault("overrides", []).append(value)
        else:
            settings[section][field_name] = yaml.safe_load(value)
    return settings


def training_rows(corpus: Path) -> list[Any]:
    from s2tts.data.manifest import read_manifest

    return [u for u in read_manifest(corpus / "manifest.parquet") if u.split == "train"]


def link_training_audio(corpus: Path, folder: Path, seconds: float, seed: int) -> float:
    """Symlink a seeded random subset (about ``seconds`` long) of the corpus's training-split single
    utterances into ``folder`` (held-out speakers and sentences never reach the codec). Idempotent:
    the same arguments link the same files. Returns the seconds linked."""
    rows = [u for u in training_rows(corpus) if u.kind == "single"]
    if not rows:
        raise RecipeError(f"{corpus} has no training-split single utterances")
    order = np.random.default_rng(seed).permutation(len(rows))
    folder.mkdir(parents=True, exist_ok=True)
    total = 0.0
    wanted = set()
    for i in order:
        if total >= seconds:
            break
        u = rows[int(i)]
        src = (corpus / u.path).resolve()
        link = folder / f"{u.id}{src.suffix}"
        wanted.add(link.name)
        if not link.is_symlink():
            link.symlink_to(src)
        total += u.duration_s
    for stale in folder.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    return total


def write_rl_prompts(
    corpus: Path,
    path: Path,
    count: int,
    reference_share: float,
    seed: int,
    languages: Sequence[str] | None = None,
) -> int:
    """RL prompts from training-split texts (tags and dialogues as written); a ``reference_share`` of
    the single-speaker ones get another training clip of their speaker as the cloning reference.
    ``languages``: only texts of these (the reward's ASR must read them; None: all)."""
    rows = training_rows(corpus)
    if languages is not None:
        rows = [u for u in rows if u.language in set(languages)]
    if not rows:
        which = f" in {', '.join(languages)}" if languages is not None else ""
        raise RecipeError(f"{corpus} has no training-split utterances{which}")
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Any]] = {}
    for u in rows:
        if u.kind == "single":
            by_speaker.setdefault(u.speaker_id, []).append(u)
    picked = [rows[int(i)] for i in rng.permutation(len(rows))[:count]]
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for u in picked:
        item: dict[str, Any] = {"text": u.text, "language": u.language}
        others = [o for o in by_speaker.get(u.speaker_id, []) if o.id != u.id]
        if u.kind == "single" and others and rng.random() < reference_share:
            ref = others[int(rng.integers(len(others)))]
            item["reference_audio"] = str((corpus / ref.path).resolve())
            item["reference_text"] = ref.plain_text
        lines.append(json.dumps(item, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def put_codec(codec_dir: Path, model_dir: Path) -> None:
    """Place the recipe's codec (weights, and its config when written) beside an exported LM (what
    speak, eval and the next stage load)."""
    for name in ("codec.safetensors", "codec_config.json"):
        src, dst = codec_dir / name, model_dir / name
        if not src.is_file():
            continue
        if not dst.is_file() or file_sha256(dst) != file_sha256(src):
            atomic_copy(src, dst)


def _marker_summary(out: Path) -> dict[str, Any]:

    summary = {}
    for name in STAGE_NAMES:
        marker = read_marker(out, name)
        if marker is not None:
            summary[name] = {k: marker.get(k) for k in ("hash", "finished_at", "wall_s", "cpu_s")}
    return summary


def milestone_recipe(out_dir: Path, configs: Path, assignments: Sequence[str] = ()) -> SmallRecipe:
    """The recipe as a milestone sees it: its settings, and the corpus and codec the run's stages
    used when ``corpus.path`` / ``codec.path`` are not given (the default voice's clip is read from
    the corpus; the codec ships beside the LM)."""
    settings = load_settings(configs, assignments)
    for stage in ("corpus", "codec"):
        if not settings[stage].get("path"):
            recorded = ((read_marker(out_dir, stage) or {}).get("outputs") or {}).get(stage)
            settings[stage]["path"] = recorded
    return SmallRecipe(out_dir, configs, settings=settings)


def export_milestone(recipe: SmallRecipe, stage: str, to: Path) -> dict[str, Any]:
    """Package a model of the recipe's run into ``to`` (e.g. the package's ``s2tts/assets/small``):
    for ``codec`` the codec stage's codec alone in fp16 (a folder ``codec.path`` resumes from); for
    ``pretrain`` / ``sft`` the latest training checkpoint of that LM stage (running or
    finished) with the recipe's final codec and default voice (``export.voice``); for ``export``
    the export stage's result (verified first) with its evaluation. What the background script
    commits at milestones."""
    from s2tts.training.checkpointing import Checkpointer
    from s2tts.training.lm.export import export_run

    out_dir = recipe.out_dir

    if stage == "codec":
        source = recipe.codec_export
        if not (source / "codec.safetensors").is_file():
            raise RecipeError(f"no codec yet in {source}: the codec stage must finish before a milestone")
        to.mkdir(parents=True, exist_ok=True)
        written = export_fp16(
            source, to, include=lambda name: name in ("codec.safetensors", "codec_config.json")
        )
        return {"stage": stage, "mb": round(written / 1e6, 2), "codec": str(to)}
    if stage == "export":
        source = out_dir / "export"
        manifest = verify_packaged(source)
        written = package_model(
            source, to, eval_summary=manifest.get("eval"), provenance=manifest.get("provenance")
        )
        return {"stage": stage, "mb": _mb(written), "eval": written["eval"] is not None}
    runs = {"pretrain": out_dir / "lm" / "pretrain", "sft": out_dir / "lm" / "sft"}
    if stage not in runs:
        raise RecipeError(f"milestones are taken of {sorted([*runs, 'export'])}, not {stage!r}")
    latest = Checkpointer(runs[stage] / "checkpoints").latest()
    if latest is None:
        raise RecipeError(f"{stage} has no checkpoint yet under {runs[stage] / 'checkpoints'}")
    staging = out_dir / "milestones" / stage
    export_run(runs[stage], latest, staging)
    codec = recipe.final_codec
    if not (codec / "codec.safetensors").is_file():
        raise RecipeError(f"no codec yet in {codec}: the codec stage must finish before a milestone")
    put_codec(codec, staging)
    voice = recipe.add_voice(staging)
    recipe.add_sampling(staging)
    provenance = {
        "model": stage,
        "checkpoint": latest.name,
        "stages": _marker_summary(out_dir),
        "voice": voice,
    }
    written = package_model(staging, to, provenance=provenance)
    return {"stage": stage, "checkpoint": latest.name, "mb": _mb(written), "stages": provenance["stages"]}


def _mb(manifest: dict[str, Any]) -> float:
    return round(sum(f["bytes"] for f in manifest["files"].values()) / 1e6, 2)


def run_small(
    out_dir: Path,
    configs: Path = DEFAULT_CONFIGS,
    threads: int = 2,
    assignments: Sequence[str] = (),
    only: Sequence[str] | None = None,
    until: str | None = None,
    runner: Callable[[list[str], Path], dict | None] | None = None,
    adopt: Path | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) the small recipe into ``out_dir``; returns one status per selected stage.

    ``adopt``: another run folder whose finished data stages (corpus, codec, pipeline) with the
    same settings count as done here, read where they are (a variant of a finished run, such as
    longer pre-training, then neither re-makes nor copies its 3 GB of data).
    """
    if threads < 1:
        raise RecipeError("--threads must be at least 1")
    recipe = SmallRecipe(out_dir.resolve(), configs, threads, load_settings(configs, assignments), runner)

    def log(message: str) -> None:
        print(f"recipe: {message}", flush=True)

    if adopt is not None:
        recipe.out_dir.mkdir(parents=True, exist_ok=True)
        adopt_stages(recipe.stages(), recipe.out_dir, adopt.resolve(), ADOPTABLE, log)
    return run_stages(recipe.stages(), recipe.out_dir, only, until, log=log)
