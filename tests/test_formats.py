"""Each rule filter with real examples it must catch and must not catch (most from MATH train, AIME and Codeforces)."""

import pytest

from acecurate.stages.format_filter import CodeFormatConfig, MathFormatConfig, code_reason, math_reason

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
    (
        "answer_too_long",
        "Find the matrix.",
        "\\begin{pmatrix} \\frac{5}{6} & \\frac{1}{3} & -\\frac{1}{6} \\\\ \\frac{1}{3} & \\frac{1}{3} & \\frac{1}{3} \\end{pmatrix}",
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
        ("image_statement", "The grid looks like this: ![](https://espresso.codeforces.com/abc.png)"),
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
    ],
)
def test_code_rule_keeps(problem):
    assert code_reason(problem, TESTS, CodeFormatConfig()) is None


def test_too_few_tests():
    assert code_reason("Sum two numbers.", '{"format": "stdin", "cases": []}', CodeFormatConfig())[0] == "too_few_tests"
    check = '{"format": "assert", "check": "def check(c):\\n    assert c(1) == 2\\n    assert c(2) == 3\\n"}'
    assert code_reason("Add one.", check, CodeFormatConfig(min_tests=3)) == ("too_few_tests", "2 test(s) (min 3)")
    assert code_reason("Add one.", check, CodeFormatConfig(min_tests=2)) is None
