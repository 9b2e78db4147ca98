"""`input-check`: the first stage of every pipeline. It removes rows that belong to the other domain (a code row in a
math pipeline would otherwise be dropped later as `missing_answer`, for the wrong reason) and problems so long that
normalising them would take minutes and gigabytes (a 50 MB single-line "problem" is a broken row, not a problem)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import setting
from ..stage import StageResult, row_rule, stage


@dataclass
class InputCheckConfig:
    max_problem_chars: int = setting(100_000, "Problems longer than this many characters are removed (problem_too_long).")


@stage(
    "input-check",
    InputCheckConfig,
    requires=("domain", "problem"),
    example="acecurate input-check dumps/mixed.jsonl --domain math --max-problem-chars 50000 --out runs/input",
)
def input_check(frame, config: InputCheckConfig, ctx) -> StageResult:
    """Remove rows of the other domain and problems longer than max_problem_chars."""
    return input_verdict.split(frame, config, ctx.domain)


@row_rule("domain", "problem")
def input_verdict(domain: str, problem: str, config: InputCheckConfig, pipeline_domain: str):
    if domain != pipeline_domain:
        what = "a code row (it has tests)" if domain == "code" else "a math row (it has no tests)"
        return "other_domain", f"{what} in a {pipeline_domain} pipeline"
    if len(problem) > config.max_problem_chars:
        return "problem_too_long", f"{len(problem):,} characters (max {config.max_problem_chars:,})"
    return None
