"""Each rule filter with real examples it must catch and must not catch (most from MATH train, AIME, Codeforces,
LeetCode and AtCoder), and the any-order mark on code tests."""

import json

import pandas as pd
import pytest

from acecurate.stage import RunContext
from acecurate.stages.format_filter import CodeFormatConfig, FormatFilterConfig, MathFormatConfig, code_reason, format_filter, math_reason

MATH = MathFormatConfig()

MUST_CATCH = [
    ("mcq", "What is $q-p$? $\\textbf{(A) } 7 \\qquad \\textbf{(B) } 11 \\qquad \\textbf{(C) } 13$", "7"),
    ("mcq", "Which of the following statements are true? A. 3 is a factor of 18. B. 17 is a divisor of 187.", "\\text{A,B}"),
    ("proof", "Prove that $\\sqrt{2}$ is irrational.", "\\sqrt2"),
    ("proof", "Show that for every integer $n$, $n^3 - n$ is divisible by 6.", "6"),
    ("multi_part", "Let $n=12$. (a) Find the number of divisors of $n$. (b) What is their sum?", "6, 28"),
    ("yes_no", "Is $2^{31}-1$ prime?", "Yes"),
    ("true_false", "True or false: every even number greater than 2 is a sum of two primes. Answer 1 for true, 0 for false.", "1"),
    ("figure_reference", "In the diagram below, angle $ABC$ is a right angle. Find $AD$.", "148"),
    ("non_english", "求所有满足方程 $x^2 = 4$ 的实数 $x$ 之和。", "0"),
    ("too_brief", "Compute.", "1"),
    ("missing_answer", "Find the number of ordered pairs $(a,b)$ with $a+b=10$.", ""),
    # an answer far too long to check: counted in content tokens, not LaTeX source
    ("answer_too_long", "Expand the product.", " + ".join(f"{k}x^{{{k}}}" for k in range(1, 20))),
    # options on their own lines after display math, chosen by letter
    (
        "mcq",
        "Find the curve defined by the equation\n\\[r = \\frac{1}{1 - \\cos \\theta}.\\](A) Line\n(B) Circle\n(C) Parabola\n(D) Ellipse\n(E) Hyperbola\n\nEnter the letter of the correct option.",
        "\\text{(C)}",
    ),
    # the options are labels inside the drawing: "Enter the letter of the graph"
    (
        "mcq",
        'The graph of $y = f(x)$ is shown below. [asy] draw((0,0)--(1,1)); label("A", (0,-6)); [/asy] Enter the letter of the graph of $y = f(-x).$',
        "\\text{E}",
    ),
    # lowercase options picked by letter
    ("mcq", "Which number is prime? (a) $91$ (b) $93$ (c) $97$ (d) $99$", "(c)"),
    # a closed list of allowed answers
    ("mcq", 'Is $f(x) = \\log{x}$ an even function, odd function, or neither?  Enter "odd", "even", or "neither".', "\\text{neither}"),
    ("mcq", 'Which type of conic is $x^2 + 2y^2 = 1$? Enter "C" for circle, "P" for parabola, "E" for ellipse.', "\\text{(E)}"),
    # AMC options whose value (not letter) is the gold answer, written as 7/2 in the options and \\frac{7}{2} in the answer
    (
        "mcq",
        "What is the area? $\\textbf{(A)}\\ 5/2\\qquad\\textbf{(B)}\\ 11/4\\qquad\\textbf{(C)}\\ 3\\qquad\\textbf{(D)}\\ 7/2$",
        "\\frac{7}{2}",
    ),
    # statements to pick by their labels
    ("mcq", "Consider the following statements: 1. $A_1 > A_2$. 2. $A_1 = A_2$. Enter the labels of the statements that must hold.", "1"),
    # the figure shows what the text does not give
    (
        "figure_reference",
        "It is possible to place positive integers into the vacant squares of the $5 \\times 5$ square shown below. Find the number in the square marked *.",
        "142",
    ),
]

