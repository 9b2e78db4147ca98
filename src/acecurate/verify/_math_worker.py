"""Runs inside grader worker processes: guards, exact fast paths, then math-verify. Never imported by the parent's
hot path; the parent enforces wall-clock limits from outside and kills a worker that overruns."""

from __future__ import annotations

import logging
import re
import sys
from fractions import Fraction

_GUARD_HUGE = re.compile(
    r"\^\s*\{?\s*-?\d{4,}"  # 2^{12345}
    r"|\^\s*\{[^{}]*\^"  # nested powers 10^{10^{10}}
    r"|\d{3,}\s*!|\\(?:factorial|Gamma)\s*\(?\s*\d{3,}"  # 1000!
    r"|\d{301,}"  # numbers too long to evaluate symbolically (exact integer paths handle them first)
)
_SPACE_NOISE = re.compile(r"\s+|\\[,;:! ]|\\(?:left|right)(?![a-zA-Z])|\\displaystyle|\$")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_INTEGER = re.compile(r"[+-]?\d+")

_CONFIG = None


def normalize_answer(text: str) -> str:
    text = _TEXT.sub(r"\1", text)
    text = _SPACE_NOISE.sub("", text).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text.rstrip(".").lower()


_TOKENS = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\[dt]?frac|\\cdot|\\times|\\div|[-+*/^(){}])")
MAX_EXACT_DIGITS = 10_000


class _NotExact(Exception):
    pass


