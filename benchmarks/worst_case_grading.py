"""The slowest responses we can construct, math and code, graded beside their limits; then grading throughput on
realistic responses. Each is measured for this checkout and for the code before issue 16 (--before, by default commit
10d40a8: main before either half of issue 16 was merged) in one run.

1. Math: each pathological response (the families of tests/test_grading_stalls.py, at --size characters) graded
   alone by a warm one-worker grader with the default 5 s limit: the wall time of the call (for the code before, most
   of it was spent in the caller, outside any limit), and the verdict.
2. Code: extract_code on 20,000 openers without a newline (in the caller), and hostile programs in the sandbox
   (stdin not read, threads that never end, work hidden in /tmp and in IPC objects, CPU hidden in children the kernel
   reaps): the wall time of run_solution beside its limits, and the verdicts.
3. Throughput: grade_many (2 workers) on the realistic math mix of benchmarks/math_grading.py, and the sandbox (2
   workers) on the stdin and LeetCode suites of benchmarks/code_execution.py.

    python benchmarks/worst_case_grading.py [--size 32000] [--cap 60] [--pairs 4000] [--problems 60] [--before 10d40a8]

The code before is taken with `git archive <before>` into a temporary folder and run in a subprocess with its own src
first on PYTHONPATH (same interpreter, packages and machine). A measurement that runs past --cap seconds is stopped
and shown as "> cap". On a machine shared with other work, compare the two columns, not the absolute numbers.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BEFORE = "10d40a8"  # main before issue 16 (its policy half was merged in 426ea0a, its sandbox half after)
REPO = Path(__file__).resolve().parents[1]
MATH_LIMIT = 5.0


def math_responses(n: int) -> dict[str, str]:
    """Answer parts that cost the caller seconds to minutes before issue 16 (12 KB: 30 s, 32 KB: 270 s)."""
    return {
        "trailing periods, two boxes": "</think> \\boxed{1" + "." * n + "} or \\boxed{2}",
        "trailing percent signs": "</think> \\boxed{1" + "%" * n + "} or \\boxed{2}",
        "a run of spaces": "</think> \\boxed{1" + " " * n + "x} or \\boxed{2}",
        "a run of TeX spaces": "</think> \\boxed{1" + "\\ " * (n // 2) + "x} or \\boxed{2}",
        "spaces in a text command": "</think> \\boxed{\\text{" + " " * n + "x} 1} or \\boxed{2}",
        "a long text unit": "</think> \\boxed{1\\text{" + "a" * n + "} x} or \\boxed{2}",
        "boxes nested deep": "</think> " + "\\boxed{" * (n // 8) + "5" + "}" * (n // 8),
        "many boxes in a box": "</think> \\boxed{" + "\\boxed{1}" * (n // 9) + "}",
        "distinct boxes": "</think> " + " ".join(f"\\boxed{{{k}}}" for k in range(n // 10)),
        "sympy busy (a product of 400 factors)": "</think> \\boxed{" + "*".join(f"(x+{k})" for k in range(1, 400)) + "}",
    }


# A parent that ignores SIGCHLD, so the kernel reaps its three children of 0.8 CPU-seconds each: their CPU never
# reaches RUSAGE_CHILDREN. It waits until they are gone (the pipe's end closes as each exits), so that none is
# reaped by the runner instead.
KERNEL_REAPED_CPU = textwrap.dedent(
    """
    import os, signal, time
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    done_r, done_w = os.pipe()
    for _ in range(3):
        if os.fork() == 0:
            os.close(done_r)
            end = time.process_time() + 0.8
            while time.process_time() < end:
                pass
            os._exit(0)
    os.close(done_w)
    os.read(done_r, 1)
    time.sleep(0.5)
    print(7)
    """
)


# A correct program that answers as it reads: its output fills its pipe while its input is still being written, so a
# runner that blocks writing the input while the program blocks writing its output deadlocks (200,000 lines each way).
ECHO_AS_IT_READS = (
    "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)\n    sys.stdout.flush() if line.endswith('0\\n') else None\n"
)
ECHO_LINES = "".join(f"{k:09d}\n" for k in range(200_000))


def code_attacks() -> dict[str, tuple[str, dict, dict]]:
    """name: (program, tests, limits as Limits keyword arguments)."""

    def stdin(inputs, output="7"):
        return {"format": "stdin", "cases": [{"input": i, "output": output} for i in inputs]}

    limits = {"time_s": 2.0, "cpu_s": 2, "memory_mb": 512}
    deep = "import os\nos.chdir('/tmp')\nfound = os.listdir('/tmp')\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\nprint(0 if found else 7)"
    files = "import os\nfound = os.listdir('/tmp')\nfor k in range(50_000):\n    open(f'/tmp/{k}', 'w').close()\nprint(0 if found else 7)"
    ipc = (
        "import ctypes, os\nlibc = ctypes.CDLL(None)\nfound = libc.shmget(42, 4096, 0o600) >= 0\n"
        "libc.shmget(42, 4096, 0o1000 | 0o600)\nprint(0 if found else 7)"
    )
    threaded = (
        "import sys, threading\ndef main():\n    print(input())\nthreading.stack_size(1 << 27)\nthreading.Thread(target=main).start()"
    )
    return {
        "reads one page of 1 MB, then sleeps": ("import os, time\nos.read(0, 4096)\ntime.sleep(60)", stdin(["x" * (1 << 20)]), limits),
        "echoes 2 MB as it reads (correct)": (
            ECHO_AS_IT_READS,
            stdin([ECHO_LINES], ECHO_LINES),
            {"time_s": 10.0, "cpu_s": 10, "memory_mb": 512},
        ),
        "a thread that never ends": (
            "import threading\nthreading.Thread(target=lambda: [0 for _ in iter(int, 1)]).start()\nprint(7)",
            stdin(["\n"]),
            limits,
        ),
        "main() in a thread (correct)": (threaded, stdin(["7\n"]), limits),
        "CPU in children the kernel reaps (3 x 0.8 s, cpu_s=1)": (
            KERNEL_REAPED_CPU,
            stdin(["\n"]),
            {"time_s": 30.0, "cpu_s": 1, "memory_mb": 512},
        ),
        "3,000 nested directories, 3 tests": (deep, stdin(["\n"] * 3), {"time_s": 10.0, "cpu_s": 10, "memory_mb": 512}),
        "50,000 files, 3 tests": (files, stdin(["\n"] * 3), {"time_s": 10.0, "cpu_s": 10, "memory_mb": 512}),
        "System V shared memory, 3 tests": (ipc, stdin(["\n"] * 3), limits),
    }


# --- Measurements, each run in a subprocess for one checkout ---


EXTRACT_CODE = "extract_code, 20,000 openers without a newline"


def measure_math_worst(size: int, name: str) -> dict:
    """One response graded alone by a warm grader: the call's wall time and the verdict."""
    from acecurate.verify.math import MathGrader

    with MathGrader(workers=1, timeout=MATH_LIMIT) as grader:
        grader.grade_many([("</think> \\boxed{5}", "5"), ("</think> \\boxed{x^2}", "x^2")])  # started and warm
        started = time.perf_counter()
        grade = grader.grade_many([(math_responses(size)[name], "5")])[0]
        return {"seconds": time.perf_counter() - started, "verdict": grade.status}


