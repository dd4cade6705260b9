"""Run configs: file + overrides -> typed nested dataclasses; bad keys and values are typed errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from s2tts.errors import TrainConfigError
from s2tts.training.run_config import config_to_dict, load_config, parse_overrides, save_config


@dataclass
class Optim:
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.95)
    kind: Literal["adamw", "sgd"] = "adamw"


@dataclass
class Run:
    name: str
    out_dir: Path = Path("runs/default")
    steps: int = 10
    bf16: bool = False
    seed: int | None = None
    tags: list[str] = field(default_factory=list)
    lrs: dict[str, float] = field(default_factory=dict)
    optim: Optim = field(default_factory=Optim)
    disc: Optim = field(default_factory=lambda: Optim(lr=1e-3))


def test_yaml_file_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("name: a\nsteps: 5\noptim:\n  lr: 0.01\n  betas: [0.5, 0.9]\ntags: [x]\n")
    cfg = load_config(Run, f, ["optim.lr=1e-4", "disc.kind=sgd", "bf16=true", "seed=7", "out_dir=/tmp/r"])
    assert cfg.name == "a" and cfg.steps == 5
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float)  # YAML reads 1e-4 as a string
    assert cfg.optim.betas == (0.5, 0.9)
    assert cfg.disc.kind == "sgd" and cfg.disc.lr == 1e-3  # the factory default survives
    assert cfg.bf16 is True and cfg.seed == 7 and cfg.out_dir == Path("/tmp/r") and cfg.tags == ["x"]


@dataclass
class Rewards:
    terms: dict[str, float] = field(default_factory=lambda: {"asr": 1.0, "mos": 0.25})
    gate: Optim = field(default_factory=lambda: Optim(lr=0.5, kind="sgd"))


@dataclass
class Rl:
    rewards: Rewards = field(default_factory=Rewards)


def test_a_mapping_field_is_taken_as_written_and_a_nested_default_is_updated(tmp_path: Path) -> None:
    """A file that names its reward terms trains with those terms only (the defaults were merged in
    before, silently adding rewards the config did not name), while a nested dataclass given in part
    keeps its own default's other keys; overrides still update the file's mapping key by key."""
    f = tmp_path / "rl.yaml"
    f.write_text("rewards:\n  terms: {asr: 2.0}\n  gate: {lr: 0.1}\n")
    cfg = load_config(Rl, f)
    assert cfg.rewards.terms == {"asr": 2.0}
    assert (cfg.rewards.gate.lr, cfg.rewards.gate.kind) == (0.1, "sgd")  # the field's default, updated
    assert load_config(Rl, f, ["rewards.terms.sim=0.5"]).rewards.terms == {"asr": 2.0, "sim": 0.5}
    assert load_config(Rl, None, ["rewards.gate.betas=[0.5,0.6]"]).rewards.terms == {"asr": 1.0, "mos": 0.25}


def test_toml_file(tmp_path: Path) -> None:
    f = tmp_path / "run.toml"
    f.write_text('name = "t"\n[optim]\nlr = 0.5\n[lrs]\ntext = 1e-5\naudio = 2e-4\n')
    cfg = load_config(Run, f)
    assert cfg.optim.lr == 0.5 and cfg.lrs == {"text": 1e-5, "audio": 2e-4}


def test_roundtrip_through_saved_yaml(tmp_path: Path) -> None:
    cfg = load_config(Run, None, ["name=r", "optim.betas=[0.8,0.99]", "seed=null"])
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(Run, tmp_path / "c.yaml")
    assert again == cfg
    assert config_to_dict(cfg)["out_dir"] == "runs/default"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["name=a", "optim.lrr=1"], "optim.lrr"),
        (["name=a", "steps=ten"], "'steps' must be an integer"),
        (["name=a", "steps=1.5"], "'steps' must be an integer"),
        (["name=a", "bf16=maybe"], "'bf16' must be true or false"),
        (["name=a", "optim.kind=adam"], "'optim.kind' must be one of"),
        (["name=a", "optim.betas=[1]"], "'optim.betas' must have 2 items"),
        (["name=a", "optim=3"], "'optim' must be a mapping"),
        ([], "missing required key 'name'"),
        (["name"], "not of the form a.b=value"),
    ],
)
def test_bad_configs_raise_typed_errors(overrides: list[str], needle: str) -> None:
    with pytest.raises(TrainConfigError, match=needle.replace("[", r"\[")):
        load_config(Run, None, overrides)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(TrainConfigError, match="not found"):
        load_config(Run, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(TrainConfigError, match="cannot parse"):
        load_config(Run, bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(TrainConfigError, match="mapping at top level"):
        load_config(Run, listy)


def test_parse_overrides_nests_keys() -> None:
    assert parse_overrides(["a.b.c=1", "a.d=x", "e=[1, 2]"]) == {"a": {"b": {"c": 1}, "d": "x"}, "e": [1, 2]}
