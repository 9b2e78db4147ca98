"""Reward hacks: programs a policy hunting for free reward would find, run by validate-tests against every test suite
in the sandbox. A suite that any of them passes cannot tell a solution from a hack, so it cannot give rewards
(`hackable_tests`, the hack named in the evidence).

What a policy can exploit is what it sees (the statement, its examples) and what is cheap to guess (an empty output,
the input itself, YES for every case, a common number), so the library is:
- stdin: prints nothing; echoes the input; prints its first token; a lookup table of the statement's examples (the
  first example's output for any other input); a common answer printed once (0, 1, -1, 2, YES, NO, Yes, No), or once
  per test case (the first token read as the number of cases); and, for suites of two tests or more, the suite's most
  common expected output, whole or once per case (one answer that fits every test: the tests do not tell inputs apart).
- functions (functional and assert suites): returns None; returns its first argument, or its length; a lookup table of
  the statement's examples; a common value (0, 1, -1, True, False, [], ""); and, for two tests or more, the suite's
  most common expected value.

Each hack also says what it would print or return for a test input (`predict`), so that only the hacks that can
pass a suite under the judge's own comparison are run (the rest fail on some test for sure); the sandbox's verdict is
the one that counts. `statement_tests` tells which tests are the statement's own examples: they are not hidden
tests, so the minimum number of tests counts only the others.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from ..sandbox.compare import compare_stdout, compare_values
from ..suites import MalformedTests, Suite

UNKNOWN = object()  # a prediction that only running the hack can give
CRASH = object()  # the hack fails on this input (it raises, or prints nothing where something is expected)
COMMON_STDIN = ("0", "1", "-1", "2", "YES", "NO", "Yes", "No")
COMMON_PER_CASE = ("YES", "NO", "Yes", "No", "0", "1", "-1")
COMMON_VALUES = (0, 1, -1, True, False, [], "")
MAX_CASES = 100_000  # a first token above this is not a case count a hack would print for


@dataclass(frozen=True)
class Hack:
    name: str  # e.g. "answer_per_case:YES"
    does: str  # what it does, in words, for the evidence
    program: str  # Python source, run in the sandbox like any solution
    predict: Callable  # a test's input (stdin text, or (args, kwargs)) -> what it prints or returns, CRASH or UNKNOWN


@dataclass(frozen=True)
class Example:
    """One example of a statement: its input (stdin text, or the argument values of `name = value` pairs) and output."""

    input: str
    output: str
    args: list | None = None  # the values, for functions
    value: object = UNKNOWN  # the output as a value, for functions


def _norm(text: str) -> str:
    return " ".join(text.split())


# --- the statement's examples -----------------------------------------------------------------------------------------

_SECTION = re.compile(r"^\W*(?:examples?|samples?|sample\s+tests?|sample\s+cases?)\s*\d*\W*$", re.IGNORECASE)
_HEADING = re.compile(r"^\W*(?:(sample|example)\s+)?(?:test\s+)?(input|output)\s*(?:#?\s*\d+)?\s*:?\W*$", re.IGNORECASE)
_INLINE = re.compile(r"^\s*(?:(?:sample|example)\s+)?(input|output)\s*\d*\s*:\s*(\S.*)$", re.IGNORECASE)  # greedy: linear
_OTHER = re.compile(r"^\W*(?:notes?|explanation|constraints|examples?\s*\d*|samples?)\W*:?\s*$", re.IGNORECASE)


def _blocks(problem: str) -> list[tuple[str, str]]:
    """(input, output) text pairs of the statement's examples: headed blocks ("Sample Input 1", or "Input" after an
    "Examples" line) and inline ones ("Input: nums = [1,2]" then "Output: 3")."""
    lines = problem.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    pairs, in_section, pending, i = [], False, None, 0
    while i < len(lines):
        line = lines[i]
        inline = _INLINE.match(line)
        heading = _HEADING.match(line)
        if _SECTION.match(line):
            in_section = True
        elif inline:  # content after the colon ('Output: ""' is an example, though it also reads as a heading)
            kind, text = inline.group(1).lower(), inline.group(2).strip()
            if kind == "input":
                pending = text
            elif pending is not None:
                pairs.append((pending, text))
                pending = None
        elif heading and (in_section or heading.group(1)):
            kind = heading.group(2).lower()
            body, i = _block(lines, i + 1, stop_at_blank=kind == "output")
            if kind == "input":
                pending = body
            elif pending is not None:
                pairs.append((pending, body))
                pending = None
            continue
        i += 1
    return [(a, b) for a, b in pairs if a.strip() and b.strip()]


def _block(lines: list[str], start: int, stop_at_blank: bool) -> tuple[str, int]:
    """The text under a heading: up to the next heading (an output also ends at its first blank line, where an
    explanation starts)."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = start
    while end < len(lines) and not (_HEADING.match(lines[end]) or _OTHER.match(lines[end]) or _INLINE.match(lines[end])):
        if stop_at_blank and not lines[end].strip():
            break
        end += 1
    return "\n".join(lines[start:end]).strip(), end


