"""Turning assert-style suites (`def check(candidate): assert candidate(...) == ...`) into data, so that expected values
stay outside the sandbox and are compared structurally in our process."""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass
class AssertCase:
    args: list
    kwargs: dict
    expected: object


def assert_cases(check_source: str) -> tuple[list[AssertCase], str] | None:
    """(cases, function name) when every statement of `check` is `assert candidate(<literals>) == <literal>` and the
    candidate is bound by a final `check(Solution().name)` or `check(name)`; None otherwise (run it in place)."""
    try:
        tree = ast.parse(check_source)
    except SyntaxError:
        return None
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    calls = [
        n
        for n in tree.body
        if isinstance(n, ast.Expr)
        and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Name)
        and n.value.func.id == "check"
        and len(n.value.args) == 1
    ]
    if len(checks) != 1 or len(calls) != 1 or len(checks[0].args.args) != 1:
        return None
    target = calls[0].value.args[0]
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Call)
        and isinstance(target.value.func, ast.Name)
        and target.value.func.id == "Solution"
    ):
        fn_name = target.attr
    elif isinstance(target, ast.Name):
        fn_name = target.id
    else:
        return None
    param = checks[0].args.args[0].arg
    cases = []
    for statement in checks[0].body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if not isinstance(statement, ast.Assert):
            return None
        test = statement.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
            return None
        call, expected = test.left, test.comparators[0]
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == param):
            return None
        try:
            args = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            value = ast.literal_eval(expected)
        except (ValueError, SyntaxError, TypeError):
            return None
        if any(k is None for k in kwargs):
            return None
        cases.append(AssertCase(args, kwargs, value))
    return (cases, fn_name) if cases else None
