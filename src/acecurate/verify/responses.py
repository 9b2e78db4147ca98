"""Grading model responses of either domain: the one code path behind curation verdicts and training rewards."""

from __future__ import annotations

import re

from ..errors import AcecurateError


def extract_code(response: str) -> str | None:
    """The last ```python block after the last </think> (a bare ``` block if there is no python one)."""
    if "</think>" in response:
        response = response.rsplit("</think>", 1)[1]
    blocks = re.findall(r"```python[^\n]*\n(.*?)```", response, re.DOTALL) or re.findall(r"```\n(.*?)```", response, re.DOTALL)
    return blocks[-1] if blocks else None


def grade_responses(
    domains, texts, golds, tests, math_grader, workers: int = 2, *, allow_inline_asserts: bool = False
) -> list[tuple[str, bool, str | None]]:
    """(status, correct, extracted) per response: math by the math grader, code by the sandbox with early stop.

    A sandbox infrastructure fault is retried by the sandbox and raised if it persists: never scored as a failure. No
    response can cause one. Assert suites that cannot be data are refused unless `allow_inline_asserts`."""
    from ..sandbox import grade_many

    results: list = [None] * len(texts)
    math_rows = [i for i, d in enumerate(domains) if d == "math"]
    if math_rows:
        for i, g in zip(math_rows, math_grader.grade_many([(texts[i], golds[i]) for i in math_rows])):
            results[i] = (g.status, g.correct, g.extracted)
    runnable = []
    for i, domain in enumerate(domains):
        if domain == "code":
            code = extract_code(texts[i])
            if code is None:
                results[i] = ("no_code", False, None)
            else:
                runnable.append((i, code))
    graded = grade_many(
        [(code, tests[i]) for i, code in runnable], workers=workers, early_stop=True, allow_inline_asserts=allow_inline_asserts
    )
    for (i, _), result in zip(runnable, graded):
        if result.verdict == "sandbox_error":
            raise AcecurateError(f"the sandbox failed on a response after retries: {result.detail}")
        results[i] = (result.verdict, result.passed, None)
    return results
