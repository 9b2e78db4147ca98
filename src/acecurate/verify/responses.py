"""Grading model responses of either domain: the one code path behind curation verdicts and training rewards."""

from __future__ import annotations

from typing import NamedTuple

from ..errors import AcecurateError


def answer_part(response: str, require_think_close: bool = True) -> str | None:
    """The part of a response that holds its final answer, or None when it has none.

    After the last `</think>` when there is one. A `<think>` after the last `</think>` (or with none) is reasoning
    that never finished: a truncated response has no final answer, whatever it boxed on the way. With neither tag,
    the whole text when `require_think_close` is off (a model that does not think in tags), and None when it is on:
    the R1 chat template puts `<think>` in the prompt, so an R1-style response holds only `</think>`, and one without
    it was cut off inside its reasoning."""
    close = response.rfind("</think>")
    if response.rfind("<think>") > close:
        return None
    if close >= 0:
        return response[close + len("</think>") :]
    return None if require_think_close else response


def _fenced_blocks(text: str, opener: str) -> list[str]:
    """The contents of the blocks that `opener` opens (through the end of its line when it ends in `python`) and the
    next ``` closes, as `re.findall(opener + "[^\\n]*\\n(.*?)```")` finds them, in one pass over the text: a
    regular expression rescans the rest of the line from every opener that has no newline after it (quadratic)."""
    blocks, position = [], 0
    while (start := text.find(opener, position)) >= 0:
        line_end = start + len(opener) - 1 if opener.endswith("\n") else text.find("\n", start + len(opener))
        close = text.find("```", line_end + 1) if line_end >= 0 else -1
        if close < 0:
            break  # no later opener can have both a newline and a close after it
        blocks.append(text[line_end + 1 : close])
        position = close + 3
    return blocks


def extract_code(response: str, require_think_close: bool = True) -> str | None:
    """The last ```python block of the answer part (a bare ``` block if there is no python one). Linear in the length
    of the response."""
    part = answer_part(response, require_think_close)
    if part is None:
        return None
    blocks = _fenced_blocks(part, "```python") or _fenced_blocks(part, "```\n")
    return blocks[-1] if blocks else None


class Verdict(NamedTuple):
    status: str
    correct: bool
    extracted: str | None
    rule: str  # which rule decided a math verdict; the sandbox verdict for code


def grade_responses(
    domains, texts, golds, tests, math_grader, workers: int = 2, policy=None, *, time_limits=None, truncated=None
) -> list[Verdict]:
    """A verdict per response under `policy` (a verify.policy.GradingPolicy; its defaults when None): math by the math
    grader, code by the sandbox with early stop, both reading only the answer part (`answer_part`). `time_limits`
    holds each row's own time limit (None where it has none), `truncated` whether each response was cut at the token
    limit: the policy's truncation rule decides those before anything else.

    A suite that cannot be read or may not run is that row's verdict (`malformed_tests`, `untrusted_suite`). A sandbox
    infrastructure fault is retried by the sandbox and raised if it persists: never scored as a failure. No response
    can cause one."""
    from ..sandbox import grade_many
    from ..suites import MalformedTests, parse_tests
    from .policy import TRUNCATED, GradingPolicy

    policy = policy or GradingPolicy()
    count = len(texts)
    time_limits = list(time_limits) if time_limits is not None else [None] * count
    cut = list(truncated) if truncated is not None else [False] * count
    results: list = [None] * count
    if not policy.scores_truncated():
        for i in range(count):
            if cut[i]:
                results[i] = Verdict(TRUNCATED, False, None, TRUNCATED)
    math_rows = [i for i, d in enumerate(domains) if d == "math" and results[i] is None]
    if math_rows:
        pairs = [(texts[i], golds[i]) for i in math_rows]
        for i, g in zip(math_rows, math_grader.grade_many(pairs, require_think_close=policy.require_think_close)):
            results[i] = Verdict(g.status, g.correct, g.extracted, g.rule)
    runnable = []
    for i, domain in enumerate(domains):
        if domain == "code" and results[i] is None:
            code = extract_code(texts[i], policy.require_think_close)
            if code is None:
                results[i] = Verdict("no_code", False, None, "no_code")
            else:
                runnable.append((i, code))
    suites: dict = {}  # each row's suite read once for all its responses (LiveCodeBench's can be megabytes)

    def suite(text):
        if not isinstance(text, str):
            return text
        if text not in suites:
            try:
                suites[text] = parse_tests(text)
            except MalformedTests:
                suites[text] = text  # the sandbox gives it its verdict, malformed_tests
        return suites[text]

    graded = grade_many(
        [(code, suite(tests[i]), policy.limits(time_limits[i])) for i, code in runnable],
        workers=workers,
        early_stop=True,
        allow_inline_asserts=policy.allow_inline_asserts,
    )
    for (i, _), result in zip(runnable, graded):
        if result.verdict == "sandbox_error":
            raise AcecurateError(f"the sandbox failed on a response after retries: {result.detail}")
        results[i] = Verdict(result.verdict, result.passed, None, result.verdict)
    return results
