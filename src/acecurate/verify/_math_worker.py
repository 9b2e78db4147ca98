"""Runs inside grader worker processes: reads each answer (units, percent, prose, lists), compares exactly where the
answer is a number, and asks math-verify otherwise. The parent enforces wall-clock limits from outside and kills a
worker that overruns. `answer_key` is also used by the parent (no math-verify import at module level).

Every comparison returns (status, rule, detail). An answer gets exactly one reading: there is no second reading that
could accept a prefix, the first number or the right-hand side of what the response wrote.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass
from fractions import Fraction

from ..text import Box, box_tree, boxed_contents, unboxed

MAX_EXACT_DIGITS = 10_000

_GUARD_HUGE = re.compile(
    r"\^\s*\{?\s*-?\d{4,}"  # 2^{12345}
    r"|\^\s*\{[^{}]*\^"  # nested powers 10^{10^{10}}
    r"|\d{3,}\s*!|\\(?:factorial|Gamma)\s*\(?\s*\d{3,}"  # 1000!
    r"|\d[eE][+-]?\d{4,}"  # 1e99999
    r"|\d{301,}"  # numbers too long to evaluate symbolically (the exact paths handle them first)
)

# --- Reading an answer: one canonical text per answer, whitespace kept (it separates the parts of `4 4/9`). ---
_UNICODE = str.maketrans(
    {
        "−": "-",
        "–": "-",
        "×": "\\times ",
        "·": "\\cdot ",
        "÷": "\\div ",
        "°": "^\\circ",
        "≤": "\\le ",
        "≥": "\\ge ",
        "≠": "\\ne ",
        "π": "\\pi ",
        "∞": "\\infty ",
        "∅": "\\emptyset ",
        "²": "^2",
        "³": "^3",
        "€": " ",
    }
)
# `(?<!\\)`: the `\\ ` that ends a matrix row is no `\ ` space. `\!` takes its spaces along: `11,\! 111` is one number.
_DROP = re.compile(r"(?<!\\)\\(?:left|right|[bB]igg?[lr]?|displaystyle|textstyle)(?![A-Za-z])|(?<!\\)\\\$")
_NEGATIVE_SPACE = re.compile(r"(?<!\\)\\!")  # taken out with the spaces around it
_SPACING = re.compile(r"(?<!\\)\\[,;: ]|(?<!\\)\\q?quad(?![A-Za-z])|~|\s+")
_FRACTION = re.compile(r"\\[dtc]frac(?![A-Za-z])")
_EMPTY_SET = re.compile(r"\\varnothing(?![A-Za-z])|\\\{\s*\\\}")
_TEXT_COMMAND = r"\\(?:text|textnormal|textrm|textit|textbf|mbox|mathrm|mathbf|operatorname)\s*"
_SEPARATOR = re.compile(_TEXT_COMMAND + r"\{\s*(?:,\s*)?(?:and|or)\s*(?:,\s*)?\}|(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])")
_UNWRAP = re.compile(_TEXT_COMMAND + r"\{([^{}]*)\}")
_WRAPPED = re.compile(r"\$\$(.*)\$\$|\$(.*)\$|\\\((.*)\\\)|\\\[(.*)\\\]", re.DOTALL)
_EMPTY_BRACES_COMMA = re.compile(r"\{\s*,\s*\}")  # `1{,}000`: replaced by a comma, with the spaces around it
# A pattern that starts with spaces starts where they start, `(?<!\s)`: searched from each space of a long run, it
# would rescan the rest of the run every time (quadratic). Trailing punctuation is `_strip_punctuation`.
_TRAILING = [  # (pattern at the end, whether it is a percent sign)
    (re.compile(r"(?<!\s)\s*(?:\\%|%|" + _TEXT_COMMAND + r"\{\s*(?:\\%|%|percent)\s*\}|(?<![A-Za-z])(?:percent(?:age)?|pct))$"), True),
    (re.compile(r"(?<!\s)\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|(?<![A-Za-z])degrees?)$"), False),
    # A unit or remark in text mode at the end (`12\text{ cm}^2`, `2\text{ (double root)}`), or an upright unit.
    (re.compile(r"(?<=\S)\s*\\(?:text|textnormal|textrm|mbox)\s*\{(?=[^{}]*[A-Za-z])[^{}]*\}(?:\s*\^\s*\{?[23]\}?)?$"), False),
    (re.compile(r"(?<=[\d}])\s*\\mathrm\s*\{\s*(?![ei]\s*\})[A-Za-z]+\s*\}(?:\s*\^\s*\{?[23]\}?)?$"), False),
]
_CHOICE = re.compile(r"\(?([A-Za-z])\)?")
# Words that do not make an answer prose: function names, arithmetic words, and what the trailing rules strip.
_MATH_WORD_LIST = (
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min sup inf gcd lcm det mod pmod "
    "deg sqrt pi infty infinity times cdot div plus minus over frac percent percentage pct degree degrees"
)
_MATH_WORDS = frozenset(_MATH_WORD_LIST.split())
_SHORT_WORD_LIST = "is of in to so as at be by it no on an we cm mm km kg mg ml ft yd mi hr lb oz"
_SHORT_WORDS = frozenset(_SHORT_WORD_LIST.split())
# A prose word stands apart (not glued to a digit, letter or command) and is an English-looking word: three or more
# letters with a vowel, or a short word from a list. `3xy`, `2ab` and `a b` stay math.
_WORD = re.compile(r"(?<![\\\w^_{])[A-Za-z]+(?:'[a-z]+)?(?![A-Za-z{])(?:\s*\^\s*\{?\d+\}?)?")
_NOT_WORDS = re.compile(r"\\(?:begin|end)\{[^{}]*\}|_\{[^{}]*\}")
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_RUN_PUNCTUATION = " \t\n:;,.!?'\"“”‘’[]"


def _is_prose_word(token: str) -> bool:
    word = re.match(r"[A-Za-z]+", token).group(0)
    lower = word.lower()
    if lower in _MATH_WORDS or word.isupper():
        return False
    return lower in _SHORT_WORDS or (len(word) >= 3 and re.search("[aeiou]", lower) is not None)


@dataclass(frozen=True)
class Reading:
    text: str | None  # canonical text; None when prose held no math
    percent: bool = False
    note: str = ""  # how the reading was found, when it is not the whole content


def _canonical(text: str) -> str:
    text = text.translate(_UNICODE)
    text = _replace_spaced(_NEGATIVE_SPACE, "", _DROP.sub("", text))
    text = _replace_spaced(_EMPTY_BRACES_COMMA, ",", _SPACING.sub(" ", text))
    text = _EMPTY_SET.sub("\\\\emptyset", _FRACTION.sub("\\\\frac", text)).strip()
    wrapped = _WRAPPED.fullmatch(text)
    inner = next((g for g in wrapped.groups() if g is not None), None) if wrapped else None
    if inner is not None and "$" not in inner:
        text = inner.strip()
    if text.count("$") % 2:  # an odd `$` is a currency sign, not a math delimiter
        text = text.replace("$", " ")
    return _SEPARATOR.sub(",", text).strip()


def _replace_spaced(pattern: re.Pattern, replacement: str, text: str) -> str:
    r"""`re.sub(r"\s*" + pattern + r"\s*", replacement, text)` in one pass: that regular expression, searched from
    each space of a long run that no match follows, rescans the rest of the run every time (quadratic)."""
    pieces = pattern.split(text)
    if len(pieces) == 1:
        return text
    return replacement.join([pieces[0].rstrip(), *(piece.strip() for piece in pieces[1:-1]), pieces[-1].lstrip()])


def _strip_punctuation(text: str) -> str:
    """Trailing `.,;:` and lone backslashes (not the `\\` that ends a matrix row), each with the spaces before it,
    from the end of a stripped text, never leaving it empty: one step per character."""
    end = len(text)
    while True:
        last = end
        while last > 0 and text[last - 1].isspace():
            last -= 1
        lone_backslash = last > 0 and text[last - 1] == "\\" and (last < 2 or text[last - 2] != "\\")
        if last <= 1 or not (text[last - 1] in ".,;:" or lone_backslash):
            return text[:end].rstrip()
        end = last - 1


MAX_TRAILING_PASSES = 8  # each pass takes one percent sign, degree or unit off the end (punctuation as a run)


def _strip_trailing(text: str) -> tuple[str, bool]:
    """Trailing punctuation, percent, degrees and units off the end, repeatedly (at most MAX_TRAILING_PASSES
    times, each linear in the text); (rest, had a percent sign)."""
    percent, changed, passes = False, True, 0
    while changed and text and passes < MAX_TRAILING_PASSES:
        changed, passes = False, passes + 1
        rest = _strip_punctuation(text)
        if rest != text:
            text, changed = rest, True
        for pattern, is_percent in _TRAILING:
            rest = pattern.sub("", text)
            if rest != text and rest.strip():
                text, changed, percent = rest.strip(), True, percent or is_percent
    return text, percent


def _is_prose(text: str) -> bool:
    """Words around math (`The answer is 12`, `10 weeks`); a text-only answer (`\\text{odd}`) is not prose."""
    bare = _UNWRAP.sub(r" \1 ", _NOT_WORDS.sub(" ", text))
    has_math = re.search(r"\d|\\[A-Za-z]|\$", _UNWRAP.sub(" ", text))
    return has_math is not None and any(_is_prose_word(w) for w in _WORD.findall(bare))


ANSWER_PHRASE = re.compile(r"answer\s*(?:is|:|=)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s|\n|<\|")
_ATTACHED_UNIT = re.compile(r"(?<=\d)\s*(?:[cmk]?m|[mk]?g|m?s|h|min|m?l|L)(?:\^[23])?$")


def _math_in(text: str) -> list[tuple[int, int, str]]:
    """The math in prose, in order, as (start, end, math): delimited spans ($...$, \\(...\\), \\[...\\]) and maximal
    runs between prose words and sentence ends that hold a digit or a command. Runs are maximal, so `The answer is
    12\\sqrt{3}` gives `12\\sqrt{3}`, never 12."""
    found = [(m.start(), m.end(), next(g for g in m.groups() if g is not None)) for m in _MATH_SPAN.finditer(text)]
    masked = _MATH_SPAN.sub(lambda m: " " * len(m.group(0)), text)
    masked = _SENTENCE_END.sub(lambda m: "\n" * len(m.group(0)), masked)
    breaks = [m.span() for m in _WORD.finditer(masked) if _is_prose_word(m.group(0))]
    breaks += [m.span() for m in re.finditer(r"\n+|(?<!\S)(?:a|I)(?!\S)", masked)]  # in prose, a lone a or I is a word
    position = 0
    for start, end in sorted(breaks) + [(len(masked), len(masked))]:
        run = masked[position:start].strip(_RUN_PUNCTUATION)
        if run and re.search(r"\d|\\[A-Za-z]", run):
            found.append((position, start, _ATTACHED_UNIT.sub("", run).strip()))
        position = max(position, end)
    return sorted(found)


def _last_math(text: str) -> str | None:
    """The answer in prose: the math of the sentence after the last "answer is" / "answer:" (its last piece, or all
    of its pieces when only commas stand between them: `the answer is $12$ and $13$`), else the last math."""
    anchors = list(ANSWER_PHRASE.finditer(text))
    if anchors:
        start = anchors[-1].end()
        end = _SENTENCE_END.search(text, start)
        segment = text[start : end.start() if end else len(text)]
        found = _math_in(segment)
        if found:
            pieces = [found[-1]]
            while len(pieces) < len(found) and re.fullmatch(r"[\s,;$\"']*", segment[found[-len(pieces) - 1][1] : pieces[0][0]]):
                pieces.insert(0, found[-len(pieces) - 1])
            return ", ".join(math.strip() for _, _, math in pieces)
    found = _math_in(text)
    return found[-1][2].strip() if found else None


def read_answer(text: str, prose: bool = True) -> Reading:
    """The reading of one answer (a box's content or a gold answer): canonical text with units, degrees and a
    percent sign (recorded) taken off the end; the last math when it is prose; a list is left whole for its parts
    to be read one by one."""
    canonical = _canonical(text)
    stripped, percent = _strip_trailing(canonical)
    if re.fullmatch(r"\\?\{.*\\?\}", canonical) and len(split_parts(canonical)) > 1:
        return Reading(_unwrapped(canonical))  # a set: its parts are read one by one
    if prose and _is_prose(stripped):
        found = _last_math(_UNWRAP.sub(r" \1 ", stripped))
        if found is None:
            return Reading(None, percent, "prose with no math")
        inner = read_answer(found, prose=False)
        return Reading(inner.text, percent or inner.percent, f"prose: read {found!r}")
    whole = _unwrapped(canonical)
    if len(split_parts(whole)) > 1:
        return Reading(whole)
    stripped, more_percent = _strip_trailing(_unwrapped(stripped))
    choice = _CHOICE.fullmatch(stripped)
    return Reading(choice.group(1) if choice else stripped, percent or more_percent)


def _unwrapped(text: str) -> str:
    return re.sub(r"\s+", " ", _UNWRAP.sub(r"\1", text).replace("$", "")).strip()


def parts_of(reading: Reading) -> list[Reading]:
    """The parts of a list answer, each read on its own; a single answer is its own one part."""
    parts = split_parts(reading.text) if reading.text else []
    return [read_answer(p) for p in parts] if len(parts) > 1 else [reading]


def _squash(text: str) -> str:
    """Spaces out, except between two digits (they separate numbers: `4 4/9` is not `44/9`); lower case."""
    return re.sub(r"(?<!\d) | (?!\d)", "", text).lower()


def answer_key(answer: str) -> str:
    """Answers that read the same get the same key (distinct boxes, majority votes)."""
    reading = read_answer(answer, prose=False)
    return _squash(reading.text or "") + ("%" if reading.percent else "")


def split_parts(text: str) -> list[str]:
    """Top-level comma-separated parts (outside brackets), also inside set braces `{1, 2}`; a number with thousands
    separators is one part."""
    if re.fullmatch(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?", text):
        return [text]
    braced = re.fullmatch(r"\\?\{(.*)\\?\}", text)
    inner = _top_level_parts(braced.group(1)) if braced else []
    return inner if len(inner) > 1 else _top_level_parts(text)


def _top_level_parts(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


# --- Exact arithmetic on numbers: integers, decimals, fractions, mixed numbers, powers, e-notation. ---
_THOUSANDS = re.compile(r"(?<![\d.,/])([1-9]\d{0,2})((?:,\d{3})+|(?: \d{3})+)(?![\d/]|,\d)")
_TOKENS = re.compile(
    r"\s*(?:"
    r"(?P<mixed>(?<![\d./])\d+ \d+/\d+(?![\d./]))"  # 4 4/9
    r"|(?P<latexmixed>(?<![\d./])\d+ ?\\frac(?:\{\d+\}\{\d+\}|\d\d))"  # 2\frac{1}{3}, 1\frac12
    r"|(?P<repeating>\d*\.\d*\\overline\{\d+\})"  # 0.\overline{3}
    r"|(?P<scientific>(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d+)"  # 3.2e5
    r"|(?P<number>\d+\.\d*|\.\d+|\d+)"
    r"|(?P<op>\\frac|\\cdot|\\times|\\div|[-+*/^(){}])"
    r")"
)
_NUMBER_CHARACTERS = re.compile(r"[\d\s./+-]+")


class _NotExact(Exception):
    pass


@dataclass(frozen=True)
class Exact:
    value: Fraction
    decimal: bool  # written with a decimal point or e-notation somewhere
    literal: str | None = None  # the text, when it is one plain decimal (for the rounding rule)


MALFORMED = "malformed"


def _mixed(whole: str, numerator: str, denominator: str) -> Fraction:
    """A mixed number's value; only proper fractions make one (`11 7/6` has none, `4 4/0` neither)."""
    n, d = int(numerator), int(denominator)
    if d == 0 or n >= d:
        raise _NotExact
    return int(whole) + Fraction(n, d)


def exact_number(text: str) -> Exact | str | None:
    """The exact value of arithmetic on numbers; MALFORMED when the text is only digits, spaces and signs but no
    number (`2 3`, `11 6/6`, `4 4/0`); None otherwise. Exact, so 1/2^99 differs from 1/2^98."""
    text = _THOUSANDS.sub(lambda m: m.group(1) + re.sub("[ ,]", "", m.group(2)), text.strip())
    tokens, position = [], 0
    while position < len(text):
        match = _TOKENS.match(text, position)
        if not match or match.end() == position:
            return MALFORMED if _NUMBER_CHARACTERS.fullmatch(text) else None
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    state = {"i": 0, "decimal": False}

    def peek():
        return tokens[state["i"]][1] if state["i"] < len(tokens) else None

    def take(expected=None):
        if state["i"] >= len(tokens) or (expected is not None and tokens[state["i"]][1] != expected):
            raise _NotExact
        state["i"] += 1
        return tokens[state["i"] - 1]

    def atom() -> Fraction:
        kind, token = take()
        if token in ("(", "{"):
            value = expr()
            take(")" if token == "(" else "}")
            return value
        if token == "\\frac":
            numerator = braced_or_digit()
            denominator = braced_or_digit()
            if denominator == 0:
                raise _NotExact
            return numerator / denominator
        if token in ("-", "+"):
            value = power()
            return -value if token == "-" else value
        if kind == "mixed":
            whole, fraction = token.split(" ")
            return _mixed(whole, *fraction.split("/"))
        if kind == "latexmixed":
            whole, fraction = token.replace(" ", "").split("\\frac")
            return _mixed(whole, *(re.findall(r"\d+", fraction) if "{" in fraction else fraction))
        if kind == "repeating":
            state["decimal"] = True
            head, repeat = token[: -len("}")].split("\\overline{")
            whole, _, fixed = head.partition(".")
            base = Fraction(int(whole or 0)) + (Fraction(int(fixed), 10 ** len(fixed)) if fixed else 0)
            return base + Fraction(int(repeat), (10 ** len(repeat) - 1) * 10 ** len(fixed))
        if kind == "scientific":
            state["decimal"] = True
            mantissa, exponent = re.split("[eE]", token)
            if abs(int(exponent)) > MAX_EXACT_DIGITS:
                raise _NotExact
            return Fraction(mantissa) * Fraction(10) ** int(exponent)
        if kind == "number":
            state["decimal"] = state["decimal"] or "." in token
            return Fraction(token)
        raise _NotExact

    def braced_or_digit() -> Fraction:
        if peek() == "{":
            return atom()
        kind, token = take()  # \frac12: single digits
        if kind != "number" or not token.isdigit():
            raise _NotExact
        if len(token) > 1:  # "\frac12" tokenises as "12": the first digit is the numerator, the rest is pushed back
            tokens.insert(state["i"], ("number", token[1:]))
            token = token[0]
        return Fraction(int(token))

    def power() -> Fraction:
        base = atom()
        if peek() == "^":
            take()
            exponent = atom() if peek() in ("{", "(") else Fraction(take()[1])
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
            op = take()[1]
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
            op = take()[1]
            right = term()
            value = value + right if op == "+" else value - right
        return value

    try:
        value = expr()
        if state["i"] != len(tokens):
            raise _NotExact
    except (_NotExact, ZeroDivisionError):
        return MALFORMED if _NUMBER_CHARACTERS.fullmatch(text) else None
    except (ValueError, OverflowError, RecursionError):  # too many digits or too deep to evaluate here
        return None
    plain = re.fullmatch(r"[+-]?(\d*)\.(\d+)", text)
    return Exact(value, state["decimal"], text if plain else None)


def _rounds_to(literal: str, value) -> bool:
    """A decimal with at least 6 digits after the point and 6 significant digits stands for `value` when it is
    within one unit of its last digit (rounded or truncated): 0.333333 is 1/3, 0.333 and 3.14159 are not."""
    places = len(literal.partition(".")[2])
    significant = len(re.sub(r"^0+", "", re.sub(r"\D", "", literal)))
    return places >= 6 and significant >= 6 and abs(Fraction(literal) - value) < Fraction(1, 10**places)


def _compare_numbers(gold: Exact, pred: Exact, gold_percent: bool, pred_percent: bool, gold_text: str) -> tuple[str, str, str]:
    if gold_percent != pred_percent:
        # A percent is hundredths: 28% is 7/25. The number of percent also stands when the other side is written as
        # that number (gold 20 for "what percent", or a gold 5% answered 5); a gold fraction is a value, not a count.
        scaled_gold = gold.value / 100 if gold_percent else gold.value
        scaled_pred = pred.value / 100 if pred_percent else pred.value
        plain_gold = gold_percent or re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", gold_text) is not None
        same = scaled_gold == scaled_pred or (plain_gold and gold.value == pred.value)
        return ("correct" if same else "wrong"), "percent", "a percent is compared as hundredths and as its number"
    if gold.value == pred.value:
        rule = "exact_integer" if gold.value.denominator == 1 and not (gold.decimal or pred.decimal) else "exact_rational"
        return "correct", rule, "equal as exact numbers"
    for decimal, other in ((pred, gold), (gold, pred)):
        if decimal.literal and not other.decimal:
            same = _rounds_to(decimal.literal, other.value)
            return ("correct" if same else "wrong"), "decimal_rounding", f"{decimal.literal} against an exact {other.value}"
    rule = "exact_integer" if gold.value.denominator == pred.value.denominator == 1 else "exact_rational"
    return "wrong", rule, "different exact numbers (no float tolerance between exact values)"


# --- math-verify ---
_CONFIG = None
_gold_cache: dict[str, object] = {}


def _extraction_config():
    global _CONFIG
    if _CONFIG is None:
        from math_verify import LatexExtractionConfig

        _CONFIG = [LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)]
    return _CONFIG