MUST_KEEP = [
    # AIME-style conditions (i), (ii) are one question, not sub-questions
    (
        "Find the largest integer $n$ satisfying the following conditions: (i) $n^2$ can be expressed as the difference of two consecutive cubes; (ii) $2n + 79$ is a perfect square.",
        "181",
    ),
    # "is it true that" inside a counting question
    ("For how many positive integers $n$ is it true that $n<1000$ and $\\lfloor \\log_2 n \\rfloor$ is a positive even integer?", "340"),
    # the word PROOF as letters, not a proof
    ("Determine the number of ways to arrange the letters of the word PROOF.", "60"),
    # [asy] drawing code full of (A) and (B): the figure is in the text
    ('In the figure, $AB=3$. [asy] draw(A--B); dot(A); dot(B); label("$A$", A); [/asy] Find $AB^2$.', "9"),
    # short but complete computation
    ("Compute $\\sqrt{(31)(30)(29)(28)+1}$.", "869"),
    # Greek letters in LaTeX are not non-English text
    ("Let $\\alpha$ and $\\beta$ be the roots of $x^2-3x+1=0$. Compute $\\alpha^2+\\beta^2$.", "7"),
    # "drawn" in a statement without a figure reference
    (
        "A rectangle measures 6 meters by 10 meters. Drawn on each side of the rectangle is a semicircle. By what percent is the area of the large semicircles larger than the small ones?",
        "178\\%",
    ),
    # matrices, tuples and interval unions are checkable answers however long their LaTeX source
    ("Compute $\\begin{pmatrix} 2 & 0 \\\\ 5 & -3 \\end{pmatrix}^2.$", "\\begin{pmatrix} 4 & 0 \\\\ -5 & 9 \\end{pmatrix}"),
    (
        "Find the matrix.",
        "\\begin{pmatrix} \\frac{5}{6} & \\frac{1}{3} & -\\frac{1}{6} \\\\ \\frac{1}{3} & \\frac{1}{3} & \\frac{1}{3} \\end{pmatrix}",
    ),
    ("Solve $2 - \\frac{1}{2x + 3} < 4.$", "\\left( -\\infty, -\\frac{7}{4} \\right) \\cup \\left( -\\frac{3}{2}, \\infty \\right)"),
    # letters that label conditions are not options: the answer is none of them
    (
        "How many 4-digit positive integers satisfy the following conditions: (A) Each of the first two digits must be 1, 4, or 5, and (B) the last two digits cannot be the same digit, and (C) each of the last two digits must be 5, 7, or 8?",
        "54",
    ),
    # "multiple choice" and "answer choices" as words of a story, not options
    (
        "William takes the 25-question, multiple choice AMC. Each question has five answer choices. He guesses the last four. What is the probability that he gets at least one right?",
        "\\frac{369}{625}",
    ),
    # "show" inside a counting question is not a proof
    ("In 1990 a census will show that the population is a perfect square. What is the smallest possible population?", "144"),
    # two numbered options of one question are not two parts
    (
        "Alex can borrow in two ways. 1. A loan at $10\\%$ compounded quarterly, paying half of what he owes after 5 years. 2. A loan at $12\\%$ simple interest. Find the positive difference between the totals.",
        "382",
    ),
    # the figure is mentioned but every needed value is in the text
    (
        "Point $P$ is inside $\\triangle ABC$ (see the figure below). Given that $AP=6$, $BP=9$, $PD=6$, $PE=3$ and $CF=20$, find the area.",
        "108",
    ),
    ("In the diagram, $BP$ and $BQ$ trisect $\\angle ABC$. $BM$ bisects $\\angle PBQ$. Find $\\angle MBQ : \\angle ABQ$.", "\\frac14"),
]


@pytest.mark.parametrize("reason, problem, answer", MUST_CATCH, ids=[c[0] for c in MUST_CATCH])
def test_math_rule_catches(reason, problem, answer):
    code, evidence = math_reason(problem, answer, MATH)
    assert code == reason and evidence  # every removal says what triggered it


@pytest.mark.parametrize("problem, answer", MUST_KEEP)
def test_math_rule_keeps(problem, answer):
    assert math_reason(problem, answer, MATH) is None


def test_rules_can_be_switched_off():
    assert math_reason("Prove that 1 = 1.", "1", MathFormatConfig(drop=["mcq"])) is None


