"""Issue 17: curation verdicts that hold on sources the rules were never tuned on, and prompts free of hints. One test
(or a few) per class of the issue, on tiny hand-written rows modelled on the rows of the development corpus
(benchmarks/audit) where the class was seen; each says what it probes. They failed on main at 1c36253."""

import json

import pandas as pd
import pytest

from acecurate.stage import RunContext
from acecurate.stages import STAGE_BY_NAME
from acecurate.stages.clean_prompts import clean_prompt
from acecurate.stages.format_filter import MathFormatConfig, math_reason

from .conftest import FAST, needs_bwrap, write_jsonl


def ctx(tmp_path, domain="math"):
    return RunContext(tmp_path, tmp_path, domain, 1)


def run_stage(name, rows, tmp_path, domain="math", **settings):
    stage = STAGE_BY_NAME[name]
    frame = pd.DataFrame([{"id": f"r{i}", "source": r.pop("source", "s"), "domain": domain, **r} for i, r in enumerate(rows)])
    for column in ("answer", "tests", "url", "starter_code"):
        if column not in frame:
            frame[column] = None
    return stage(frame, stage.config_cls(**settings), ctx(tmp_path, domain))


def removed(result) -> dict[int, str]:
    return {int(i[1:]): r for i, r in zip(result.removed["id"], result.removed["reason"])}


def decontaminate(tmp_path, domain, items, problems, **settings):
    """The decontaminate stage against a benchmark file of `items` (and, for math, HMMT 2025, which shares nothing)."""
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"id": str(k), "problem": p} for k, p in enumerate(items)])
    defaults = (
        {"benchmarks": ["hmmt25_feb"], "n": 9, "min_numbers": 0.9, "min_question": 0.75}
        if domain == "math"
        else {"benchmarks": ["mbppplus"], "n": 14, "min_numbers": 0, "min_question": 0}
    )
    settings = {**defaults, "benchmark_files": [str(bench)], **settings}
    return run_stage("decontaminate", [{"problem": p} for p in problems], tmp_path, domain, **settings)


MATH = MathFormatConfig()


# 1. Short benchmark items wrapped in another prompt --------------------------------------------------------------


def test_mbpp_tasks_in_the_papers_prompt_are_found_and_a_swapped_word_is_another_task(tmp_path):
    # The MBPP paper's prompt (task, "Your code should pass these tests:", three asserts) around MBPP+ items, whose
    # prompts EvalPlus reworded and whose tests it cut to one (with a tolerance): the shipped mbppplus fingerprint.
    rows = [
        "Write a function to find the volume of a sphere.\nYour code should pass these tests:\n\n"
        "assert volume_sphere(10)==4188.790204786391\nassert volume_sphere(25)==65449.84694978735",  # Mbpp/82, its tests
        "Write a function to find the perimeter of a square.\nYour code should pass these tests:\n\n"
        "assert square_perimeter(10)==40\nassert square_perimeter(5)==20",  # Mbpp/17, whose prose MBPP+ rewrote
        # Another task: "product" where Mbpp/777 says "sum" (most of its wording and n-grams stay).
        "Write a python function to find the product of non-repeated elements in a given array.\nYour code should pass "
        "these tests:\n\nassert find_Product([1,1,2,3],4) == 6",
    ]
    got = removed(
        run_stage(
            "decontaminate", [{"problem": p} for p in rows], tmp_path, "code", benchmarks=["mbppplus"], n=14, min_numbers=0, min_question=0
        )
    )
    assert got == {0: "contaminated:mbppplus", 1: "contaminated:mbppplus"}


# 2. A copy whose final ask is rewritten --------------------------------------------------------------------------

AMC_28 = (
    "For complex number $u = a+bi$ and $v = c+di$ (where $i=\\sqrt{-1}$), define the binary operation $u \\otimes v = ac "
    "+ bdi$ Suppose $z$ is a complex number such that $z\\otimes z = z^{2}+40$. What is $|z|^2$?"
)


def test_a_reworded_copy_with_a_rewritten_ask_is_a_copy(tmp_path):
    # AMC 2023 #28 as a mix carries it: other letters and words all through (few 9-grams survive), and |z| asked for
    # |z|^2. Its numbers agree both ways and a token alignment keeps most of the item.
    row = (
        "For complex numbers w=a+bi and z=c+di (where $i=\\sqrt{-1}$), define the binary operator $\\circ$ by $w\\circ z = "
        "ac + bdi$. Suppose z is a complex number such at $z \\circ z = z^{2} + 40$. What is |z|?"
    )
    assert removed(decontaminate(tmp_path, "math", [AMC_28], [row])) == {0: "contaminated:bench"}


# 3. Notation drift hides copies -----------------------------------------------------------------------------------


