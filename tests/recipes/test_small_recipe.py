"""The small recipe: its helpers on a real corpus and a real tiny checkpoint, the CLI's errors, and
the whole smoke recipe end to end through the project's tools (slow), with resume and skipping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from s2tts.checkpoint import init_checkpoint, load_checkpoint
from s2tts.cli import main
from s2tts.data.manifest import read_manifest
from s2tts.errors import RecipeError
from s2tts.inference.packaged import file_sha256, find_packaged, verify_packaged
from s2tts.models.codec import load_codec
from s2tts.recipes.fp16 import export_fp16
from s2tts.recipes.small import (
    DEFAULT_CONFIGS,
    SmallRecipe,
    export_milestone,
    link_training_audio,
    load_settings,
    milestone_recipe,
    write_rl_prompts,
)
from s2tts.recipes.stages import read_marker
from s2tts.recipes.targets import write_targets
from s2tts.recipes.voice import add_voice
from s2tts.training.codec.config import CodecTrainConfig
from s2tts.training.run_config import load_config

SMOKE = DEFAULT_CONFIGS.parent / "smoke"


def test_settings_assignments() -> None:
    s = load_settings(DEFAULT_CONFIGS, ["corpus.path=/x/y", "pretrain.overrides+=steps=5", "codec.hours=0.5"])
    assert s["corpus"]["path"] == "/x/y" and s["codec"]["hours"] == 0.5
    assert s["pretrain"]["overrides"] == ["steps=5"]
    with pytest.raises(RecipeError, match="SECTION.KEY=VALUE"):
        load_settings(DEFAULT_CONFIGS, ["nosection=1"])


def test_every_shipped_tool_config_parses() -> None:
    """The small and smoke configs load with the tools' own config classes."""
    from s2tts.training.codec.config import CodecTrainConfig
    from s2tts.training.lm.config import LMRunConfig
    from s2tts.training.rl.config import RLRunConfig
    from s2tts.training.run_config import load_config

    for folder in (DEFAULT_CONFIGS, SMOKE):
        s = load_settings(folder)
        assert load_config(CodecTrainConfig, folder / s["codec"]["config"]).steps > 0
        for stage in ("pretrain", "sft"):
            assert load_config(LMRunConfig, folder / s[stage]["config"]).steps > 0
        decoder = load_config(CodecTrainConfig, folder / (s["decoder"]["config"] or "decoder.yaml"))
        assert decoder.freeze_codes and decoder.vq.dropout == 0.0  # codes kept; all books at inference
        codec = load_config(CodecTrainConfig, folder / s["codec"]["config"])
        assert (decoder.model, decoder.discriminators) == (codec.model, codec.discriminators)
        assert load_config(RLRunConfig, folder / s["rl"]["config"]).steps > 0
    # the candidate third codec keeps the second's codebooks and frame rate: the LM's shape reads it
    from s2tts.models.codec import CodecConfig

    v2, v3 = (load_config(CodecTrainConfig, DEFAULT_CONFIGS / f"codec-v{n}.yaml") for n in (2, 3))
    a, b = CodecConfig.preset(v2.model.preset), CodecConfig.preset(v3.model.preset)
    assert (a.quantizer, a.frame_length) == (b.quantizer, b.frame_length)
    assert b.encoder.stft_layers > a.encoder.stft_layers and v3.steps > v2.steps
    small = load_config(LMRunConfig, DEFAULT_CONFIGS / load_settings(DEFAULT_CONFIGS)["pretrain"]["config"])
    assert small.model.preset == "cpu-small" and small.save_every <= 250
    assert small.model.text_frontend == "espeak"  # the front-end ablation's choice (docs/small-model.md)
    # the continued pre-training starts from a checkpoint (front end and shape come with it) and
    # re-warms from a rate no higher than the first run's peak
    more = load_config(LMRunConfig, DEFAULT_CONFIGS / "pretrain-more.yaml", ["model.init_from=/x"])
    assert more.optim.lr <= small.optim.lr and more.optim.schedule.warmup_steps > 0
    assert more.model.text_frontend == "text" and more.seed != small.seed  # kept from init_from; new order