TESTS = '{"format": "stdin", "cases": [{"input": "1", "output": "1"}]}'


@pytest.mark.parametrize(
    "reason, problem",
    [
        ("interactive", "This is an interactive problem. After printing a query do not forget to output end of line and flush the output."),
        ("special_judge", "If there are multiple possible answers, output any of them."),
        ("special_judge", "Return the answer in any order. If there are multiple answers, return any of them."),
        ("special_judge", "Print any integer between 0 and 9, inclusive, that is not equal to A + B."),
        ("special_judge", "If multiple solutions exist, any of them will be considered correct."),
        ("special_judge", "Return any permutation of nums1 that maximizes its advantage with respect to nums2."),
        ("special_judge", "If there are multiple successful parties possible, print any."),
        # the statement refers to the image for what it asks
        ("image_statement", "Given a 2D integer array nums, return all elements of nums in diagonal order as shown in the below images."),
        ("image_statement", "You have a keyboard layout as shown above in the X-Y plane. Return the minimum distance to type word."),
    ],
)
def test_code_rule_catches(reason, problem):
    code, evidence = code_reason(problem, TESTS, CodeFormatConfig())
    assert code == reason and evidence


@pytest.mark.parametrize(
    "problem",
    [
        "Print the answer with an absolute or relative error not exceeding 1e-6.",  # our comparator handles float tolerance
        "Output YES if the string is a palindrome, and NO otherwise.",
        # a fixed tie-break: the tests hold the one answer
        "Return the three starting indices. If there are multiple answers, return the lexicographically smallest one.",
        "If several workers are at the same distance, we choose the pair with the smallest worker index.",
        # "find any" in a question whose output is true or false
        "Given a string s, find any substring of length 2 which is also present in the reverse of s. Return true if such a substring exists, and false otherwise.",
        # "choose any of them" describes the process, not the output
        "If there are several identical minima, Yelisey can choose any of them. Print the maximum possible minimum.",
        "You can output YES and NO in any case (for example, yEs is accepted).",
        # a negated verb (HumanEval's get_closest_vowel): one answer, the empty string when there is none
        "Return empty string if you didn't\n    find any vowel met the above condition.",
        "Print the numbers on one line. Do not print any trailing spaces.",
        # images that only illustrate, with the rules in the text
        "Timur drives from 0 to n.\n\n![](CDN_BASE_URL/bacc58f5d5013f5922e96a1311487b97)\n\nBetween adjacent signs the car moves at constant speed.",
        "A knight has 8 possible moves it can make, as illustrated below. Each move is two squares in a cardinal direction, then one square orthogonally.",
        "Find the cycle.\n\nSample Input 1\n\n3\n\nSample Output 1\n\n2\n\nAs shown in the figure below, the cycle has length 2.",
    ],
)
def test_code_rule_keeps(problem):
    assert code_reason(problem, TESTS, CodeFormatConfig()) is None


def test_too_few_tests():
    assert code_reason("Sum two numbers.", '{"format": "stdin", "cases": []}', CodeFormatConfig())[0] == "too_few_tests"
    check = '{"format": "assert", "check": "def check(c):\\n    assert c(1) == 2\\n    assert c(2) == 3\\n"}'
    assert code_reason("Add one.", check, CodeFormatConfig(min_tests=3)) == ("too_few_tests", "2 test(s) (min 3)")
    assert code_reason("Add one.", check, CodeFormatConfig(min_tests=2)) is None


def _code_frame(problems):
    return pd.DataFrame(
        [
            {
                "id": f"c{i}",
                "domain": "code",
                "problem": problem,
                "answer": None,
                "tests": TESTS
                if i % 2
                else json.dumps({"format": "functional", "fn_name": "f", "cases": [{"input": "1", "output": "[1, 2]"}]}),
            }
            for i, problem in enumerate(problems)
        ]
    )


