"""Verdicts with the warm sandbox (sandbox.reuse) beside a sandbox per solution, test by test, on the shared code
dumps: each rllm LeetCode reference, another problem's reference and a crash on its suite; generic programs (an echo,
the first line, a word count, a crash) on the stdin suites of the other dumps, and stubs (return 0, pass, raise) on
their functional suites; all with and without early stop. Prints the solutions whose verdicts differ (none expected).

    python benchmarks/reuse_parity.py [--problems 300] [--others 60]
"""

import argparse
import collections
import json
import os
import time
from pathlib import Path

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, grade_many

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
STDIN_PROGRAMS = {
    "echo": "import sys\nprint(sys.stdin.read())",
    "first line": "print(input())",
    "words": "import sys\nw = sys.stdin.read().split()\nprint(len(w))\nprint(*w[:3])",
    "crash": "import sys\nsys.exit(3)",
}
STUBS = {"return 0": "return 0\n", "pass": "pass\n", "raise": "raise ValueError\n"}


def solutions(problems: int, others: int) -> tuple[list, list]:
    items, keys = [], []
    frame = load_inputs([str(DATA / "rllm_leetcode.json")]).frame
    rows = list(zip(frame["id"], frame["solutions"], frame["tests"]))[:problems]
    for index, (row_id, references, tests) in enumerate(rows):
        other = rows[(index + 1) % len(rows)][1][0]
        for tag, code in (("reference", references[0]), ("another's reference", other), ("crash", "import sys\nsys.exit(3)\n")):
            items.append((code, tests))
            keys.append(f"rllm_leetcode/{row_id}/{tag}")
    for name in ("rllm_livecodebench_train", "rllm_codeforces", "rllm_code_contests"):
        frame = load_inputs([str(DATA / f"{name}.json")]).frame
        for row_id, tests, starter in list(zip(frame["id"], frame["tests"], frame["starter_code"]))[:others]:
            stdin = json.loads(tests)["format"] == "stdin"
            programs = STDIN_PROGRAMS if stdin else {tag: (starter or "") + body for tag, body in STUBS.items()}
            for tag, code in programs.items():
                items.append((code, tests))
                keys.append(f"{name}/{row_id}/{tag}")
    return items, keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=300, help="rllm LeetCode problems")
    parser.add_argument("--others", type=int, default=60, help="problems of each other dump")
    args = parser.parse_args()
    items, keys = solutions(args.problems, args.others)
    limits = Limits(time_s=6.0, cpu_s=6)
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    verdicts = {}
    for reuse in (True, False):
        for early_stop in (False, True):
            t = time.perf_counter()
            results = grade_many(items, workers=2, limits=limits, reuse=reuse, early_stop=early_stop)
            print(f"  reuse={reuse!s:5} early_stop={early_stop!s:5}: {len(items)} solutions in {time.perf_counter() - t:6.1f} s")
            verdicts[reuse, early_stop] = [(r.verdict, [(test.index, test.verdict) for test in r.tests]) for r in results]
    for early_stop in (False, True):
        warm, fresh = verdicts[True, early_stop], verdicts[False, early_stop]
        differ = [i for i, (a, b) in enumerate(zip(warm, fresh)) if a != b]
        tally = collections.Counter(v for v, _ in warm)
        print(f"early_stop={early_stop}: {len(differ)} of {len(items)} solutions differ; warm verdicts {dict(tally)}")
        for i in differ[:20]:
            print(f"  {keys[i]}: warm {warm[i]} | per solution {fresh[i]}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
