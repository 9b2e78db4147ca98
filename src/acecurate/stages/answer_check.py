"""`answer-check`: is each math row's gold answer usable at all (not empty, not prose, parseable by the grader)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import setting
from ..stage import StageResult, row_rule, split_by_verdicts, stage
from ..verify.math import MathGrader

_PROSE = re.compile(r"[A-Za-z]{4,}(?:\s+[A-Za-z]{2,}){2,}")  # three or more words in a row
_TEXT_WRAP = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{[^{}]*\}")


@dataclass
class AnswerCheckConfig:
    timeout: float = setting(5.0, "Seconds per gold answer, enforced from outside the worker.")


@stage(
    "answer-check",
    AnswerCheckConfig,
    requires=("domain", "answer"),
    example="acecurate answer-check curated/math/data/train.parquet --timeout 10 --out runs/answers",
)
def answer_check(frame, config: AnswerCheckConfig, ctx) -> StageResult:
    """Remove math rows whose gold answer is empty, descriptive prose, or cannot be parsed by the grader."""
    answers = [a if isinstance(a, str) else "" for a in frame["answer"]]
    verdicts = answer_shape.verdicts(frame)
    to_parse = [i for i, (v, domain) in enumerate(zip(verdicts, frame["domain"])) if v is None and domain == "math"]
    # Unparseable or hanging gold answers cannot give a reliable reward.
    distinct = list(dict.fromkeys(answers[i] for i in to_parse))  # each distinct gold answer is parsed once
    with MathGrader(workers=ctx.workers, timeout=config.timeout) as grader, ctx.task("parse gold answers", len(distinct)) as task:
        checked = dict(zip(distinct, grader.check_golds(distinct, progress=task.advance)))
    statuses: dict[str, int] = {}
    for i in to_parse:
        grade = checked[answers[i]]
        statuses[grade.status] = statuses.get(grade.status, 0) + 1
        if grade.status in ("timeout", "error", "unparseable_gold"):
            reason = grade.status if grade.status == "unparseable_gold" else f"gold_{grade.status}"
            verdicts[i] = reason, f"grader: {grade.status}: {grade.detail}"[:300]
    return split_by_verdicts(frame, verdicts, stats={"self_check_statuses": statuses})


@row_rule("domain", "answer")
def answer_shape(domain: str, answer):
    """An empty gold answer, or descriptive prose; None for a code row or an answer to parse."""
    if domain != "math":
        return None
    answer = answer if isinstance(answer, str) else ""
    if not answer.strip():
        return "empty_answer", "the gold answer is empty"
    if prose := _PROSE.search(_TEXT_WRAP.sub(" ", answer)) or _PROSE.search(answer.replace("\\text{", " ")):
        return "descriptive_answer", f"prose in the answer: {prose.group(0)!r}"
    return None
