"""Tests per second of the sandboxed executor on 2 cores, for the rllm LeetCode assert suites and for a stdin set,
the warm sandbox (sandbox.reuse, the default: one sandbox per worker) beside a sandbox per solution (reuse off), both
forking a child per function-call solution and per stdin test, and two baselines timed in the same run:
  - naive: a fresh `python3` subprocess per test, without isolation;
  - in-process (LiveCodeBench's approach): the code runs inside the grading process, stdin mocked with StringIO.

    python benchmarks/code_execution.py [--problems 300]
    python benchmarks/code_execution.py --recycle 2000   # one warm sandbox over many solutions: how N was chosen
"""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, executor, grade_many, run_solution
from acecurate.sandbox.cgroups import cgroup_support
from acecurate.sandbox.compare import compare_stdout

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRELUDE = (
    "".join(
        f"from {m} import *\n" for m in ["typing", "functools", "collections", "itertools", "heapq", "bisect", "string", "operator", "math"]
    )
    + "import math\ninf = float('inf')\n"
)

STDIN_PROGRAM = "import sys\ndata = sys.stdin.read().split()\nn = int(data[0])\nprint(sum(int(x) for x in data[1:n + 1]))\n"


def stdin_suite(n_tests: int) -> dict:
    cases = []
    for i in range(n_tests):
        values = list(range(i, i + 50))
        cases.append({"input": f"{len(values)}\n{' '.join(map(str, values))}\n", "output": f"{sum(values)}\n"})
    return {"format": "stdin", "cases": cases}


def naive_stdin(code: str, tests: dict) -> int:
    passed = 0
    for case in tests["cases"]:
        out = subprocess.run([sys.executable, "-c", code], input=case["input"], capture_output=True, text=True, timeout=10)
        passed += compare_stdout(case["output"], out.stdout) is None
    return passed


def in_process_stdin(code: str, tests: dict) -> int:
    passed = 0
    compiled = compile(code, "<solution>", "exec")
    for case in tests["cases"]:
        out = io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(case["input"])  # no .buffer: LiveCodeBench's mock has the same gap
        try:
            with contextlib.redirect_stdout(out):
                exec(compiled, {"__name__": "__main__"})
        finally:
            sys.stdin = old_stdin
        passed += compare_stdout(case["output"], out.getvalue()) is None
    return passed


def in_process_functional(code: str, cases, fn_name: str) -> int:
    namespace = {}
    exec(PRELUDE + code, namespace)
    fn = getattr(namespace["Solution"](), fn_name) if "Solution" in namespace else namespace[fn_name]
    return sum(fn(*c.args, **c.kwargs) == c.expected for c in cases)


def naive_functional(code: str, cases, fn_name: str) -> int:
    passed = 0
    for c in cases:
        script = (
            PRELUDE + code + f"\nimport json, sys\nfn = getattr(Solution(), {fn_name!r}) if 'Solution' in dir() else {fn_name}\n"
            f"print(json.dumps(fn(*{c.args!r}, **{c.kwargs!r})))"
        )
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=10)
        with contextlib.suppress(json.JSONDecodeError):
            passed += json.loads(out.stdout) == json.loads(json.dumps(c.expected))
    return passed


