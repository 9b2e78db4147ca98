"""validate-tests on hand-written problems (each probing one reason) and the shared code dumps in every layout."""

import json

import pandas as pd
import pytest

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, grade_many
from acecurate.stage import RunContext
from acecurate.stages.validate_tests import ValidateTestsConfig, validate_tests

from .conftest import needs_bwrap, stdin_tests

pytestmark = needs_bwrap


UNTRUSTED_CHECK = "def check(candidate):\n    for x in range(3):\n        assert candidate(x) == 2 * x\n\ncheck(double)\n"
TREE_CHECK = (
    "def check(candidate):\n    assert is_same_tree(candidate(root=tree_node([1, 2, 3])), tree_node([1, 3, 2]))\n"
    "    assert is_same_tree(candidate(root=tree_node([1, None, 2])), tree_node([1, 2]))\n\ncheck(Solution().mirror)\n"
)
ROWS = [
    # good: the reference passes twice, a silent program fails
    {"id": "good", "tests": stdin_tests(("1\n", "2\n"), ("5\n", "6\n")), "solutions": ["print(int(input()) + 1)"]},
    # broken tests: the expected output is wrong
    {"id": "broken", "tests": stdin_tests(("1\n", "3\n")), "solutions": ["print(int(input()) + 1)"]},
    # flaky: the reference's verdict depends on chance
    {
        "id": "flaky",
        "tests": stdin_tests(*[(f"{i}\n", f"{i}\n") for i in range(16)]),  # same verdicts twice: p = 2^-16
        "solutions": ["import random\nx = input()\nprint(x if random.random() < 0.5 else 'no')"],
    },
    # a program printing nothing passes: the expected outputs are empty
    {"id": "trivial", "tests": stdin_tests(("x\n", "")), "solutions": ["input()"]},
    # no reference at all: kept unverified by default (the difficulty stage verifies it)
    {"id": "noref", "tests": stdin_tests(("1\n", "1\n")), "solutions": []},
    # no reference, and a program printing nothing passes: the tests are broken whatever the reference
    {"id": "noref-trivial", "tests": stdin_tests(("1\n", "")), "solutions": []},
    # the reference needs a module the judge environment lacks: the environment's fault, kept unverified
    {"id": "nomodule", "tests": stdin_tests(("1\n", "1\n")), "solutions": ["import acecurate_no_such_module\nprint(input())"]},
    # no tests
    {"id": "notests", "tests": stdin_tests(), "solutions": ["print(1)"]},
    # the reference needs more than half of the limit
    {"id": "slow", "tests": stdin_tests(("1\n", "1\n")), "solutions": ["import time\ntime.sleep(1.3)\nprint(input())"]},
    # functional: a function returning None passes when the expected value is null
    {
        "id": "none-passes",
        "tests": json.dumps({"format": "functional", "fn_name": "f", "cases": [{"input": "1", "output": "null"}]}),
        "solutions": ["def f(x):\n    return None"],
    },
    # an assert suite that is not data (a loop): its expected values would enter the sandbox
    {
        "id": "untrusted",
        "tests": json.dumps({"format": "assert", "check": UNTRUSTED_CHECK}),
        "solutions": ["def double(x):\n    return 2 * x"],
    },
    # the reference returns the right sequences in another order, and the statement never says "any order" (word
    # ladder): compared as multisets it passes, so the row stays with compare: unordered
    {
        "id": "order",
        "tests": json.dumps({"format": "functional", "fn_name": "paths", "cases": [{"input": "2", "output": "[[1, 2], [2, 1]]"}]}),
        "solutions": ["def paths(n):\n    return [[2, 1], [1, 2]]"],
    },
    # a LeetCode tree suite: data (tree_node arguments, is_same_tree), so it runs and is kept
    {
        "id": "tree",
        "tests": json.dumps({"format": "assert", "check": TREE_CHECK}),
        "solutions": [
            "class Solution:\n    def mirror(self, root):\n        if root:\n            root.left, root.right = self.mirror(root.right), self.mirror(root.left)\n        return root"
        ],
    },
]


