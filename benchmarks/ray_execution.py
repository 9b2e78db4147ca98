"""Tests per second of code execution on a Ray cluster (`ACECURATE_EXECUTOR=ray`: bubblewrap sandboxes in Ray tasks)
beside the same solutions on this machine's executor (threads driving the sandboxes), in the same run, on the rllm
LeetCode references (real assert suites), with the verdicts of both compared solution by solution.

On one machine Ray only adds its own costs (task dispatch, pickling, a worker process per CPU); the figure to read is
that overhead, since on a cluster the Ray path scales with the nodes and the local one cannot.

    python benchmarks/ray_execution.py [--problems 120] [--cpus 2] [--address HOST:PORT]
"""

import argparse
import json
import time
from pathlib import Path

from acecurate.records import load_inputs
from acecurate.sandbox import Limits
from acecurate.sandbox.executor import grade_many
from acecurate.sandbox.ray_pool import grade_many_ray

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=120)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (and local sandboxes at once)")
    parser.add_argument("--address", default=None, help="an existing cluster instead of a local one")
    args = parser.parse_args()
    frame = load_inputs([str(DATA / "raw/rllm_leetcode.json")]).frame.head(args.problems)
    solutions = [(code, json.loads(tests)) for code, tests in zip(frame["solutions"].str[0], frame["tests"])]
    limits = Limits(time_s=6.0, cpu_s=6)

    started = time.perf_counter()
    local = grade_many(solutions, workers=args.cpus, limits=limits)
    local_s = time.perf_counter() - started
    tests = sum(len(r.tests) for r in local)

    import ray

    started = time.perf_counter()
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    grade_many_ray(solutions[:4], limits)  # start the workers, once
    startup_s = time.perf_counter() - started
    started = time.perf_counter()
    remote = grade_many_ray(solutions, limits)
    ray_s = time.perf_counter() - started
    ray.shutdown()

    same = sum(a.verdict == b.verdict and [t.verdict for t in a.tests] == [t.verdict for t in b.tests] for a, b in zip(local, remote))
    print(f"{len(solutions)} LeetCode references, {tests} tests, {args.cpus} sandboxes at a time")
    print(f"  local executor:          {tests / local_s:8.1f} tests/s ({len(solutions) / local_s:.1f} solutions/s)")
    print(f"  Ray tasks ({args.cpus} CPUs):     {tests / ray_s:8.1f} tests/s ({len(solutions) / ray_s:.1f} solutions/s)")
    print(f"  Ray start-up (once):     {startup_s:8.1f} s")
    print(f"  same verdicts:           {same}/{len(solutions)} solutions, every test")


if __name__ == "__main__":
    main()
