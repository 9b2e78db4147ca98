"""The math grader: every pair named in issue 10, attacks on it, the answer part rule, labelled regression pairs from
Math-Verify's and peers' test suites, bounded time, and the CLI verdict."""

import json
import threading
import time

import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.verify.math import STATUSES, MathGrader, extract_answer, extract_answers, grade, grade_many
from acecurate.verify.responses import answer_part, extract_code

TIMEOUT = 3.0
MARGIN = 3.0  # process start and kill overhead on a loaded 2-core machine
DONE = "Let me work through it... so that is settled.\n</think>\nThe answer is "  # an R1-style response's answer part


@pytest.fixture(scope="module")
def grader():
    with MathGrader(workers=2, timeout=TIMEOUT) as g:
        yield g


def verdict(grader, response, gold, require_think_close=True):
    result = grader.grade_many([(response, gold)], require_think_close=require_think_close)[0]
    assert result.status in STATUSES and result.rule, result
    return result


# --- The answer part: which text holds the final answer ---


def test_answer_part_rule():
    assert answer_part("<think>a</think> b") == " b"
    assert answer_part("R1 template: <think> was in the prompt</think> b") == " b"  # only </think> in the response
    assert answer_part("<think>still thinking \\boxed{5}?") is None  # truncated reasoning has no final answer
    assert answer_part("<think>a</think> b <think> reopened and cut off") is None
    assert answer_part("no tags at all \\boxed{5}") is None  # R1-style: never left its reasoning
    assert answer_part("no tags at all \\boxed{5}", require_think_close=False) == "no tags at all \\boxed{5}"
    assert answer_part("<think>cut off", require_think_close=False) is None  # an open <think> is never an answer


def test_extraction_is_boxed_only_in_the_answer_part():
    assert extract_answer("<think>\\boxed{1}</think> so \\boxed{2}") == "2"
    assert extract_answer("<think>\\boxed{1}</think> no box here") is None
    assert extract_answer("</think> The sum is $2+3=5$") is None  # unanchored: never extracted
    assert extract_answer("</think> \\fbox{7}") == "7"
    assert extract_answer("</think> so $\\boxed 5$.") == "5"  # TeX's one-token argument
    assert extract_answer("</think> so \\boxed 12\\sqrt3") is None  # a bare argument that continues is no box
    assert extract_answer("</think> \\boxed{42} and again \\boxed{ 42 }") == "42"  # a repeated answer counts once
    assert extract_answers("</think> \\boxed{3} or \\boxed{5}") == ["3", "5"]
    assert extract_answers("</think> \\boxed{\\boxed{12}\\sqrt{3}}") == ["12 \\sqrt{3}"]  # a nested box inside math
    assert extract_code("```python\nprint(1)\n```") is None  # code follows the same answer part rule
    assert extract_code("```python\nprint(1)\n```", require_think_close=False) == "print(1)\n"


# --- Issue 10, bug 1: a second reading inside the box accepted a prefix, the first number or the right-hand side ---
@pytest.mark.parametrize(
    "gold, boxed",
    [
        ("12", "12\\sqrt{3}"),
        ("3", "3+\\sqrt{2}"),
        ("1", "1-\\frac{1}{e}"),
        ("0", "0<x<\\infty"),
        ("4", "4\\cos\\theta"),
        ("2", "2\\dfrac13"),
        ("2023", "2023\\cdot\\sqrt2"),
        ("\\tan\\theta=3/4", "\\sin\\theta=3/4"),
        ("3", "3 \\text{ and } \\sqrt2"),
        ("20", "20\\sqrt{3}\\text{ square units}"),
        ("\\frac{3}{4}", "\\frac{3}{4}\\sqrt{2}"),
        ("\\sin(x)=\\frac{42}{59}", "\\cos(x)=\\frac{42}{59}"),
    ],
)
def test_no_prefix_first_number_or_right_hand_side(grader, gold, boxed):
    assert verdict(grader, DONE + f"\\boxed{{{boxed}}}", gold).status == "wrong"


# --- Bug 2: mixed numbers (whitespace is kept until exact arithmetic) ---
@pytest.mark.parametrize(
    "gold, boxed, status",
    [
        ("\\frac{44}{9}", "4 4/9", "wrong"),  # 4 4/9 is 40/9, not 44/9
        ("\\frac{40}{9}", "4 4/9", "correct"),
        ("-\\frac{40}{9}", "-4 4/9", "correct"),
        ("4", "4 4/9", "wrong"),  # a mixed number is not its whole part
        ("1 1/2", "1.5", "correct"),
        ("9004/9", "1 000 4/9", "correct"),  # spaced thousands in the whole part
        ("40/900", "4 4/9\\%", "correct"),  # a mixed-number percent is hundredths
        ("40/9", "4 4/9\\%", "wrong"),
        ("40/900", "4 4/9 percent", "correct"),
        ("\\frac73", "2\\dfrac13", "correct"),  # LaTeX mixed number
        ("918.5", "918\\frac{1}{2}", "correct"),
        ("11", "11 6/6", "wrong"),  # an improper "mixed number" has no value
        ("4", "4 4/0", "wrong"),
        ("139/90", "11/10 4/9", "wrong"),  # two fractions are not a mixed number
    ],
)
def test_mixed_numbers(grader, gold, boxed, status):
    assert verdict(grader, DONE + f"\\boxed{{{boxed}}}", gold).status == status


# --- Bug 3: truncated reasoning ---
def test_truncated_reasoning_has_no_answer(grader):
    result = verdict(grader, "<think>Summing up, the total is \\boxed{12}? Hmm, but did I double count", "12")
    assert (result.status, result.rule, result.correct) == ("no_answer", "no_think_close", False)
    # The R1 chat template opens <think> in the prompt: the response holds only </think>, and a cut-off one neither.
    assert verdict(grader, "so the total is 12.\n</think>\n\\boxed{12}", "12").status == "correct"
    cut_off = "Summing up, the total is \\boxed{12}. Hmm, but did I double count the corners? Let me recount"
    assert verdict(grader, cut_off, "12").rule == "no_think_close"
    assert verdict(grader, cut_off, "12", require_think_close=False).status == "correct"  # a model without tags
    assert verdict(grader, cut_off, "12").require_think_close is True  # the setting is recorded with the verdict
    assert verdict(grader, cut_off, "12", require_think_close=False).require_think_close is False


# --- Bug 4: hedging across boxes, and multi-part answers boxed part by part ---
@pytest.mark.parametrize(
    "answer_part_text, gold, status, rule",
    [
        ("either \\boxed{3} or \\boxed{5}", "3", "ambiguous", "ambiguous_boxes"),
        ("either \\boxed{3} or \\boxed{5}", "5", "ambiguous", "ambiguous_boxes"),  # the last box does not win
        ("either \\boxed{3} or \\boxed{5}", "3, 5", "correct", "answer_list"),
        ("(a) \\boxed{3}\n(b) \\boxed{5}", "3, 5", "correct", "answer_list"),
        ("(a) \\boxed{3}\n(b) \\boxed{6}", "3, 5", "wrong", "answer_list"),
        ("(a) \\boxed{3}\n(b) \\boxed{5}\n(c) \\boxed{7}", "3, 5", "wrong", "math_verify"),  # lengths differ: as sets
        ("\\boxed{\\frac12}, that is \\boxed{0.5}", "\\frac{1}{2}", "correct", "every_box"),  # one value, two forms
        ("So $n = \\boxed{42}$.\n\n**Final Answer**\n\\[\\boxed{42}\\]", "42", "correct", "exact_integer"),
        ("\\boxed{12}\\quad\\boxed{13}", "12", "ambiguous", "ambiguous_boxes"),
    ],
)
def test_several_boxes(grader, answer_part_text, gold, status, rule):
    result = verdict(grader, DONE + answer_part_text, gold)
    assert (result.status, result.rule) == (status, rule), result