def test_scraped_superscripts_and_ordinals_do_not_hide_a_copy(tmp_path):
    # LiveCodeBench writes i^th, 10^9 + 7, \\leq and 2^8; another source of the same LeetCode problem writes ith, 10**9+7,
    # <= and (a scrape that lost the superscript) 28. Their constraint bounds are the same bounds, so it is a copy.
    item = (
        "You are given a 0-indexed integer array nums of length n. The i^th element is special if i divides n. For the j^th "
        "query return the sum of the squares of the special elements whose k^th bit is set, modulo 10^9 + 7, where 1 \\leq i "
        "\\leq n. Return the answer modulo 10^9 + 7.\n\nConstraints:\n\n1 \\leq n \\leq 50\n1 \\leq nums[i] \\leq 2^8"
    )
    row = item.replace("i^th", "ith").replace("j^th", "jth").replace("k^th", "kth").replace("10^9 + 7", "10**9+7")
    row = row.replace("\\leq", "<=").replace("2^8", "28")
    assert removed(decontaminate(tmp_path, "code", [item], [row])) == {0: "contaminated:bench"}


# 4. One task in two prompt templates -------------------------------------------------------------------------------

STATEMENT = (
    "You are given a string moves of length n consisting only of characters 'L', 'R', and '_'. The string represents "
    "your movement on a number line starting from the origin 0. In the ith move, you can choose one of the following "
    "directions: move to the left if moves[i] = 'L' or moves[i] = '_', move to the right if moves[i] = 'R' or moves[i] "
    "= '_'. Return the distance from the origin of the furthest point you can get to after n moves."
)


def test_one_task_in_two_templates_is_one_duplicate_and_an_ii_with_other_limits_is_not(tmp_path):
    lcd = (
        "You are an expert Python programmer. You will be given a question (problem specification) and will generate a "
        f"correct Python program that matches the specification and passes all tests.\n\n### Question:\n{STATEMENT}\n\n"
        'Example 1:\n\nInput: moves = "L_RL__R"\nOutput: 3\n\nConstraints:\n\n1 <= moves.length == n <= 50\n\n'
        "### Format: You will use the following starter code to write the solution to the problem and enclose your code "
        "within delimiters.\n```python\nclass Solution:\n    def furthestDistanceFromOrigin(self, moves: str) -> int:\n```\n"
    )
    rllm = (
        "Please solve the programming task below using a self-contained code snippet in a markdown code block.\n\n"
        f"{STATEMENT}\n\n```python\nclass Solution:\n    def furthestDistanceFromOrigin(self, moves: str) -> int:\n```"
    )
    # The same story with larger limits (a "II"): another problem, kept and linked as a variant.
    harder = lcd.replace("1 <= moves.length == n <= 50", "1 <= moves.length == n <= 10^5")
    rows = [{"problem": p} for p in (lcd, rllm)]
    cleaned = run_stage("clean-prompts", rows, tmp_path, "code").kept
    assert removed(
        STAGE_BY_NAME["near-dedup"](cleaned.reset_index(drop=True), STAGE_BY_NAME["near-dedup"].config_cls(), ctx(tmp_path, "code"))
    ) == {1: "near_duplicate"}
    pair = run_stage("clean-prompts", [{"problem": p} for p in (lcd, harder)], tmp_path, "code").kept.reset_index(drop=True)
    result = STAGE_BY_NAME["near-dedup"](pair, STAGE_BY_NAME["near-dedup"].config_cls(), ctx(tmp_path, "code"))
    assert len(result.removed) == 0 and result.kept["variant_of"].notna().sum() == 1


def test_one_task_with_bullets_on_one_side_and_scraped_powers_is_one_duplicate(tmp_path):
    # DeepSeek's LeetCode copies write the conditions as a markdown list and 10^9 with its caret; rllm's as plain lines
    # and, scraped, 109: one task, whose "*" and "^" once made every such pair a variant.
    a = (
        "You are given an array nums. Return the number of good pairs, modulo 10^9 + 7, where a pair (i, j) is good if:\n"
        "* 0 <= i < j < nums.length\n* nums[i] == nums[j] and the i^th element is even\n* i + j is odd"
    )
    b = a.replace("* ", "").replace("10^9", "109").replace("i^th", "ith")
    assert removed(run_stage("near-dedup", [{"problem": a}, {"problem": b}], tmp_path, "code")) == {1: "near_duplicate"}


def test_ordinals_after_a_number_or_a_bracket_are_notation(tmp_path):
    # LiveCodeBench writes "the (i+1)^th friend" and "the 1^st friend"; rllm's LeetCode dump of the same task writes
    # "(i+1)th" and "1st" (only a letter's "i^th" was one spelling before): one task, not a variant.
    a = (
        "There are n friends sitting in a circle, numbered from 1 to n in clockwise order. Moving clockwise from the i^th "
        "friend brings you to the (i+1)^th friend for 1 <= i < n, and moving clockwise from the n^th friend brings you to "
        "the 1^st friend. The 1^st friend receives the ball and passes it k steps away. Return the losers of the game."
    )
    b = a.replace("^", "")
    assert removed(run_stage("near-dedup", [{"problem": a}, {"problem": b}], tmp_path, "code")) == {1: "near_duplicate"}