def test_codec_audio_is_a_training_subset(recipe_corpus: Path, tmp_path: Path) -> None:
    rows = {u.id: u for u in read_manifest(recipe_corpus / "manifest.parquet")}
    folder = tmp_path / "audio"
    seconds = link_training_audio(recipe_corpus, folder, 30.0, seed=0)
    links = sorted(folder.iterdir())
    assert links and seconds >= 30.0
    for link in links:
        u = rows[link.stem]
        assert (
            u.split == "train" and u.kind == "single" and link.resolve() == (recipe_corpus / u.path).resolve()
        )
    assert seconds == pytest.approx(sum(rows[p.stem].duration_s for p in links))
    # Same arguments, same files; a smaller budget removes the links it no longer wants.
    assert link_training_audio(recipe_corpus, folder, 30.0, seed=0) == seconds
    assert sorted(folder.iterdir()) == links
    link_training_audio(recipe_corpus, folder, 5.0, seed=0)
    assert len(list(folder.iterdir())) < len(links)


def test_rl_prompts_come_from_training_rows(recipe_corpus: Path, tmp_path: Path) -> None:
    rows = read_manifest(recipe_corpus / "manifest.parquet")
    train_text = {u.text for u in rows if u.split == "train"}
    by_path = {str((recipe_corpus / u.path).resolve()): u for u in rows}
    path = tmp_path / "prompts.jsonl"
    count = write_rl_prompts(recipe_corpus, path, 12, reference_share=1.0, seed=0)
    items = [json.loads(line) for line in path.read_text().splitlines()]
    assert count == len(items) == 12
    assert all(item["text"] in train_text for item in items)
    with_ref = [i for i in items if "reference_audio" in i]
    assert with_ref, "reference_share=1 gave no cloning prompt"
    speaker_of_text = {u.text: u.speaker_id for u in rows if u.split == "train"}
    for item in with_ref:
        ref = by_path[item["reference_audio"]]
        assert ref.split == "train" and ref.speaker_id == speaker_of_text[item["text"]]
        assert item["reference_text"] == ref.plain_text and ref.text != item["text"]
    language_of = {u.text: u.language for u in rows if u.split == "train"}
    write_rl_prompts(recipe_corpus, path, 12, reference_share=0.0, seed=0, languages=["en"])
    english = [json.loads(line) for line in path.read_text().splitlines()]
    assert english and {language_of[i["text"]] for i in english} == {"en"}
    with pytest.raises(RecipeError, match="no training-split utterances in xx"):
        write_rl_prompts(recipe_corpus, path, 12, reference_share=0.0, seed=0, languages=["xx"])


