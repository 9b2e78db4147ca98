"""The pipeline runner: a pipeline YAML names stages from `acecurate.stages.STAGES`; `run_pipeline` checks their
columns, runs them in order into a run directory (kept, removed, stats and config per stage), skips stages whose
config and input are unchanged, and writes the dataset, every removed row and the data card.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .config import build_dataclass, deep_merge, hide_secret_values, load_yaml, parse_overrides
from .errors import AcecurateError, ConfigError
from .io import arrow_table, arrow_type, parquet_writer, read_parquet, write_json
from .progress import NullProgress
from .records import CANONICAL_TYPES, write_inputs
from .sandbox.executor import SandboxSettings, configure
from .stage import RunContext, Stage, StageResult
from .stages import STAGE_BY_NAME, STAGES
from .text import plural
from .verify.policy import grader_versions, source_digest

FIRST_STAGE = "input-check"


def output_types() -> dict[str, str]:
    """The one schema of every dataset this tool writes, math or code: the canonical columns, then every column any
    stage adds (null where that stage did not run), so math and code outputs load and concatenate together."""
    types = dict(CANONICAL_TYPES)
    for spec in STAGES:
        types.update(spec.adds)
    return types


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
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)


def load_pipeline(path: str | Path, overrides: list[str] = ()) -> PipelineConfig:
    return pipeline_from_dict(load_yaml(path), str(path), Path(path).read_text(encoding="utf-8"), parse_overrides(list(overrides)))


def pipeline_from_dict(data: dict, source: str, raw_yaml: str = "", overrides: dict | None = None) -> PipelineConfig:
    """Build and check a pipeline; every problem (unknown keys and stages, wrong types, bad --set) is reported at once."""
    problems: list[str] = []
    overrides = dict(overrides or {})
    for key in data:
        if key not in ("name", "domain", "stages", "sandbox"):
            problems.append(f"unknown key '{key}' (known: name, domain, stages, sandbox)")
    sandbox = data.get("sandbox") or {}
    if not isinstance(sandbox, dict):
        problems.append(f"sandbox: expected a mapping of settings, got {sandbox!r}")
        sandbox = {}
    sandbox = build_dataclass(SandboxSettings, deep_merge(sandbox, overrides.pop("sandbox", {})), "sandbox", problems)
    domain = data.get("domain")
    if domain not in ("math", "code", "auto"):
        problems.append(f"domain: expected 'math' or 'code' (or 'auto': from the rows), got {domain!r}")
    entries = list(data.get("stages") or [])
    if not entries:
        problems.append("stages: the pipeline lists no stages")
    first = entries[0] if entries and isinstance(entries[0], dict) and len(entries[0]) == 1 else None
    if first is None or next(iter(first)) != FIRST_STAGE:
        entries.insert(0, {FIRST_STAGE: {}})  # runs first in every pipeline; list it first to change its settings
    stages = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or len(entry) != 1:
            problems.append(f"stages[{index}]: expected one mapping like '- dedup: {{...}}', got {entry!r}")
            continue
        ((name, values),) = entry.items()
        if name not in STAGE_BY_NAME:
            problems.append(f"stages[{index}]: unknown stage '{name}' (known: {', '.join(STAGE_BY_NAME)})")
            continue
        if name == FIRST_STAGE and index:
            problems.append(f"stages[{index}]: '{FIRST_STAGE}' can only come first")
            continue
        if values is not None and not isinstance(values, dict):
            problems.append(f"stages[{index}].{name}: expected a mapping of settings, got {values!r}")
            continue
        merged = deep_merge(values or {}, overrides.pop(name, {}))
        config = build_dataclass(STAGE_BY_NAME[name].config_cls, merged, f"stages[{index}].{name}", problems)
        stages.append(StageConfig(name, config))
    for name in overrides:
        problems.append(f"--set {name}.*: the pipeline has no stage '{name}' (its stages: {', '.join(s.stage for s in stages)})")
    if problems:
        raise ConfigError(source, problems)
    return PipelineConfig(data.get("name") or Path(source).stem, domain, stages, source, raw_yaml or yaml.safe_dump(data), sandbox)


def single_stage_pipeline(name: str, domain: str, values: dict, sandbox: dict | None = None) -> PipelineConfig:
    data = {"name": name, "domain": domain, "stages": [{name: values}], **({"sandbox": sandbox} if sandbox else {})}
    return pipeline_from_dict(data, f"acecurate {name}", yaml.safe_dump(hide_secret_values(data)))


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
    report: dict[str, str] = field(default_factory=dict)
    per_source: dict[str, dict] = field(default_factory=dict)  # source -> {"in", "kept", "removed", "reasons"}
    skipped: str | None = None


@dataclass
class RunSummary:
    run_dir: Path
    rows_in: int
    rows_out: int
    stages: list[StageSummary]
    train_path: Path
    removed_path: Path
    card_path: Path | None
    sources: dict[str, int] = field(default_factory=dict)  # input rows per source
    warnings: list[str] = field(default_factory=list)

    def kept_per_source(self) -> dict[str, list[int]]:
        """Rows of each source left after each stage, in stage order."""
        return {source: [s.per_source.get(source, {}).get("kept", 0) for s in self.stages] for source in self.sources}


def check_columns(pipeline: PipelineConfig, columns: set[str]) -> None:
    """Fail before any work if a stage needs a column that neither the input nor an earlier stage provides."""
    available = set(columns)
    problems = []
    for index, stage_cfg in enumerate(pipeline.stages):
        spec = STAGE_BY_NAME[stage_cfg.stage]
        missing = [c for c in spec.requires if c not in available]
        if missing:
            problems.append(f"stage {index} '{spec.name}' needs column(s) {', '.join(missing)}; available: {', '.join(sorted(available))}")
        available |= set(spec.adds)
    if problems:
        raise ConfigError(pipeline.source_file or pipeline.name, problems)


def check_result(spec: Stage, frame, result: StageResult) -> None:
    """A stage keeps its promises: every row it was given comes back once, kept or removed, under its index; kept
    rows gain the declared columns and keep every other column as it came (unless the stage declares it in
    `modifies`); removed rows carry a reason, its evidence and the declared evidence columns."""
    import numpy as np

    if len(result.kept) + len(result.removed) != len(frame):
        raise AcecurateError(f"stage {spec.name} lost rows: {len(frame)} in, {len(result.kept)} kept + {len(result.removed)} removed")
    returned = np.sort(np.concatenate([result.kept.index.to_numpy(), result.removed.index.to_numpy()]))
    if not np.array_equal(returned, np.arange(len(frame))):
        raise AcecurateError(
            f"stage {spec.name} returned rows under an index it was not given (kept and removed rows keep the input's index)"
        )
    missing = [c for c in spec.adds if c not in result.kept.columns]
    if missing:
        raise AcecurateError(f"stage {spec.name} declares kept-row column(s) {missing} but did not add them")
    undeclared = [c for c in result.kept.columns if c not in frame.columns and c not in spec.adds]
    if undeclared:
        raise AcecurateError(f"stage {spec.name} added undeclared kept-row column(s) {undeclared}")
    if len(result.kept):
        # Column by column: a copy of one input column at a time, not of the whole frame.
        rewritten = [
            c
            for c in frame.columns
            if c in result.kept.columns
            and c not in spec.modifies
            and c not in spec.adds
            and not result.kept[c].equals(frame[c].loc[result.kept.index])
        ]
        if rewritten:
            raise AcecurateError(f"stage {spec.name} rewrote column(s) {rewritten} of kept rows without declaring them (modifies=)")
    needed = ["reason", "evidence", *spec.evidence]
    if len(result.removed):
        absent = [c for c in needed if c not in result.removed.columns]
        if absent:
            raise AcecurateError(f"stage {spec.name} removed rows without column(s) {absent}")
        if result.removed["reason"].isna().any():
            raise AcecurateError(f"stage {spec.name} removed rows without a reason")


REMOVED_TYPES = {"reason": "string", "evidence": "string"}  # a stage's removed rows carry them as text, even all null
BATCH_ROWS = 50_000  # rows per Arrow batch streamed from one stage's rows to the next's


def stage_columns(spec: Stage, available: list[str]) -> list[str]:
    """The columns a stage is handed: those it needs, reads and may rewrite, and every row's id and source."""
    wanted = {"id", "source", *spec.requires, *spec.reads, *spec.modifies}
    return [c for c in available if c in wanted]


