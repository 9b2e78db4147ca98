"""Isolated code execution: bubblewrap, limits, per-test verdicts, output comparison in our process."""

from .executor import VERDICTS, Limits, SolutionResult, TestVerdict, find_bwrap, run_solution

__all__ = ["VERDICTS", "Limits", "SolutionResult", "TestVerdict", "find_bwrap", "run_solution"]