# 5. One-line drills are nobody's template -------------------------------------------------------------------------


def test_one_line_drills_and_stock_preambles_are_not_templates_or_copies(tmp_path):
    items = [
        "Compute $\\dbinom{31}{28}$.",
        "What is the last nonzero digit to the right of the decimal point in the decimal expansion of $\\frac{137}{500}$?",
        "A number is selected at random from 1 through 100, inclusive. What is the probability that the number is a multiple of 3?",
    ]
    rows = [
        "Compute $\\dbinom{10}{8}$.",  # the same instruction, other numbers: a drill, not the item's template
        "What is the 453rd digit to the right of the decimal point in the decimal expansion of $\\frac{6}{13}$?",
        # The item's stock preamble, another question: not "a copy with a rewritten final ask".
        "A number is selected at random from 1 through 100, inclusive. What is the probability that the number is a divisor of 50?",
    ]
    assert removed(decontaminate(tmp_path, "math", items, rows)) == {}


# 6. Figures --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "problem, kept",
    [
        # The drawing is given as \begin{asy} (not only [asy]): nothing is missing.
        ("Four hexagons surround a square, as shown.\n\\begin{asy}\ndraw((0,0)--(1,1));\n\\end{asy}\nFind the area of the polygon.", True),
        # The figure shows an example of the rules the text states.
        (
            "Each square of a grid is filled or empty. A sample transformation is shown in the figure below. How many grids become one square?",
            True,
        ),
        # A synonym of "shown": the octagon is only in the figure.
        ("In the octagon COMPUTER exhibited below, all interior angles are either $90^\\circ$ or $270^\\circ$. Find $DR$.", False),
        # "Shown" with no "below" or "in the figure": the addition problem is only in the figure.
        ("In the addition problem shown, $m, n, p$, and $q$ represent positive digits. What is the value of $m+n+p+q$?", False),
        # The same bare "shown" after the text has stated what is shown (the lines, before it): nothing is missing.
        (
            "Consider the lines $y=3x+5$, $2y=4x+5$, $3y=9x-2$, $2y=x-3$, $4y=x-5$. Among all the pairs of lines shown, how many are parallel?",
            True,
        ),
    ],
)
def test_figure_rule_reads_drawings_and_examples(problem, kept):
    verdict = math_reason(problem, "2", MATH)
    assert (verdict is None) is kept, verdict


# 7. too_brief ------------------------------------------------------------------------------------------------------


def test_a_bare_expression_is_a_problem_and_an_instruction_alone_is_not():
    assert math_reason("$\\sqrt{8}+\\sqrt{18}=$", "5\\sqrt{2}", MATH) is None  # one formula: six tokens of content
    assert math_reason("$\\int_{-2}^{2}||x|-1|\\,dx$", "2", MATH) is None
    assert math_reason("Solve.", "2", MATH)[0] == "too_brief"


# 8. Phrase triggers ------------------------------------------------------------------------------------------------


def test_phrase_triggers_need_the_format_they_name():
    add_up = (
        "Answer each of the following questions yes or no, and add up the numbers corresponding to the questions for which "
        "the answer is yes. 1. Is $\\frac{2}{3x}$ equivalent to $\\frac{2x}{3}$? 2. Is $-(3+y)$ equivalent to $-3+y$?"
    )
    assert math_reason(add_up, "0", MATH) is None  # one numeric answer, not a yes/no
    primes = "To determine whether a number $N$ is prime, we must test for divisibility by every prime up to $\\sqrt{N}$. How many primes must we test to determine whether 2003 is prime?"
    assert math_reason(primes, "14", MATH) is None  # the ask is a count, not a truth value
    assert math_reason("Determine whether the limit $\\lim_{x\\to 1^-}(1-x)f(x)$ exists.", "0", MATH) is None  # the gold is the limit
    assert math_reason("Show that the sequence $a_n$ converges, and find its limit.", "2", MATH) is None  # a value asked too
    assert (
        math_reason("Determine whether the following claim is true or false: every bounded sequence converges.", "B", MATH)[0]
        == "true_false"
    )
    # Two answers in one gold, parts after a shared ask: several answers asked.
    assert (
        math_reason("What is the probability that all three are black? What is the probability of a white ball?", "$0.05$ and $0.6$", MATH)[
            0
        ]
        == "multi_part"
    )
    assert (
        math_reason("Determine the greatest possible value of $(1)a_{10}+a_{20};$ $(2)a_{10}\\cdot a_{20}.$", "10", MATH)[0] == "multi_part"
    )


