"""Run configs: nested dataclasses loaded from YAML or TOML, with ``a.b=value`` overrides.

A trainer declares its config as plain (optionally nested) dataclasses with defaults; this module
fills them from a file and from command-line overrides, strictly:

* unknown keys are an error (a typo must not silently train with the default);
* values are converted to the declared type (``int``, ``float``, ``bool``, ``str``, ``Path``,
  ``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, nested
  dataclasses), and anything that does not fit raises :class:`~s2tts.errors.TrainConfigError`
  naming the dotted key;
* a field without a default that the file does not set is an error;
* a nested dataclass given in part keeps its defaults for the keys not given, while a mapping field
  (``dict[str, X]``) given in a file is taken as written: its default entries are not merged in.

API::

    @dataclass
    class OptimConfig:
        lr: float = 3e-4
        betas: tuple[float, float] = (0.9, 0.95)

    @dataclass
    class RunConfig:
        out_dir: Path = Path("runs/x")
        optim: OptimConfig = field(default_factory=OptimConfig)

    cfg = load_config(RunConfig, "configs/train/x.yaml", ["optim.lr=1e-4", "out_dir=/tmp/r"])
    config_to_dict(cfg)          # plain JSON/YAML-able dict (Paths as str, tuples as lists)
    save_config(cfg, "run.yaml") # what a checkpoint stores beside the weights

Override values are parsed as YAML scalars/flow values (``a.b=[1,2]``, ``a.c=null``,
``a.d=true``), then converted like file values; ``1e-4`` (a string in YAML 1.1) becomes a float
when the field is a float.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from s2tts.errors import TrainConfigError

T = TypeVar("T")

__all__ = [
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "parse_overrides",
    "read_config_file",
    "save_config",
]


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``.yaml``/``.yml``/``.toml``/``.json`` file into a dict."""
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as exc:  # parse errors of three libraries
        raise TrainConfigError(f"cannot parse {path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TrainConfigError(f"{path} must hold a mapping at top level")
    return data


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise TrainConfigError(f"override {item!r} is not of the form a.b=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise TrainConfigError(f"override {item!r} conflicts with an earlier override of {part!r}")
            node = nxt
        node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _overlay(default: Any, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` (a partial mapping) over a dataclass default: a nested dataclass field is updated
    key by key, any other field is replaced by what is given -- a ``dict[str, X]`` too, so a config
    that names its reward terms gets those terms, not those plus the defaults."""
    out = config_to_dict(default)
    for key, v in value.items():
        sub = getattr(default, key, None)
        out[key] = _overlay(sub, v) if isinstance(v, Mapping) and dataclasses.is_dataclass(sub) else v
    return out


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build ``cls`` from an optional file plus ``a.b=value`` overrides (overrides win)."""
    data = read_config_file(path) if path is not None else {}
    data = _merge(data, parse_overrides(overrides))
    return config_from_dict(cls, data)


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Strictly convert a nested mapping to dataclass ``cls``; errors name the dotted key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise TrainConfigError(f"'{where.rstrip('.') or '<root>'}' must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TrainConfigError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"known under '{where.rstrip('.') or '<root>'}': {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = where + name
        if name in data:
            value = data[name]
            default = _default(f)
            if isinstance(value, Mapping) and dataclasses.is_dataclass(default):
                # a partial mapping updates the field's own default, not the class defaults
                value = _overlay(default, value)
            kwargs[name] = _convert(value, hints[name], key)
        elif (
            dataclasses.is_dataclass(hints[name])
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            kwargs[name] = config_from_dict(hints[name], {}, key + ".")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TrainConfigError(f"config is missing required key '{key}'")
    try:
        return cls(**kwargs)
    except TrainConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise TrainConfigError(f"invalid config '{where.rstrip('.') or '<root>'}': {exc}") from exc


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return value
    if origin is Union or (sys.version_info >= (3, 10) and isinstance(tp, types.UnionType)):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except TrainConfigError as exc:
                errors.append(str(exc))
        raise TrainConfigError(errors[0] if len(errors) == 1 else f"'{key}': {value!r} fits none of {tp}")
    if origin is Literal:
        if value not in args:
            raise TrainConfigError(f"'{key}' must be one of {list(args)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and isinstance(value, tp):
            return value
        return config_from_dict(tp, value, key + ".")
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TrainConfigError(f"'{key}' must be a list, got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise TrainConfigError(f"'{key}' must have {len(args)} items, got {len(value)}")
            return tuple(
                _convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise TrainConfigError(f"'{key}' must be a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise TrainConfigError(f"'{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise TrainConfigError(f"'{key}' must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    f = float(value)
                except ValueError:
                    f = None
                if f is not None and f.is_integer():
                    return int(f)
        raise TrainConfigError(f"'{key}' must be an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise TrainConfigError(f"'{key}' must be a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise TrainConfigError(f"'{key}' must be a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise TrainConfigError(f"'{key}' must be a string, got {value!r}")
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise TrainConfigError(f"'{key}' must be a path, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise TrainConfigError(f"'{key}': cannot convert {value!r} to {tp}")


def config_to_dict(cfg: Any) -> Any:
    """A dataclass (tree) as plain dicts/lists/scalars (Paths as strings), for JSON/YAML/checkpoints."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def save_config(cfg: Any, path: str | Path) -> None:
    """Write ``cfg`` as YAML (or JSON if the path ends in .json)."""
    path = Path(path)
    data = config_to_dict(cfg)
    if path.suffix == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