# --- Bug 5: smaller false negatives ---
@pytest.mark.parametrize(
    "gold, answer_part_text",
    [
        ("60", "\\boxed{60°}"),
        ("72", "\\boxed{72 °}"),
        ("30^\\circ", "\\boxed{30}"),
        ("1000", "\\boxed{1e3}"),
        ("3.2\\times 10^5", "\\boxed{3.2e5}"),
        ("0.000123", "\\boxed{1.23E-4}"),
        ("\\emptyset", "\\boxed{\\varnothing}"),
        ("\\frac13", "\\boxed{0.\\overline{3}}"),
        ("\\frac16", "\\boxed{0.1\\overline{6}}"),
        ("5", "$\\boxed 5$."),
        ("10 weeks", "\\boxed{10}"),
        ("58 square units", "\\boxed{58}"),
        ("12", "\\boxed{12 \\text{ cm}^2}"),
        ("12", "\\boxed{12\\,\\text{m}}"),
        ("5", "\\boxed{\\$5.00}"),
        ("20", "\\boxed{20\\%}"),  # a gold that is the number of percent
        ("10\\%", "\\boxed{0.1}"),
        ("\\frac{7}{25}", "\\boxed{28\\%}"),
        ("1000000", "\\boxed{1{,}000{,}000}"),
        ("11,\\! 111,\\! 111,\\! 100", "\\boxed{11111111100}"),
        ("C", "\\boxed{\\textbf{(C)}}"),
        ("f^{-1}(x)=\\frac{x-3}{2}", "\\boxed{\\frac{x-3}{2}}"),
        ("\\frac{x-3}{2}", "\\boxed{f^{-1}(x) = \\frac{x - 3}{2}}"),
        ("(-\\infty, 3)", "\\boxed{x<3}"),
        ("1000.99", "\\boxed{1000,99}"),  # the same digits with a decimal comma
        ("1+2i", "\\boxed{i(2-i)}"),  # i alone is the imaginary unit
        ("-1", "\\boxed{i^2}"),
    ],
)
def test_equivalent_forms(grader, gold, answer_part_text):
    result = verdict(grader, DONE + answer_part_text, gold)
    assert result.status == "correct", result


# --- Attacks: a wrong, hedged or malformed answer must not score ---
@pytest.mark.parametrize(
    "answer_part_text, gold, status",
    [
        ("\\boxed{12\\text{12}}", "12", "wrong"),  # text-mode junk glued to the number
        ("\\boxed{\\text{12}}", "12", "correct"),  # ...but a number in text mode is that number
        ("\\boxed{12 or 13}", "12", "wrong"),  # hedging inside one box
        ("\\boxed{12 \\text{ or } 13}", "13", "wrong"),
        ("\\boxed{45^\\circ \\text{ or } 135^\\circ}", "45", "wrong"),
        ("\\boxed{x=12}", "12", "correct"),  # an assignment of the asked variable
        ("\\boxed{2x+3=12}", "12", "wrong"),  # an unsolved equation is not its right-hand side
        ("\\boxed{x^2=4}", "4", "wrong"),
        ("\\boxed{2+2=4}", "4", "correct"),  # a computation ending in its result
        ("\\boxed{2^{10^{10}}}", "5", "wrong"),  # huge exponents are never evaluated
        ("\\boxed{1e99999}", "1", "wrong"),
        ("\\boxed{}", "5", "no_answer"),
        ("\\boxed{ }", "0", "no_answer"),
        ("\\boxed{\\boxed{12}\\sqrt{3}}", "12", "wrong"),  # a nested box inside a larger expression
        ("\\boxed{\\boxed{12}}", "12", "correct"),
        ("\\boxed{2 3}", "5", "wrong"),  # math-verify reads `2 3` as 5
        ("\\boxed{3, 5}", "3", "wrong"),
        ("\\boxed{2, 3}", "2", "wrong"),
        ("\\boxed{-2}", "-2, 3", "wrong"),
        ("\\boxed{0.0000002}", "0.0000001", "wrong"),  # no float tolerance between two decimals
        ("\\boxed{0.000000}", "e^{-100}", "wrong"),  # a decimal needs 6 significant digits to stand for a value
        ("\\boxed{3.14159}", "\\pi", "wrong"),  # and 6 places
        ("\\boxed{3.141593}", "\\pi", "correct"),
        ("\\boxed{0.333}", "\\frac13", "wrong"),
        ("\\boxed{0.333333}", "\\frac13", "correct"),
        ("\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}", "wrong"),  # tiny magnitudes stay exact
        ("\\boxed{1267650600228229401496703205377}", "1267650600228229401496703205376", "wrong"),
        ("\\boxed{\\text{The answer is } 12\\sqrt{3}}", "12", "wrong"),  # prose: its math is read whole
        ("\\boxed{12 \\text{ (since } 12\\sqrt{3} \\text{ is not an integer)}}", "12", "wrong"),
        ("\\boxed{1,5}", "1.6", "wrong"),
        ("\\boxed{1, 5}", "5, 1", "correct"),  # lists of solutions are sets
        ("\\boxed{50\\%}", "5", "wrong"),  # 50% is 0.5 (and its number, 50), never 5
        ("\\boxed{3 xy}", "3", "wrong"),  # a product of variables is no prose
        ("\\boxed{\\text{(D)}}", "C", "wrong"),
        ("\\boxed{3-4i}", "3+4i", "wrong"),
    ],
)
def test_attacks(grader, answer_part_text, gold, status):
    result = verdict(grader, DONE + answer_part_text, gold)
    assert result.status == status, result