# 9. LeetCode's judge prelude, and an "II" that only enlarges limits ------------------------------------------------


@needs_bwrap
def test_sorted_list_is_pre_imported_as_on_leetcode():
    from acecurate.sandbox import run_solution
    from acecurate.sandbox.judge_env import find_judge_env

    if find_judge_env() is None:
        pytest.skip("the judge environment is not built: run `acecurate sandbox setup` (make test does)")
    # A LeetCode reference that uses SortedList without importing it: LeetCode's judge pre-imports it.
    code = "class Solution:\n    def kth(self, nums, k):\n        s = SortedList(nums)\n        return s[k - 1]\n"
    tests = {"format": "functional", "fn_name": "kth", "cases": [{"input": "[5, 1, 4]\n2", "output": "4"}]}
    assert run_solution(code, tests, FAST).verdict == "passed"


def test_an_ii_that_only_enlarges_the_limits_is_no_copy_of_its_i(tmp_path):
    item = STATEMENT + "\n\nConstraints:\n\n1 <= moves.length == n <= 50"
    row = STATEMENT + "\n\nConstraints:\n\n1 <= moves.length == n <= 10^5"
    assert removed(decontaminate(tmp_path, "code", [item], [row, item])) == {1: "contaminated:bench"}


def test_prose_in_parentheses_names_no_function_and_copies_of_other_items_are_not_flagged(tmp_path):
    # A LeetCode statement's prose "points (x1, y1)" and "the (i+1)th friend" read as calls once made LiveCodeBench
    # AtCoder items ("Train Delay") the row's copy through the rule for example calls. Only calls written as code count.
    from acecurate.benchmarks.fingerprint import code_calls

    prose = "We define the distance between two points (x1, y1) and (x2, y2). Moving clockwise brings you to the (i+1)th friend."
    assert [c.group(1) for c in code_calls(prose)] == []
    # A LiveCodeBench statement's own formulas are no calls either: "Let (i, j) denote the cell", "define f(x) as".
    assert [c.group(1) for c in code_calls("Let (i, j) denote the cell.\nF(n) = F(n - 1) + F(n - 2), define f(x) as")] == []
    code = "assert set(similar_elements((3, 4), (4, 5))) == set((4,))\n>>> truncate(3.5)\nCall maxRotateFunction(nums) once."
    assert [c.group(1) for c in code_calls(code)] == ["similar_elements", "truncate", "maxRotateFunction"]
    item = "Given two points (x1, y1) and (x2, y2) on a grid, print how many lattice points lie on the segment joining them."
    row = "We define the distance between two points (x1, y1) and (x2, y2) as (x1 XOR x2) + (y1 XOR y2). Return the pairs at distance k."
    assert removed(decontaminate(tmp_path, "code", [item], [row])) == {}


def test_verdicts_do_not_depend_on_the_order_of_the_benchmarks(tmp_path):
    # Items tied on coverage were taken in index order, so listing the benchmarks in another order (the registry once
    # moved amc23 and hmmt25) changed the item, and the reason, a row got. Two benchmark files hold the same item here.
    item = "Let $a$ and $b$ be positive integers with $a+b=20$ and $\\gcd(a,b)=4$. Find the largest possible value of $ab$."
    files = [str(write_jsonl(tmp_path / f"{name}.jsonl", [{"id": name, "problem": item}])) for name in ("zeta", "alpha")]
    reasons = []
    for order in (files, files[::-1]):
        settings = {"benchmarks": ["hmmt25"], "benchmark_files": order, "n": 9, "min_numbers": 0.9, "min_question": 0.75}
        reasons.append(removed(run_stage("decontaminate", [{"problem": item}], tmp_path, "math", **settings)))
    assert reasons[0] == reasons[1] == {0: "contaminated:alpha"}


# 10. A factorial gold answer ---------------------------------------------------------------------------------------


def test_a_factorial_is_a_usable_gold_answer():
    from acecurate.verify.math import MathGrader

    with MathGrader(workers=1, timeout=10) as grader:
        assert [g.status for g in grader.check_golds(["100!", "10^{100000}"])] == ["correct", "unparseable_gold"]
        digits = str(__import__("math").factorial(100))
        grades = grader.grade_many([(f"\\boxed{{{digits}}}", "100!"), ("\\boxed{99!}", "100!")], require_think_close=False)
        assert [g.correct for g in grades] == [True, False]