def main():
    # Here rather than at the top: benchmarks/worst_case_grading.py imports this module's suites for code from before
    # acecurate.suites existed.
    from acecurate.suites import assert_cases

    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--recycle", type=int, default=0, help="only measure one warm sandbox over this many solutions")
    args = parser.parse_args()
    frame = load_inputs([str(DATA / "raw/rllm_leetcode.json")]).frame
    suites = []
    for code, tests_json in zip(frame["solutions"].str[0], frame["tests"]):
        tests = json.loads(tests_json)
        converted = assert_cases(tests["check"])
        # Plain-argument suites only: the baselines below cannot build linked lists and trees.
        if converted and not any(c.builds or c.returns for c in converted[0]):
            suites.append((code, tests, *converted))
        if len(suites) == args.problems:
            break
    n_func = sum(len(cases) for _, _, cases, _ in suites)
    limits = Limits(time_s=6.0, cpu_s=6)
    if args.recycle:
        return drift(suites, args.recycle, limits)

    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print(f"functional ({len(suites)} LeetCode problems, {n_func} asserts)")
    verdicts = {}
    for reuse in (True, False):
        executor._assert_job.cache_clear()  # 300 problems, one solution each: every suite parsed, in both modes
        t = time.perf_counter()
        results = grade_many([(code, tests) for code, tests, _, _ in suites], workers=2, limits=limits, reuse=reuse)
        ours = time.perf_counter() - t
        verdicts[reuse] = [r.verdict for r in results]
        print(f"  {MODES[reuse] + ', 2 workers:':31s}{n_func / ours:8.0f} tests/s ({sum(r.passed for r in results)} problems pass)")
    print(f"  same verdicts, warm and per solution: {verdicts[True] == verdicts[False]}")
    sample = suites[:40]
    n_sample = sum(len(c) for _, _, c, _ in sample)
    t = time.perf_counter()
    for code, _, cases, fn in sample:
        naive_functional(code, cases, fn)
    naive = time.perf_counter() - t
    print(f"  naive subprocess per test, 1 core: {n_sample / naive:5.0f} tests/s (first 40 problems)")
    t = time.perf_counter()
    for code, _, cases, fn in suites:
        with contextlib.suppress(Exception):  # a reference that needs a module this process lacks (sortedcontainers)
            in_process_functional(code, cases, fn)
    inproc = time.perf_counter() - t
    print(f"  in-process (LiveCodeBench way), 1 core, no isolation: {n_func / inproc:8.0f} tests/s")

    big = {
        "format": "functional",
        "fn_name": "total",
        "cases": [{"input": json.dumps(list(range(i, i + 50))), "output": str(sum(range(i, i + 50)))} for i in range(100)],
    }
    big_solutions = [("class Solution:\n    def total(self, nums):\n        return sum(nums)\n", big)] * 10
    print(f"functional ({len(big_solutions)} solutions x 100 tests)")
    for reuse in (True, False):
        t = time.perf_counter()
        big_results = grade_many(big_solutions, workers=2, limits=limits, reuse=reuse)
        ours = time.perf_counter() - t
        print(f"  {MODES[reuse] + ', 2 workers:':31s}{1000 / ours:8.0f} tests/s ({sum(r.passed for r in big_results)} solutions pass)")

    tests = stdin_suite(100)
    solutions = [(STDIN_PROGRAM, tests)] * 10
    n = 100 * len(solutions)
    print(f"stdin ({len(solutions)} solutions x 100 tests)")
    for reuse in (True, False):
        t = time.perf_counter()
        stdin_results = grade_many(solutions, workers=2, limits=limits, reuse=reuse)
        ours = time.perf_counter() - t
        print(f"  {MODES[reuse] + ', 2 workers:':31s}{n / ours:8.0f} tests/s ({sum(r.passed for r in stdin_results)} solutions pass)")
    t = time.perf_counter()
    naive_stdin(STDIN_PROGRAM, tests)
    naive = time.perf_counter() - t
    print(f"  naive subprocess per test, 1 core: {100 / naive:5.0f} tests/s")
    t = time.perf_counter()
    for _ in range(len(solutions)):
        in_process_stdin(STDIN_PROGRAM, tests)
    inproc = time.perf_counter() - t
    print(f"  in-process (LiveCodeBench way), 1 core, no isolation: {n / inproc:8.0f} tests/s")

    # What one sandbox costs to set up and tear down: one-test solutions, one at a time.
    one = {"format": "stdin", "cases": [{"input": "7\n", "output": "7\n"}]}
    print("start-up per solution (one-test solutions, 1 at a time)")
    for name, reuse, cgroups_off in (
        (MODES[True], True, False),
        (MODES[False], False, False),
        (MODES[False] + ", cgroups off", False, True),
    ):
        os.environ["ACECURATE_SANDBOX_CGROUPS"] = "off" if cgroups_off else ""
        cgroup_support.cache_clear()
        count = 400 if reuse else 40
        run_solution("print(input())", one, limits, reuse=reuse)  # warm
        t, cpu = time.perf_counter(), _cpu_seconds() + _sandbox_cpu_seconds()
        for _ in range(count):
            run_solution("print(input())", one, limits, reuse=reuse)
        spent = _cpu_seconds() + _sandbox_cpu_seconds() - cpu
        print(f"  {name + ':':31s}{(time.perf_counter() - t) / count * 1000:8.1f} ms wall, {spent / count * 1000:5.1f} ms CPU")
        executor.close_warm()
    t = time.perf_counter()
    naive_stdin("print(input())", {"cases": one["cases"] * 40})
    print(f"  naive subprocess per solution: {(time.perf_counter() - t) / 40 * 1000:8.1f} ms wall")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


MODES = {True: "warm sandbox (reuse)", False: "sandbox per solution"}


def _sandbox_cpu_seconds() -> float:
    """CPU of this thread's warm sandbox so far (its cgroup's usage: its runner is never reaped while it serves)."""
    sandbox = getattr(executor._warm, "sandbox", None)
    usage = sandbox.launch.cgroup.cpu_usage if sandbox is not None and sandbox.launch.cgroup is not None else None
    if usage is None:
        return 0.0
    text = usage.read_text()
    return int(text.split()[1]) / 1e6 if text.startswith("usage_usec") else int(text) / 1e9


def drift(suites, count: int, limits: Limits) -> None:
    """One warm sandbox over `count` solutions (never recycled: RECYCLE_AFTER raised for the run): the runner's RSS,
    the memory its cgroup holds, and the time per solution, every tenth of the way."""
    executor.RECYCLE_AFTER = count + 1
    first = None
    t = time.perf_counter()
    for index in range(count):
        code, tests, _, _ = suites[index % len(suites)]
        run_solution(code, tests, limits, reuse=True)
        sandbox = executor._warm.sandbox
        if sandbox is None:
            print(f"  solution {index + 1}: recycled (a limit or a leftover), starting again")
            continue
        if first is None:
            first = sandbox
        if (index + 1) % max(1, count // 10) == 0:
            rss, held = sandbox.first_held or (0, 0)
            now = sandbox.launch.cgroup.held_bytes() if sandbox.launch.cgroup is not None else 0
            print(
                f"  {index + 1:6d} solutions ({sandbox.solutions} on this sandbox): runner RSS {sandbox.rss >> 20} MiB (first job "
                f"{rss >> 20}), cgroup holds {now >> 20} MiB (first job {held >> 20}), "
                f"{(time.perf_counter() - t) / (index + 1) * 1000:.1f} ms per solution"
            )


def _cpu_seconds() -> float:
    """CPU of this process and of every child it has reaped (the sandboxes: bubblewrap reaps what it ran)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


if __name__ == "__main__":
    main()
