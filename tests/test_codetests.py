"""validate-tests on hand-written problems (each probing one reason) and the shared code dumps in every layout."""

import json

import pandas as pd
import pytest

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, grade_many
from acecurate.stage import RunContext
from acecurate.stages.validate_tests import ValidateTestsConfig, validate_tests

from .conftest import needs_bwrap, stdin_tests

pytestmark = [needs_bwrap, pytest.mark.usefixtures("sandbox_mode")]


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
    {"id": "noref", "tests": stdin_tests(("3\n", "9\n")), "solutions": []},
    # no reference, and a program printing nothing passes: the tests are broken whatever the reference
    {"id": "noref-trivial", "tests": stdin_tests(("1\n", "")), "solutions": []},
    # the reference needs a module the judge environment lacks: the environment's fault, kept unverified
    {"id": "nomodule", "tests": stdin_tests(("3\n", "9\n")), "solutions": ["import acecurate_no_such_module\nprint(int(input()) ** 2)"]},
    # no tests
    {"id": "notests", "tests": stdin_tests(), "solutions": ["print(1)"]},
    # the reference needs more than half of the limit
    {"id": "slow", "tests": stdin_tests(("3\n", "9\n")), "solutions": ["import time\ntime.sleep(1.3)\nprint(int(input()) ** 2)"]},
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
        "trivial": "hackable_tests",
        "noref-trivial": "hackable_tests",
        "notests": "too_few_tests",
        "slow": "slow_reference",
        "none-passes": "hackable_tests",
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
    assert good["id"] == "good" and good["reference_time_s"] < 1 and good["time_limit_s"] == 1.0  # its own limit: 3x, at least 1 s
    assert pd.isna(kept.at["noref", "time_limit_s"])  # no reference measured it: the policy's limit applies
    removed = result.removed.set_index("id")
    assert removed.at["trivial", "evidence"].startswith("the reward hack `prints_nothing`")
    assert removed.at["none-passes", "evidence"].startswith("the reward hack `returns_none`")
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


# --- one malformed row is that row's verdict (issue 16, item 6) ----------------------------------------------------------

MALFORMED = [
    # an expected return value that is neither JSON nor a Python literal
    ("bad-expected", {"format": "functional", "fn_name": "f", "cases": [{"input": "1", "output": "not a value("}]}, "neither JSON nor"),
    # a compare mode the sandbox does not know
    (
        "bad-compare",
        {"format": "stdin", "compare": "sorted", "cases": [{"input": "1\n", "output": "1\n"}]},
        "unknown compare mode 'sorted'",
    ),
    # a case without its output
    ("no-output", {"format": "stdin", "cases": [{"input": "1\n"}]}, "test 0: a case needs an input and an output"),
    # an argument line that is not JSON
    (
        "bad-argument",
        {"format": "functional", "fn_name": "f", "cases": [{"input": "{oops", "output": "1"}]},
        "an argument line is not JSON",
    ),
    # an unknown format
    ("bad-format", {"format": "interactive", "cases": []}, "unknown test format 'interactive'"),
]


def test_malformed_rows_are_removed_with_what_is_wrong(tmp_path):
    rows = [{"id": name, "problem": name, "domain": "code", "tests": json.dumps(t), "solutions": ["print(1)"]} for name, t, _ in MALFORMED]
    rows.append({"id": "not-json", "problem": "x", "domain": "code", "tests": "{'format': 'stdin'", "solutions": ["print(1)"]})
    rows.append(ROWS[0] | {"problem": "good", "domain": "code"})  # the stage goes on for the other rows
    result = validate_tests(pd.DataFrame(rows), ValidateTestsConfig(time_limit_s=2.0), RunContext(tmp_path, tmp_path, "code", 2))
    removed = result.removed.set_index("id")
    assert set(removed["reason"]) == {"malformed_tests"} and len(removed) == len(MALFORMED) + 1
    for name, _, why in MALFORMED:
        assert why in removed.at[name, "evidence"], name
    assert "not JSON" in removed.at["not-json", "evidence"]
    assert list(result.kept["id"]) == ["good"]


def test_malformed_tests_are_a_verdict_of_the_sandbox_not_an_exception():
    results = grade_many([("print(1)", t) for _, t, _ in MALFORMED], workers=2)
    assert [r.verdict for r in results] == ["malformed_tests"] * len(MALFORMED)
    assert all(why in r.detail and not r.tests and not r.passed for (_, _, why), r in zip(MALFORMED, results))


# --- the reward-hack library (issue 16, item 9) --------------------------------------------------------------------------