# 11. Multiple choice in other layouts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "problem, answer",
    [
        # Options, then the ask converted to a number: the options are still there.
        (
            "What share of the glass is poured? $\\textbf{(A)}\\ \\frac{1}{8} \\qquad\\textbf{(B)}\\ \\frac{3}{8} \\qquad\\textbf{(C)}\\ "
            "\\frac{5}{8} \\qquad\\textbf{(D)}\\ \\frac{1}{4} \\qquad\\textbf{(E)}\\ \\frac{3}{4}$ The answer is in the form "
            "m/n, find m+n.",
            "11",
        ),
        (
            "Determine if the graph of the equation below is a parabola, circle, ellipse, hyperbola, point, line, two lines, or empty. $x^2 + 2y^2 - 6x - 8y + 21 = 0$",
            "\\text{empty}",
        ),
        ("Find P(A/B) when P(A) = 0.2 and P(B) = 0.8. A)0.2 B)0.4 C)0.6 D)1.2 E)1.5", "A"),  # AQuA: no space after "A)"
        ("Which one gives the total minutes: (F) $\\frac{x}{7}$ (G) $7x$ (H) $7x+8x$ (J) $8x$", "H"),  # the ACT's letters
    ],
)
def test_multiple_choice_in_other_layouts(problem, answer):
    assert math_reason(problem, answer, MATH)[0] == "mcq"


# 12. Exact duplicates with conflicting golds; the near-duplicate survivor ------------------------------------------


def test_exact_copies_with_conflicting_gold_answers_keep_the_majority_answer(tmp_path):
    text = "How many positive divisors does 6! have?"
    rows = [{"problem": text, "answer": "239"}, {"problem": text, "answer": "30"}, {"problem": text, "answer": "30"}]
    result = run_stage("dedup", rows, tmp_path)
    assert removed(result) == {0: "conflicting_answer", 2: "exact_duplicate"}
    assert result.kept["answer"].tolist() == ["30"]


def test_near_duplicate_survivor_is_the_copy_without_a_second_problem_glued_on(tmp_path):
    base = "Let $f(x)=x^2+3x+2$. Find the sum of the roots of $f$ taken with multiplicity over the real numbers."
    glued = base + " Also, a train leaves at noon at 60 km/h; how far has it gone at 3 pm, and what is its average speed?"
    result = run_stage("near-dedup", [{"problem": glued, "answer": "-3"}, {"problem": base, "answer": "-3"}], tmp_path, threshold=0.5)
    assert result.kept["problem"].tolist() == [base]
    # Issue 18: the evidence says which side was kept, quoting both as written.
    assert "(kept)" in result.removed["evidence"].iat[0] and "(removed)" in result.removed["evidence"].iat[0]


def test_a_fraction_written_without_braces_is_the_same_fraction(tmp_path):
    # TeX reads \\frac n{729} and \\frac12 as \\frac{n}{729} and \\frac{1}{2}; an AIME copy in MATH train writes the former.
    a = "A bug walks on a tetrahedron. Let $p = \\frac{n}{729}$ be the probability that it is at $A$ after 7 meters and $q=\\frac{1}{2}$. Find $n$."
    b = a.replace("\\frac{n}{729}", "\\frac n{729}").replace("\\frac{1}{2}", "\\frac12")
    result = run_stage("near-dedup", [{"problem": a, "answer": "182"}, {"problem": b, "answer": "182"}], tmp_path, threshold=0.5)
    assert removed(result) == {1: "near_duplicate"}


def test_brackets_only_one_copy_writes_are_notation(tmp_path):
    # SAT math and Gaokao write one problem's option labels as "A)" and "(A)": brackets alone change no problem (math;
    # the gold answers still have to agree).
    a = "The graph of $f$ has x-intercepts of $(-6,0)$ and $(6,0)$. Which must be true? A) $f(-6)=0$ B) $f(6)=-6$ C) $f(0)=6$"
    b = a.replace("A) ", "(A) ").replace("B) ", "(B) ").replace("C) ", "(C) ")
    result = run_stage("near-dedup", [{"problem": a, "answer": "A"}, {"problem": b, "answer": "A"}], tmp_path, threshold=0.5)
    assert removed(result) == {1: "near_duplicate"}


def test_boilerplate_with_other_functions_is_two_tasks(tmp_path):
    # rllm LeetCode rows whose only text is "English description is not available" and a signature: other functions
    # are other tasks, however alike the rest.
    text = (
        "English description is not available for the problem. Please switch to Chinese.\n\n"
        "```python\nclass Solution:\n    def {name}(self, guess: List[int], answer: List[int]) -> int:\n```"
    )
    rows = [{"problem": text.format(name="game")}, {"problem": text.format(name="fraction")}]
    assert removed(run_stage("near-dedup", rows, tmp_path, "code")) == {}