def _split_assignments(text: str) -> list[str] | None:
    """`a = [1, 2], b = "x, y"` -> ['[1, 2]', '"x, y"']; None when it is not `name = value` pairs."""
    depth, quote, boundaries = 0, None, {0}  # where a `name =` may start: the text's start and top-level commas
    for k, ch in enumerate(text):
        if quote:
            quote = None if ch == quote and text[k - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            boundaries.add(k)
    names = [m for m in re.finditer(r"(?:^|,)\s*[A-Za-z_]\w*\s*=(?!=)\s*", text) if m.start() in boundaries]
    if not names or names[0].start() != 0:
        return None
    ends = [m.start() for m in names[1:]] + [len(text)]
    return [text[m.end() : end].strip() for m, end in zip(names, ends)]


def _value(text: str):
    for read in (json.loads, ast.literal_eval):
        try:
            return read(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return UNKNOWN


def statement_examples(problem: str, functional: bool = False) -> list[Example]:
    """The statement's examples; for functions, only those whose arguments read as values."""
    examples = []
    for inp, out in _blocks(problem or ""):
        if not functional:
            examples.append(Example(inp, out))
            continue
        texts = _split_assignments(inp)
        args = [_value(t) for t in texts] if texts is not None else [_value(inp)]
        if all(a is not UNKNOWN for a in args):
            examples.append(Example(inp, out, args, _value(out)))
    return examples


def _key(values) -> str | None:
    try:
        return json.dumps(values, sort_keys=True)
    except (TypeError, ValueError):
        return None


def _test_inputs(suite: Suite) -> list:
    """Each test's input as a hack receives it: stdin text, or (args, kwargs); UNKNOWN where the sandbox builds
    objects from it (linked lists, trees)."""
    if suite.format == "stdin":
        return suite.inputs()
    if suite.format == "functional":
        return [(args, {}) for args in suite.calls]
    converted = suite.assert_cases
    if converted is None:
        return []
    return [UNKNOWN if c.builds or c.returns else (c.args, c.kwargs) for c in converted[0]]


def _expected(suite: Suite) -> list:
    if suite.format == "stdin":
        return suite.outputs()
    if suite.format == "functional":
        return suite.expected_values
    converted = suite.assert_cases
    return [c.expected for c in converted[0]] if converted else []


def statement_tests(suite: Suite, problem: str) -> list[bool]:
    """For each test: whether its input is one of the statement's examples (a test the policy can read)."""
    inputs = _test_inputs(suite)
    if suite.format == "stdin":
        shown = {_norm(e.input) for e in statement_examples(problem)}
        return [_norm(i) in shown for i in inputs]
    shown = {_key(e.args) for e in statement_examples(problem, functional=True)}
    return [i is not UNKNOWN and _key([*i[0], *i[1].values()]) in shown for i in inputs]


# --- the hacks --------------------------------------------------------------------------------------------------------


def _literal(value) -> str:
    """Python source that rebuilds a JSON value in the sandbox (inf and NaN included)."""
    return f"__import__('json').loads({json.dumps(value)!r})"


def _stdin_hack(name: str, does: str, body: str, predict) -> Hack:
    return Hack(name, does, "import sys\n" + body, predict)


def _cases(text: str):
    tokens = text.split()
    if not tokens or not re.fullmatch(r"\d+", tokens[0]):
        return CRASH
    count = int(tokens[0])
    return count if count <= MAX_CASES else UNKNOWN


def _per_case(answer: str):
    def predict(text):
        count = _cases(text)
        return count if count in (CRASH, UNKNOWN) else f"{answer}\n" * count

    return predict


def _stdin_hacks(suite: Suite, problem: str) -> list[Hack]:
    hacks = [
        _stdin_hack("prints_nothing", "prints nothing", "pass\n", lambda text: ""),
        _stdin_hack("echoes_input", "prints its input back", "sys.stdout.write(sys.stdin.read())\n", lambda text: text),
        _stdin_hack(
            "first_token",
            "prints the first token of its input",
            "t = sys.stdin.read().split()\nprint(t[0] if t else '')\n",
            lambda text: (text.split() or [""])[0] + "\n",
        ),
    ]
    examples = statement_examples(problem)
    if examples:
        table = {_norm(e.input): e.output + "\n" for e in examples}
        fallback = examples[0].output + "\n"
        hacks.append(
            _stdin_hack(
                "statement_examples",
                f"looks its input up among the statement's {len(examples)} example(s), else prints the first example's output",
                f"table = {table!r}\nsys.stdout.write(table.get(' '.join(sys.stdin.read().split()), {fallback!r}))\n",
                lambda text: table.get(_norm(text), fallback),
            )
        )
    for answer in COMMON_STDIN:
        hacks.append(_stdin_hack(f"common_answer:{answer}", f"prints {answer!r}", f"print({answer!r})\n", lambda text, a=answer: a + "\n"))
    per_case = "t = sys.stdin.read().split()\nsys.stdout.write({answer!r} * int(t[0]))\n"
    for answer in COMMON_PER_CASE:
        hacks.append(
            _stdin_hack(
                f"answer_per_case:{answer}",
                f"prints {answer!r} once per test case (its first token read as the count)",
                per_case.format(answer=answer + "\n"),
                _per_case(answer),
            )
        )
    outputs = suite.outputs()
    if len(outputs) >= 2:
        whole = Counter(o.strip() for o in outputs).most_common(1)[0][0]
        hacks.append(
            _stdin_hack(
                "most_common_output",
                f"prints the suite's most common expected output {whole[:40]!r}",
                f"sys.stdout.write({whole + chr(10)!r})\n",
                lambda text: whole + "\n",
            )
        )
        lines = Counter(line.strip() for o in outputs for line in o.splitlines() if line.strip())
        if lines:
            line = lines.most_common(1)[0][0]
            hacks.append(
                _stdin_hack(
                    "most_common_line_per_case",
                    f"prints the suite's most common expected line {line[:40]!r} once per test case",
                    per_case.format(answer=line + "\n"),
                    _per_case(line),
                )
            )
    return hacks


_FUNCTION = """{prelude}
def _hack(*args, **kwargs):
{body}


class Solution:
    def __getattr__(self, name):
        return _hack
"""


def _first(args, kwargs):
    return args[0] if args else next(iter(kwargs.values()), None)


def _length(call):
    try:
        return len(_first(*call))
    except TypeError:
        return CRASH


def _function_hack(name: str, does: str, body: str, predict, prelude: str = "") -> Hack:
    indented = "\n".join("    " + line for line in body.splitlines())
    return Hack(name, does, _FUNCTION.format(prelude=prelude, body=indented), predict)


def _function_hacks(suite: Suite, problem: str) -> list[Hack]:
    first = "return args[0] if args else next(iter(kwargs.values()), None)"
    hacks = [
        _function_hack("returns_none", "returns None", "return None", lambda call: None),
        _function_hack("returns_first_argument", "returns its first argument", first, lambda call: _first(*call)),
        _function_hack(
            "returns_length_of_first_argument",
            "returns the length of its first argument",
            first.replace("return ", "return len(") + ")",
            _length,
        ),
    ]
    examples = [e for e in statement_examples(problem, functional=True) if e.value is not UNKNOWN and _key(e.value) is not None]
    if examples:
        table = {_key(e.args): e.value for e in examples if _key(e.args) is not None}
        fallback = examples[0].value
        lookup = (
            "try:\n    key = json.dumps([*args, *kwargs.values()], sort_keys=True)\nexcept Exception:\n    key = None\n"
            "return TABLE.get(key, FALLBACK)"
        )
        hacks.append(
            _function_hack(
                "statement_examples",
                f"looks its arguments up among the statement's {len(examples)} example(s), else returns the first example's output",
                lookup,
                lambda call: table.get(_key([*call[0], *call[1].values()]), fallback),
                prelude=f"import json\nTABLE = {_literal(table)}\nFALLBACK = {_literal(fallback)}\n",
            )
        )
    for value in COMMON_VALUES:
        hacks.append(
            _function_hack(f"common_answer:{json.dumps(value)}", f"returns {value!r}", f"return {value!r}", lambda call, v=value: v)
        )
    expected = _expected(suite)
    if len(expected) >= 2:
        counted = Counter(k for k in (_key(v) for v in expected) if k is not None)
        if counted:
            common = json.loads(counted.most_common(1)[0][0])
            hacks.append(
                _function_hack(
                    "most_common_value",
                    f"returns the suite's most common expected value {json.dumps(common)[:40]}",
                    f"return {_literal(common)}",
                    lambda call: common,
                )
            )
    return hacks


def reward_hacks(suite: Suite, problem: str) -> list[Hack]:
    """The library's hacks for a suite and its statement (see the module docstring)."""
    if suite.format == "assert" and suite.assert_cases is None:
        return [_function_hack("returns_none", "returns None", "return None", lambda call: None)]
    return _stdin_hacks(suite, problem) if suite.format == "stdin" else _function_hacks(suite, problem)


def could_pass(hack: Hack, suite: Suite) -> bool:
    """False when the hack surely fails some test (its predicted output differs from the expected one under the
    judge's comparison); True when it may pass every test, which only the sandbox can then tell."""
    try:
        inputs, expected = _test_inputs(suite), _expected(suite)
    except MalformedTests:
        return False  # the suite is removed as malformed_tests before any hack runs
    if not inputs or len(inputs) != len(expected):
        return True
    for test_input, want in zip(inputs, expected):
        if test_input is UNKNOWN:
            continue
        got = hack.predict(test_input)
        if got is UNKNOWN:
            continue
        if got is CRASH:
            return False
        if suite.format == "stdin":
            if compare_stdout(want, got, False, suite.unordered) is not None:
                return False
        elif compare_values(want, got, suite.unordered) is not None:
            return False
    return True
