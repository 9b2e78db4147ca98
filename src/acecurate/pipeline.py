"""Stages, pipeline configs (YAML -> dataclasses), column checks, per-stage checkpoints, resume and stats.

A stage is a plain function `(frame, config, ctx) -> StageResult`: rows in, kept and removed rows out, each removed
row with a `reason` code. It is registered with the columns it needs, so the pipeline can check every stage's inputs
before any expensive work starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from . import __version__
from .errors import AcecurateError, ConfigError
from .io import read_parquet, write_json, write_parquet


@dataclass
class StageResult:
    kept: Any  # pandas.DataFrame
    removed: Any  # pandas.DataFrame with a `reason` column
    stats: dict = field(default_factory=dict)


def split_by_reason(frame, reasons, stats: dict | None = None) -> StageResult:
    """The StageResult for per-row reason codes: rows whose reason is None are kept, the others removed with it."""
    import numpy as np

    reason = np.asarray(reasons, dtype=object)
    mask = np.array([r is not None for r in reason], dtype=bool)
    removed = frame[mask].copy()
    removed["reason"] = reason[mask]
    return StageResult(frame[~mask].copy(), removed, stats or {})


@dataclass
class StageDef:
    name: str
    config_cls: type
    run: Callable
    requires: tuple[str, ...]
    adds: tuple[str, ...]
    help: str


STAGES: dict[str, StageDef] = {}


def stage(name: str, config_cls: type, *, requires: tuple[str, ...], adds: tuple[str, ...] = ()):
    """Register a stage function under `name`."""

    def register(fn):
        STAGES[name] = StageDef(name, config_cls, fn, requires, adds, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return register


def _load_stage_modules() -> None:
    # Importing the modules registers their stages; kept here so that `acecurate --help` imports none of them.
    from . import codetests, dedup, decontam, difficulty, formats  # noqa: F401
    from .verify import stages  # noqa: F401


# ---------------------------------------------------------------- config

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


@dataclass
class StageConfig:
    stage: str
    config: Any


@dataclass
class PipelineConfig:
    name: str
    domain: str
    stages: list[StageConfig]
    source_file: str = ""
    raw_yaml: str = ""


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


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def load_pipeline(path: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    _load_stage_modules()
    path = Path(path)
    if not path.exists():
        raise AcecurateError(f"{path}: no such pipeline file")
    raw_yaml = path.read_text()
    try:
        data = yaml.safe_load(raw_yaml) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    return pipeline_from_dict(data, str(path), raw_yaml, parse_overrides(list(overrides)))


def pipeline_from_dict(data: dict, source: str, raw_yaml: str = "", overrides: dict | None = None) -> PipelineConfig:
    _load_stage_modules()
    problems: list[str] = []
    overrides = dict(overrides or {})
    for key in data:
        if key not in ("name", "domain", "stages"):
            problems.append(f"unknown key '{key}' (known: name, domain, stages)")
    domain = data.get("domain")
    if domain not in ("math", "code"):
        problems.append(f"domain: expected 'math' or 'code', got {domain!r}")
    stages = []
    for index, entry in enumerate(data.get("stages") or []):
        if not isinstance(entry, dict) or len(entry) != 1:
            problems.append(f"stages[{index}]: expected one mapping like '- dedup: {{...}}', got {entry!r}")
            continue
        ((name, values),) = entry.items()
        if name not in STAGES:
            problems.append(f"stages[{index}]: unknown stage '{name}' (known: {', '.join(sorted(STAGES))})")
            continue
        merged = _deep_merge(values or {}, overrides.pop(name, {}))
        config = build_dataclass(STAGES[name].config_cls, merged, f"stages[{index}].{name}", problems)
        stages.append(StageConfig(name, config))
    if not data.get("stages"):
        problems.append("stages: the pipeline lists no stages")
    for name in overrides:
        problems.append(f"--set {name}.*: the pipeline has no stage '{name}'")
    if problems:
        raise ConfigError(source, problems)
    return PipelineConfig(data.get("name") or Path(source).stem, domain, stages, source, raw_yaml or yaml.safe_dump(data))


def single_stage_pipeline(name: str, domain: str, values: dict) -> PipelineConfig:
    return pipeline_from_dict({"name": name, "domain": domain, "stages": [{name: values}]}, f"acecurate {name}")


# ---------------------------------------------------------------- running

@dataclass
class RunContext:
    """What a stage may use besides its rows: its folder (for caches), the shared progress display, worker count."""

    run_dir: Path
    stage_dir: Path
    domain: str
    workers: int
    progress: Any = None  # rich.progress.Progress or None

    def track(self, iterable, total: int, description: str):
        if self.progress is None:
            yield from iterable
            return
        task = self.progress.add_task(description, total=total)
        for item in iterable:
            yield item
            self.progress.advance(task)
        self.progress.remove_task(task)


@dataclass
class StageSummary:
    name: str
    rows_in: int
    kept: int
    removed: int
    reasons: dict[str, int]
    seconds: float
    cached: bool
    stats: dict


@dataclass
class RunSummary:
    run_dir: Path
    rows_in: int
    rows_out: int
    stages: list[StageSummary]
    train_path: Path
    removed_path: Path
    card_path: Path | None


def check_columns(pipeline: PipelineConfig, columns: set[str]) -> None:
    """Fail before any work if a stage needs a column that neither the input nor an earlier stage provides."""
    available = set(columns)
    problems = []
    for index, stage_cfg in enumerate(pipeline.stages):
        spec = STAGES[stage_cfg.stage]
        missing = [c for c in spec.requires if c not in available]
        if missing:
            problems.append(f"stage {index} '{spec.name}' needs column(s) {', '.join(missing)}; available: {', '.join(sorted(available))}")
        available |= set(spec.adds)
    if problems:
        raise ConfigError(pipeline.source_file or pipeline.name, problems)


def _config_json(config) -> dict:
    return dataclasses.asdict(config)


def _key(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def input_key(paths: list[str], extra: dict) -> str:
    """Content hash of the inputs, so an edited input file reruns the pipeline."""
    digest = hashlib.sha256()
    for p in paths:
        path = Path(p)
        digest.update(str(p).encode())
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def _removed_frame(removed, stage_name: str):
    removed = removed.copy()
    removed.insert(0, "removed_by", stage_name)
    return removed


def run_stage(stage_cfg: StageConfig, frame, ctx: RunContext) -> StageResult:
    spec = STAGES[stage_cfg.stage]
    result = spec.run(frame, stage_cfg.config, ctx)
    if len(result.kept) + len(result.removed) != len(frame):
        raise AcecurateError(f"stage {spec.name} lost rows: {len(frame)} in, {len(result.kept)} kept + {len(result.removed)} removed")
    if len(result.removed) and ("reason" not in result.removed or result.removed["reason"].isna().any()):
        raise AcecurateError(f"stage {spec.name} removed rows without a reason")
    return result


def run_pipeline(pipeline: PipelineConfig, inputs: list[str], out: str | Path, *, mapping: dict | None = None,
                 workers: int = 2, command: str = "", progress=None, write_card: bool = True) -> RunSummary:
    """Run every stage in order into `out`, skipping stages whose config and input are unchanged since their last run."""
    import pandas as pd

    from .records import load_inputs

    run_dir = Path(out)
    frame = load_inputs(inputs, mapping=mapping, domain=pipeline.domain)
    check_columns(pipeline, set(frame.columns))
    run_dir.mkdir(parents=True, exist_ok=True)
    rows_in = len(frame)
    key = input_key(inputs, {"mapping": mapping or {}, "domain": pipeline.domain, "version": __version__})
    summaries, removed_frames = [], []
    for index, stage_cfg in enumerate(pipeline.stages):
        stage_dir = run_dir / f"{index:02d}-{stage_cfg.stage}"
        config = _config_json(stage_cfg.config)
        key = _key(key, stage_cfg.stage, config, __version__)
        stats_path = stage_dir / "stats.json"
        started = time.perf_counter()
        previous = json.loads(stats_path.read_text()) if stats_path.exists() else None
        if previous and previous.get("key") == key and (stage_dir / "kept.parquet").exists() and (stage_dir / "removed.parquet").exists():
            kept, removed, cached, stats = read_parquet(stage_dir / "kept.parquet"), read_parquet(stage_dir / "removed.parquet"), True, previous
        else:
            stats_path.unlink(missing_ok=True)  # the marker goes first: a crash from here on leaves the stage incomplete
            ctx = RunContext(run_dir, stage_dir, pipeline.domain, workers, progress)
            stage_dir.mkdir(parents=True, exist_ok=True)
            write_json(stage_dir / "config.json", {"stage": stage_cfg.stage, **config})
            result = run_stage(stage_cfg, frame, ctx)
            kept, removed = result.kept.reset_index(drop=True), _removed_frame(result.removed, stage_cfg.stage)
            write_parquet(stage_dir / "kept.parquet", kept)
            write_parquet(stage_dir / "removed.parquet", removed)
            reasons = dict(Counter(removed["reason"])) if len(removed) else {}
            stats = {"key": key, "stage": stage_cfg.stage, "rows_in": len(frame), "kept": len(kept), "removed": len(removed),
                     "reasons": reasons, "seconds": round(time.perf_counter() - started, 3), **result.stats}
            write_json(stats_path, stats)
            cached = False
        summaries.append(StageSummary(stage_cfg.stage, stats["rows_in"], stats["kept"], stats["removed"], stats["reasons"],
                                      round(time.perf_counter() - started, 3), cached, stats))
        removed_frames.append(removed)
        frame = kept

    train_path, removed_path = run_dir / "data" / "train.parquet", run_dir / "removed.parquet"
    write_parquet(train_path, frame)
    all_removed = pd.concat([r for r in removed_frames if len(r)], ignore_index=True) if any(len(r) for r in removed_frames) else removed_frames[0]
    write_parquet(removed_path, all_removed)
    summary = RunSummary(run_dir, rows_in, len(frame), summaries, train_path, removed_path, None)
    if write_card:
        from .card import write_card as make_card

        summary.card_path = make_card(summary, pipeline, inputs, command, frame, all_removed)
    return summary