def test_a_box_only_in_the_question_restatement_or_reasoning_is_no_answer(grader):
    restated = "The problem asks whether the total is \\boxed{12}. Let me think.\n</think>\nI could not finish."
    assert verdict(grader, restated, "12").rule == "no_box"
    reasoning_only = "<think>So it is \\boxed{12}.</think> Here is a different value: \\boxed{13}."
    assert verdict(grader, reasoning_only, "12").status == "wrong"


@pytest.mark.parametrize(
    "response, gold, status",
    [
        (DONE + "\\boxed{\\frac{1}{2^{99}}}", "\\frac{1}{2^{98}}", "wrong"),
        (DONE + "\\boxed{0.5}", "\\frac12", "correct"),
        (DONE + "\\boxed{\\dfrac{1}{2}}", "0.5", "correct"),
        (DONE + "\\boxed{2^{4950}}", "2^{4950}", "correct"),
        (DONE + "\\boxed{10^{10^{10}}}", "5", "wrong"),  # must not evaluate
        (DONE + "\\boxed{x}", "", "unparseable_gold"),
        (DONE + "\\boxed{43}", "Answer is forty three.", "wrong"),  # a gold in words has no number to match
        (DONE + "\\boxed{(1, 2)}", "(1,2)", "correct"),
        (DONE + "\\boxed{3\\sqrt{13}}", "\\sqrt{117}", "correct"),
        (DONE + "\\boxed{[0, 1)}", "[0,1)", "correct"),
        (DONE + "\\boxed{(0, 1)}", "[0,1)", "wrong"),
    ],
)
def test_verdicts(grader, response, gold, status):
    assert verdict(grader, response, gold).status == status


@pytest.mark.parametrize(
    "name, answer, gold",
    [
        ("issue 65: str() of the parse never returns", "(-\\infty,-1)\\cup(-1,1)\\cup(1,\\infty)^{(1+2)^{(3+4)^{(5+6)}}}", "1"),
        ("power tower", "10^{10^{10}}", "10^{10^{10}}+1"),
        ("5,000-term sum", "+".join(f"\\frac{{1}}{{{k}}}" for k in range(1, 5001)), "7"),
        ("1 MB of digits", "7" * 1_000_000, "7"),
        ("over 4,300 digits", "9" * 5000, "9" * 5000),
        ("a huge mixed number", "9" * 5000 + " 1/2", "1/2"),
        ("a huge repeating decimal", "0." + "1" * 5000 + "\\overline{3}", "1/3"),
        ("deep nesting", "(" * 5000 + "1" + ")" * 5000, "1"),
        ("a long run of digits with a letter", "1" * 19_000 + "x", "1"),
    ],
)
def test_traps_return_within_timeout(grader, name, answer, gold):
    started = time.monotonic()
    result = grader.grade_many([(DONE + "\\boxed{" + answer + "}", gold)])[0]
    assert time.monotonic() - started < TIMEOUT + MARGIN, name
    assert result.status in ("correct", "wrong", "timeout"), result
    if name == "over 4,300 digits":
        assert result.status == "correct"


def test_a_stuck_item_times_out_and_the_rest_still_grade(grader):
    # The 3,000-factor product keeps sympy busy; items batched with it must still get real verdicts.
    heavy = DONE + "\\boxed{" + "*".join(f"(x+{k})" for k in range(1, 3000)) + "}"
    pairs = [(DONE + "\\boxed{4}", "4"), (heavy, "x^{2999}"), (DONE + "\\boxed{5}", "4"), (DONE + "\\boxed{\\frac{2}{4}}", "0.5")]
    results = grader.grade_many(pairs)
    assert [r.status for r in results[:1] + results[2:]] == ["correct", "wrong", "correct"]
    assert results[1].status in ("timeout", "wrong")
    if results[1].status == "timeout":
        assert results[1].rule == "timeout"


def test_grade_many_keeps_order_and_is_thread_safe():
    pairs = [(f"{DONE}\\boxed{{{i}}}", str(i if i % 3 else i + 1)) for i in range(60)]
    expected = [i % 3 != 0 for i in range(60)]
    with MathGrader(workers=2) as g:
        outputs = {}

        def run(key):
            outputs[key] = [r.correct for r in g.grade_many(pairs)]

        threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(v == expected for v in outputs.values()) and len(outputs) == 3


