"""The shape of the code: no import cycles, the stage contract enforced by the runner, one command per stage, and every
command documented with an example."""

import ast
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.config import setting
from acecurate.errors import AcecurateError
from acecurate.pipeline import check_result
from acecurate.stage import StageResult, split_by_reason, stage
from acecurate.stages import STAGES

from .conftest import REPO

PACKAGE = REPO / "src" / "acecurate"
runner = CliRunner()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the acecurate modules it imports (at any depth in the file: a lazy import is still a dependency)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            for candidate in candidates:
                if candidate in modules and candidate != name:
                    edges.add(candidate)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert "acecurate.stage" in graph and graph["acecurate.stages.dedup"] >= {"acecurate.stage"}  # the graph is real
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_cycle_finder_finds_a_cycle():
    # The check above could pass by a broken finder; this one must find the loop.
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]


def test_floors_nothing_imports_upward():
    """The stage contract and the graders sit below the stages; the stages below the runner; the runner below the CLI."""
    graph = import_graph()
    below_stages = [
        "acecurate.suites",
        "acecurate.verify.policy",
        "acecurate.verify.hacks",
        "acecurate.stage",
        "acecurate.config",
        "acecurate.text",
        "acecurate.records",
        "acecurate.io",
        "acecurate.verify.math",
        "acecurate.sandbox.executor",
        "acecurate.sampling",
    ]
    for module in below_stages:
        assert not any(dep.startswith(("acecurate.stages", "acecurate.pipeline", "acecurate.cli")) for dep in graph[module]), module
    for module, deps in graph.items():
        if module.startswith("acecurate.stages"):
            assert not deps & {"acecurate.pipeline", "acecurate.cli", "acecurate.card"}, module


def test_test_suites_are_one_module_on_the_lowest_floor():
    """`acecurate.suites` imports nothing above floor 1, and it is the only module that reads a tests JSON's cases
    (records builds them from the raw layouts; the sandbox and the stages go through suites)."""
    graph = import_graph()
    suites = {m for m in graph if m == "acecurate.suites" or m.startswith("acecurate.suites.")}
    floor_one = {"acecurate.errors", "acecurate.io", "acecurate.text", "acecurate.records", "acecurate.progress"}
    assert len(suites) >= 3 and all(graph[m] <= floor_one | suites for m in suites), {m: graph[m] for m in suites}
    readers = set()
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name in suites or name == "acecurate.records":
            continue
        if any(isinstance(n, ast.Constant) and n.value == "cases" for n in ast.walk(ast.parse(path.read_text()))):
            readers.add(name)
    assert not readers, readers
    for module in ("acecurate.sandbox.executor", "acecurate.stages.validate_tests", "acecurate.stages.pair_judge", "acecurate.audit"):
        assert "acecurate.suites" in graph[module], module


def test_stage_list_is_explicit_and_unique():
    names = [s.name for s in STAGES]
    assert len(set(names)) == len(names) and names[0] == "input-check"
    text = (PACKAGE / "stages" / "__init__.py").read_text()
    for spec in STAGES:  # a reader finds every stage function named in the one list
        assert f"    {spec.run.__name__}," in text


class _Cfg:
    pass


def _frame():
    return pd.DataFrame({"id": ["a", "b"], "problem": ["x", "y"]})


def test_runner_rejects_undeclared_and_missing_columns():
    @stage("probe", _Cfg, requires=("problem",), adds={"score": "double"})
    def adds_nothing(frame, config, ctx):
        return split_by_reason(frame, [None, None])

    with pytest.raises(AcecurateError, match="declares kept-row column"):
        check_result(adds_nothing, _frame(), adds_nothing(_frame(), None, None))

    @stage("probe", _Cfg, requires=("problem",))
    def adds_secretly(frame, config, ctx):
        frame = frame.assign(secret=1)
        return split_by_reason(frame, [None, None])

    with pytest.raises(AcecurateError, match="undeclared"):
        check_result(adds_secretly, _frame(), adds_secretly(_frame(), None, None))

    @stage("probe", _Cfg, requires=("problem",), evidence=("dup_of",))
    def no_evidence_column(frame, config, ctx):
        return split_by_reason(frame, ["dup", None], ["same as b", None])

    with pytest.raises(AcecurateError, match="dup_of"):
        check_result(no_evidence_column, _frame(), no_evidence_column(_frame(), None, None))

    @stage("probe", _Cfg, requires=("problem",))
    def loses_a_row(frame, config, ctx):
        return StageResult(frame.iloc[:1], frame.iloc[:0].assign(reason=[], evidence=[]))

    with pytest.raises(AcecurateError, match="lost rows"):
        check_result(loses_a_row, _frame(), loses_a_row(_frame(), None, None))

    @stage("probe", _Cfg, requires=("problem",))
    def renumbers(frame, config, ctx):  # the runner joins rows back by their index: a new one would misplace them
        result = split_by_reason(frame, ["dup", None], ["same as b", None])
        return StageResult(result.kept.reset_index(drop=True), result.removed.reset_index(drop=True))

    with pytest.raises(AcecurateError, match="index it was not given"):
        check_result(renumbers, _frame(), renumbers(_frame(), None, None))

    @stage("probe", _Cfg, requires=("problem",))
    def rewrites_silently(frame, config, ctx):  # a rewrite it does not declare would be lost: the runner takes the column from disk
        return split_by_reason(frame.assign(problem=frame["problem"].str.upper()), [None, None])

    with pytest.raises(AcecurateError, match="without declaring"):
        check_result(rewrites_silently, _frame(), rewrites_silently(_frame(), None, None))


def test_shipped_stages_declare_what_they_add():
    for spec in STAGES:
        assert spec.help and spec.example.startswith(f"acecurate {spec.name} "), spec.name
        assert all(t in ("string", "int64", "double", "bool", "list<string>") for t in spec.adds.values()), spec.name


def command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names += [f"{name} {sub}" for sub in command.commands]
        else:
            names.append(name)
    return names


def test_every_stage_has_a_command_with_its_settings():
    names = command_names()
    for spec in STAGES:
        assert spec.name in names
    result = runner.invoke(app, ["validate-tests", "--help"], terminal_width=200)
    assert "--time-limit-s" in result.output and "--require-reference" in result.output and "--set" in result.output


def test_every_command_has_an_example_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for name in command_names():
        result = runner.invoke(app, [*name.split(), "--help"], terminal_width=200)
        assert result.exit_code == 0, name
        assert re.search(r"Example: acecurate " + re.escape(name), result.output), name
        assert f"acecurate {name}" in readme, f"the README does not show `acecurate {name}`"


def test_setting_help_reaches_the_option():
    from dataclasses import dataclass

    @dataclass
    class Probe:
        limit: int = setting(3, "How many at most.")

    import dataclasses
    import typing

    from acecurate.cli import _option_for

    fld = dataclasses.fields(Probe)[0]
    option = _option_for("limit", typing.get_type_hints(Probe)["limit"], fld)
    assert option.default.help == "How many at most. (default: 3)"
