"""Output comparison, done in our process (never in the sandbox). No set-based or prefix-based shortcuts."""

from __future__ import annotations

import ast
import contextlib
import json
import math
import re
import sys
import threading
from dataclasses import dataclass

FLOAT_TOLERANCE = 1e-6
_DECIMAL = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+(?:\.\d*)?[eE][+-]?\d+)")
_INTEGER = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Difference:
    line: int  # 1-based line of the expected output where the first difference is
    expected: str
    got: str


def _tokens_with_lines(text: str) -> list[tuple[str, int]]:
    return [(token, number) for number, line in enumerate(text.splitlines(), start=1) for token in line.split()]


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


def compare_stdout(expected: str, got: str, yes_no_case_insensitive: bool = False) -> Difference | None:
    """Token-wise comparison, ignoring trailing whitespace and line-ending differences. None when equal."""
    exp, out = _tokens_with_lines(expected), _tokens_with_lines(got)
    for i in range(max(len(exp), len(out))):
        if i >= len(exp):
            return Difference(exp[-1][1] if exp else 1, "<end of output>", out[i][0][:80])
        if i >= len(out):
            return Difference(exp[i][1], exp[i][0][:80], "<end of output>")
        if not _token_equal(exp[i][0], out[i][0], yes_no_case_insensitive):
            return Difference(exp[i][1], exp[i][0][:80], out[i][0][:80])
    return None


_digits_lock = threading.Lock()
_digits_users = [0, 0]  # [threads inside, limit to restore]


@contextlib.contextmanager
def _unlimited_int_digits():
    """Lift Python's int/str digit limit (process-wide) while any thread needs it, and restore it after the last."""
    with _digits_lock:
        if _digits_users[0] == 0:
            _digits_users[1] = sys.get_int_max_str_digits()
            sys.set_int_max_str_digits(0)
        _digits_users[0] += 1
    try:
        yield
    finally:
        with _digits_lock:
            _digits_users[0] -= 1
            if _digits_users[0] == 0:
                sys.set_int_max_str_digits(_digits_users[1])


def _parse_int(digits: str) -> int:
    if len(digits) < 4000:
        return int(digits)
    with _unlimited_int_digits():  # an answer may be a huge integer; Python refuses > 4,300 digits by default
        return int(digits)


def loads(text: str):
    """json.loads that also reads integers of any length."""
    return json.loads(text, parse_int=_parse_int)


def parse_expected_value(text: str):
    """An expected return value: JSON, or a Python literal (True, None, tuples) as some dumps write them."""
    try:
        return loads(text)
    except (ValueError, TypeError):
        with _unlimited_int_digits():
            return ast.literal_eval(text)


def values_equal(expected, got) -> bool:
    """Structural equality with float tolerance; bool is not int, so True never equals 1."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float)):
        if isinstance(expected, int) and isinstance(got, int):
            return expected == got
        return math.isclose(expected, got, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(values_equal(e, g) for e, g in zip(expected, got))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(values_equal(expected[k], got[k]) for k in expected)
    return type(expected) is type(got) and expected == got


def compare_values(expected, got) -> Difference | None:
    if values_equal(expected, got):
        return None
    with _unlimited_int_digits():
        return Difference(1, json.dumps(expected)[:80], json.dumps(got)[:80])


def as_json_data(value):
    """Expected values in the same shape the sandbox sends results: tuples as lists, sets as lists sorted by repr."""
    if isinstance(value, (list, tuple)):
        return [as_json_data(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((as_json_data(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {str(k): as_json_data(v) for k, v in value.items()}
    return value