def test_single_grade_function_records_the_rule_and_setting():
    result = grade("<think>hmm</think> \\boxed{\\frac{3}{8}}", "0.375")
    assert (result.correct, result.rule, result.require_think_close) == (True, "exact_rational", True)
    assert grade("\\boxed{4}", "4", require_think_close=False).correct


# Every disagreement with Math-Verify's labels that we accept, by pair index, with the reason.
ACCEPTED_268 = {
    31: "math-verify's test expects a newline inside $...$ to break extraction; TeX allows it, we read the 9",
    32: "the same with \\(...\\)",
    133: "labelled under 2-digit rounding; 0.33 is not 1/3 to us (6 places and 6 significant digits needed)",
    139: "labelled under 4-digit rounding; 2.6667 is not 8/3 to us",
    187: "pair 186 labels the same gold and prediction equal: we agree with 186 (x in [-2,7] is -2 <= x <= 7)",
    217: "labelled equal though the variables differ (W(n) against W(x)); the gold has doubled backslashes and no closing brace",
    251: "the gold boxes 1 and 2 are read as the gold list 1, 2 (the label reads only the last box)",
    253: "labelled equal in math-verify's non-strict tests (function names only); pair 252 labels it different, as we do",
    263: "labelled equal, but 1 - 1/e and 1 + 1/e differ",
}


def test_labelled_pairs_regression(shared_data):
    pairs = json.load(open(shared_data / "verify/math_verify_labelled_pairs.json"))
    # The predictions are whole texts, not R1 responses: each is graded as the content of one box.
    results = grade_many([("\\boxed{" + p["pred"] + "}", p["gold"]) for p in pairs], workers=2, require_think_close=False)
    disagreements = {i for i, (p, r) in enumerate(zip(pairs, results)) if int(r.correct) != p["expected"]}
    assert disagreements <= set(ACCEPTED_268), [(i, pairs[i]["gold"][:60], pairs[i]["pred"][:60]) for i in disagreements]
    assert len(pairs) - len(disagreements) >= 258  # before issue 10: 258 of 268


# Peers' test suites and R1-style hand-built pairs: the false positives we accept, by pair index.
ACCEPTED_PEER_FALSE_POSITIVES = {
    57: "hendrycks' string equivalence: a permuted list is wrong to it; MATH's bare lists are 'enter all solutions' sets",
    63: "the same",
}


def test_peer_pairs_give_no_false_positive(shared_data):
    pairs = json.load(open(shared_data / "verify/math_peer_pairs.json"))
    # The hand-built pairs are R1-style responses (require_think_close on); peers' suites grade plain responses.
    r1_style = [p["source"].startswith("adversarial") for p in pairs]
    with MathGrader(workers=2) as g:
        results = [g.grade_many([(p["response"], p["gold"])], require_think_close=on)[0] for p, on in zip(pairs, r1_style)]
    false_positives = {i for i, (p, r) in enumerate(zip(pairs, results)) if r.correct and not p["expected"]}
    assert false_positives == set(ACCEPTED_PEER_FALSE_POSITIVES)
    hand_built = [r.correct == bool(p["expected"]) for p, r, on in zip(pairs, results, r1_style) if on]
    assert sum(hand_built) >= 116, f"{sum(hand_built)} of {len(hand_built)} hand-built pairs"


def test_verify_math_command():
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "math", "--gold", "\\frac12", "--response", "</think> so \\boxed{0.5}"])
    assert result.exit_code == 0 and "correct" in result.output and "exact_rational" in result.output
    assert "require_think_close" in result.output and "on" in result.output
    result = runner.invoke(app, ["verify", "math", "--gold", "5", "--response", "</think> so $2+3=5$"])
    assert result.exit_code == 1 and "no_answer" in result.output and "no_box" in result.output
    hedged = "</think> either \\boxed{3} or \\boxed{5}"
    result = runner.invoke(app, ["verify", "math", "--gold", "3", "--response", hedged])
    assert result.exit_code == 1 and "ambiguous" in result.output
    result = runner.invoke(app, ["verify", "math", "--gold", "5", "--response", "\\boxed{5}", "--no-require-think-close"])
    assert result.exit_code == 0 and "off" in result.output
