"""`validate-tests`: run each problem's reference solutions against its tests, twice, in the sandbox, and drop
problems whose tests cannot be trusted."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from .errors import AcecurateError
from .formats import test_count
from .pipeline import StageResult, split_by_reason, stage
from .sandbox import Limits, grade_many

TRIVIAL_PROGRAMS = {
    "stdin": ["pass\n"],  # prints nothing
    "functional": ["class Solution:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n\n"
                   "def __getattr__(name):\n    return lambda *a, **k: None\n"],  # every call returns None
    "assert": ["class Solution:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"],
}


@dataclass
class ValidateTestsConfig:
    time_limit_s: float = 4.0  # wall clock per test for the references
    memory_mb: int = 1024
    max_time_fraction: float = 0.5  # a reference needing more than this share of the limit makes the problem too slow
    min_tests: int = 1
    max_references: int = 3  # references tried per problem (the first that passes is enough)
    require_reference: bool = True  # without a reference the tests cannot be checked


def _trivial_programs(tests: dict) -> list[str]:
    if tests["format"] == "functional" or tests["format"] == "assert":
        name = tests.get("fn_name") or ""
        plain = name.split(".")[-1] if name and "Solution" not in name else None
        extra = [f"def {plain}(*args, **kwargs):\n    return None\n"] if plain and plain.isidentifier() else []
        return TRIVIAL_PROGRAMS[tests["format"]] + extra
    return TRIVIAL_PROGRAMS["stdin"]


@stage("validate-tests", ValidateTestsConfig, requires=("tests", "solutions"), adds=("reference_time_s", "suggested_time_limit_s"))
def validate_tests(frame, config: ValidateTestsConfig, ctx) -> StageResult:
    """Drop code problems whose tests no reference passes, are flaky, pass a trivial program, are too few, or are too slow."""
    limits = Limits(time_s=config.time_limit_s, cpu_s=max(1, math.ceil(config.time_limit_s)), memory_mb=config.memory_mb)
    reasons: list[str | None] = [None] * len(frame)
    jobs, owners = [], []  # (code, tests) and (row, kind) for every sandbox run
    parsed = []
    for row, (tests_json, solutions) in enumerate(zip(frame["tests"], frame["solutions"])):
        tests = json.loads(tests_json)
        parsed.append(tests)
        refs = [s for s in (list(solutions) if solutions is not None else []) if isinstance(s, str) and s.strip()]
        if test_count(tests_json) < config.min_tests:
            reasons[row] = "too_few_tests"
            continue
        if not refs:
            reasons[row] = "no_reference" if config.require_reference else None
            continue
        for ref in refs[: config.max_references]:
            for attempt in range(2):  # twice, to catch flaky tests
                jobs.append((ref, tests))
                owners.append((row, "reference", attempt))
        for program in _trivial_programs(tests):
            jobs.append((program, tests))
            owners.append((row, "trivial", 0))
    task = ctx.progress.add_task("validate-tests", total=len(jobs)) if ctx.progress else None
    results = grade_many(jobs, workers=ctx.workers, limits=limits,
                         progress=(lambda n: ctx.progress.advance(task, n)) if task is not None else None)
    if task is not None:
        ctx.progress.remove_task(task)

    by_row: dict[int, dict] = {}
    for (row, kind, attempt), result in zip(owners, results):
        by_row.setdefault(row, {"reference": [], "trivial": []})[kind].append((attempt, result))
    failures = [r for r in results if r.verdict == "sandbox_error"]
    if failures:
        # Infrastructure faults that survived the retries: stop rather than judge problems on a broken sandbox.
        raise AcecurateError(f"validate-tests: {len(failures)} sandbox run(s) failed after retries; first: {failures[0].detail[:300]}")
    ref_time = np.full(len(frame), np.nan)
    for row, runs in by_row.items():
        refs = runs["reference"]
        # Pairs of runs of the same reference: (first, second).
        pairs = [(refs[i][1], refs[i + 1][1]) for i in range(0, len(refs), 2)]
        flaky = any([t.verdict for t in a.tests] != [t.verdict for t in b.tests] for a, b in pairs)
        passing = [(a, b) for a, b in pairs if a.passed and b.passed]
        if flaky:
            reasons[row] = "flaky_tests"
        elif not passing:
            reasons[row] = "no_passing_reference"
        elif any(r.passed for _, r in runs["trivial"]):
            reasons[row] = "trivial_program_passes"
        else:
            ref_time[row] = min(max(a.max_time_s, b.max_time_s) for a, b in passing)
            if ref_time[row] > config.max_time_fraction * config.time_limit_s:
                reasons[row] = "slow_reference"
    frame = frame.copy()
    frame["reference_time_s"] = np.round(ref_time, 4)
    # Suggested limit: 3x the slowest reference test, at least 1 s, rounded up to a tenth.
    frame["suggested_time_limit_s"] = np.where(np.isnan(ref_time), np.nan, np.maximum(1.0, np.ceil(ref_time * 30) / 10))
    return split_by_reason(frame, reasons, {"sandbox_runs": len(jobs)})