def stage_part(spec: Stage, frame, part, types: dict[str, str]):
    """(row positions, the columns to take from the stage) of its kept or removed rows, in input order: the columns it
    added and those it may rewrite; every other column comes from the rows on disk as it was."""
    if not part.index.is_monotonic_increasing:
        part = part.sort_index()
    import pyarrow as pa

    columns = [c for c in part.columns if c not in frame.columns or c in spec.modifies or c in spec.adds]
    table = arrow_table(part[columns].reset_index(drop=True), types)
    for i, name in enumerate(table.column_names):
        if name not in types and table.column(i).null_count == table.num_rows:
            # All null (pandas may have made it float): no type, so that other stages' rows give it theirs.
            table = table.set_column(i, name, pa.nulls(table.num_rows))
    return part.index.to_numpy(), table


def write_rows(path: Path, rows: Path, positions, columns, label: tuple[str, str] | None = None) -> None:
    """The rows of the parquet file `rows` at `positions` (ascending), with the Arrow table `columns` (one row per
    position) replacing or joining their own columns, streamed batch by batch; `label` (name, value) is a first
    column with one value for every row (`removed_by`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = pq.ParquetFile(rows)
    own = source.schema_arrow
    fields = [columns.schema.field(f.name) if f.name in columns.column_names else f for f in own]
    fields += [f for f in columns.schema if f.name not in own.names]
    if label:
        fields.insert(0, pa.field(label[0], pa.string()))
    schema = pa.schema(fields)
    with parquet_writer(path, schema) as writer:
        start = done = 0
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            stop = int(np.searchsorted(positions, start + batch.num_rows))
            taken = batch.take(pa.array(positions[done:stop] - start))
            arrays = []
            for f in schema:
                if label and f.name == label[0]:
                    arrays.append(pa.array([label[1]] * taken.num_rows, pa.string()))
                elif f.name in columns.column_names:
                    arrays.append(columns.column(f.name).slice(done, stop - done))
                else:
                    arrays.append(taken.column(f.name))
            if taken.num_rows:
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            start, done = start + batch.num_rows, stop


def concat_rows(path: Path, parts: list[Path], types: dict[str, str], lead: list[str] = ()) -> None:
    """The rows of several parquet files one after the other, streamed, in one schema: the columns named in `types`
    with those types (`lead` of them first, null where a file lacks them), then every other column any file has."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(p) for p in parts]
    merged = pa.unify_schemas(schemas, promote_options="permissive")
    names = list(dict.fromkeys([*lead, *merged.names]))
    schema = pa.schema([pa.field(n, arrow_type(types[n])) if n in types else merged.field(n) for n in names])
    with parquet_writer(path, schema) as writer:
        for part in parts:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=BATCH_ROWS):
                arrays = [
                    batch.column(n).cast(f.type) if n in batch.schema.names else pa.nulls(batch.num_rows, f.type)
                    for n, f in zip(names, schema)
                ]
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