def exact_number(text: str) -> tuple[Fraction, bool] | None:
    """(value, has_decimal) when text is arithmetic on integers and decimals (+ - * / ^, \\frac, parentheses)
    whose exact value stays under MAX_EXACT_DIGITS digits; None otherwise. Exact, so 1/2^99 differs from 1/2^98."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKENS.match(text, position)
        if not match:
            return None
        tokens.append(match.group(1))
        position = match.end()
    if not tokens:
        return None
    state = {"i": 0, "decimal": False}

    def peek():
        return tokens[state["i"]] if state["i"] < len(tokens) else None

    def take(expected=None):
        token = peek()
        if token is None or (expected is not None and token != expected):
            raise _NotExact
        state["i"] += 1
        return token

    def atom() -> Fraction:
        token = take()
        if token in ("(", "{"):
            value = expr()
            take(")" if token == "(" else "}")
            return value
        if token in ("\\frac", "\\dfrac", "\\tfrac"):
            num = braced_or_digit()
            den = braced_or_digit()
            if den == 0:
                raise _NotExact
            return num / den
        if token in ("-", "+"):
            value = power()
            return -value if token == "-" else value
        if token[0].isdigit() or token[0] == ".":
            if "." in token:
                state["decimal"] = True
            return Fraction(token)
        raise _NotExact

    def braced_or_digit() -> Fraction:
        if peek() == "{":
            return atom()
        token = take()  # \frac12: single digits
        if not token.isdigit():
            raise _NotExact
        if len(token) > 1:  # "\frac12" tokenises as "12": first digit is the numerator, the rest is pushed back
            tokens.insert(state["i"], token[1:])
            token = token[0]
        return Fraction(int(token))

    def power() -> Fraction:
        base = atom()
        if peek() == "^":
            take()
            exponent = atom() if peek() in ("{", "(") else Fraction(take())
            if exponent.denominator != 1 or abs(exponent) > MAX_EXACT_DIGITS:
                raise _NotExact
            magnitude = max(abs(base.numerator), abs(base.denominator), 2)
            if abs(int(exponent)) * len(str(magnitude)) > MAX_EXACT_DIGITS:
                raise _NotExact
            if base == 0 and exponent < 0:
                raise _NotExact
            return base ** int(exponent)
        return base

    def term() -> Fraction:
        value = power()
        while peek() in ("*", "/", "\\cdot", "\\times", "\\div"):
            op = take()
            right = power()
            if op in ("/", "\\div"):
                if right == 0:
                    raise _NotExact
                value /= right
            else:
                value *= right
        return value

    def expr() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            op = take()
            right = term()
            value = value + right if op == "+" else value - right
        return value

    try:
        value = expr()
    except (_NotExact, ZeroDivisionError, ValueError, OverflowError):
        return None
    if state["i"] != len(tokens):
        return None
    return value, state["decimal"]


def _strip_int(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-").lstrip("0") or "0"
    return ("" if digits == "0" else sign) + digits


def _extraction_configs():
    """(boxed-only, inside-the-box) configs. The second looks for math anywhere in the box's own content, which is
    safe: the box is the anchor, so text outside the final box is never read."""
    global _CONFIG
    if _CONFIG is None:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig

        _CONFIG = (
            [LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)],
            [LatexExtractionConfig(), ExprExtractionConfig()],
        )
    return _CONFIG


_gold_cache: dict[str, list] = {}


def parse_boxed(answer: str) -> list[list]:
    """Readings of a box's content: the whole content as one expression, then (when the content mixes prose and
    math, as in "Answer: $9$") the first math found inside it. Only the first match is taken, so "$1$ or $2$"
    cannot offer two answers."""
    from math_verify import parse

    boxed_only, inside_box = _extraction_configs()
    readings = [parse("\\boxed{" + answer + "}", extraction_config=boxed_only, parsing_timeout=None)]
    if re.search(r"[A-Za-z]{3,}", _TEXT.sub("", answer)) or "$" in answer:
        readings.append(parse(answer, extraction_config=inside_box, extraction_mode="first_match", parsing_timeout=None))
    return [r for r in readings if r]


def check_gold(gold: str) -> tuple[str, str]:
    """Whether a gold answer can be used for grading at all: integers, guarded giants, or a math-verify parse."""
    norm = normalize_answer(gold)
    if _INTEGER.fullmatch(norm) or exact_number(norm):
        return "correct", "number"
    if _GUARD_HUGE.search(norm):
        return "unparseable_gold", "too large to evaluate symbolically"
    return ("correct", "math-verify parsed it") if parse_boxed(gold) else ("unparseable_gold", "math-verify could not parse it")


def compare(gold: str, pred: str | None) -> tuple[str, str]:
    """(status, detail) for a gold answer and an extracted prediction. Status: correct, wrong, unparseable_gold.
    With no prediction, only checks that the gold answer parses."""
    if pred is None:
        return check_gold(gold)
    gold_norm, pred_norm = normalize_answer(gold), normalize_answer(pred)
    if gold_norm == pred_norm:
        return "correct", "equal after normalisation"
    if _INTEGER.fullmatch(gold_norm) and _INTEGER.fullmatch(pred_norm.replace(",", "")):
        # Integers of any length, compared as digit strings (no int() limit, no sympy).
        same = _strip_int(gold_norm) == _strip_int(pred_norm.replace(",", ""))
        return ("correct" if same else "wrong"), "integer comparison"
    gold_num, pred_num = exact_number(gold_norm), exact_number(pred_norm)
    if gold_num and pred_num:
        if gold_num[0] == pred_num[0]:
            return "correct", "exact rational comparison"
        if not (gold_num[1] or pred_num[1]):
            return "wrong", "exact rational comparison"  # no float tolerance: 1/2^99 is not 1/2^98
    if _GUARD_HUGE.search(gold_norm) or _GUARD_HUGE.search(pred_norm):
        return "wrong", "too large to evaluate symbolically, and not equal as text"
    from math_verify import verify

    if gold not in _gold_cache:
        if len(_gold_cache) > 4096:
            _gold_cache.clear()
        _gold_cache[gold] = parse_boxed(gold)
    gold_readings = _gold_cache[gold]
    if not gold_readings:
        return "unparseable_gold", "math-verify could not parse the gold answer"
    pred_readings = parse_boxed(pred)
    if not pred_readings:
        return "wrong", "math-verify could not parse the prediction"
    same = any(verify(g, p, timeout_seconds=None) for g in gold_readings[:1] for p in pred_readings)
    return ("correct" if same else "wrong"), "math-verify"


def serve(conn) -> None:
    """Worker loop: receive batches [(index, gold, pred)], answer (index, status, detail) item by item."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    sys.set_int_max_str_digits(100_000)
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        for index, gold, pred in batch:
            try:
                status, detail = compare(gold, pred)
            except Exception as exc:  # a math-verify/sympy failure on one item must not kill the worker
                status, detail = "error", f"{type(exc).__name__}: {str(exc)[:200]}"
            conn.send((index, status, detail))


if __name__ == "__main__":
    from multiprocessing.connection import Connection

    receiver, sender = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)

    class _Duplex:
        recv, send = receiver.recv, sender.send

    serve(_Duplex())
