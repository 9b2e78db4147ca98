"""The grading policy: everything that decides a verdict beyond the response itself, in one small object that every
grader's caller takes (training rewards, `sampling.collect` for eval and the sampling stages, validate-tests, the
`verify` commands, and the trainer exports' reward functions).

    require_think_close   the answer part of an R1-style response (see `verify.responses.answer_part`)
    truncated             the truncation rule: "wrong" (a completion cut at the token limit scores 0, whatever it
                          boxed or wrote; the default, everywhere) or "graded" (graded like any other)
    time_limit_s, memory_mb   the code limits per test (CPU seconds follow the wall limit)
    per_row_limits        a row's own `time_limit_s` (validate-tests sets it from its references) applies where it
                          is below the policy's
    allow_inline_asserts  assert suites that cannot be data run in place (their expected values enter the sandbox)
    math_timeout_s        the math grader's wall-clock limit per response

The record of a policy (`to_dict`) adds the versions of the code that applies it: the math grader, the code grader
(sandbox, comparison, suites) and the judge environment. Every stored verdict carries that record (the sample store,
the execution cache, rollouts.jsonl), and a stored verdict whose record differs from the current one in any field is
regraded (`stale_fields`). A record is plain JSON, so an export can carry it and a reward function elsewhere can
rebuild the policy with `GradingPolicy.from_dict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from ..config import setting
from ..sandbox.executor import Limits
from ..sandbox.judge_env import environment_id

TRUNCATION_RULES = ("wrong", "graded")
TRUNCATED = "truncated"  # the status and rule of a truncated completion under the rule "wrong"
VERSION_FIELDS = ("math_grader", "code_grader", "judge_environment")
_PACKAGE = Path(__file__).resolve().parents[1]
# The code whose change can change a verdict (this module only says how it is applied). A digest rather than a
# number to bump: a grader fix regrades the stored verdicts even when nobody remembered to bump anything.
_MATH_GRADER = ("verify/math.py", "verify/_math_worker.py", "verify/responses.py", "text.py")
_MATH_PACKAGES = ("math-verify", "latex2sympy2_extended", "sympy")
_CODE_GRADER = ("sandbox/*.py", "suites/*.py", "verify/responses.py")


def source_digest(patterns: tuple[str, ...], packages: tuple[str, ...] = ()) -> str:
    """A digest of the package's files matching `patterns` (relative to the package) and the named packages' versions."""
    digest = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(_PACKAGE.glob(pattern)):
            digest.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for package in packages:
        try:
            digest.update(f"{package}=={metadata.version(package)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent\0".encode())
    return digest.hexdigest()[:12]


@cache
def grader_versions() -> dict[str, str]:
    """The versions of the code that grades, as every verdict records them."""
    return {
        "math_grader": source_digest(_MATH_GRADER, _MATH_PACKAGES),
        "code_grader": source_digest(_CODE_GRADER),
        "judge_environment": environment_id(),
    }


@dataclass(frozen=True)
class GradingPolicy:
    require_think_close: bool = setting(
        True,
        "R1-style models: a response without </think> never finished its reasoning and has no final answer. Off for "
        "models that do not think in tags (then a response with neither tag is graded whole).",
    )
    truncated: str = setting("wrong", "A completion cut at the token limit: 'wrong' (scores 0, everywhere) or 'graded'.")
    time_limit_s: float = setting(4.0, "Wall-clock seconds per code test (CPU seconds follow it).")
    memory_mb: int = setting(1024, "Memory of a code sandbox, in MiB.")
    per_row_limits: bool = setting(True, "A row's own time_limit_s (set by validate-tests from its references) applies where lower.")
    allow_inline_asserts: bool = setting(
        False, "Grade assert suites that cannot be turned into data by running them in place (their expected values enter the sandbox)."
    )
    math_timeout_s: float = setting(5.0, "Wall-clock seconds of the math grader per response.")

    def __post_init__(self):
        if self.truncated not in TRUNCATION_RULES:
            raise ValueError(f"truncated must be one of {', '.join(TRUNCATION_RULES)}, got {self.truncated!r}")
        if not (self.time_limit_s > 0 and self.memory_mb > 0 and self.math_timeout_s > 0):
            raise ValueError("time_limit_s, memory_mb and math_timeout_s must be positive")

    def limits(self, row_time_limit_s=None) -> Limits:
        """The sandbox limits for one row: the policy's, with the row's own time limit where it has a lower one."""
        seconds = self.time_limit_s
        if self.per_row_limits and row_limit(row_time_limit_s) is not None:
            seconds = min(seconds, row_limit(row_time_limit_s))
        return Limits(time_s=seconds, cpu_s=max(1, math.ceil(seconds)), memory_mb=self.memory_mb)

    def scores_truncated(self) -> bool:
        """Whether a truncated completion is graded (the rule "graded") rather than wrong."""
        return self.truncated == "graded"

    def summary(self) -> str:
        """The policy in one line, for cards, reports and the training plan."""
        return (
            f"require_think_close {'on' if self.require_think_close else 'off'}, truncated completions {self.truncated}, "
            f"{self.time_limit_s:g} s and {self.memory_mb} MiB per code test"
            + (" (or the row's own lower limit)" if self.per_row_limits else "")
            + (", inline asserts allowed" if self.allow_inline_asserts else "")
        )

    def settings(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict:
        """The record stored with every verdict: the settings and the versions of the graders that applied them."""
        return {**self.settings(), **grader_versions()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, record: dict) -> GradingPolicy:
        """The policy of a record (an export's, a stored verdict's); its versions are compared, not taken: see
        `stale_fields`. Unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - names - set(VERSION_FIELDS))
        if unknown:
            raise ValueError(f"not fields of a grading policy: {', '.join(unknown)}")
        return cls(**{k: v for k, v in record.items() if k in names})

    def stale_fields(self, record) -> list[str]:
        """The fields (settings or grader versions) in which a stored record differs from this policy as applied
        now; every field when there is no readable record. A verdict with any is regraded."""
        current = self.to_dict()
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except ValueError:
                record = None
        if not isinstance(record, dict):
            return sorted(current)
        return sorted(k for k in current.keys() | record.keys() if current.get(k) != record.get(k))


def row_limit(value) -> float | None:
    """A row's own time limit in seconds, or None (a missing, NaN or non-positive value)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None