def test_fp16_export_loads_and_matches(tmp_path: Path) -> None:
    src = init_checkpoint(tmp_path / "src", "tiny", seed=0)
    size = export_fp16(src, tmp_path / "half")
    original = sum(p.stat().st_size for p in src.iterdir())
    assert size < 0.6 * original
    with safe_open(str(tmp_path / "half" / "model.safetensors"), framework="pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}  # noqa: SIM118
    assert dtypes == {torch.float16}
    full = load_checkpoint(src, dtype="float32").model
    half = load_checkpoint(tmp_path / "half", dtype="float32").model
    for (name, a), (_, b) in zip(full.state_dict().items(), half.state_dict().items(), strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name
    with pytest.raises(RecipeError, match="holds no"):
        export_fp16(tmp_path, tmp_path / "x")


def test_fp16_weights_export_again_byte_for_byte(tmp_path: Path) -> None:
    """A milestone re-exports the committed fp16 codec each time: the bytes must not change, or git
    stores the same codec again (safetensors writes multi-key metadata in a per-map random order)."""
    src = init_checkpoint(tmp_path / "src", "tiny", seed=0, codec_preset="tiny")
    export_fp16(src, tmp_path / "half")
    with safe_open(str(tmp_path / "half" / "codec.safetensors"), framework="pt") as f:
        assert len(f.metadata()) >= 2  # what makes the order matter
    first = {p.name: p.read_bytes() for p in (tmp_path / "half").iterdir()}
    for i in range(6):
        export_fp16(tmp_path / "half", tmp_path / f"again{i}")
        assert {p.name: p.read_bytes() for p in (tmp_path / f"again{i}").iterdir()} == first


def test_export_packages_the_model_with_its_targets(tmp_path: Path) -> None:
    """The export stage writes the packaged layout with the eval stage's targets in its manifest, and
    '--milestone export' ships exactly that (re-verified) into another folder."""
    out = tmp_path / "run"
    init_checkpoint(out / "rl" / "model", "tiny", seed=0, codec_preset="tiny")
    report = out / "eval" / "report"
    report.mkdir(parents=True)
    (report / "summary.json").write_text(json.dumps({"by_category": {"plain": {"wer": 0.12}}, "rtf": 0.4}))
    write_targets(report, out / "rl" / "model")
    recipe = SmallRecipe(out, DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS, ["export.voice=null"]))
    assert recipe._export(out)["mb"] < 5
    manifest = verify_packaged(out / "export")
    targets = {t["name"]: t for t in manifest["eval"]["targets"]}
    assert targets["intelligible"]["value"] == 0.12 and targets["intelligible"]["passed"] is True
    assert targets["cloning"]["passed"] is None and manifest["provenance"]["model"] == "rl"
    ship = tmp_path / "assets" / "small"
    assert main(["recipe", "small", "--out", str(out), "--milestone", "export", "--to", str(ship)]) == 0
    assert verify_packaged(ship)["eval"] == manifest["eval"] and find_packaged(ship) == ship


def test_the_default_voice_is_a_training_clip_of_its_speaker(recipe_corpus: Path, tmp_path: Path) -> None:
    """export.voice packages one training clip of the named speaker (never a held-out one) as the
    model's voice.json: its transcript and its codes from the model's own codec."""
    rows = read_manifest(recipe_corpus / "manifest.parquet")
    by_id = {u.id: u for u in rows}
    speaker = next(u.speaker_id for u in rows if u.split == "train" and u.kind == "single" and not u.tags
                   and 3.0 <= u.duration_s <= 10.0)  # fmt: skip
    out = tmp_path / "run"
    model = init_checkpoint(out / "rl" / "model", "tiny", seed=0, codec_preset="tiny")
    settings = load_settings(
        DEFAULT_CONFIGS,
        [f"corpus.path={recipe_corpus}", f"export.voice={{speaker: '{speaker}', seconds: 5}}"],
    )
    result = SmallRecipe(out, DEFAULT_CONFIGS, 1, settings)._export(out)
    clip = by_id[result["voice"]["corpus_utterance"]]
    assert (clip.speaker_id, clip.split, clip.kind, clip.tags) == (speaker, "train", "single", ())
    assert 3.0 <= clip.duration_s <= 10.0
    voice = load_checkpoint(out / "export").default_voice  # packaged, and it loads with the model
    assert voice is not None and voice.text == clip.plain_text
    codec = load_codec(model)
    assert voice.codes.shape[1] == -(-round(clip.duration_s * codec.sample_rate) // codec.frame_length)
    assert "voice.json" in verify_packaged(out / "export")["files"]

    heldout = next(u.speaker_id for u in rows if u.split == "heldout_speaker")
    with pytest.raises(RecipeError, match="held-out"):
        add_voice(model, recipe_corpus, heldout)
    with pytest.raises(RecipeError, match="not in the corpus"):
        add_voice(model, recipe_corpus, "nobody:at:all")
    # voice: null packages none, and removes a voice.json an earlier export left in the model
    settings["export"]["voice"] = None
    SmallRecipe(out, DEFAULT_CONFIGS, 1, settings)._export(out)
    assert load_checkpoint(out / "export").default_voice is None


def test_without_a_decoder_config_the_codec_stage_codec_is_final(tmp_path: Path) -> None:
    """decoder.config: null (the small recipe's setting) makes the decoder stage a no-op, and RL,
    eval and export speak with the codec stage's codec."""
    recipe = SmallRecipe(
        tmp_path, DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS, ["decoder.config=null"])
    )
    assert next(st for st in recipe.stages() if st.name == "decoder").config == {"enabled": False}
    assert recipe._decoder(tmp_path) == {} and recipe.final_codec == recipe.codec_export


def test_the_decoder_stage_refines_an_exported_codec_named_by_codec_path(tmp_path: Path) -> None:
    """With codec.path (a milestone: exported weights, no training checkpoint) the decoder stage
    starts the codec trainer from those weights with the codes frozen, and RL, eval and export then
    speak with its result; without codec.path and without a codec-stage checkpoint it says so."""
    milestone = tmp_path / "milestone"
    milestone.mkdir()
    (milestone / "codec.safetensors").write_bytes(b"weights")
    calls: list[list[str]] = []

    def runner(args: list[str], log: Path) -> dict:
        calls.append(args)
        out = Path(next(a for a in args if a.startswith("out_dir=")).split("=", 1)[1])
        (out / "export").mkdir(parents=True)
        (out / "export" / "codec.safetensors").write_bytes(b"refined")
        return {}

    settings = load_settings(DEFAULT_CONFIGS, [f"codec.path={milestone}", "decoder.config=decoder-gan.yaml"])
    recipe = SmallRecipe(tmp_path / "run", DEFAULT_CONFIGS, 1, settings, runner=runner)
    outputs = recipe._decoder(tmp_path / "run")
    assert calls[0][:2] == ["train", "codec"]
    assert f"model.init_from={milestone.resolve()}" in calls[0] and "freeze_codes=true" in calls[0]
    assert not any(a.startswith("weights_from=") for a in calls[0])
    assert outputs == {"codec": str(tmp_path / "run" / "codec" / "decoder" / "export"), "from": "milestone"}
    # the GAN refinement config keeps the codec stage's shapes and every code
    gan = load_config(CodecTrainConfig, DEFAULT_CONFIGS / "decoder-gan.yaml")
    codec = load_config(CodecTrainConfig, DEFAULT_CONFIGS / settings["codec"]["config"])
    assert gan.freeze_codes and gan.phases.gan_start == 0 and gan.vq.dropout == 0.0
    assert (gan.model, gan.discriminators) == (codec.model, codec.discriminators)
    trained = SmallRecipe(tmp_path / "other", DEFAULT_CONFIGS, 1,
                          load_settings(DEFAULT_CONFIGS, ["decoder.config=decoder-gan.yaml"]), runner=runner)  # fmt: skip
    with pytest.raises(RecipeError, match="no training checkpoint"):
        trained._decoder(tmp_path / "other")


def test_the_corpus_stage_makes_the_corpus_the_shipped_model_was_trained_on(tmp_path: Path) -> None:
    """Without corpus.path the recipe runs 's2tts data synth' with the settings the shipped model's
    corpus was made with (docs/small-model.md), and a changed speaking rate is a different corpus."""
    calls: list[list[str]] = []
    recipe = SmallRecipe(tmp_path, DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS),
                         runner=lambda args, log: calls.append(args) or {})  # fmt: skip
    recipe._corpus(tmp_path)
    args = calls[0]
    flags = {args[i]: args[i + 1] for i in range(2, len(args) - 1, 2)}
    assert args[:2] == ["data", "synth"]
    assert (flags["--hours"], flags["--seed"], flags["--languages"]) == ("20", "0", "en,de,es")
    assert float(flags["--chars-per-second"]) == 15.0
    faster = SmallRecipe(
        tmp_path, DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS, ["corpus.chars_per_second=17"])
    )
    assert faster._corpus_config() != recipe._corpus_config()


