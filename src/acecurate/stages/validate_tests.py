"""`validate-tests`: run each problem's reference solutions against its tests, twice, in the sandbox, and the library
of reward hacks (`verify.hacks`) once each, and drop problems whose tests cannot be trusted or cannot give rewards.

A suite that cannot be read is removed (`malformed_tests`, saying what is wrong), never the stage's end. A suite that
a hack passes (printing nothing, echoing the input, the statement's examples looked up, YES for every case, one
answer that fits every test, ...) is removed as `hackable_tests`, the hack named in the evidence; the minimum number of
tests counts only tests that are not the statement's own examples. Each kept problem whose reference passed gets its
own `time_limit_s` (3x its slowest reference test, at least 1 s), which rewards, evaluation and the difficulty stage
apply through the grading policy where it is below the policy's limit.

A problem without a reference solution (whole sources ship none), or whose references fail only because the judge
environment lacks a module they import, is kept with `tests_verified: false`: the `difficulty` stage verifies it later
(tests that a sampled model passes at least once are satisfiable) or removes it (`unverified_tests`). Set
`require_reference: true` to remove such problems here instead (`no_reference`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..config import setting
from ..errors import AcecurateError
from ..sandbox.cache import ExecutionCache, grade_many_cached
from ..sandbox.judge_env import environment_id
from ..stage import StageResult, split_by_reason, stage
from ..suites import MalformedTests, parse_tests, untrusted_reason
from ..text import plural
from ..verify.hacks import could_pass, reward_hacks, statement_tests
from ..verify.policy import GradingPolicy

ROW_LIMIT_FACTOR = 3.0  # a problem's own time limit: this many times its slowest reference test, at least 1 s


@dataclass
class ValidateTestsConfig:
    time_limit_s: float = setting(4.0, "Wall-clock seconds per test for the reference solutions.")
    memory_mb: int = setting(1024, "Memory per test process, in MiB.")
    max_time_fraction: float = setting(0.5, "A reference needing more than this share of the limit makes the problem too slow.")
    min_tests: int = setting(1, "Problems with fewer tests beyond the statement's own examples are removed (too_few_tests).")
    max_references: int = setting(3, "References tried per problem (the first that passes twice is enough).")
    require_reference: bool = setting(
        False, "Remove problems without a reference solution (no_reference) instead of keeping them with tests_verified false."
    )
    keep_untrusted_suites: bool = setting(
        False,
        "Keep assert suites that cannot be turned into data and run them in place (otherwise removed as untrusted_suite): "
        "their expected values then enter the sandbox, where the code under test can read or fake them.",
    )


_MISSING_MODULE = re.compile(r"\b(?:ModuleNotFoundError|ImportError): (?:No module named )?'?([\w.]+)'?")


def _last_error_line(result) -> str:
    failing = next((t for t in result.tests if t.verdict != "passed"), None)
    lines = failing.stderr.strip().splitlines() if failing is not None and failing.stderr else []
    return lines[-1][:160] if lines else ""


def _run_summary(result) -> str:
    """One run of a reference in a few words: its verdict, the slowest test, and why the first failing test failed."""
    failing = next((t for t in result.tests if t.verdict != "passed"), None)
    why = ""
    if failing is not None:
        last_error = _last_error_line(result)
        diff = failing.difference
        why = f" at test {failing.index}" + (
            f": expected {diff['expected']!r}, got {diff['got']!r}" if diff else f": {last_error}" if last_error else ""
        )
    elif result.detail:
        why = f": {result.detail[:120]}"
    return f"{result.verdict}{why} (max {result.max_time_s:.2f} s)"


def missing_module(pairs) -> str | None:
    """The module every failing reference run lacked (the judge environment's fault, not the problem's), or None."""
    modules = set()
    for a, b in pairs:
        for run in (a, b):
            if run.passed:
                return None
            found = _MISSING_MODULE.search(_last_error_line(run))
            if not found:
                return None
            modules.add(found.group(1))
    return ", ".join(sorted(modules)) or None


def reference_verdict(pairs, config: ValidateTestsConfig) -> tuple[str | None, str, float]:
    """(reason or None, evidence, reference time) from each reference's two runs.

    The rule depends on timing only through the time limit, so the same problem gets the same verdict on every run:
    a reference that passes twice within the time budget validates the tests; otherwise any run that hit the time limit
    or needed more than the budget makes it `slow_reference` (its outcome depends on the machine's load); otherwise
    two runs of one reference with different verdicts make it `flaky_tests`; otherwise `no_passing_reference`."""
    budget = config.max_time_fraction * config.time_limit_s
    runs = "; ".join(f"reference {k + 1}: run 1 {_run_summary(a)}, run 2 {_run_summary(b)}" for k, (a, b) in enumerate(pairs))
    good = [max(a.max_time_s, b.max_time_s) for a, b in pairs if a.passed and b.passed and max(a.max_time_s, b.max_time_s) <= budget]
    if good:
        return None, runs, min(good)
    slow = [
        max(a.max_time_s, b.max_time_s)
        for a, b in pairs
        if "time_limit" in (a.verdict, b.verdict) or (a.passed and a.max_time_s > budget) or (b.passed and b.max_time_s > budget)
    ]
    if slow:
        return "slow_reference", f"needs more than {budget:g} s of the {config.time_limit_s:g} s limit; {runs}", min(slow)
    disagree = [k + 1 for k, (a, b) in enumerate(pairs) if [t.verdict for t in a.tests] != [t.verdict for t in b.tests]]
    if disagree:
        return "flaky_tests", f"runs disagree for reference(s) {disagree}; {runs}", float("nan")
    return "no_passing_reference", runs, float("nan")


@stage(
    "validate-tests",
    ValidateTestsConfig,
    requires=("problem", "tests", "solutions"),
    reads=("time_limit_s",),
    adds={"reference_time_s": "double", "tests_verified": "bool"},
    modifies=("tests", "time_limit_s"),
    evidence=("reference_runs",),
    example="acecurate validate-tests dumps/leetcode.json --time-limit-s 6 --workers 8 --out runs/tests",
)
def validate_tests(frame, config: ValidateTestsConfig, ctx) -> StageResult:
    """Drop code problems whose tests cannot be read, no reference passes, are flaky, pass a reward hack, are too few
    beyond the statement's examples, are too slow, or are assert suites that cannot be turned into data
    (untrusted_suite); keep problems without a usable reference as unverified (`tests_verified` false)."""
    policy = GradingPolicy(
        time_limit_s=config.time_limit_s,
        memory_mb=config.memory_mb,
        per_row_limits=False,
        allow_inline_asserts=config.keep_untrusted_suites,
    )
    reasons: list[str | None] = [None] * len(frame)
    evidence: list[str | None] = [None] * len(frame)
    parsed, references = {}, {}
    problems = [p if isinstance(p, str) else "" for p in frame["problem"]]
    for row, (tests_json, solutions, problem) in enumerate(zip(frame["tests"], frame["solutions"], problems)):
        try:
            suite = parse_tests(tests_json).check_values()
        except MalformedTests as exc:
            reasons[row], evidence[row] = "malformed_tests", str(exc)
            continue
        refs = [s for s in (list(solutions) if solutions is not None else []) if isinstance(s, str) and s.strip()]
        shown = sum(statement_tests(suite, problem))
        if (count := suite.count()) - shown < config.min_tests:
            examples = f", {shown} of them the statement's own examples" if shown else ""
            reasons[row], evidence[row] = "too_few_tests", f"{count} test(s){examples} (min {config.min_tests} beyond the examples)"
            continue
        if suite.format == "assert" and not config.keep_untrusted_suites and (why := untrusted_reason(suite.check)):
            reasons[row], evidence[row] = "untrusted_suite", f"the assert suite cannot be turned into data ({why})"
            continue
        if not refs and config.require_reference:
            reasons[row], evidence[row] = "no_reference", "no reference solution to check the tests with"
            continue
        parsed[row], references[row] = suite, refs[: config.max_references]
    runs_of = _run_references(parsed, references, problems, policy, ctx, "run references and reward hacks")
    ref_time = np.full(len(frame), np.nan)
    verified = np.zeros(len(frame), dtype=bool)
    runs_text: list[str | None] = [None] * len(frame)
    lacking_module: set[int] = set()
    hacked: dict[int, str] = {}  # row -> the name of the hack that passed its suite
    for row, runs in runs_of.items():
        pairs = runs["pairs"]
        if pairs:
            reasons[row], evidence[row], ref_time[row] = reference_verdict(pairs, config)
            runs_text[row] = evidence[row]
            verified[row] = reasons[row] is None
            if reasons[row] == "no_passing_reference" and missing_module(pairs) and not config.require_reference:
                reasons[row], evidence[row] = None, None  # the environment lacks a module: kept unverified
                lacking_module.add(row)
        if reasons[row] is None and (hack := passing_hack(runs["hacks"])):
            reasons[row], evidence[row] = "hackable_tests", hack_evidence(*hack)
            hacked[row] = hack[0].name
    # A reference whose only failures are wrong answers may differ from the expected output in order alone: the judge
    # of such a problem accepts any order though its statement does not say so (LeetCode's word ladder). Compared as
    # multisets, a reference that then passes twice validates the tests, and the row keeps `"compare": "unordered"`.
    retry = {
        row: parsed[row].with_compare("unordered")
        for row in runs_of
        if reasons[row] in ("no_passing_reference", "flaky_tests")
        and not parsed[row].unordered
        and only_wrong_answers(runs_of[row]["pairs"])
    }
    unordered = []
    for row, runs in _run_references(retry, references, problems, policy, ctx, "rerun references, any order").items():
        reason, runs_evidence, seconds = reference_verdict(runs["pairs"], config)
        if reason is None and not passing_hack(runs["hacks"]):
            reasons[row], evidence[row], ref_time[row], verified[row] = None, None, seconds, True
            runs_text[row] = f"compared in any order: {runs_evidence}"
            unordered.append(row)
    frame = frame.copy()
    frame["reference_time_s"] = np.round(ref_time, 4)
    own_limit = np.maximum(1.0, np.ceil(ref_time * ROW_LIMIT_FACTOR * 10) / 10)
    given = frame["time_limit_s"] if "time_limit_s" in frame else [None] * len(frame)
    frame["time_limit_s"] = [float(own) if ok else g for own, ok, g in zip(own_limit, verified, given)]
    frame["tests_verified"] = verified
    frame["reference_runs"] = runs_text
    for row in unordered:
        frame.iat[row, frame.columns.get_loc("tests")] = retry[row].dump()
    kept_unverified = [r for r in range(len(frame)) if reasons[r] is None and not verified[r]]
    unverified = {"missing module": sum(r in lacking_module for r in kept_unverified)}
    unverified["no reference"] = len(kept_unverified) - unverified["missing module"]
    stats = {
        "kept_unverified": unverified,
        "compared_unordered": len(unordered),
        "hacks_run": sum(len(runs["hacks"]) for runs in runs_of.values()),
        "hackable_by": dict(sorted(Counter(name.split(":")[0] for name in hacked.values()).items())),
        "grading": policy.to_dict(),
        "judge_environment": environment_id(),
    }
    result = split_by_reason(frame, reasons, evidence, stats=stats)
    result.kept = result.kept.drop(columns=["reference_runs"])
    if kept_unverified:
        result.report["unverified tests"] = (
            f"{plural(len(kept_unverified), 'problem')} kept with `tests_verified: false` ({unverified['no reference']} without a reference "
            f"solution, {unverified['missing module']} whose references need a module the judge environment lacks); the "
            "`difficulty` stage verifies them with a sampled model"
        )
    if unordered:
        result.report["any order"] = (
            f"{plural(len(unordered), 'problem')} whose references match the expected output only in another order are kept with "
            '`"compare": "unordered"` in their tests'
        )
    if hacked:
        result.report["reward hacks"] = f"{len(hacked)} suites passed by a reward hack (hackable_tests): " + ", ".join(
            f"{name} {count}" for name, count in stats["hackable_by"].items()
        )
    return result


def passing_hack(results) -> tuple | None:
    """The first (hack, result) whose hack passed every test, or None."""
    return next(((hack, result) for hack, result in results if result.passed), None)


def hack_evidence(hack, result) -> str:
    return f"the reward hack `{hack.name}` ({hack.does}) passes all {len(result.tests)} test(s)"


def only_wrong_answers(pairs) -> bool:
    """Every failing test of every run is a wrong answer: no crash, no time or memory limit."""
    failing = [t for a, b in pairs for run in (a, b) for t in run.tests if t.verdict != "passed"]
    return bool(failing) and all(t.verdict == "wrong_answer" for t in failing)


def _run_references(suites: dict, references: dict, problems, policy: GradingPolicy, ctx, description: str) -> dict:
    """Each row's references twice and the reward hacks that can pass its suite, in the sandbox, through the
    execution cache: {row: {"pairs": [(run 1, run 2) per reference], "hacks": [(hack, result)]}}."""
    jobs, owners = [], []  # (code, tests, label) and (row, hack or None) for every sandbox run
    for row, suite in suites.items():
        tests = suite.dump()
        for ref in references[row]:
            for attempt in range(2):  # twice, to catch flaky tests
                jobs.append((ref, tests, f"reference run {attempt}"))
                owners.append((row, None))
        for hack in reward_hacks(suite, problems[row]):
            if could_pass(hack, suite):
                jobs.append((hack.program, tests, "hack"))
                owners.append((row, hack))
    if not jobs:
        return {}
    cache = ExecutionCache(ctx.run_dir / "cache" / "executions.sqlite")
    try:
        with ctx.task(description, len(jobs)) as task:
            results = grade_many_cached(
                jobs,
                cache,
                workers=ctx.workers,
                policy=policy,
                progress=task.advance,
                on_cached=task.cached,
                chunk=max(64, 16 * ctx.workers),
            )
    finally:
        cache.close()
    failures = [r for r in results if r.verdict == "sandbox_error"]
    if failures:
        # Infrastructure faults that survived the retries: stop rather than judge problems on a broken sandbox.
        raise AcecurateError(
            f"validate-tests: {len(failures)} sandbox run(s) failed after retries (finished runs are cached; "
            f"rerun to resume); first: {failures[0].detail[:300]}"
        )
    runs_of: dict[int, dict] = {row: {"references": [], "hacks": []} for row in suites}
    for (row, hack), result in zip(owners, results):
        if hack is None:
            runs_of[row]["references"].append(result)
        else:
            runs_of[row]["hacks"].append((hack, result))
    for runs in runs_of.values():
        refs = runs.pop("references")
        runs["pairs"] = [(refs[i], refs[i + 1]) for i in range(0, len(refs), 2)]
    return runs_of