def _parse(text: str) -> list:
    from math_verify import parse

    return parse("\\boxed{" + text + "}", extraction_config=_extraction_config(), parsing_timeout=None)


def _names_something(side) -> bool:
    """The left side of an assignment names a quantity: variables (`x`, `x_1`, `AB`, `x + y`, `(x, y)`), an undefined
    function (`f(x)`, `f^{-1}(x)`, `P(A)`) or its absolute value; no numbers (`3x`), powers (`x^2`) or known
    functions (`\\sin\\theta`)."""
    from sympy import Abs, Add, Mul, Pow, Symbol, Tuple
    from sympy.core.function import AppliedUndef

    if isinstance(side, (Symbol, AppliedUndef)):
        return True
    if isinstance(side, Pow):
        return side.exp == -1 and isinstance(side.base, AppliedUndef)  # f^{-1}(x) parses as 1/f(x)
    return isinstance(side, (Add, Mul, Abs, Tuple)) and all(_names_something(a) for a in side.args)


def _equation_for_value(gold, pred) -> bool:
    """math-verify compares an equation with a value by its right-hand side. Only an assignment may do that (`x = 5`
    for 5) or a computation whose right side is its result (`2 + 2 = 4`); `2x + 3 = 12` for 12 or `\\sin\\theta = 3/4`
    for 3/4 may not."""
    from sympy import Eq
    from sympy.core.relational import Relational

    if not isinstance(pred, Eq) or isinstance(gold, Relational):
        return False
    return not (_names_something(pred.lhs) or not getattr(pred.lhs, "free_symbols", True))