def test_an_exported_codec_replaces_the_codec_stage(tmp_path: Path) -> None:
    """codec.path: the pipeline tokenizes with that codec, nothing trains, and the stage's hash
    follows the codec's weights (a different codec re-runs everything after it)."""
    codec = init_checkpoint(tmp_path / "codec", "tiny", seed=0, codec_preset="tiny")
    calls: list[list[str]] = []
    recipe = SmallRecipe(
        tmp_path / "run",
        DEFAULT_CONFIGS,
        1,
        load_settings(DEFAULT_CONFIGS, [f"codec.path={codec}", "corpus.path=/data/corpus"]),
        runner=lambda args, log: calls.append(args) or {},
    )
    config = recipe._tool_config("codec")
    assert config == {"path": str(codec), "sha256": file_sha256(codec / "codec.safetensors")}
    assert recipe._codec(tmp_path) == {"codec": str(codec)} and calls == []  # nothing trained
    recipe._pipeline(tmp_path)
    assert calls[0][calls[0].index("--codec") + 1] == str(codec)
    init_checkpoint(codec, "tiny", seed=1, codec_preset="tiny", force=True)
    assert recipe._tool_config("codec") != config
    # without it, the stage trains, and its hash is its settings alone (as before the key existed)
    trained = SmallRecipe(tmp_path / "run", DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS))
    assert "path" not in trained._tool_config("codec")
    assert trained.codec_export == tmp_path / "run" / "codec" / "run" / "export"
    (codec / "codec.safetensors").unlink()
    with pytest.raises(RecipeError, match="has no codec.safetensors"):
        recipe._tool_config("codec")