ATCODER = (
    "Print the largest of the N numbers.\n\nInput\n\nThe input is given in the following format:\nN\nA_1 ... A_N\n\n"
    "Output\n\nPrint the answer.\n\nSample Input 1\n\n3\r\n1 5 2\n\nSample Output 1\n\n5\r\n\nThe largest is 5.\n\n"
    "Sample Input 2\n\n2\r\n7 3\n\nSample Output 2\n\n7\n"
)
LEETCODE = (
    "Return the k-th smallest number.\n\nExample 1:\n\nInput: nums = [3,1,2], k = 2\nOutput: 2\nExplanation: sorted, 2 is second.\n\n"
    "Example 2:\n\nInput: nums = [5,4], k = 1\nOutput: 4\n\nConstraints:\n\n1 <= k <= nums.length"
)
LARGEST = "input()\nprint(max(map(int, input().split())))"
KTH = "def kth(nums, k):\n    return sorted(nums)[k - 1]"


def functional(fn_name: str, *cases) -> str:
    return json.dumps({"format": "functional", "fn_name": fn_name, "cases": [{"input": i, "output": o} for i, o in cases]})


HACKABLE = [
    # the tests are the statement's two examples and nothing else: no hidden test at all
    ("examples-only", ATCODER, stdin_tests(("3\n1 5 2\n", "5\n"), ("2\n7 3\n", "7\n")), LARGEST, "too_few_tests", None),
    # the examples plus one hidden test whose answer is the first example's: the lookup table passes
    (
        "examples-lookup",
        ATCODER,
        stdin_tests(("3\n1 5 2\n", "5\n"), ("2\n7 3\n", "7\n"), ("4\n5 1 1 2\n", "5\n")),
        LARGEST,
        "hackable_tests",
        "statement_examples",
    ),
    # every test case of every test answers YES
    (
        "yes-per-case",
        "For each case print YES if n is positive.",
        stdin_tests(("3\n1\n2\n3\n", "YES\nYES\nYES\n"), ("2\n5\n6\n", "YES\nYES\n")),
        "for _ in range(int(input())):\n    print('YES' if int(input()) > 0 else 'NO')",
        "hackable_tests",
        "answer_per_case:YES",
    ),
    # every test expects -1: a guessed constant
    (
        "minus-one",
        "Print -1 if no pair exists.",
        stdin_tests(("1 2\n", "-1\n"), ("5 9\n", "-1\n")),
        "print(-1)",
        "hackable_tests",
        "common_answer:-1",
    ),
    # the answer is the input itself on every test
    ("echo", "Print the string.", stdin_tests(("abc\n", "abc\n"), ("xyz\n", "xyz\n")), "print(input())", "hackable_tests", "echoes_input"),
    # two tests with one answer between them: nothing tells the inputs apart
    ("same-answer", "Print 42.", stdin_tests(("1\n", "42\n"), ("2\n", "42\n")), "print(42)", "hackable_tests", "most_common_output"),
    # the answer is the first number of the input on every test
    (
        "first-token",
        "Print the larger.",
        stdin_tests(("7 3\n", "7\n"), ("9 1\n", "9\n")),
        "print(max(map(int, input().split())))",
        "hackable_tests",
        "first_token",
    ),
    # functions: returns its argument, its length, or True on every test
    (
        "identity",
        "Sort it.",
        functional("f", ("[1, 2]", "[1, 2]"), ("[3]", "[3]")),
        "def f(a):\n    return sorted(a)",
        "hackable_tests",
        "returns_first_argument",
    ),
    (
        "length",
        "Count.",
        functional("f", ("[1, 2, 3]", "3"), ("[5]", "1")),
        "def f(a):\n    return len(a)",
        "hackable_tests",
        "returns_length_of_first_argument",
    ),
    (
        "always-true",
        "Is it odd?",
        functional("f", ("3", "true"), ("9", "true")),
        "def f(n):\n    return n % 2 == 1",
        "hackable_tests",
        "common_answer:true",
    ),
    # a LeetCode statement's examples are the only tests, as functional tests and as an assert suite
    ("leetcode-examples", LEETCODE, functional("kth", ("[3, 1, 2]\n2", "2"), ("[5, 4]\n1", "4")), KTH, "too_few_tests", None),
    (
        "leetcode-asserts",
        LEETCODE,
        json.dumps(
            {
                "format": "assert",
                "check": "def check(candidate):\n    assert candidate(nums = [3,1,2], k = 2) == 2\n"
                "    assert candidate(nums = [5,4], k = 1) == 4\n    assert candidate(nums = [9,2,1], k = 2) == 2\n\ncheck(kth)\n",
            }
        ),
        KTH,
        "hackable_tests",
        "statement_examples",
    ),
    # a suite no hack passes: kept
    ("sound", ATCODER, stdin_tests(("3\n1 5 2\n", "5\n"), ("4\n8 9 1 12\n", "12\n"), ("1\n-3\n", "-3\n")), LARGEST, None, None),
]


