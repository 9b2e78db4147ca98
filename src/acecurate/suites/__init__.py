"""Test suites: the one home of the `tests` JSON of a code row (reading, checking, writing, counting, marking).

A suite is one JSON object:
    {"format": "stdin", "cases": [{"input": "1 2\\n", "output": "3\\n"}, ...]}
    {"format": "functional", "fn_name": "add", "cases": [{"input": "1\\n2", "output": "3"}, ...]}
        (one JSON value per argument, one argument per line; the output is JSON or a Python literal)
    {"format": "assert", "check": "def check(candidate):\\n    assert candidate(1, 2) == 3\\n\\ncheck(add)", "fn_name": ...}
        (turned into data by `suites.asserts` where it can be)
with `"compare": "unordered"` for a problem that accepts its output in any order (`"exact"` when absent). Other keys
are kept as given. `records.canonical_tests` maps the layouts in circulation to this form.

Whatever is wrong with a suite (not JSON, an unknown format or compare mode, a case without an output, an expected
value that is neither JSON nor a literal, an argument that is not JSON) is a `MalformedTests` that names the test: it
is that row's verdict (`malformed_tests`), never an exception out of the sandbox or a stage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

from .asserts import AssertCase, assert_cases, untrusted_reason
from .values import LongInt, loads, loads_test_data, parse_expected_value, unlimited_int_digits

__all__ = [
    "COMPARE_MODES",
    "FORMATS",
    "AssertCase",
    "LongInt",
    "MalformedTests",
    "Suite",
    "assert_cases",
    "count_tests",
    "dump_tests",
    "loads",
    "loads_test_data",
    "mark_unordered",
    "parse_expected_value",
    "parse_tests",
    "unlimited_int_digits",
    "untrusted_reason",
]

FORMATS = ("stdin", "functional", "assert")
COMPARE_MODES = ("exact", "unordered")
_ASSERT_LINE = re.compile(r"^\s*assert\b", re.MULTILINE)


class MalformedTests(ValueError):
    """What is wrong with a tests JSON, naming the test (0-based, as in verdicts)."""


@dataclass(frozen=True)
class Suite:
    """A checked suite. `data` is the JSON object as given (its key order kept, so `dump` writes the same text)."""

    data: dict

    @property
    def format(self) -> str:
        return self.data["format"]

    @property
    def compare(self) -> str:
        return self.data.get("compare", "exact")

    @property
    def unordered(self) -> bool:
        return self.compare == "unordered"

    @property
    def fn_name(self) -> str | None:
        return self.data.get("fn_name")

    @property
    def check(self) -> str:
        return self.data["check"]

    @property
    def cases(self) -> list[dict]:
        return self.data.get("cases", [])

    def inputs(self) -> list[str]:
        return [c["input"] for c in self.cases]

    def outputs(self) -> list[str]:
        return [c["output"] for c in self.cases]

    def count(self) -> int:
        """Tests in the suite: its cases, or an assert suite's assert statements."""
        return len(_ASSERT_LINE.findall(self.check)) if self.format == "assert" else len(self.cases)

    @cached_property
    def calls(self) -> list[list]:
        """Functional suites: each test's arguments (one JSON value per non-blank input line)."""
        calls = []
        for number, case in enumerate(self.cases):
            try:
                calls.append([loads_test_data(line) for line in case["input"].split("\n") if line.strip()])
            except (ValueError, RecursionError) as exc:
                raise MalformedTests(f"test {number}: an argument line is not JSON ({type(exc).__name__})") from None
        return calls

    @cached_property
    def expected_values(self) -> list:
        """Functional suites: each test's expected return value."""
        values = []
        for number, case in enumerate(self.cases):
            try:
                values.append(parse_expected_value(case["output"]))
            except ValueError:
                raise MalformedTests(
                    f"test {number}: the expected output {case['output'][:60]!r} is neither JSON nor a Python literal"
                ) from None
        return values

    @cached_property
    def assert_cases(self) -> tuple[list[AssertCase], str] | None:
        """Assert suites: (cases, function name) when the suite is data, else None (see `suites.asserts`)."""
        return assert_cases(self.check)

    def check_values(self) -> Suite:
        """The suite itself once every value in it reads (functional suites); MalformedTests names the first that
        does not."""
        if self.format == "functional":
            self.calls, self.expected_values  # noqa: B018 (parsed for their errors; cached for the sandbox)
        return self

    def with_compare(self, mode: str) -> Suite:
        return parse_tests({**self.data, "compare": mode})

    def dump(self) -> str:
        return dump_tests(self.data)


def _as_object(tests) -> dict:
    if isinstance(tests, Suite):
        return tests.data
    if isinstance(tests, (str, bytes)):
        try:
            tests = json.loads(tests)
        except (ValueError, RecursionError) as exc:
            raise MalformedTests(f"the tests are not JSON ({type(exc).__name__})") from None
    if not isinstance(tests, dict):
        raise MalformedTests(f"the tests are a {type(tests).__name__}, not an object with a format")
    return tests


def parse_tests(tests: str | bytes | dict | Suite) -> Suite:
    """A checked Suite from its JSON text (or the object): the format, the compare mode and the shape of every case
    (values are read by `Suite.check_values`, or when the sandbox needs them). Raises MalformedTests."""
    if isinstance(tests, Suite):
        return tests
    data = _as_object(tests)
    fmt = data.get("format")
    if fmt not in FORMATS:
        raise MalformedTests(f"unknown test format {str(fmt)[:40]!r} (known: {', '.join(FORMATS)})")
    compare = data.get("compare", "exact")
    if compare not in COMPARE_MODES:
        raise MalformedTests(f"unknown compare mode {str(compare)[:40]!r} (known: {', '.join(COMPARE_MODES)})")
    if fmt == "assert":
        if not isinstance(data.get("check"), str):
            raise MalformedTests("an assert suite needs its check as text")
        return Suite(data)
    cases = data.get("cases")
    if not isinstance(cases, list):
        raise MalformedTests("the tests have no list of cases")
    for number, case in enumerate(cases):
        if not isinstance(case, dict) or not isinstance(case.get("input"), str) or not isinstance(case.get("output"), str):
            raise MalformedTests(f"test {number}: a case needs an input and an output, both text")
    if fmt == "functional" and not (isinstance(data.get("fn_name"), str) and data["fn_name"]):
        raise MalformedTests("functional tests need a function name (fn_name)")
    return Suite(data)


def dump_tests(tests: dict | Suite) -> str:
    """The JSON text of a suite, as every dataset stores it."""
    return json.dumps(tests.data if isinstance(tests, Suite) else tests)


def count_tests(tests) -> int:
    """Tests in a suite (see `Suite.count`); 0 when there is none, or no list of cases to count."""
    if tests is None or (isinstance(tests, str) and not tests):
        return 0
    try:
        data = _as_object(tests)
    except MalformedTests:
        return 0
    if data.get("format") == "assert":
        return len(_ASSERT_LINE.findall(data["check"])) if isinstance(data.get("check"), str) else 0
    cases = data.get("cases")
    return len(cases) if isinstance(cases, list) else 0


def mark_unordered(tests_json: str | None) -> str | None:
    """The tests JSON with `"compare": "unordered"`, so the sandbox compares the output as a multiset. Tests that are
    not a JSON object stay as they are (validate-tests removes them as malformed_tests)."""
    if not isinstance(tests_json, str) or not tests_json:
        return tests_json
    try:
        return dump_tests({**_as_object(tests_json), "compare": "unordered"})
    except MalformedTests:
        return tests_json
