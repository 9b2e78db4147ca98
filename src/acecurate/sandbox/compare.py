"""Output comparison, done in our process (never in the sandbox), as a judge does it.

- Return values: an integer expected value needs an equal integer, or a float exactly equal to it; the float tolerance
  (1e-6, absolute or relative) applies only where the expected value is a float; inf equals inf of the same sign and
  NaN equals NaN; `True` is not `1`; strings, lists and dicts compare structurally.
- Stdin: token by token, ignoring whitespace layout; a decimal expected token allows the same tolerance, integers and
  words must match exactly.
- `compare: "unordered"` (a problem that accepts any order): a returned list, or the output lines, compared as multisets.
- Integers longer than 4,000 digits are never converted (quadratic, and it holds the GIL): the parser keeps them as
  digit strings (`LongInt`) and they compare as text.
No set-based or prefix-based shortcuts.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass

from ..suites.values import LONG_INTEGER_DIGITS, LongInt, loads, unlimited_int_digits

__all__ = ["Difference", "LongInt", "as_json_data", "compare_stdout", "compare_values", "loads", "values_equal"]

FLOAT_TOLERANCE = 1e-6
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?:\.\d*)?[eE][+-]?\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Difference:
    line: int  # 1-based line of the expected output where the first difference is
    expected: str
    got: str


def _tokens_with_lines(text: str):
    """(token, 1-based line) pairs, lazily: an 8 MB output of one-character tokens would be millions of tuples."""
    return ((token, number) for number, line in enumerate(text.splitlines(), start=1) for token in line.split())


def _token_equal(expected: str, got: str, yes_no_case_insensitive: bool) -> bool:
    if expected == got:
        return True
    if yes_no_case_insensitive and expected.lower() in ("yes", "no") and expected.lower() == got.lower():
        return True
    if _DECIMAL.fullmatch(expected) and (_DECIMAL.fullmatch(got) or _INTEGER.fullmatch(got)):
        # A decimal expected token: equal within absolute or relative 1e-6. Integers must match exactly.
        e, g = float(expected), float(got)
        return math.isclose(e, g, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    return False


def _token_key(token: str) -> tuple:
    """Orders tokens so that equal ones (within tolerance) end up side by side: numbers by value, words by text."""
    if _DECIMAL.fullmatch(token) or (_INTEGER.fullmatch(token) and len(token) < 300):
        return (0, float(token), token)
    return (1, 0.0, token)


def compare_stdout(expected: str, got: str, yes_no_case_insensitive: bool = False, unordered: bool = False) -> Difference | None:
    """Token-wise comparison, ignoring trailing whitespace and line-ending differences. None when equal. Unordered: the
    non-blank lines are a multiset (each line still token by token)."""
    if unordered:
        return _compare_lines_unordered(expected, got, yes_no_case_insensitive)
    last_line = 1
    for e, g in itertools.zip_longest(_tokens_with_lines(expected), _tokens_with_lines(got)):
        if e is None:
            return Difference(last_line, "<end of output>", g[0][:80])
        if g is None:
            return Difference(e[1], e[0][:80], "<end of output>")
        if not _token_equal(e[0], g[0], yes_no_case_insensitive):
            return Difference(e[1], e[0][:80], g[0][:80])
        last_line = e[1]
    return None


def _compare_lines_unordered(expected: str, got: str, yes_no: bool) -> Difference | None:
    def lines(text):
        numbered = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        return sorted(numbered, key=lambda item: [_token_key(t) for t in item[1]])

    counted = sum(1 for line in got.splitlines() if line.strip())  # before sorting anything the program wrote
    exp = lines(expected)
    if len(exp) != counted:
        return Difference(exp[-1][0] if exp else 1, f"{len(exp)} lines", f"{counted} lines")
    out = lines(got)
    for (number, e), (_, g) in zip(exp, out):
        if len(e) != len(g) or not all(_token_equal(a, b, yes_no) for a, b in zip(e, g)):
            return Difference(number, " ".join(e)[:80], " ".join(g)[:80])
    return None


def _is_integer(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, LongInt)


def _digit_text(value) -> str:
    if isinstance(value, LongInt):
        return value.digits
    with unlimited_int_digits():  # only for an expected value from the tests themselves
        return str(value)


def _integers_equal(expected, got) -> bool:
    if isinstance(expected, int) and isinstance(got, int):
        return expected == got
    if isinstance(expected, int) and expected.bit_length() < LONG_INTEGER_DIGITS * 3:
        return False  # got is a LongInt (more than 4,000 digits), expected has fewer
    return _digit_text(expected) == _digit_text(got)


def values_equal(expected, got, unordered: bool = False) -> bool:
    """The judge's equality of a returned value with the expected one (see the module docstring). `unordered` applies
    to the top-level list only."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if _is_integer(expected):
        if _is_integer(got):
            return _integers_equal(expected, got)
        if isinstance(got, float):
            return math.isfinite(got) and got.is_integer() and _integers_equal(expected, int(got))
        return False
    if isinstance(expected, float):
        if _is_integer(got):
            # An integer is never inf or NaN, and one beyond the float range is near no finite float (as in Python).
            if not math.isfinite(expected) or isinstance(got, LongInt) or got.bit_length() > 1024:
                return False
        elif not isinstance(got, float):
            return False
        g = float(got)
        if math.isnan(expected) or math.isnan(g):
            return math.isnan(expected) and math.isnan(g)
        if math.isinf(expected) or math.isinf(g):
            return expected == g
        return math.isclose(expected, g, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        if len(expected) != len(got):
            return False
        if unordered:
            expected, got = sorted(expected, key=_value_key), sorted(got, key=_value_key)
        return all(values_equal(e, g) for e, g in zip(expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(values_equal(expected[k], got[k]) for k in expected)
    return type(expected) is type(got) and expected == got


def _value_key(value) -> tuple:
    """A total order over JSON values that puts judge-equal values side by side (numbers by value)."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, float):
        return (2, -math.inf if math.isnan(value) else value)
    if _is_integer(value):
        if isinstance(value, LongInt):
            return (2, -math.inf if value.digits.startswith("-") else math.inf)
        return (2, float(value) if value.bit_length() <= 1024 else math.copysign(math.inf, value))
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, (list, tuple)):
        return (4, [_value_key(v) for v in value])
    if isinstance(value, dict):
        return (5, sorted((k, _value_key(v)) for k, v in value.items()))
    return (6, repr(value))


def _preview(value) -> str:
    if isinstance(value, LongInt):
        return repr(value)
    try:
        with unlimited_int_digits():
            return json.dumps(value, default=repr)[:80]
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:80]


def compare_values(expected, got, unordered: bool = False) -> Difference | None:
    if values_equal(expected, got, unordered):
        return None
    return Difference(1, _preview(expected), _preview(got))


def as_json_data(value):
    """Expected values in the same shape the sandbox sends results: tuples as lists, sets as lists sorted by repr."""
    if isinstance(value, (list, tuple)):
        return [as_json_data(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((as_json_data(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): as_json_data(v) for k, v in value.items()}
    return value