def _imaginary_unit(gold: list, pred: list) -> tuple[list, list]:
    """math-verify reads `i` as a variable; when it is the only letter on both sides it is the imaginary unit
    (`i(2-i)` is 1+2i, `i^2` is -1)."""
    from sympy import I

    try:
        symbols = gold[0].free_symbols | pred[0].free_symbols
    except (AttributeError, TypeError):
        return gold, pred
    if not symbols or {s.name for s in symbols} != {"i"}:
        return gold, pred
    unit = {s: I for s in symbols}
    return [gold[0].subs(unit), *gold[1:]], [pred[0].subs(unit), *pred[1:]]


def _decimal_against_number(literal: str, other) -> bool | None:
    """The rounding rule for a plain decimal against a number math-verify evaluated (`\\sqrt{3}/2`); None when the
    other side is not a number."""
    from sympy import Float

    try:
        if not getattr(other, "is_number", False) or isinstance(other, Float) or other.is_real is False:
            return None
        return _rounds_to(literal, Fraction(str(other.evalf(40))))
    except (TypeError, ValueError, ArithmeticError):
        return None


def _math_verify(gold_text: str, pred_text: str, pred_exact) -> tuple[str, str, str]:
    from math_verify import verify

    if gold_text not in _gold_cache:
        if len(_gold_cache) > 4096:
            _gold_cache.clear()
        _gold_cache[gold_text] = _parse(gold_text)
    gold = _gold_cache[gold_text]
    if not gold:
        return "unparseable_gold", "unparseable_gold", "math-verify could not parse the gold answer"
    pred = _parse(pred_text)
    if not pred:
        return "wrong", "unparseable_answer", "math-verify could not parse the answer"
    if _equation_for_value(gold[0], pred[0]):
        return "wrong", "equation_for_value", "an equation whose left side is not a variable, against a value"
    gold, pred = _imaginary_unit(gold, pred)
    gold_exact = exact_number(gold_text)
    for decimal, other in ((pred_exact, gold[0]), (gold_exact, pred[0])):
        if isinstance(decimal, Exact) and decimal.literal:
            same = _decimal_against_number(decimal.literal, other)
            if same is not None:
                return ("correct" if same else "wrong"), "decimal_rounding", f"{decimal.literal} against {other}"
    same = verify(gold, pred, timeout_seconds=None, allow_set_relation_comp=True)
    return ("correct" if same else "wrong"), "math_verify", "math-verify"


