"""Math stages built on the grader: `answer-check` (is the gold answer usable at all)."""

from __future__ import annotations

import re
from dataclasses import dataclass


from ..pipeline import StageResult, split_by_reason, stage
from .math import MathGrader

_PROSE = re.compile(r"[A-Za-z]{4,}(?:\s+[A-Za-z]{2,}){2,}")  # three or more words in a row
_TEXT_WRAP = re.compile(r"\\(?:text|mathrm|textbf|mbox)\s*\{[^{}]*\}")


@dataclass
class AnswerCheckConfig:
    timeout: float = 5.0  # seconds per gold answer, enforced from outside the worker


@stage("answer-check", AnswerCheckConfig, requires=("answer",))
def answer_check(frame, config: AnswerCheckConfig, ctx) -> StageResult:
    """Remove math rows whose gold answer is empty, descriptive prose, or cannot be parsed by the grader."""
    answers = [a if isinstance(a, str) else "" for a in frame["answer"]]
    reasons: list[str | None] = [None] * len(answers)
    to_parse = []
    for i, answer in enumerate(answers):
        if frame["domain"].iat[i] != "math":
            continue
        if not answer.strip():
            reasons[i] = "empty_answer"
        elif _PROSE.search(_TEXT_WRAP.sub(" ", answer)) or _PROSE.search(answer.replace("\\text{", " ")):
            reasons[i] = "descriptive_answer"
        else:
            to_parse.append(i)
    # Unparseable or hanging gold answers cannot give a reliable reward.
    distinct = list(dict.fromkeys(answers[i] for i in to_parse))  # each distinct gold answer is parsed once
    with MathGrader(workers=ctx.workers, timeout=config.timeout) as grader:
        task = ctx.progress.add_task("answer-check", total=len(distinct)) if ctx.progress else None
        checked = dict(zip(distinct, grader.check_golds(distinct, progress=(lambda n: ctx.progress.advance(task, n)) if task is not None else None)))
        if task is not None:
            ctx.progress.remove_task(task)
    statuses = {}
    for i, grade in ((i, checked[answers[i]]) for i in to_parse):
        statuses[grade.status] = statuses.get(grade.status, 0) + 1
        if grade.status in ("timeout", "error", "unparseable_gold"):
            reasons[i] = grade.status if grade.status == "unparseable_gold" else f"gold_{grade.status}"
    return split_by_reason(frame, reasons, {"self_check_statuses": statuses})
