"""Reward functions for the trainers that `acecurate export` writes for (verl, OpenRLHF, TRL), each in the form its
trainer calls, all grading through `verify.responses.grade_responses`: the math grader and the code sandbox that give
curation verdicts and `acecurate train`'s rewards, under the grading settings the export recorded with every row
(`export.grading_settings`). 1.0 when correct, else 0.0; no format reward.

The trainers load these files by path (verl's `custom_reward_function.path`, OpenRLHF's `--remote_rm_url`), so they
import acecurate by its absolute name. One grader per process serves every call: its worker processes are started on
the first call and kept (`ACECURATE_REWARD_WORKERS`, default every core, sets how many).
"""

from __future__ import annotations

import json
import os
import threading

from acecurate.verify.responses import Verdict, grade_responses

DEFAULT_GRADING = {"require_think_close": True, "allow_inline_asserts": False, "limits": {}}

_grader = None
_grader_lock = threading.Lock()


def reward_workers() -> int:
    return int(os.environ.get("ACECURATE_REWARD_WORKERS") or os.cpu_count() or 1)


def math_grader():
    """The process's one math grader (worker processes with a wall-clock limit), started on first use."""
    global _grader
    from acecurate.verify.math import MathGrader

    with _grader_lock:
        if _grader is None:
            _grader = MathGrader(workers=reward_workers())
        return _grader


def grading_of(value) -> dict:
    """A row's recorded grading settings (a JSON string or a dict); the graders' defaults when it has none."""
    if isinstance(value, str) and value:
        value = json.loads(value)
    return {**DEFAULT_GRADING, **value} if isinstance(value, dict) else dict(DEFAULT_GRADING)


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


def grade(domains, responses, truths, gradings) -> list[Verdict]:
    """A verdict per response: each row graded under its own recorded settings (rows that share settings, usually
    all of them, are graded together, in parallel)."""
    from acecurate.sandbox import Limits

    settings = [grading_of(g) for g in gradings]
    verdicts: list[Verdict | None] = [None] * len(responses)
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(settings):
        groups.setdefault(json.dumps(s, sort_keys=True), []).append(i)
    for rows in groups.values():
        s = settings[rows[0]]
        domain = [domain_of(domains[i], truths[i]) for i in rows]
        graded = grade_responses(
            domain,
            [responses[i] or "" for i in rows],
            [truths[i] if d == "math" else None for i, d in zip(rows, domain)],
            [truths[i] if d == "code" else None for i, d in zip(rows, domain)],
            math_grader(),
            reward_workers(),
            bool(s["require_think_close"]),
            allow_inline_asserts=bool(s["allow_inline_asserts"]),
            limits=Limits(**s["limits"]),
        )
        for i, verdict in zip(rows, graded):
            verdicts[i] = verdict
    return verdicts


def rewards(verdicts) -> list[float]:
    return [1.0 if v.correct else 0.0 for v in verdicts]