def test_every_suite_a_reward_hack_passes_is_removed_and_the_hack_named(tmp_path):
    frame = pd.DataFrame([{"id": n, "problem": p, "domain": "code", "tests": t, "solutions": [s]} for n, p, t, s, _, _ in HACKABLE])
    result = validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0), RunContext(tmp_path, tmp_path, "code", 2))
    removed = result.removed.set_index("id")
    for name, _, _, _, reason, hack in HACKABLE:
        if reason is None:
            assert name in set(result.kept["id"]) and name not in removed.index, name
            continue
        assert removed.at[name, "reason"] == reason, (name, removed.at[name, "evidence"])
        if hack:
            assert removed.at[name, "evidence"].startswith(f"the reward hack `{hack}` ("), (name, removed.at[name, "evidence"])
    assert "2 of them the statement's own examples (min 1 beyond the examples)" in removed.at["examples-only", "evidence"]
    assert "2 of them the statement's own examples" in removed.at["leetcode-examples", "evidence"]
    assert result.stats["hackable_by"]["statement_examples"] == 2 and "reward hacks" in result.report


@pytest.mark.slow  # every hack of the library on every suite above: about 250 sandbox runs
def test_the_hack_prefilter_never_skips_a_hack_the_sandbox_would_pass():
    """Every hack run in the sandbox on every suite above: a hack that passes is one `could_pass` lets through, and
    the prefilter does skip hacks (it is not always true)."""
    from acecurate.suites import parse_tests
    from acecurate.verify.hacks import could_pass, reward_hacks

    jobs, predicted = [], []
    for _, problem, tests, _, _, _ in HACKABLE:
        suite = parse_tests(tests)
        for hack in reward_hacks(suite, problem):
            jobs.append((hack.program, tests))
            predicted.append((hack.name, could_pass(hack, suite)))
    results = grade_many(jobs, workers=2, limits=Limits(time_s=2.0, cpu_s=2, memory_mb=512))
    assert all(r.verdict != "sandbox_error" for r in results)
    for (name, allowed), result in zip(predicted, results):
        assert allowed or not result.passed, name
    assert sum(not allowed for _, allowed in predicted) > len(predicted) / 2
    assert sum(r.passed for r in results) >= 10  # the hacks that pass above really pass in the sandbox


def test_statement_examples_in_the_layouts_in_circulation():
    from acecurate.verify.hacks import statement_examples

    codeforces = "Read n.\n\nInput\n\nThe first line contains n.\n\nOutput\n\nPrint n+1.\n\nExamples\n\nInput\n\n\n3\n\n\nOutput\n\n\n4\n\n\nInput\n\n7\n\nOutput\n\n8\n\nNote\n\nAdd one."
    taco = "Sum them.\n\n-----Sample Input-----\n2\n1 2\n\n-----Sample Output-----\n3\n\nExplanation: 1+2."
    assert [(e.input, e.output) for e in statement_examples(codeforces)] == [("3", "4"), ("7", "8")]  # not the format section
    assert [(e.input, e.output) for e in statement_examples(ATCODER)] == [("3\n1 5 2", "5"), ("2\n7 3", "7")]
    assert [(e.input, e.output) for e in statement_examples(taco)] == [("2\n1 2", "3")]
    assert [(e.args, e.value) for e in statement_examples(LEETCODE, functional=True)] == [([[3, 1, 2], 2], 2), ([[5, 4], 1], 4)]
    quoted = 'Example 1:\nInput: s = "a, b = c", t = "x"\nOutput: true\n\nExample 2:\nInput: s = "cb34", t = ""\nOutput: ""'
    assert [(e.args, e.value) for e in statement_examples(quoted, functional=True)] == [(["a, b = c", "x"], True), (["cb34", ""], "")]
    assert statement_examples("Print the sum of the numbers given in the input.") == []


def test_the_execution_cache_records_the_policy_and_misses_under_another(tmp_path):
    import sqlite3

    frame = pd.DataFrame([{"problem": "good", "domain": "code", **ROWS[0]}])
    ctx = RunContext(tmp_path, tmp_path, "code", 2)
    validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0), ctx)
    db = tmp_path / "cache" / "executions.sqlite"
    with sqlite3.connect(db) as connection:
        records = [json.loads(text) for (text,) in connection.execute("SELECT policy FROM executions")]
    assert records and all(r["policy"]["time_limit_s"] == 2.0 and r["policy"]["code_grader"] for r in records)
    validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0), ctx)  # the same policy: every run from the cache
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM executions").fetchone()[0] == len(records)
    validate_tests(frame, ValidateTestsConfig(time_limit_s=2.0, memory_mb=512), ctx)  # another policy: run again
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM executions").fetchone()[0] == 2 * len(records)
