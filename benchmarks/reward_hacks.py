"""The reward-hack library of validate-tests on the shared code dumps: per source, how many suites a hack passes (and
which hack), how many are only the statement's own examples, and what the prefilter saves, beside the naive way of
running every hack of the library on every suite in the sandbox (timed on a sample, in the same run).

    python benchmarks/reward_hacks.py [--sample 40] [--workers 2]

The removals it counts are exactly validate-tests' (it calls the same functions); the sandbox runs are real.
"""

import argparse
import time
from collections import Counter
from pathlib import Path

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, grade_many
from acecurate.suites import MalformedTests, parse_tests
from acecurate.verify.hacks import could_pass, reward_hacks, statement_tests

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
SOURCES = ["rllm_codeforces", "rllm_code_contests", "rllm_livecodebench_train", "rllm_leetcode"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=40, help="Suites per source for the naive (every hack) timing.")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    limits = Limits(time_s=4.0, cpu_s=4)
    print(f"{'source':<26} {'rows':>5} {'examples only':>13} {'hacks':>6} {'run':>5} {'hackable':>8} {'s':>6}   by hack")
    naive_runs, naive_seconds, naive_hacked, prefiltered_hacked = 0, 0.0, 0, 0
    for source in SOURCES:
        path = DATA / f"{source}.json"
        if not path.exists():
            print(f"{source}: {path} is absent (../shared/data)")
            continue
        frame = load_inputs([str(path)]).frame
        started = time.perf_counter()
        only_examples, considered, jobs, owners = 0, 0, [], []
        suites = []
        for row, (problem, tests) in enumerate(zip(frame["problem"], frame["tests"])):
            try:
                suite = parse_tests(tests).check_values()
            except MalformedTests:
                continue
            if suite.count() - sum(statement_tests(suite, problem)) < 1:
                only_examples += 1  # too_few_tests before any hack runs
                continue
            suites.append((row, problem, suite))
            for hack in reward_hacks(suite, problem):
                considered += 1
                if could_pass(hack, suite):
                    jobs.append((hack.program, suite.dump()))
                    owners.append((row, hack.name))
        results = grade_many(jobs, workers=args.workers, limits=limits)
        hacked = {}
        for (row, name), result in zip(owners, results):
            if result.passed:
                hacked.setdefault(row, name)
        seconds = time.perf_counter() - started
        by_hack = Counter(name.split(":")[0] for name in hacked.values())
        shown = ", ".join(f"{k} {v}" for k, v in by_hack.most_common())
        print(f"{source:<26} {len(frame):>5} {only_examples:>13} {considered:>6} {len(jobs):>5} {len(hacked):>8} {seconds:>6.1f}   {shown}")
        # The naive way on a sample: every hack of the library, run in the sandbox, no prefilter.
        sample = suites[: args.sample]
        naive = [(hack.program, suite.dump(), row) for row, problem, suite in sample for hack in reward_hacks(suite, problem)]
        started = time.perf_counter()
        naive_results = grade_many([(c, t) for c, t, _ in naive], workers=args.workers, limits=limits, early_stop=True)
        naive_seconds += time.perf_counter() - started
        naive_runs += len(naive)
        sample_rows = {row for row, _, _ in sample}
        naive_hacked += len({row for (_, _, row), r in zip(naive, naive_results) if r.passed})
        prefiltered_hacked += len(sample_rows & set(hacked))
    print(
        f"\nnaive (every hack in the sandbox, early stop) on {args.sample} suites per source: {naive_runs} runs in "
        f"{naive_seconds:.1f} s ({naive_runs / max(naive_seconds, 1e-9):.1f} runs/s); suites a hack passes: {naive_hacked} "
        f"naive vs {prefiltered_hacked} with the prefilter (the same rows: the prefilter only skips sure failures)"
    )


if __name__ == "__main__":
    main()