# Everything a stage's verdicts can depend on besides its config and its input: the rules' code, their word lists and the
# benchmark fingerprints. A digest, not a number to bump: a rule fixed in place must not leave old verdicts cached.
RULE_FILES = ("**/*.py", "words/*", "benchmarks/fingerprints/*", "templates/*")


@cache
def rules_version() -> str:
    return source_digest(RULE_FILES)


def _key(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def input_key(paths: list[str], extra: dict) -> str:
    """Content hash of the inputs (every shard of a folder or glob), so an edited input file reruns the pipeline."""
    from .io import input_files

    digest = hashlib.sha256()
    for p in [file for argument in paths for file in input_files(argument)[1]]:
        path = Path(p)
        digest.update(str(p).encode())
        if path.is_file():
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()[:20]


def per_source(sources, kept_positions, removed_positions, reasons) -> dict[str, dict]:
    """{source: {"in", "kept", "removed", "reasons"}} of one stage, from its input rows' sources and the positions of
    its kept and removed rows (with their reasons)."""
    import pandas as pd

    sources = pd.Series(sources).reset_index(drop=True)
    counts = {s: {"in": int(n), "kept": 0, "removed": 0, "reasons": {}} for s, n in sources.value_counts(sort=False).items()}
    for source, n in sources.iloc[kept_positions].value_counts(sort=False).items():
        counts[source]["kept"] = int(n)
    removed = pd.DataFrame({"source": sources.iloc[removed_positions].to_numpy(), "reason": list(reasons)})
    for (source, reason), n in removed.groupby(["source", "reason"], sort=False).size().items():
        counts[source]["removed"] += int(n)
        counts[source]["reasons"][reason] = int(n)
    return counts


def prepare_out_dir(out: str | Path) -> Path:
    """The run directory, created if needed; a file in its place or a directory we cannot write is a clear error."""
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise AcecurateError(f"--out {run_dir}: is a file; give a directory for the run (it will hold one folder per stage)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AcecurateError(f"--out {run_dir}: cannot create the run directory ({exc.strerror})") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise AcecurateError(f"--out {run_dir}: the directory is not writable")
    return run_dir


def run_pipeline(
    pipeline: PipelineConfig,
    inputs: list[str],
    out: str | Path,
    *,
    mapping: dict | None = None,
    workers: int = 2,
    command: str = "",
    progress=None,
    write_card: bool = True,
) -> RunSummary:
    """Run every stage in order into `out`, skipping stages whose config and input are unchanged since their last run.

    The rows live on disk (`input.parquet`, the canonical rows, then each stage's `kept.parquet`); a stage is handed only
    the columns it declares, and its kept and removed rows are written by streaming the full rows through its verdicts
    batch by batch, so memory holds one stage's columns, not every column of every row."""
    configure(pipeline.sandbox)
    fresh = not Path(out).exists()
    run_dir = prepare_out_dir(out)
    types = output_types()
    try:
        loaded = write_inputs(inputs, run_dir / "input.parquet", mapping=mapping)
    except AcecurateError:
        if fresh:
            run_dir.rmdir()  # bad input leaves no run directory behind (the rows file is never half written)
        raise
    rows_path, sources, rows_in = loaded.path, loaded.sources, loaded.rows
    if pipeline.domain == "auto":
        pipeline = dataclasses.replace(pipeline, domain=detect_domain(read_parquet(rows_path, columns=["domain"]), inputs))
    check_columns(pipeline, set(CANONICAL_TYPES))
    key = input_key(inputs, {"mapping": mapping or {}, "domain": pipeline.domain, "version": __version__})
    summaries, removed_paths = [], []
    for index, stage_cfg in enumerate(pipeline.stages):
        spec = STAGE_BY_NAME[stage_cfg.stage]
        stage_dir = run_dir / f"{index:02d}-{stage_cfg.stage}"
        config = dataclasses.asdict(stage_cfg.config)
        # The graders' versions too: a grader fix must not leave a stage's stored verdicts standing (verify.policy).
        key = _key(key, stage_cfg.stage, config, __version__, rules_version(), grader_versions())
        stats_path = stage_dir / "stats.json"
        started = time.perf_counter()
        previous = json.loads(stats_path.read_text()) if stats_path.exists() else None
        cached = bool(
            previous and previous.get("key") == key and (stage_dir / "kept.parquet").exists() and (stage_dir / "removed.parquet").exists()
        )
        if cached:
            stats = previous
        else:
            stats_path.unlink(missing_ok=True)  # the marker goes first: a crash from here on leaves the stage incomplete
            stats = run_stage(
                spec,
                stage_cfg,
                rows_path,
                stage_dir,
                key,
                types,
                RunContext(run_dir, stage_dir, pipeline.domain, workers, progress or NullProgress()),
            )
            stats["seconds"] = round(time.perf_counter() - started, 3)
            write_json(stats_path, stats)
        summaries.append(
            StageSummary(
                stage_cfg.stage,
                stats["rows_in"],
                stats["kept"],
                stats["removed"],
                stats["reasons"],
                round(time.perf_counter() - started, 3),
                cached,
                stats,
                stats.get("report") or {},
                stats.get("per_source") or {},
                stats.get("skipped"),
            )
        )
        removed_paths.append((stage_dir / "removed.parquet", stats["removed"]))
        rows_path = stage_dir / "kept.parquet"

    train_path, removed_path = run_dir / "data" / "train.parquet", run_dir / "removed.parquet"
    concat_rows(train_path, [rows_path], types, lead=list(types))
    # The columns of removed.parquet are those of rows some stage removed (a stage that removed nothing adds none).
    concat_rows(removed_path, [p for p, n in removed_paths if n] or [removed_paths[0][0]], types)
    dataset = read_parquet(train_path, columns=["source", "tests_verified"])
    summary = RunSummary(
        run_dir,
        rows_in,
        len(dataset),
        summaries,
        train_path,
        removed_path,
        None,
        sources,
        list(loaded.warnings) + source_warnings(summaries) + stage_warnings(summaries) + unverified_warnings(dataset),
    )
    from .card import render_card, write_run_record

    write_run_record(run_dir, pipeline, inputs, command, summary)
    if write_card:
        summary.card_path = render_card(run_dir)
    return summary


def run_stage(
    spec: Stage, stage_cfg: StageConfig, rows_path: Path, stage_dir: Path, key: str, types: dict[str, str], ctx: RunContext
) -> dict:
    """Run one stage on the rows in `rows_path`: hand it the columns it declares, check its result, stream its kept
    and removed rows (full rows, with what it added) into the stage folder, and return its stats."""
    import pyarrow.parquet as pq

    stage_dir.mkdir(parents=True, exist_ok=True)
    write_json(stage_dir / "config.json", {"stage": stage_cfg.stage, **hide_secret_values(dataclasses.asdict(stage_cfg.config))})
    frame = read_parquet(rows_path, columns=stage_columns(spec, pq.read_schema(rows_path).names))
    result = spec(frame, stage_cfg.config, ctx)
    check_result(spec, frame, result)
    kept_positions, kept_columns = stage_part(spec, frame, result.kept, types)
    removed_positions, removed_columns = stage_part(spec, frame, result.removed, {**types, **REMOVED_TYPES})
    reasons = removed_columns.column("reason").to_pylist() if len(removed_positions) else []
    stats = {
        "key": key,
        "stage": stage_cfg.stage,
        "rows_in": len(frame),
        "kept": len(kept_positions),
        "removed": len(removed_positions),
        "reasons": dict(Counter(reasons)),
        "per_source": per_source(frame["source"], kept_positions, removed_positions, reasons),
        "report": result.report,
        "skipped": result.skipped,
        **result.stats,
    }
    del frame, result  # only the verdicts and what the stage added go on
    write_rows(stage_dir / "kept.parquet", rows_path, kept_positions, kept_columns)
    write_rows(stage_dir / "removed.parquet", rows_path, removed_positions, removed_columns, label=("removed_by", stage_cfg.stage))
    return stats


def detect_domain(frame, inputs: list[str]) -> str:
    """The domain of a single-stage run without --domain: the rows' own (code rows have tests)."""
    domains = set(frame["domain"])
    if len(domains) == 1:
        return domains.pop()
    counts = Counter(frame["domain"])
    raise AcecurateError(
        f"{', '.join(inputs)}: {counts['math']} math rows and {counts['code']} code rows (rows with tests); "
        "say which to keep with --domain math or --domain code"
    )


def unverified_warnings(dataset) -> list[str]:
    """Rows whose tests nothing has checked reach the dataset only when no model verified them: say so, per source."""
    if "tests_verified" not in dataset or not len(dataset):
        return []
    unverified = dataset[dataset["tests_verified"].eq(False)]
    if not len(unverified):
        return []
    by_source = ", ".join(f"{s}={n}" for s, n in Counter(unverified["source"]).most_common())
    return [
        f"{plural(len(unverified), 'row')} {'has' if len(unverified) == 1 else 'have'} tests that no reference solution or sampled model has passed ({by_source}); give the "
        "difficulty stage a model to verify them (--set difficulty.sampler.model=...), or set "
        "validate-tests.require_reference: true to drop them"
    ]


def stage_warnings(stages: list[StageSummary]) -> list[str]:
    """What stages themselves warn about (`stats["warnings"]`: decontaminate, of code sources without dates)."""
    return [f"{s.name}: {w}" for s in stages for w in (s.stats or {}).get("warnings", [])]


def source_warnings(stages: list[StageSummary], share: float = 0.9) -> list[str]:
    """A stage that removes more than `share` of a source's rows is worth a look, however small the source: it may be
    the rule, not the data."""
    warnings = []
    for s in stages:
        for source, counts in s.per_source.items():
            if counts["removed"] > share * counts["in"]:
                top = ", ".join(f"{r}={n}" for r, n in sorted(counts["reasons"].items(), key=lambda kv: -kv[1])[:3])
                warnings.append(f"{s.name} removed {counts['removed']:,} of {plural(counts['in'], 'row')} of source '{source}' ({top})")
    return warnings