def test_a_codec_milestone_is_the_codec_alone_in_fp16(tmp_path: Path) -> None:
    """--milestone codec: the codec stage's codec in fp16, loadable, and what codec.path takes."""
    run = tmp_path / "run"
    export = init_checkpoint(run / "codec" / "run" / "export", "tiny", seed=0, codec_preset="tiny")
    recipe = milestone_recipe(run, DEFAULT_CONFIGS)
    with pytest.raises(RecipeError, match="no codec yet"):
        export_milestone(milestone_recipe(tmp_path / "empty", DEFAULT_CONFIGS), "codec", tmp_path / "x")
    info = export_milestone(recipe, "codec", tmp_path / "codec")
    assert sorted(p.name for p in (tmp_path / "codec").iterdir()) == [
        "codec.safetensors",
        "codec_config.json",
    ]
    assert info["mb"] < 0.6 * (export / "codec.safetensors").stat().st_size / 1e6
    with safe_open(str(tmp_path / "codec" / "codec.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    full, half = load_codec(export).eval(), load_codec(tmp_path / "codec").eval()
    codes = full.encode(torch.sin(torch.arange(8192) / 9.0) * 0.3, 44100)[0]
    a, b = full.decode(codes), half.decode(codes)
    assert (a - b).norm() < 1e-2 * a.norm()  # the same codec, rounded to fp16
    resumed = SmallRecipe(
        run, DEFAULT_CONFIGS, 1, load_settings(DEFAULT_CONFIGS, [f"codec.path={tmp_path / 'codec'}"])
    )
    assert resumed._tool_config("codec")["path"] == str(tmp_path / "codec")


def test_a_milestone_reads_the_corpus_its_run_used(tmp_path: Path) -> None:
    """Without corpus.path, a milestone takes the corpus the run's corpus stage recorded (the
    default voice's clip comes from it); a given corpus.path wins. The same for the codec."""
    (tmp_path / "stages").mkdir()
    marker = {"stage": "corpus", "hash": "x", "outputs": {"corpus": "/data/corpus/synth"}}
    (tmp_path / "stages" / "corpus.json").write_text(json.dumps(marker))
    assert milestone_recipe(tmp_path, DEFAULT_CONFIGS).corpus == Path("/data/corpus/synth")
    assert milestone_recipe(tmp_path, DEFAULT_CONFIGS, ["corpus.path=/elsewhere"]).corpus == Path(
        "/elsewhere"
    )
    assert milestone_recipe(tmp_path / "fresh", DEFAULT_CONFIGS).corpus == tmp_path / "fresh" / "corpus"
    # the codec likewise: the one the codec stage recorded (a codec.path of the run's start command)
    assert milestone_recipe(tmp_path, DEFAULT_CONFIGS).codec_export == tmp_path / "codec" / "run" / "export"
    marker = {"stage": "codec", "hash": "x", "outputs": {"codec": "/models/small-resume"}}
    (tmp_path / "stages" / "codec.json").write_text(json.dumps(marker))
    assert milestone_recipe(tmp_path, DEFAULT_CONFIGS).codec_export == Path("/models/small-resume")


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recipe", "small", "--out", str(tmp_path), "--stages", "bogus"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown stage 'bogus'" in err[0]
    assert main(["recipe", "small", "--out", str(tmp_path), "--milestone", "pretrain"]) != 0
    assert "--milestone needs --to" in capsys.readouterr().err


@pytest.mark.slow
def test_smoke_recipe_end_to_end_resumes_and_skips(
    recipe_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    rows = read_manifest(recipe_corpus / "manifest.parquet")
    speaker = next(u.speaker_id for u in rows if u.split == "train" and u.kind == "single" and not u.tags
                   and 3.0 <= u.duration_s <= 10.0)  # fmt: skip
    voice = f"export.voice={{speaker: '{speaker}'}}"  # the default voice, evaluated and shipped
    base = ["recipe", "small", "--configs", str(SMOKE), "--out", str(out), "--threads", "1",
            "--set", f"corpus.path={recipe_corpus}", "--set", voice]  # fmt: skip
    assert main([*base, "--until", "codec"]) == 0
    first = {n: read_marker(out, n) for n in ("corpus", "codec")}
    assert read_marker(out, "pipeline") is None
    capsys.readouterr()

    assert main(base) == 0  # resumes: corpus and codec are not run again
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stages"]
    assert [(s["stage"], s["status"]) for s in status] == [
        ("corpus", "skipped"), ("codec", "skipped"), ("pipeline", "ran"), ("pretrain", "ran"),
        ("sft", "ran"), ("decoder", "ran"), ("rl", "ran"), ("eval", "ran"), ("export", "ran"),
    ]  # fmt: skip
    assert all(read_marker(out, n) == first[n] for n in first)

    # What the stages made: shards, the exported fp16 model with its codec, an evaluation report.
    assert any((out / "data" / "shards").glob("*.npy"))
    export = out / "export"
    with safe_open(str(export / "model.safetensors"), framework="pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    assert (export / "codec.safetensors").is_file()
    manifest = verify_packaged(export)  # the packaged layout: every file hashed in its manifest
    provenance = manifest["provenance"]
    assert provenance["model"] == "rl" and set(provenance["stages"]) >= {"pretrain", "sft", "rl"}
    assert [t["name"] for t in manifest["eval"]["targets"]][0] == "intelligible"
    assert not load_checkpoint(export, dtype="float32").random_weights
    assert load_codec(export).num_codebooks == 10  # the tiny codec of the smoke configs
    # it speaks with the decoder stage's codec: the codec stage's codes, a further-trained decoder
    refined, first_codec = load_codec(export).eval(), load_codec(out / "codec" / "run" / "export").eval()
    wave = torch.sin(torch.arange(8192) / 9.0) * 0.3
    codes = first_codec.encode(wave, 44100)[0]
    assert torch.equal(refined.encode(wave, 44100)[0], codes)
    assert not torch.allclose(refined.decode(codes), first_codec.decode(codes))
    assert any((out / "eval" / "report").iterdir())
    # evaluated as shipped: the default voice was beside the model the eval stage ran, and ships
    evaluated = load_checkpoint(out / "rl" / "model").default_voice
    assert evaluated is not None and "voice.json" in manifest["files"]
    assert torch.equal(load_checkpoint(export).default_voice.codes, evaluated.codes)
    # and RL's rollouts without a reference spoke in it: it was beside the SFT model RL started from
    rl_voice = load_checkpoint(out / "lm" / "sft" / "model").default_voice
    assert rl_voice is not None and torch.equal(rl_voice.codes, evaluated.codes)
    targets = json.loads((out / "eval" / "report" / "targets.json").read_text())
    assert [t["name"] for t in targets][0] == "intelligible" and targets[0]["value"] is not None

    assert main(base) == 0  # everything done: nothing runs
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stages"]
    assert {s["status"] for s in status} == {"skipped"}

    # A milestone: the latest SFT checkpoint as fp16 weights beside the codec, loadable.
    models = tmp_path / "models"
    milestone = [
        "recipe",
        "small",
        "--configs",
        str(SMOKE),
        "--out",
        str(out),
        "--to",
        str(models),
        "--set",
        voice,
        "--milestone",
    ]
    assert main([*milestone, "sft"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["stage"] == "sft" and info["checkpoint"].startswith("step-")
    assert (
        not load_checkpoint(models, dtype="float32").random_weights
        and (models / "codec.safetensors").is_file()
    )
    assert find_packaged(models) == models and verify_packaged(models)["eval"] is None
    assert load_checkpoint(models).default_voice is not None  # a milestone carries the voice too
    # the export stage's result (with its evaluation) is what ships
    assert main([*milestone, "export"]) == 0
    assert verify_packaged(models)["eval"] == manifest["eval"]

    # A changed SFT setting re-runs SFT and what reads it, not what comes before.
    assert main([*base, "--set", "sft.overrides+=optim.lr=5e-4", "--until", "sft"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stages"]
    assert [s["status"] for s in status] == ["skipped"] * 4 + ["ran"]
    # The decoder stage reads only the corpus and the codec: an SFT change leaves it done.
    assert main([*base, "--stages", "decoder"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stages"]
    assert [(s["stage"], s["status"]) for s in status] == [("decoder", "skipped")]

    # A variant in another folder (--adopt): the first run's data stages are done there and read in
    # place; only the changed pre-training runs, on the first run's shards and with its codec.
    variant = tmp_path / "variant"
    args = [*base[:5], str(variant), *base[6:], "--adopt", str(out)]
    assert main([*args, "--set", "pretrain.overrides+=optim.lr=1e-3", "--until", "pretrain"]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stages"]
    assert [s["status"] for s in status] == ["skipped"] * 3 + ["ran"]
    assert not (variant / "data").exists() and not (variant / "codec").exists()
    assert read_marker(variant, "pipeline")["adopted_from"] == str(out.resolve())
    config = yaml.safe_load((variant / "lm" / "pretrain" / "config.yaml").read_text())
    assert config["data"]["path"] == str(out.resolve() / "data" / "shards")
    codec = (variant / "lm" / "pretrain" / "model" / "codec.safetensors").read_bytes()
    assert codec == (out / "codec" / "run" / "export" / "codec.safetensors").read_bytes()
    assert main(["recipe", "small", "--out", str(variant), "--compute"]) == 0
    assert f"adopted from {out.resolve()}" in capsys.readouterr().out


def test_cpu_small_lm_fits_the_cpu_small_codec_and_byte_tokenizer() -> None:
    """The LM preset carries the codec's code layout itself (codec_preset: null in pretrain.yaml)."""
    from s2tts.checkpoint import preset_with_tokenizer
    from s2tts.models.codec import CodecConfig
    from s2tts.models.config import DualARConfig
    from s2tts.models.dual_ar import DualARTransformer

    lm = DualARConfig.preset("cpu-small")
    codec = CodecConfig.preset("cpu-small")
    assert lm.num_codebooks == codec.num_codebooks == 4
    assert lm.codebook_size == codec.quantizer.semantic_codebook_size == 1024
    made, tokenizer = preset_with_tokenizer("cpu-small", None)
    assert made == lm and lm.semantic_begin_id == tokenizer.semantic_begin_id
    for name in ("cpu-small", "cpu-small-stft"):  # naming the codec preset gives the same LM
        assert preset_with_tokenizer("cpu-small", name)[0] == lm
    params = sum(p.numel() for p in DualARTransformer(lm).parameters())
    assert 2 * params < 30e6  # fp16 LM weights well inside the 60 MB budget with the codec
