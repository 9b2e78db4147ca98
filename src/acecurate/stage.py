"""The stage contract, below every stage: a stage is a plain function `(frame, config, ctx) -> StageResult` (rows in,
kept and removed rows out, each removed row with a `reason` code and its `evidence`), wrapped by `@stage` with the
columns it needs, the columns it reads where the rows have them, the columns its kept rows gain, the existing columns
it may rewrite, and the evidence columns its removed rows carry. The runner (`pipeline.py`) checks them all.

The frame a stage gets holds only the columns it declares (needs, reads, rewrites, plus `id` and `source`), indexed by
row position; the runner keeps the full rows on disk and joins them back to the kept and removed rows (by that index),
so a stage's memory is that of the columns it uses. The explicit list of stages is `acecurate.stages.STAGES`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .progress import NullProgress


@dataclass
class StageResult:
    kept: Any  # pandas.DataFrame
    removed: Any  # pandas.DataFrame with `reason` and `evidence` columns
    stats: dict = field(default_factory=dict)  # machine-readable, written to stats.json
    report: dict[str, str] = field(default_factory=dict)  # what the data card prints for this stage, label -> text
    skipped: str | None = None  # why the stage did nothing (then its `adds` columns are null)


def split_by_reason(frame, reasons, evidence=None, *, stats: dict | None = None, report: dict | None = None) -> StageResult:
    """The StageResult for per-row reason codes: rows whose reason is None are kept, the others removed with their
    reason and evidence (a short text saying what triggered the rule)."""
    import numpy as np

    reason = np.asarray(reasons, dtype=object)
    mask = np.array([r is not None for r in reason], dtype=bool)
    removed = frame[mask].copy()
    removed["reason"] = reason[mask]
    removed["evidence"] = np.asarray(evidence, dtype=object)[mask] if evidence is not None else np.full(mask.sum(), "", dtype=object)
    return StageResult(frame[~mask].copy(), removed, stats or {}, report or {})


Verdict = "tuple[str, str] | None"  # a row rule's answer: (reason code, evidence), or None to keep the row


def split_by_verdicts(frame, verdicts, *, stats: dict | None = None, report: dict | None = None) -> StageResult:
    """The StageResult for per-row verdicts `(reason, evidence) | None`: rows whose verdict is None are kept."""
    return split_by_reason(
        frame, [v[0] if v else None for v in verdicts], [v[1] if v else None for v in verdicts], stats=stats, report=report
    )


class RowRule:
    """A rule over some columns of one row, `fn(value, ..., *settings) -> (reason, evidence) | None`; made by
    `@row_rule("domain", "problem")`. It is still a plain function (call it with the values), and it applies itself to a
    frame: `rule.verdicts(frame, *settings)` gives one verdict per row, `rule.split(frame, *settings)` the StageResult."""

    def __init__(self, fn: Callable, columns: tuple[str, ...]):
        self.fn, self.columns = fn, columns
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def verdicts(self, frame, *settings, track: Callable | None = None, workers: int = 1) -> list:
        """One verdict per row, in order; with `workers` > 1, computed by that many processes over chunks of rows."""
        verdicts = map_rows(self.fn, [list(frame[c]) for c in self.columns], settings, workers)
        if track is not None:
            verdicts = track(verdicts, len(frame))
        return list(verdicts)

    def split(
        self, frame, *settings, track: Callable | None = None, workers: int = 1, stats: dict | None = None, report: dict | None = None
    ) -> StageResult:
        return split_by_verdicts(frame, self.verdicts(frame, *settings, track=track, workers=workers), stats=stats, report=report)


_FORKED: tuple | None = None  # (fn, columns, settings) of the running map_rows, inherited by its forked workers


def _apply_span(span: tuple[int, int]) -> list:
    fn, columns, settings = _FORKED
    start, stop = span
    return [fn(*values, *settings) for values in zip(*(column[start:stop] for column in columns))]


def map_rows(fn: Callable, columns: list[list], settings: tuple = (), workers: int = 1, chunk_rows: int = 10_000):
    """`fn(*row values, *settings)` for each row of `columns` (equal-length lists), yielded in row order. With
    `workers` > 1 and more than one chunk of rows, forked worker processes take chunks of `chunk_rows` rows: they
    inherit the columns (nothing is pickled but the results), and one worker is this process."""
    n = len(columns[0]) if columns else 0
    if workers <= 1 or n <= chunk_rows:
        yield from (fn(*values, *settings) for values in zip(*columns))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _FORKED
    _FORKED = (fn, columns, settings)
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for chunk in pool.map(_apply_span, [(start, min(start + chunk_rows, n)) for start in range(0, n, chunk_rows)]):
                yield from chunk
    finally:
        _FORKED = None


def row_rule(*columns: str):
    """Declare a per-row rule over `columns`: `@row_rule("domain", "problem") def check(domain, problem, config): ...`."""

    def wrap(fn) -> RowRule:
        return RowRule(fn, tuple(columns))

    return wrap


def skipped_result(frame, why: str, adds: dict[str, str]) -> StageResult:
    """Every row kept, the declared columns added as nulls, and the reason the stage did nothing."""
    kept = frame.copy()
    for column in adds:
        kept[column] = None
    removed = frame.iloc[:0].copy()
    removed["reason"], removed["evidence"] = [], []
    return StageResult(kept, removed, {"skipped": why}, {"skipped": why}, skipped=why)


@dataclass(frozen=True)
class Stage:
    """A registered stage: its function and what it declares."""

    name: str
    config_cls: type
    run: Callable
    requires: tuple[str, ...]  # columns the input rows must have
    reads: tuple[str, ...]  # columns the stage also reads where the rows have them (it is handed no other)
    adds: dict[str, str]  # columns the kept rows gain -> Arrow type name ("int64", "double", "string", "bool")
    evidence: tuple[str, ...]  # columns removed rows carry besides `reason` and `evidence`
    modifies: tuple[str, ...]  # existing columns whose values the stage may rewrite on kept rows (every other stays as it came)
    help: str  # the docstring's first paragraph, on one line
    example: str  # one command line, shown in --help

    def __call__(self, frame, config, ctx) -> StageResult:
        return self.run(frame, config, ctx)


def stage(
    name: str,
    config_cls: type,
    *,
    requires: tuple[str, ...],
    reads: tuple[str, ...] = (),
    adds: dict[str, str] | None = None,
    evidence: tuple[str, ...] = (),
    modifies: tuple[str, ...] = (),
    example: str = "",
):
    """Declare a stage function: `@stage("dedup", DedupConfig, requires=("id", "problem"))`."""

    def wrap(fn) -> Stage:
        return Stage(
            name,
            config_cls,
            fn,
            tuple(requires),
            tuple(reads),
            dict(adds or {}),
            tuple(evidence),
            tuple(modifies),
            " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split()),
            example,
        )

    return wrap


@dataclass
class RunContext:
    """What a stage may use besides its rows: the run and stage folders (for caches), the domain, the worker count,
    and the progress display."""

    run_dir: Path
    stage_dir: Path
    domain: str
    workers: int
    progress: Any = field(default_factory=NullProgress)  # acecurate.progress.{RichProgress, LineProgress, NullProgress}

    def task(self, description: str, total: int):
        """`with ctx.task("validate-tests", total=n) as task: ... task.advance(k)`."""
        return self.progress.task(f"{self.stage_dir.name}: {description}" if description else self.stage_dir.name, total)

    def track(self, iterable, total: int, description: str = ""):
        """Iterate while advancing a task."""
        with self.task(description, total) as task:
            for item in iterable:
                yield item
                task.advance(1)