def test_validate_tests_reasons(tmp_path):
    frame = pd.DataFrame([{"problem": r["id"], "domain": "code", **r} for r in ROWS])
    ctx = RunContext(tmp_path, tmp_path, "code", 2)
    result = validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0), ctx)
    reasons = dict(zip(result.removed["id"], result.removed["reason"]))
    assert reasons == {
        "broken": "no_passing_reference",
        "flaky": "flaky_tests",
        "trivial": "trivial_program_passes",
        "noref-trivial": "trivial_program_passes",
        "notests": "too_few_tests",
        "slow": "slow_reference",
        "none-passes": "trivial_program_passes",
        "untrusted": "untrusted_suite",
    }
    assert dict(zip(result.kept["id"], result.kept["tests_verified"])) == {
        "good": True,
        "noref": False,
        "nomodule": False,
        "order": True,
        "tree": True,
    }
    kept = result.kept.set_index("id")
    assert json.loads(kept.at["order", "tests"])["compare"] == "unordered" and "compare" not in json.loads(kept.at["good", "tests"])
    assert result.stats["compared_unordered"] == 1 and "any order" in result.report
    # a reference whose answer is wrong, not reordered, stays removed: "broken" expects 3 where 2 is right
    good = result.kept.iloc[0]
    assert good["id"] == "good" and good["reference_time_s"] < 1 and good["suggested_time_limit_s"] >= 1
    assert result.stats["kept_unverified"] == {"no reference": 1, "missing module": 1} and "unverified tests" in result.report
    # the evidence of a failed reference quotes its error
    broken = result.removed.set_index("id").at["broken", "evidence"]
    assert "wrong_answer at test 0" in broken


def test_require_reference_removes_unverifiable_problems(tmp_path):
    rows = [r for r in ROWS if r["id"] in ("noref", "nomodule")]
    frame = pd.DataFrame([{"problem": r["id"], "domain": "code", **r} for r in rows])
    result = validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0, require_reference=True), RunContext(tmp_path, tmp_path, "code", 2))
    removed = result.removed.set_index("id")
    assert removed.at["noref", "reason"] == "no_reference" and removed.at["nomodule", "reason"] == "no_passing_reference"
    assert "ModuleNotFoundError: No module named 'acecurate_no_such_module'" in removed.at["nomodule", "evidence"]


def test_untrusted_suites_can_be_kept_on_request(tmp_path):
    frame = pd.DataFrame([{"problem": r["id"], "domain": "code", **r} for r in ROWS if r["id"] == "untrusted"])
    ctx = RunContext(tmp_path, tmp_path, "code", 2)
    result = validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0, keep_untrusted_suites=True), ctx)
    assert list(result.kept["id"]) == ["untrusted"] and result.removed.empty


def test_shared_code_layouts_run(shared_data):
    """Every code layout in ../shared/data/raw loads and runs in the sandbox with a real verdict (no sandbox_error)."""
    jobs = []
    for name in ["rllm_leetcode", "rllm_livecodebench_train", "rllm_codeforces", "rllm_code_contests"]:
        frame = load_inputs([str(shared_data / "raw" / f"{name}.json")]).frame
        for _, row in frame.head(3).iterrows():
            refs = list(row["solutions"])
            jobs.append((name, refs[0] if refs else "print(0)", row["tests"]))
    results = grade_many([(code, tests) for _, code, tests in jobs], workers=2, limits=Limits(time_s=6, cpu_s=6))
    for (name, _code, _), result in zip(jobs, results):
        assert result.verdict != "sandbox_error", (name, result.detail)
        assert result.tests, name
        if name == "rllm_leetcode":
            assert result.passed, (name, result)


@pytest.mark.slow
def test_leetcode_references_pass_and_mutants_fail(shared_data):
    from benchmarks.leetcode_references import mutate

    frame = load_inputs([str(shared_data / "raw/rllm_leetcode.json")]).frame.head(60)
    jobs = [(sols[0], tests) for sols, tests in zip(frame["solutions"], frame["tests"])]
    results = grade_many(jobs, workers=2, limits=Limits(time_s=6, cpu_s=6))
    assert sum(r.passed for r in results) >= 0.95 * len(jobs)
    mutants = [(mutate(code, i), tests) for i, ((code, tests), r) in enumerate(zip(jobs, results)) if r.passed]
    mutants = [(m, t) for m, t in mutants if m is not None]
    killed = sum(not r.passed for r in grade_many(mutants, workers=2, limits=Limits(time_s=6, cpu_s=6), early_stop=True))
    assert killed >= 0.6 * len(mutants)
