"""Isolated code execution: bubblewrap, limits, per-test verdicts, output comparison in our process."""

from .executor import VERDICTS, Limits, SolutionResult, TestVerdict, find_bwrap, grade_many, run_solution

__all__ = ["VERDICTS", "Limits", "SolutionResult", "TestVerdict", "find_bwrap", "grade_many", "run_solution"]
