"""The one config schema: dataclasses filled from YAML (pipelines/*.yaml, recipes) and overridden by `--set` flags.
Unknown keys, missing keys and wrong types are all reported at once, as one ConfigError."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from .errors import AcecurateError, ConfigError

# Option names whose values are never written down (api_key, hf_token, password, ...; not max_tokens).
SECRET = re.compile(r"(?:^|[._])(?:api_?key|key|token|secret|password|auth|authorization)$", re.I)


def hide_secrets(argv: list[str]) -> list[str]:
    """The command line as recorded: `--set sampler.options.api_key=...` keeps its key and loses its value."""
    return [f"{a.partition('=')[0]}=(hidden)" if "=" in a and SECRET.search(a.partition("=")[0]) else a for a in argv]


def hide_secret_values(value):
    """A config mapping as recorded (cards, config.json): values of secret-looking keys become "(hidden)"."""
    if isinstance(value, dict):
        return {k: "(hidden)" if isinstance(k, str) and SECRET.search(k) else hide_secret_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hide_secret_values(v) for v in value]
    return value


def setting(default=dataclasses.MISSING, help: str = "", *, factory=None):
    """A dataclass field with a help text (shown by the generated `--help` of each stage command)."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from a file; a missing file or bad YAML is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise AcecurateError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), [f"expected a mapping at the top, got {type(data).__name__}"])
    return data


def _type_ok(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(annotation) or (Any,)
        return isinstance(value, (list, tuple)) and all(_type_ok(v, item_type) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def build_dataclass(cls: type, values: dict | None, where: str, problems: list[str]):
    """Fill dataclass `cls` from a dict; every unknown key, missing field and wrong type is added to `problems`."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            problems.append(f"{where}: unknown key '{key}' (known: {', '.join(known)})")
    kwargs = {}
    for name, fld in known.items():
        if name not in values:
            if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                problems.append(f"{where}: missing required key '{name}'")
            continue
        nested = [t for t in (typing.get_args(hints[name]) or (hints[name],)) if dataclasses.is_dataclass(t)]
        if nested and isinstance(values[name], dict):  # a nested section, also when it is optional (X | None)
            kwargs[name] = build_dataclass(nested[0], values[name], f"{where}.{name}", problems)
            continue
        if not _type_ok(values[name], hints[name]):
            problems.append(f"{where}.{name}: expected {getattr(hints[name], '__name__', hints[name])}, got {values[name]!r}")
            continue
        kwargs[name] = values[name]
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def parse_overrides(overrides: list[str]) -> dict[str, dict[str, Any]]:
    """`--set decontaminate.n=13` -> {"decontaminate": {"n": 13}} (values are YAML)."""
    parsed: dict[str, dict[str, Any]] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        stage_name, *path = [part.strip() for part in key.split(".")]
        if not sep or not path:
            raise ConfigError("--set", [f"'{item}' is not STAGE.KEY=VALUE"])
        target = parsed.setdefault(stage_name, {})
        for part in path[:-1]:  # difficulty.sampler.model=X sets a nested key
            target = target.setdefault(part, {})
        target[path[-1]] = yaml.safe_load(value)
    return parsed


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged
