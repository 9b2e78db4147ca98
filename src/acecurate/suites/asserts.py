"""Turning assert-style suites (`def check(candidate): assert candidate(...) == ...`) into data, so that expected values
stay outside the sandbox and are compared structurally in our process.

Besides `assert candidate(<literals>) == <literal>` (and `is None`), the LeetCode forms are data too: arguments built
with `list_node([...])` / `tree_node([...])` (the sandbox builds them), and `assert is_same_list(candidate(...),
list_node([...]))` / `is_same_tree(candidate(...), tree_node([...]))`, whose returned structure the sandbox serialises
(a list of values; a tree in LeetCode's level order) for us to compare: an expected tree is given here as the values
`tree_node` takes, and the sandbox puts it in the same level order before comparing. Literals include `inf`, `-inf`, `math.inf`
and `float('inf' | '-inf' | 'nan')`. A suite with anything else cannot be data: `untrusted_reason` says why.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from .values import unlimited_int_digits

BUILDERS = {"list_node": "list", "tree_node": "tree"}
SAME = {"is_same_list": "list", "is_same_tree": "tree"}
_SPECIAL_FLOATS = {"inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}


@dataclass
class AssertCase:
    args: list
    kwargs: dict
    expected: object  # for returns == "tree": the values tree_node() takes
    builds: list = field(default_factory=list)  # ("args", position, kind) / ("kwargs", name, kind): built in the sandbox
    returns: str | None = None  # "list" or "tree": the sandbox serialises the returned structure


class NotData(ValueError):
    """A statement of the suite that cannot be turned into data."""


class _SpecialFloats(ast.NodeTransformer):
    """Rewrites inf / math.inf / float('inf') (and nan) to constants, so ast.literal_eval can read them."""

    def visit_Name(self, node):
        return ast.copy_location(ast.Constant(math.inf), node) if node.id == "inf" else node

    def visit_Attribute(self, node):
        if isinstance(node.value, ast.Name) and node.value.id == "math" and node.attr in ("inf", "nan"):
            return ast.copy_location(ast.Constant(getattr(math, node.attr)), node)
        return node

    def visit_Call(self, node):
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "float"
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and node.args[0].value.strip().lower() in _SPECIAL_FLOATS
        ):
            return ast.copy_location(ast.Constant(_SPECIAL_FLOATS[node.args[0].value.strip().lower()]), node)
        return node


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(_SpecialFloats().visit(node))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NotData("not a literal: " + ast.unparse(node)[:120]) from None


def _argument(node: ast.AST) -> tuple[object, str | None]:
    """(value, kind): a literal, or the values of a list_node([...]) / tree_node([...]) call (kind 'list' or 'tree')."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILDERS:
        if len(node.args) != 1 or node.keywords:
            raise NotData(ast.unparse(node)[:120])
        values = _literal(node.args[0])
        if not isinstance(values, list):
            raise NotData(ast.unparse(node)[:120])
        return values, BUILDERS[node.func.id]
    return _literal(node), None


def _call(node: ast.AST, param: str) -> tuple[list, dict, list]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == param):
        raise NotData("not a call of the candidate: " + ast.unparse(node)[:120])
    args, kwargs, builds = [], {}, []
    for position, arg in enumerate(node.args):
        if isinstance(arg, ast.Starred):
            raise NotData(ast.unparse(node)[:120])
        value, kind = _argument(arg)
        args.append(value)
        if kind:
            builds.append(("args", position, kind))
    for keyword in node.keywords:
        if keyword.arg is None:
            raise NotData(ast.unparse(node)[:120])
        value, kind = _argument(keyword.value)
        kwargs[keyword.arg] = value
        if kind:
            builds.append(("kwargs", keyword.arg, kind))
    return args, kwargs, builds


def _case(statement: ast.AST, param: str) -> AssertCase:
    if not isinstance(statement, ast.Assert) or (statement.msg is not None and not isinstance(statement.msg, ast.Constant)):
        raise NotData("not an assert: " + ast.unparse(statement)[:120])
    test = statement.test
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id in SAME
        and len(test.args) == 2
        and not test.keywords
    ):
        first, second = test.args
        if isinstance(second, ast.Call) and isinstance(second.func, ast.Name) and second.func.id == param:
            first, second = second, first  # is_same_list(list_node([...]), candidate(...))
        args, kwargs, builds = _call(first, param)
        expected, kind = _argument(second)
        if expected is not None and kind != SAME[test.func.id]:
            raise NotData(ast.unparse(test)[:120])
        return AssertCase(args, kwargs, expected or [], builds, SAME[test.func.id])
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        args, kwargs, builds = _call(test.left, param)
        expected = _literal(test.comparators[0])
        if isinstance(test.ops[0], ast.Is) and expected is not None:
            raise NotData(ast.unparse(test)[:120])
        return AssertCase(args, kwargs, expected, builds)
    raise NotData("not `candidate(...) == value`: " + ast.unparse(test)[:120])


def _parse(check_source: str) -> tuple[list[AssertCase], str]:
    with unlimited_int_digits():  # literals over Python's 4,300-digit limit are data too
        return _parse_suite(check_source)


def _parse_suite(check_source: str) -> tuple[list[AssertCase], str]:
    try:
        tree = ast.parse(check_source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise NotData(f"the check does not parse ({type(exc).__name__})") from None
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
        raise NotData("not one `def check(candidate)` and one `check(...)` call")
    target = calls[0].value.args[0]
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Call)
        and isinstance(target.value.func, ast.Name)
        and target.value.func.id == "Solution"
        and not target.value.args
    ):
        fn_name = target.attr
    elif isinstance(target, ast.Name):
        fn_name = target.id
    else:
        raise NotData("the candidate is not `Solution().name` or a function name")
    param = checks[0].args.args[0].arg
    cases = []
    for statement in checks[0].body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        cases.append(_case(statement, param))
    if not cases:
        raise NotData("no asserts")
    return cases, fn_name


def assert_cases(check_source: str) -> tuple[list[AssertCase], str] | None:
    """(cases, function name) when the whole suite is data (see the module docstring); None otherwise."""
    try:
        return _parse(check_source)
    except NotData:
        return None


def untrusted_reason(check_source: str) -> str | None:
    """Why the suite cannot be data (the first statement that is not), or None when it can."""
    try:
        _parse(check_source)
    except NotData as exc:
        return str(exc)
    return None
