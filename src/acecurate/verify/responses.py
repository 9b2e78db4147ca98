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
    domains, texts, golds, tests, math_grader, workers: int = 2, require_think_close: bool = True, *, allow_inline_asserts: bool = False
) -> list[Verdict]:
    """A verdict per response: math by the math grader, code by the sandbox with early stop. Both read only the
    answer part (`answer_part`, with `require_think_close`).

    A sandbox infrastructure fault is retried by the sandbox and raised if it persists: never scored as a failure. No
    response can cause one. Assert suites that cannot be data are refused unless `allow_inline_asserts`."""
    from ..sandbox import grade_many

    results: list = [None] * len(texts)
    math_rows = [i for i, d in enumerate(domains) if d == "math"]
    if math_rows:
        pairs = [(texts[i], golds[i]) for i in math_rows]
        for i, g in zip(math_rows, math_grader.grade_many(pairs, require_think_close=require_think_close)):
            results[i] = Verdict(g.status, g.correct, g.extracted, g.rule)
    runnable = []
    for i, domain in enumerate(domains):
        if domain == "code":
            code = extract_code(texts[i], require_think_close)
            if code is None:
                results[i] = Verdict("no_code", False, None, "no_code")
            else:
                runnable.append((i, code))
    graded = grade_many(
        [(code, tests[i]) for i, code in runnable], workers=workers, early_stop=True, allow_inline_asserts=allow_inline_asserts
    )
    for (i, _), result in zip(runnable, graded):
        if result.verdict == "sandbox_error":
            raise AcecurateError(f"the sandbox failed on a response after retries: {result.detail}")
        results[i] = Verdict(result.verdict, result.passed, None, result.verdict)
    return results
