"""Reading the values of test suites (arguments, expected return values) and of what a program returns: JSON, or a
Python literal where dumps write one, with integers of more than LONG_INTEGER_DIGITS digits kept as digit strings.

Converting a 100,000-digit integer is quadratic and holds the GIL, so a value a program wrote is never converted
(`LongInt`); an expected value from the tests themselves may be, under `unlimited_int_digits`.
"""

from __future__ import annotations

import ast
import contextlib
import json
import sys
import threading
from dataclasses import dataclass

LONG_INTEGER_DIGITS = 4000


@dataclass(frozen=True)
class LongInt:
    """An integer of more than LONG_INTEGER_DIGITS digits, kept as its JSON text (no leading zeros, maybe a '-')."""

    digits: str

    def __repr__(self) -> str:
        return f"{self.digits[:40]}...({len(self.digits.lstrip('-'))} digits)"


_digits_lock = threading.Lock()
_digits_users = [0, 0]  # [threads inside, limit to restore]


@contextlib.contextmanager
def unlimited_int_digits():
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


def _parse_int(digits: str):
    return int(digits) if len(digits) <= LONG_INTEGER_DIGITS else LongInt(digits)


def loads(text: str | bytes):
    """json.loads that keeps integers longer than LONG_INTEGER_DIGITS as digit strings (LongInt): for what a program
    wrote."""
    return json.loads(text, parse_int=_parse_int)


def _exact_int(digits: str) -> int:
    if len(digits) <= LONG_INTEGER_DIGITS:
        return int(digits)
    with unlimited_int_digits():
        return int(digits)


def loads_test_data(text: str):
    """json.loads for the tests themselves (arguments sent into the sandbox): every integer a real int."""
    return json.loads(text, parse_int=_exact_int)


def parse_expected_value(text: str):
    """An expected return value: JSON, or a Python literal (True, None, tuples) as some dumps write them. Raises
    ValueError when it is neither."""
    try:
        return loads(text)
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        with unlimited_int_digits():
            return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("neither JSON nor a Python literal") from None