def measure_code_worst(name: str) -> dict:
    from acecurate.sandbox import Limits, run_solution
    from acecurate.verify.responses import extract_code

    if name == EXTRACT_CODE:
        started = time.perf_counter()
        extract_code("</think>" + "```python" * 20_000)
        return {"seconds": time.perf_counter() - started, "verdict": "-"}
    code, tests, limits = code_attacks()[name]
    started = time.perf_counter()
    result = run_solution(code, tests, Limits(**limits))
    verdicts = "/".join(t.verdict.replace("_", " ") for t in result.tests) or result.verdict
    return {"seconds": time.perf_counter() - started, "verdict": verdicts}


def measure_math_throughput(pairs: int) -> dict:
    from math_grading import GOLDS, REASONING, make_pairs

    from acecurate.verify.math import MathGrader

    batch = make_pairs(pairs)
    warm = [(f"{REASONING}</think> \\boxed{{{pred}}}", gold) for gold, pred in GOLDS] * 2
    with MathGrader(workers=2) as grader:
        grader.grade_many(warm)  # both workers started, math-verify warm in each: start-up is not throughput
        started = time.perf_counter()
        grades = grader.grade_many(batch)
        seconds = time.perf_counter() - started
    return {"per_s": len(batch) / seconds, "correct": sum(g.correct for g in grades)}


