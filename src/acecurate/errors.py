"""Errors that reach users as one clear message (the CLI prints them without a traceback)."""


class AcecurateError(Exception):
    """A problem the user can fix: bad input, bad config, a missing tool."""


class InputError(AcecurateError):
    """Bad input data. The message names the file, the line or row, and the column."""

    def __init__(self, path, problem: str, *, line: int | None = None, row: int | None = None, column: str | None = None):
        where = [str(path)]
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {problem}")


class ConfigError(AcecurateError):
    """One or more problems in a pipeline or recipe config, reported together."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the config:\n{lines}")


def missing_extra(package: str, extra: str) -> AcecurateError:
    return AcecurateError(f"{package} is not installed. Install it with: pip install 'acecurate[{extra}]'")