# --- Comparisons ---
_INTEGER = re.compile(r"[+-]?\d+")


def _digits(text: str) -> str:
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-").lstrip("0") or "0"
    return ("" if digits == "0" else sign) + digits


def _decimal_comma(comma: str, point: str) -> bool:
    """`1,22` is the list 1, 22 (MATH writes lists like `8,12`), but against `1.22` it can only be a decimal comma:
    the same digits, the comma where the other has its point (and not a thousands separator, as in `1,000`)."""
    return (
        re.fullmatch(r"[+-]?\d+,\d+", comma) is not None
        and re.fullmatch(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+", comma) is None
        and comma.replace(",", ".") == point
    )


def _integer_verdict(gold: str, pred: str) -> tuple[str, str, str]:
    """Integers of any length, compared as digit strings (no int() limit, no sympy)."""
    same = _digits(gold) == _digits(pred)
    return ("correct" if same else "wrong"), "exact_integer", "integers compared digit by digit"


# A factorial of a number small enough to compute exactly (20000! has 77,338 digits): a fine gold answer ("100!").
_FACTORIAL = re.compile(r"\s*\(?\s*(\d{1,5})\s*\)?\s*!\s*")
MAX_FACTORIAL = 20_000


def factorial_digits(text: str) -> str | None:
    """The digits of `N!` when the text is one factorial of N <= MAX_FACTORIAL, else None."""
    found = _FACTORIAL.fullmatch(text)
    if found is None or int(found.group(1)) > MAX_FACTORIAL:
        return None
    import math

    return str(math.factorial(int(found.group(1))))


def compare_one(gold: Reading, pred: Reading) -> tuple[str, str, str]:
    """(status, rule, detail) for one gold reading against one answer reading."""
    if gold.text is None:
        return "unparseable_gold", "unparseable_gold", f"no math in the gold answer ({gold.note})"
    if pred.text is None:
        return "wrong", "prose_without_math", pred.note
    gold_factorial, pred_factorial = factorial_digits(gold.text), factorial_digits(pred.text)
    if (gold_factorial or pred_factorial) and gold.percent == pred.percent:
        gold_value, pred_value = gold_factorial or gold.text, pred_factorial or pred.text
        if _INTEGER.fullmatch(gold_value) and _INTEGER.fullmatch(pred_value):
            return _integer_verdict(gold_value, pred_value)
    if gold.percent == pred.percent and _INTEGER.fullmatch(gold.text) and _INTEGER.fullmatch(pred.text):
        return _integer_verdict(gold.text, pred.text)
    if _squash(gold.text) == _squash(pred.text) and gold.percent == pred.percent:
        return "correct", "same_text", "the same answer after normalisation"
    if _decimal_comma(gold.text, pred.text) or _decimal_comma(pred.text, gold.text):
        return "correct", "decimal_comma", "the same digits, with a comma where the other has its decimal point"
    gold_parts, pred_parts = parts_of(gold), parts_of(pred)
    if len(gold_parts) > 1 and len(pred_parts) > 1:
        return compare_lists(gold_parts, pred_parts)
    gold_exact, pred_exact = exact_number(gold.text), exact_number(pred.text)
    for one, many in ((gold_exact, pred_parts), (pred_exact, gold_parts)):
        if isinstance(one, Exact) and len(many) > 1 and all(isinstance(exact_number(p.text or ""), Exact) for p in many):
            # A comma is never a decimal point: `1,22` is the list 1, 22 and not 1.22.
            return "wrong", "answer_list", f"a list of {len(many)} numbers against one number"
    if pred_exact == MALFORMED:
        return "wrong", "malformed_number", f"{pred.text!r} is no number (digits apart are not one number)"
    if isinstance(gold_exact, Exact) and isinstance(pred_exact, Exact):
        return _compare_numbers(gold_exact, pred_exact, gold.percent, pred.percent, gold.text)
    if _GUARD_HUGE.search(gold.text) or _GUARD_HUGE.search(pred.text):
        return "wrong", "too_large", "too large to evaluate symbolically, and not equal as text"
    if gold.percent != pred.percent:
        return "wrong", "percent", "a percent against a value that is not a number"
    return _math_verify(gold.text, pred.text, pred_exact)


def compare_lists(gold: list[Reading], pred: list[Reading]) -> tuple[str, str, str]:
    """Lists of answers are sets: they match when each distinct gold part matches a different distinct answer part,
    in any order (MATH's lists are "enter all solutions, separated by commas"), with none left over. Lists of
    different lengths go to math-verify whole (`p=5, q=2; p=7, q=2` against `(5, 2), (7, 2)`)."""
    gold = list({answer_key(g.text or ""): g for g in gold}.values())
    pred = list({answer_key(p.text or ""): p for p in pred}.values())
    if len(gold) != len(pred):
        if any(g.text is None for g in gold) or any(p.text is None for p in pred):
            return "wrong", "answer_list", f"{len(pred)} answers for {len(gold)} gold parts"
        return _math_verify(", ".join(g.text for g in gold), ", ".join(p.text for p in pred), None)
    unused = list(range(len(pred)))
    for part in gold:
        match = next((j for j in unused if compare_one(part, pred[j])[0] == "correct"), None)
        if match is None:
            return "wrong", "answer_list", f"no answer matches the gold part {part.text!r}"
        unused.remove(match)
    return "correct", "answer_list", f"{len(gold)} parts, each matched"


_gold_readings: dict[str, list[Reading]] = {}


def gold_readings(gold: str) -> list[Reading]:
    """The readings of a gold answer. One that is a worked solution holds boxes: its distinct boxes are the gold."""
    if gold not in _gold_readings:
        if len(_gold_readings) > 4096:
            _gold_readings.clear()
        boxes = list(dict.fromkeys(b.strip() for b in boxed_contents(gold) if b.strip())) if "box" in gold else []
        _gold_readings[gold] = [read_answer(b) for b in boxes] if boxes else [read_answer(gold)]
    return _gold_readings[gold]


def compare(gold: str, answers: tuple[str, ...] | None) -> tuple[str, str, str]:
    """(status, rule, detail) for a gold answer and the distinct boxed answers of a response. With no answers, only
    checks that the gold answer can be graded against."""
    if answers is not None and len(answers) == 1 and _INTEGER.fullmatch(gold) and _INTEGER.fullmatch(answers[0]):
        return _integer_verdict(gold, answers[0])
    golds = gold_readings(gold)
    if answers is None:
        return check_gold(golds)
    preds = [read_answer(a) for a in answers]
    if len(golds) == 1 and len(preds) == 1:
        return compare_one(golds[0], preds[0])
    gold_parts = [part for g in golds for part in parts_of(g)]
    if len(gold_parts) > 1:
        # A multi-part gold answered part by part, one box each: together the boxes are the answer.
        return compare_lists(gold_parts, [part for p in preds for part in parts_of(p)])
    verdicts = [compare_one(gold_parts[0], p) for p in preds]
    if all(v[0] == "correct" for v in verdicts):
        return "correct", "every_box", f"{len(preds)} boxes, each the gold answer ({verdicts[0][1]})"
    shown = "; ".join(answers)[:200]
    return "ambiguous", "ambiguous_boxes", f"{len(preds)} different boxed answers for a one-part gold answer: {shown}"


def check_gold(golds: list[Reading]) -> tuple[str, str, str]:
    """Whether a gold answer can be used for grading at all: numbers, guarded giants, or a math-verify parse."""
    for gold in golds:
        if gold.text is None:
            return "unparseable_gold", "unparseable_gold", f"no math in the gold answer ({gold.note})"
        for part in split_parts(gold.text):
            if isinstance(exact_number(part), Exact) or factorial_digits(part) is not None:
                continue
            if _GUARD_HUGE.search(part):
                return "unparseable_gold", "too_large", "too large to evaluate symbolically"
            if not _parse(part):
                return "unparseable_gold", "unparseable_gold", "math-verify could not parse it"
    return "correct", "gold_usable", "every part is a number or parses"


# --- The boxed answers of a response's answer part: one pass over the text, however its boxes nest ---
MAX_ANSWER_CHARS = 20000
# Math that continues a box makes the box part of a larger expression: `\boxed{12}\sqrt{3}`, `4\boxed{3}`, `2^\boxed{3}`.
_CONTINUES_AFTER = re.compile(r"\s*(?:[\w^_({\[*/]|\\(?!(?:text|mbox|quad|qquad|end|right|hspace|pmod)(?![A-Za-z]))[A-Za-z])")


def _continues_before(text: str, lo: int, position: int) -> bool:
    """Whether the math just before `position` (not before `lo`) continues into a box there: a word character or `}`
    right before it, or an operator (`^ _ { ( * /`) before it and any spaces. Scans back over the spaces only."""
    end = position
    while end > lo and text[end - 1].isspace():
        end -= 1
    if end == lo:
        return False
    before = text[end - 1]
    return before in "^_{(*/" or (end == position and (before.isalnum() or before in "_}"))


def _inner_answers(text: str, box: Box) -> list[Box] | None:
    """A box that holds boxes (a whole solution in a box): the inner boxes are its answers when each stands alone.
    None when the whole, with the inner frames taken off, is the answer: when an inner box is part of a larger
    expression (`\\boxed{\\boxed{12}\\sqrt{3}}` is 12\\sqrt{3}, never 12) or when the text names its answer after the
    last one."""
    if ANSWER_PHRASE.search(text, box.children[-1].end, box.inner_end):
        return None  # "... the final answer is X" after the last inner box: the boxes were steps
    for child in box.children:
        if _CONTINUES_AFTER.match(text, child.end, box.inner_end) or _continues_before(text, box.inner_start, child.start):
            return None
    return box.children


def boxed_answers(part: str) -> list[str]:
    """The distinct non-empty boxed answers of an answer part, in order (a repeated answer counts once). Never
    unanchored: text outside boxes is not read. Linear in the length of the part."""
    found: list[str] = []
    pending = list(reversed(box_tree(part)))
    while pending:
        box = pending.pop()
        inner = _inner_answers(part, box) if box.children else None
        if inner is not None:
            pending.extend(reversed(inner))
            continue
        answer = (unboxed(part, box) if box.children else part[box.inner_start : box.inner_end]).strip()
        if answer:
            found.append(answer)
    if len(found) < 2:
        return found
    distinct: dict[str, str] = {}
    for answer in found:
        distinct.setdefault(answer_key(answer), answer)
    return list(distinct.values())


def grade_response(gold: str, part: str) -> tuple[str, str, str, str | None]:
    """(status, rule, detail, extracted) for a response's answer part against a gold answer."""
    answers = boxed_answers(part)
    extracted = ", ".join(answers)[:MAX_ANSWER_CHARS] if answers else None
    if not gold:
        return "unparseable_gold", "empty_gold", "empty gold answer", extracted
    if not answers:
        if box_tree(part):
            return "no_answer", "empty_box", "every \\boxed{} in the answer part is empty", None
        return "no_answer", "no_box", "no \\boxed{} in the answer part", None
    too_long = [a for a in answers if len(a) > MAX_ANSWER_CHARS and not a.lstrip("+-").isdigit()]  # long integers are text
    if too_long:
        return "wrong", "answer_too_long", f"answer longer than {MAX_ANSWER_CHARS} characters", too_long[0][:200]
    return (*compare(gold, tuple(answers)), extracted)


READY = "ready"  # the first message of a worker: it has imported and warmed math-verify, so items are timed from now
WARM_UP = (("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"), ("x^2+2x+1", "(x+1)^2"), ("[0, 1)", "[0,1)"))
MEMORY_BYTES = 8 << 30  # a worker's address space: an item that builds a giant expression fails alone (MemoryError)


def serve(conn) -> None:
    """Worker loop: warm up and say READY, then receive batches [(index, gold, part)] and answer (index, status,
    rule, detail, extracted) item by item. `part` is a response's answer part, or None to check the gold answer."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    sys.set_int_max_str_digits(100_000)
    for gold, answer in WARM_UP:
        compare(gold, (answer,))
    conn.send(READY)
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        if batch is None:
            return
        for index, gold, part in batch:
            try:
                if part is None:
                    status, rule, detail, extracted = (*compare(gold, None), gold)
                else:
                    status, rule, detail, extracted = grade_response(gold, part)
            except Exception as exc:  # a math-verify/sympy failure on one item must not kill the worker
                status, rule, detail, extracted = "error", "error", f"{type(exc).__name__}: {str(exc)[:200]}", None
            conn.send((index, status, rule, detail, extracted))


if __name__ == "__main__":
    import resource
    from multiprocessing.connection import Connection

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    receiver, sender = Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)

    class _Duplex:
        recv, send = receiver.recv, sender.send

    serve(_Duplex())
