"""Reward functions for the trainers that `acecurate export` writes for (verl, OpenRLHF, TRL), each in the form its
trainer calls, all grading through `verify.responses.grade_responses`: the math grader and the code sandbox that give
curation verdicts and `acecurate train`'s rewards, under the grading policy the export recorded with every row
(`export.recorded_policy`, a `verify.policy.GradingPolicy` record) and the row's own time limit. 1.0 when correct,
else 0.0; no format reward. The trainers hand these functions text only, so the truncation rule cannot apply here: a
response cut at the length limit is graded as written (without </think> it has no answer).

The trainers load these files by path (verl's `custom_reward_function.path`, OpenRLHF's `--remote_rm_url`), so they
import acecurate by its absolute name. One math grader per process and math time limit (the policy's math_timeout_s)
serves every call: its worker processes are started on the first call and kept (`ACECURATE_REWARD_WORKERS`, default
every core, sets how many).
"""

from __future__ import annotations

import json
import os
import threading

from acecurate.verify.policy import GradingPolicy
from acecurate.verify.responses import Verdict, grade_responses

_graders: dict[float, object] = {}  # one per math time limit (the policy's math_timeout_s)
_grader_lock = threading.Lock()


def reward_workers() -> int:
    return int(os.environ.get("ACECURATE_REWARD_WORKERS") or os.cpu_count() or 1)


def math_grader(timeout: float):
    """The process's math grader for a wall-clock limit (worker processes), started on first use."""
    from acecurate.verify.math import MathGrader

    with _grader_lock:
        if timeout not in _graders:
            _graders[timeout] = MathGrader(workers=reward_workers(), timeout=timeout)
        return _graders[timeout]


def policy_of(value) -> GradingPolicy:
    """A row's recorded grading policy (a JSON string or a dict); the default policy when it has none."""
    if isinstance(value, str) and value:
        value = json.loads(value)
    return GradingPolicy.from_dict(value) if isinstance(value, dict) else GradingPolicy()


def domain_of(domain, truth) -> str:
    """A row's domain as exported, or, where a trainer dropped it, from its ground truth: a tests JSON is code."""
    if domain in ("math", "code"):
        return domain
    if isinstance(truth, str) and truth.lstrip().startswith("{"):
        try:
            return "code" if isinstance(json.loads(truth).get("format"), str) else "math"
        except (ValueError, AttributeError):
            return "math"
    return "math"


def grade(domains, responses, truths, gradings, time_limits=None) -> list[Verdict]:
    """A verdict per response: each row graded under its own recorded policy and time limit (rows that share a
    policy, usually all of them, are graded together, in parallel)."""
    time_limits = list(time_limits) if time_limits is not None else [None] * len(responses)
    verdicts: list[Verdict | None] = [None] * len(responses)
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(gradings):
        groups.setdefault(g if isinstance(g, str) else json.dumps(g, sort_keys=True), []).append(i)
    for rows in groups.values():
        domain = [domain_of(domains[i], truths[i]) for i in rows]
        policy = policy_of(gradings[rows[0]])
        graded = grade_responses(
            domain,
            [responses[i] or "" for i in rows],
            [truths[i] if d == "math" else None for i, d in zip(rows, domain)],
            [truths[i] if d == "code" else None for i, d in zip(rows, domain)],
            math_grader(policy.math_timeout_s),
            reward_workers(),
            policy,
            time_limits=[time_limits[i] for i in rows],
        )
        for i, verdict in zip(rows, graded):
            verdicts[i] = verdict
    return verdicts


def rewards(verdicts) -> list[float]:
    return [1.0 if v.correct else 0.0 for v in verdicts]