def test_any_order_marks_the_tests_and_keeps_the_row(tmp_path):
    problems = [
        "Return all distinct indices that have the highest score. You may return the answer in any order.",  # marked
        "The operations can be performed in any order. Print the minimum total cost.",  # the operations, not the output
        "Print all the 10-letter-long sequences that occur more than once, in any order.",  # marked (stdin: output lines)
        "Return the answer in any order. If there are multiple answers, return any of them.",  # removed: special judge
    ]
    ctx = RunContext(tmp_path, tmp_path, "code", 1)
    result = format_filter(_code_frame(problems), FormatFilterConfig(), ctx)
    compare = {i: json.loads(t).get("compare") for i, t in zip(result.kept["id"], result.kept["tests"])}
    assert compare == {"c0": "unordered", "c1": None, "c2": "unordered"}
    assert list(result.removed["reason"]) == ["special_judge"] and result.stats["unordered"] == 2
    # the rest of each test suite is untouched
    assert json.loads(result.kept.set_index("id").at["c0", "tests"])["cases"] == [{"input": "1", "output": "[1, 2]"}]
    # the switch leaves the tests alone
    result = format_filter(_code_frame(problems), FormatFilterConfig(code=CodeFormatConfig(mark_unordered=False)), ctx)
    assert all("compare" not in t for t in result.kept["tests"])


def test_a_stage_may_rewrite_only_the_columns_it_declares(tmp_path):
    from acecurate.errors import AcecurateError
    from acecurate.pipeline import check_result
    from acecurate.stages import STAGE_BY_NAME

    spec = STAGE_BY_NAME["format-filter"]
    frame = _code_frame(["Return the answer in any order."])
    result = format_filter(frame, FormatFilterConfig(), RunContext(tmp_path, tmp_path, "code", 1))
    check_result(spec, frame, result)  # tests is declared (modifies=("tests",))
    result.kept["problem"] = "changed"
    with pytest.raises(AcecurateError, match=r"rewrote column\(s\) \['problem'\]"):
        check_result(spec, frame, result)


def test_gated_patterns_find_what_their_regex_finds(shared_data):
    # A gated pattern skips the regex where none of its literals is in the text: it must still find every match its
    # regex finds, in any case ("As SHOWN"), in non-ASCII text where case folding matches a look-alike (the regex
    # reads "ſhown" as "shown"), and on the real rows of the audit set.
    import importlib

    from acecurate.text import ASY_BLOCK, GatedPattern

    rules = importlib.import_module("acecurate.stages.format_filter")
    gated = [p for p in vars(rules).values() if isinstance(p, GatedPattern)] + [ASY_BLOCK]
    texts = [
        "As SHOWN in the figure below, find x.",
        "aſ ſhown in the figure below",
        "PROVE THAT x > 0. Is it TRUE or false? Determine Whether it is odd, even, or neither.",
        "A) 5 B) 6 C) 7",
        "[ASY]draw((0,0)--(1,1));[/asy] Print ANY valid answer; the order does not matter.",
        "nothing to see",
    ]
    for name in ("math_format.jsonl", "code_format.jsonl"):
        texts += [json.loads(line)["problem"] for line in open(shared_data / "audit" / name)]
    assert len(texts) > 100
    for pattern in gated:
        for text in texts:
            assert [m.span() for m in pattern.finditer(text)] == [m.span() for m in pattern.pattern.finditer(text)], (pattern.pattern, text)
            assert pattern.sub(" ", text) == pattern.pattern.sub(" ", text)
    assert ASY_BLOCK.search(texts[4]) and rules._FIGURE.search(texts[1]) and rules._PROOF.search(texts[2])


def test_rules_on_worker_processes_give_the_same_verdicts_in_order():
    # map_rows forks workers over chunks of rows: verdicts must come back as one process gives them, in row order
    # (chunks of 2 rows, so the 30-odd rows span many chunks and both workers).
    from acecurate.stage import map_rows
    from acecurate.stages.format_filter import math_reason

    rows = [(problem, answer) for _, problem, answer in MUST_CATCH] * 2
    columns = [[p for p, _ in rows], [a for _, a in rows]]
    alone = list(map_rows(math_reason, columns, (MATH,), workers=1))
    assert list(map_rows(math_reason, columns, (MATH,), workers=2, chunk_rows=2)) == alone
    assert [v[0] for v in alone[: len(MUST_CATCH)]] == [code for code, _, _ in MUST_CATCH]