def test_a_swapped_operator_makes_a_variant_not_a_duplicate(tmp_path):
    # "+" for "-" changes the problem: symbols alone are not wording (they passed as "in-box" vs "inbox" before).
    a = "Find the number of positive integers $n \\le 1000$ such that $2n+1$ is a perfect square and $n$ is even."
    result = run_stage(
        "near-dedup", [{"problem": a, "answer": "15"}, {"problem": a.replace("2n+1", "2n-1"), "answer": "15"}], tmp_path, threshold=0.5
    )
    assert len(result.removed) == 0


def test_a_copy_with_a_long_restatement_appended_is_a_duplicate(tmp_path):
    # MATH train carries an AIME problem with a "Re-stating the problem for clarity" paragraph appended (more tokens
    # than the diff's edit bound): an added paragraph at the end, as a shorter note is, not another problem.
    base = (
        "In an office the boss gives the secretary a letter to type, each time putting the letter on top of the pile in the "
        "secretary's in-box. When there is time, the secretary takes the top letter off the pile and types it. There are "
        "nine letters, delivered in the order $1, 2, 3, 4, 5, 6, 7, 8, 9$. Letter $8$ has already been typed. How many "
        "after-lunch typing orders are possible?"
    )
    restated = base + (
        "\nRe-stating the problem for clarity, let $S$ be a set arranged in increasing order. At any time an element can be "
        "appended to the end of $S$, or the last element of $S$ can be removed. The question asks for the number of "
        "different orders in which all of the remaining elements of $S$ can be removed, given that $8$ had been removed "
        "already."
    )
    other = base.replace("in-box", "inbox").replace("When there", "Whenever there")  # and a few edits of wording
    result = run_stage("near-dedup", [{"problem": restated, "answer": "704"}, {"problem": other, "answer": "704"}], tmp_path, threshold=0.3)
    assert removed(result) == {1: "near_duplicate"}


def test_a_swapped_coordinate_system_is_another_problem(tmp_path):
    # MATH train asks MATH-500's "cylindrical coordinates ... z = c" shape question of spherical coordinates and phi = c:
    # a token alignment keeps 93% of the item, but the swapped word changes the problem (neither copy nor duplicate).
    options = "(A) Line\n(B) Circle\n(C) Plane\n(D) Sphere\n(E) Cylinder\n(F) Cone\n\nEnter the letter of the correct option."
    item = (
        f"For a constant $c,$ in cylindrical coordinates $(r,\\theta,z),$ find the shape described by the equation\n\\[z = c.\\]{options}"
    )
    row = f"For a constant $c,$ in spherical coordinates $(\\rho,\\theta,\\phi),$ find the shape described by the equation\n\\[\\phi = c.\\]{options}"
    # The options and the instruction are stock phrasing of the dump, and weigh little (as in MATH train).
    stock = [f"Find the shape described by the equation $x^2 + y^{k} = 1$.{options}" for k in range(2, 5)]
    assert removed(decontaminate(tmp_path, "math", [item], [row, *stock])) == {}
    result = run_stage("near-dedup", [{"problem": item, "answer": "C"}, {"problem": row, "answer": "C"}], tmp_path, threshold=0.3)
    assert len(result.removed) == 0


def test_evidence_quotes_the_original_text_not_split_tokens(tmp_path):
    # Issue 18: evidence showed "taken b y f ( x )"; it must quote the statement as written.
    item = (
        "The function $f$ is such that the value taken by f(x) at every integer x is an integer. Find the number of such $f$ with $f(0)=1$."
    )
    result = decontaminate(tmp_path, "math", [item], [item])
    assert "taken by f(x)" in result.removed["matched_ngrams"].iat[0]


