"""Sandboxes as Ray tasks on a cluster's CPU nodes (`ACECURATE_EXECUTOR=ray`; `pip install 'acecurate[ray]'`).

Each task takes one CPU and runs a few solutions through this package's own `executor.grade_many` on its node, in
bubblewrap, so a verdict is the one the solution gets here. Every node needs bubblewrap and the judge environment
(`acecurate sandbox setup`); a result run under another judge environment than this machine's is refused, since the
execution cache keys on this machine's. A task whose worker dies is retried by Ray (its solutions run again); results
reach the caller in input order, and the caller's execution cache stays the record of what has run.
"""

from __future__ import annotations

import math

from ..cluster import connect_ray, unwrap_ray_error
from ..errors import AcecurateError
from .executor import Limits, SolutionResult, configured
from .judge_env import environment_id

TASK_RETRIES = 3  # a task whose worker process or node died runs again this many times
MAX_PER_TASK = 8  # solutions per task, at most: small enough to balance, large enough to amortise a task


def run_on_node(pairs: list, limits: Limits | None, options: dict) -> list[dict]:
    """The task: the pairs, one sandbox at a time (the task holds one CPU), as result dicts."""
    from .executor import grade_many

    return [r.to_dict() for r in grade_many(pairs, workers=1, limits=limits, **options)]


def grade_many_ray(solutions, limits: Limits | None = None, *, progress=None, **options) -> list[SolutionResult]:
    """executor.grade_many's results for (code, tests) pairs, run as Ray tasks over every CPU of the cluster."""
    solutions = list(solutions)
    if not solutions:
        return []
    options = {"reuse": configured().reuse, **options}  # a task runs in a Ray worker, where `configure` never ran
    ray = connect_ray()
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = max(1, min(MAX_PER_TASK, math.ceil(len(solutions) / (2 * cpus))))  # two tasks per CPU at least, to balance
    task = ray.remote(run_on_node).options(num_cpus=1, max_retries=TASK_RETRIES)
    pending = {task.remote(solutions[begin : begin + size], limits, options): begin for begin in range(0, len(solutions), size)}
    results: list[SolutionResult | None] = [None] * len(solutions)
    expected = environment_id()
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                begin = pending.pop(ref)
                try:
                    part = [SolutionResult.from_dict(r) for r in ray.get(ref)]
                except Exception as exc:
                    raise unwrap_ray_error(exc, "code execution") from None
                other = {r.environment for r in part if r.environment and r.environment != expected}
                if other:
                    raise AcecurateError(
                        f"a Ray node ran solutions under judge environment {sorted(other)[0]}, this machine has {expected}: "
                        "run `acecurate sandbox setup` with the same acecurate on every node"
                    )
                results[begin : begin + len(part)] = part
                if progress:
                    progress(len(part))
    finally:
        for ref in pending:
            ray.cancel(ref)
    return results
