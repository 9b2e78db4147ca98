"""Where sandboxes run: on this machine (threads of this process, each driving one bubblewrap sandbox; the default), or
as Ray tasks on a cluster's CPU nodes (`ACECURATE_EXECUTOR=ray`; the cluster is the one `RAY_ADDRESS` names, or the
one `ray start` left on this machine). Either way every solution runs in the same bubblewrap runner
(`executor.grade_many`) and comes back as the same verdict; callers (the execution cache, the graders of curation,
eval and rewards) do not change. The setting is an environment variable, like `ACECURATE_REWARD_WORKERS`, so that it
also reaches the reward functions trainers load by path."""

from __future__ import annotations

import os

from ..errors import AcecurateError
from .executor import Limits, SolutionResult
from .executor import grade_many as grade_many_here

EXECUTORS = ("local", "ray")


def executor_name() -> str:
    name = (os.environ.get("ACECURATE_EXECUTOR") or "local").strip().lower()
    if name not in EXECUTORS:
        raise AcecurateError(f"ACECURATE_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")
    return name


def grade_many(solutions, workers: int = 2, limits: Limits | None = None, **options) -> list[SolutionResult]:
    """`executor.grade_many` where ACECURATE_EXECUTOR says: `workers` sandboxes at a time here, or every CPU of the
    Ray cluster (one sandbox per CPU; `workers` does not apply)."""
    if executor_name() == "ray":
        from .ray_pool import grade_many_ray

        return grade_many_ray(solutions, limits, **options)
    return grade_many_here(solutions, workers, limits, **options)