def measure_code_throughput(problems: int) -> dict:
    from code_execution import DATA, STDIN_PROGRAM, stdin_suite

    from acecurate.records import load_inputs
    from acecurate.sandbox import Limits, grade_many

    limits = Limits(time_s=6.0, cpu_s=6)
    grade_many([("print(input())", {"format": "stdin", "cases": [{"input": "7\n", "output": "7"}]})], workers=1, limits=limits)
    solutions = [(STDIN_PROGRAM, stdin_suite(100))] * 8
    started = time.perf_counter()
    results = grade_many(solutions, workers=2, limits=limits)
    out = {"stdin_per_s": 800 / (time.perf_counter() - started), "stdin_passed": sum(r.passed for r in results)}
    path = DATA / "raw/rllm_leetcode.json"
    if path.exists():
        frame = load_inputs([str(path)]).frame.head(problems)
        pairs = list(zip(frame["solutions"].str[0], frame["tests"]))
        started = time.perf_counter()
        results = grade_many(pairs, workers=2, limits=limits)
        seconds = time.perf_counter() - started
        out |= {"leetcode_per_s": len(pairs) / seconds, "leetcode_passed": sum(r.passed for r in results)}
    return out


MEASURES = {
    "math-worst": lambda a: measure_math_worst(a.size, a.item),
    "code-worst": lambda a: measure_code_worst(a.item),
    "math-throughput": lambda a: measure_math_throughput(a.pairs),
    "code-throughput": lambda a: measure_code_throughput(a.problems),
}


# --- The driver ---


def run_measure(kind: str, src: Path, args, cap: float, item: str = "") -> dict | None:
    """One measurement for the checkout whose package is in `src`, in a subprocess; None when it ran past `cap`."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(REPO / "benchmarks")])}
    command = [sys.executable, __file__, "--measure", kind, "--item", item, "--size", str(args.size)]
    command += ["--pairs", str(args.pairs), "--problems", str(args.problems)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        stdout, _ = process.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        return None
    return json.loads(stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=32_000, help="characters of each pathological math response")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds one measurement may take before it is stopped")
    parser.add_argument("--pairs", type=int, default=4000)
    parser.add_argument("--problems", type=int, default=60)
    parser.add_argument("--before", default=BEFORE, help="the commit whose code is measured as before")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--item", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(MEASURES[args.measure](args)))
        return
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before, "src"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        sources = {"before": Path(folder) / "src", "now": REPO / "src"}
        tables = (
            (
                "math-worst",
                f"math: one response of {args.size:,} characters, graded alone (limit {MATH_LIMIT:g} s)",
                list(math_responses(args.size)),
            ),
            (
                "code-worst",
                "code: the caller, then one program in the sandbox (limit: tests x wall limit)",
                [EXTRACT_CODE, *code_attacks()],
            ),
        )
        attacks = code_attacks()
        for kind, title, names in tables:
            print(title)
            print(f"{'response':<54} {'before':>9} {'verdict':<34} {'now':>8} {'verdict':<34} limit")
            for name in names:
                cells = []
                for src in sources.values():
                    found = run_measure(kind, src, args, args.cap, name)
                    time_cell = f"> {args.cap:g} s" if found is None else f"{found['seconds']:.2f} s"
                    cells += [time_cell, "" if found is None else found["verdict"]]
                limit = f"{MATH_LIMIT:g} s" if kind == "math-worst" else ""
                if name in attacks:
                    _, tests, limits = attacks[name]
                    limit = f"{len(tests['cases'])} x {limits['time_s']:g} s"
                print(f"{name[:54]:<54} {cells[0]:>9} {cells[1][:34]:<34} {cells[2]:>8} {cells[3][:34]:<34} {limit}")
            print()
        print("throughput on realistic responses (2 workers, started and warm; before and now alternate, twice)")
        for kind, fields in (("math-throughput", ("per_s",)), ("code-throughput", ("stdin_per_s", "leetcode_per_s"))):
            for label, src in [*sources.items(), *sources.items()]:
                found = run_measure(kind, src, args, args.cap * 10)
                shown = ", ".join(f"{key} {found[key]:,.1f}" for key in fields if key in found) if found else f"> {args.cap * 10:g} s"
                print(f"  {kind:<16} {label:<7} {shown}")
        print("(math per_s: pairs/s on the mix of benchmarks/math_grading.py; stdin_per_s: tests/s on 8 solutions x 100 stdin")
        print(" tests; leetcode_per_s: rllm LeetCode problems/s, their references, every assert)")


if __name__ == "__main__":
    main()