def test_layouts_that_copies_of_one_statement_write_differently_are_one_duplicate(tmp_path):
    # Cross-source copies in the corpus (AMC in a Gaokao set, Omni-MATH beside HARP and s1K, a Chinese exam in two
    # scrapes) differ only in how they are typeset: each pair is one problem.
    pairs = [
        # curly vs straight apostrophe
        (
            "Jackson\u2019s paintbrush makes a strip 6.5 millimeters wide and 25 meters long. How many square centimeters can he cover?",
            "Jackson's paintbrush makes a strip $6.5$ millimeters wide and $25$ meters long. How many square centimeters can he cover?",
        ),
        # single letters apart in math ("a x", "A B") vs joined: the same product and the same segment
        (
            "The line $y=a x+b$ meets $y=x^2$ at $A$ and $B$. If the midpoint of $A B$ is $(5,101)$, compute $a+b$.",
            "The line $y=ax+b$ meets $y=x^2$ at A and B. If the midpoint of AB is $(5,101)$, compute $a+b$.",
        ),
        # AoPS list markup vs the same conditions as plain sentences
        (
            "Find all $c > 0$ such that a labeling of the lattice points exists for which:\n[list]\n[*] only finitely many labels occur, and\n"
            "[*] points labeled $i$ are at least $c^i$ apart.\n[/list]",
            "Find all $c > 0$ such that a labeling of the lattice points exists for which: only finitely many labels occur, and "
            "points labeled $i$ are at least $c^i$ apart.",
        ),
        # Chinese spaced by one scrape and not by the other, and `\neq` whose backslash a JSON writer lost (a line break)
        (
            "一次函数 y=kx-1(k≠0)，若y随x的增大而减小，则它的图象不经过哪个象限？",
            "一次函数 y=k x-1(k \neq 0), 若 y 随 x 的增大而减小, 则它的图象不经过哪个象限？",
        ),
        # `\mid` vs `|`
        (
            "Let $f$ satisfy $\\sum_{d|n} d f(n/d) = 1$ for all positive integers $n$. What is $f(2023)$?",
            "Let $f$ satisfy $\\sum_{d\\mid n} d f(n/d) = 1$ for all positive integers $n$. What is $f(2023)$?",
        ),
    ]
    for first, second in pairs:
        result = run_stage("near-dedup", [{"problem": first}, {"problem": second}], tmp_path, threshold=0.2)
        assert removed(result) == {1: "near_duplicate"}, (first, result.kept.get("variant_evidence"))
    # The Chinese pair is a candidate at the shipped threshold too: candidates are drawn from the same per-character
    # tokens (one run of Han characters per phrase would share few bigrams across the two spacings).
    chinese = [{"problem": pairs[3][0]}, {"problem": pairs[3][1]}]
    assert removed(run_stage("near-dedup", chinese, tmp_path, threshold=0.5)) == {1: "near_duplicate"}
    # Letters apart by a comma are not joined: "a, b" and "ab" (the values a and b, their product) stay apart.
    result = run_stage(
        "near-dedup",
        [
            {"problem": "Find the values of $a, b$ for which the sum of the roots of $x^2 - 5x + 6 = 0$ is largest."},
            {"problem": "Find the values of $ab$ for which the sum of the roots of $x^2 - 5x + 6 = 0$ is largest."},
        ],
        tmp_path,
        threshold=0.2,
    )
    assert removed(result) == {}


# 13. Prompts free of hints -----------------------------------------------------------------------------------------


def test_clean_prompts_strips_hints_and_moves_judge_metadata_and_starter_code(tmp_path):
    codeforces = "Vasya has n coins. Print the number of ways.\n\nTags: ['binary search', 'greedy']\nRating: 1600\nTime Limit: {'seconds': 2, 'nanos': 0}\nMemory Limit: 256 MB"
    leetcode = (
        "Please solve the programming task below using a self-contained code snippet in a markdown code block.\n\n"
        "Given an array nums, return the sum of its elements.\n\n```python\nclass Solution:\n    def total(self, nums: List[int]) -> int:\n```"
    )
    result = run_stage("clean-prompts", [{"problem": codeforces}, {"problem": leetcode}], tmp_path, "code")
    kept = result.kept
    assert kept["problem"].tolist() == [
        "Vasya has n coins. Print the number of ways.",
        "Given an array nums, return the sum of its elements.",
    ]
    assert kept["time_limit_s"].iat[0] == 2.0 and kept["memory_limit_mb"].iat[0] == 256.0
    assert kept["starter_code"].iat[1].startswith("class Solution:\n    def total(")
    rules = [[e["rule"] for e in json.loads(edits)] for edits in kept["prompt_edits"]]
    assert rules == [["hint_tags", "hint_tags", "judge_limits", "judge_limits"], ["duplicated_instruction", "starter_code"]]
    # Every rule edits; a prompt with nothing but instructions is the only removal.
    only = run_stage(
        "clean-prompts",
        [{"problem": "Please solve the programming task below using a self-contained code snippet in a markdown code block."}],
        tmp_path,
        "code",
    )
    assert removed(only) == {0: "empty_statement"}


def test_an_instruction_after_the_question_on_its_line_leaves_the_question():
    # The instruction ends the line that holds the whole problem (as prompt templates that append it inline write
    # it): only the instruction goes; an instruction that opens the line goes from the front.
    ask = "Please reason step by step, and put your final answer within \\boxed{}."
    question = "A train travels 60 miles per hour for 2 hours. How far does it go?"
    assert clean_prompt(f"{question} {ask}", None, "math").problem == question
    assert clean_prompt(f"{ask} {question}", None, "math").problem == question
    assert clean_prompt(ask, None, "math").problem == ""


def test_latex_commands_whose_backslash_an_escape_took_get_it_back():
    # Omni-MATH stores `\\frac` as a form feed and `rac`, `\\times` as a tab and `imes`; a Chinese exam stores `\\neq` as
    # a line break and `eq`. The policy would read control characters: the backslash comes back, recorded as an edit.
    cleaned = clean_prompt("If $\x0crac{1}{2n} + \x0crac{1}{4n} = 1$ and $3 \times 3 = k$, $k \neq 0$, find $n$.", None, "math")
    assert cleaned.problem == "If $\\frac{1}{2n} + \\frac{1}{4n} = 1$ and $3 \\times 3 = k$, $k \\neq 0$, find $n$."
    assert cleaned.edits == [{"rule": "broken_escapes", "text": "\\frac x2, \\times, \\neq"}]
    # A real tab, and line breaks that start a matrix row `e^{t}` or a line `u + n`, are kept as they are.
    for text in ("Name\tAge\nAnn\t30", "$$A=\\begin{bmatrix}1\\\\\ne^{t} & 1\\end{bmatrix}$$", "Solve:\nu + n = t"):
        assert clean_prompt(text, None, "math").edits == []
    # Code keeps its control characters (a tab in a statement's sample is data).
    assert clean_prompt("Read a\times b.", None, "code").edits == []


# 14. Dated rows per source ------------------------------------------------------------------------------------------


def test_decontaminate_counts_dated_rows_and_warns_about_undated_code_sources(tmp_path):
    rows = [
        {"problem": STATEMENT, "source": "leetcode", "contest_date": "2023-08-27"},
        {"problem": STATEMENT + " Another.", "source": "codeforces", "contest_date": None},
    ]
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"id": "0", "problem": "Unrelated statement about graphs and trees."}])
    result = run_stage("decontaminate", rows, tmp_path, "code", benchmarks=["mbppplus"], benchmark_files=[str(bench)])
    assert result.stats["dated_rows"] == {"leetcode": [1, 1], "codeforces": [0, 1]}
    assert any("codeforces" in w and "cutoff" in w for w in result.stats["warnings"])
    assert "codeforces: 0 of 1" in result.report["dated rows"]


def test_the_run_summary_carries_the_stage_warnings():
    from acecurate.pipeline import StageSummary, stage_warnings

    stage = StageSummary("decontaminate", 2, 2, 0, {}, 0.1, False, {"warnings": ["no contest_date in source(s) codeforces"]})
    assert stage_warnings([stage]) == ["decontaminate: no contest_date in source(s) codeforces"]


# The refactors ------------------------------------------------------------------------------------------------------


def test_row_rule_applies_a_per_row_rule_to_a_frame():
    from acecurate.stage import row_rule

    @row_rule("problem")
    def short(problem, limit):
        return ("too_short", f"{len(problem)} characters") if len(problem) < limit else None

    frame = pd.DataFrame({"id": ["a", "b"], "problem": ["hi", "a longer problem"]})
    result = short.split(frame, 5)
    assert result.kept["id"].tolist() == ["b"] and result.removed[["reason", "evidence"]].values.tolist() == [["too_short", "2 characters"]]
    assert short("hi", 5) == ("too_short", "2 characters")  # still a plain function


def test_word_lists_are_data_and_dedup_is_three_modules():
    from acecurate.stages import minhash, pair_judge
    from acecurate.words import words

    assert {"sum", "product", "left", "right"} <= words("math_meaning_words")
    assert minhash.near_duplicates and pair_judge.PairJudge


# The optional judge --------------------------------------------------------------------------------------------------


def test_the_contamination_judge_asks_caches_and_records_its_prompt(tmp_path, tiny_model):
    pytest.importorskip("httpx", reason="needs acecurate[openai]")
    from .tiny_server import TinyServer

    server = TinyServer(tiny_model)
    try:
        item = "Let $a, b$ be positive reals with $a+b=10$. Find the largest possible value of $ab$ over all such pairs of reals."
        row = "Suppose $x, y > 0$ and $x + y = 10$. What is the maximum of the product $xy$ over all such pairs of reals?"
        judge = {
            "model": "tiny",
            "backend": "openai",
            "options": {"base_url": server.url, "timeout": 30},
            "min_coverage": 0.0,
            "max_tokens": 4,
            "temperature": 1.0,
        }
        first = decontaminate(tmp_path, "math", [item], [row], judge=judge)
        stats = first.stats["judge"]
        assert stats["model"] == "tiny" and stats["judged"] == 1 and stats["asked"] == 1 and "tiny" in first.report["judge"]
        again = decontaminate(tmp_path, "math", [item], [row], judge=judge)  # the run folder's cache answers
        assert again.stats["judge"]["asked"] == 0 and again.stats["judge"]["cached"] == 1
        if len(first.removed):  # the tiny model's verdict is noise; a removal must carry the prompt and the answer
            assert "Problem B" in first.removed["judge_prompt"].iat[0] and first.removed["judge_answer"].iat[0] is not None
        cached = (tmp_path / "cache" / "contam_judge.jsonl").read_text().splitlines()
        assert len(cached) == 1 and "answer" in json.loads(cached[0])
    finally:
        server.close()
