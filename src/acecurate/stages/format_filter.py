"""Rule filters for problem formats the recipe cannot verify or should not train on. Each rule has its own reason code,
and each removal's evidence quotes the text that triggered it. The rules were measured on a labelled audit set
(benchmarks/curation_accuracy.py).

Math: multiple choice (lettered options in any layout, "enter the letter", a closed list of allowed answers), proofs
(only where the task is to prove), multi-part questions (several parts that each ask), yes/no and true/false answers,
figures (only where the figure is said to show what the text does not give), non-English text, too-brief statements,
missing answers, and answers too long to check (counted in tokens of content, not LaTeX source).
Code: interactive problems, special judges (several outputs accepted; a fixed tie-break is not), statements that
refer to an image for their meaning, too few tests. Problems that accept their output in any order are kept and their
tests get `"compare": "unordered"` (the sandbox compares such outputs as multisets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import setting
from ..stage import StageResult, split_by_reason, stage
from ..suites import count_tests, mark_unordered
from ..text import ASY_BLOCK, fractions_as_slashes, snippet, tokenize

_DRAWING = re.compile(r"\[asy\]|\\begin\{(?:array|tabular|matrix)\}", re.IGNORECASE)
_LATEX = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+", re.DOTALL)

# Multiple choice. Lettered options: (A) ... (B) ... (C), \textbf{(A)}, "A. ..." lines, (a) ... (b) ... (c).
_UPPER_OPTIONS = re.compile(r"\(\s*A\s*\).{0,400}?\(\s*B\s*\).{0,400}?\(\s*C\s*\)", re.DOTALL)
_LOWER_OPTIONS = re.compile(r"\(a\).{0,400}?\(b\).{0,400}?\(c\)", re.DOTALL)
_LINE_OPTIONS = re.compile(r"(?:^|\s)A[.)]\s+\S.{0,300}?\sB[.)]\s+\S.{0,300}?\sC[.)]\s+\S", re.DOTALL)
# Phrases that make the reader choose from given options.
_CHOOSE = re.compile(
    r"\bwhich of the following\b|\b(?:the|following|these) answer choices\b|\benter the letters?\b|\b(?:select|choose|circle) the (?:correct|right|best) "
    r"(?:answer|option)|\bletters? of the (?:correct|true|valid)\b|\blabels? of the statements?\b"
    r"|\benter\s+[\"'`]+[^\"'`\n]{1,20}[\"'`]+\s*(?:,\s*(?:or\s+)?[\"'`]+[^\"'`\n]{1,20}[\"'`]+\s*)+"  # Enter "odd", "even", or "neither"
    r"|\benter\s+[\"'`]+[A-Z][\"'`]+\s+(?:for|if)\b",  # Enter "C" for circle, "P" for parabola, ...
    re.IGNORECASE,
)
_LETTER_ANSWER = re.compile(r"^\s*(?:\\(?:text|textbf|mathrm)\s*\{)?\s*\(?\s*[A-Ea-e]\s*\)?(?:\s*,\s*\(?[A-Ea-e]\)?)*\s*\}?\s*\.?\s*$")

# Proof: the task is to prove (an imperative at the start of a sentence), not a counting question that says "show".
_PROOF = re.compile(
    r"(?:^|[.!?:;]\s+|\n\s*|\(\w{1,3}\)\s*)(?:prove|show|demonstrate|verify)\s+(?:that|why|how)\b|\b(?:give|write) a proof\b|\bprove\s+(?:it|this)\b",
    re.IGNORECASE,
)
# Enumerated parts: (a) (b), (i) (ii), (1) (2), a) b). A part is a sub-question when it asks something itself.
_PART_MARKER = re.compile(r"(?:^|(?<=\s))\((?:[a-d]|i{1,3}|iv|[1-4])\)\s|^\s*(?:[a-d]|[1-4])[.)]\s", re.IGNORECASE | re.MULTILINE)
_ASKS = re.compile(
    r"\?|(?:^|[.!;:]\s+|\n)\s*(?:find|compute|determine|calculate|evaluate|show|prove|express|simplify|solve|what|how many|list|give)\b",
    re.IGNORECASE,
)
_YES_NO_ANSWER = re.compile(r"^\s*(?:\\text\{)?\s*(?:yes|no|true|false|correct|incorrect)\s*\}?\s*[.!]?\s*$", re.IGNORECASE)
_TRUE_FALSE_PROMPT = re.compile(
    r"(?i:\btrue or false\b|\bdetermine whether\b|\bdecide whether\b)|(?:^|[.?!]\s+)Is (?:it|this|the statement) (?:true|possible)\b"
)
# A figure is needed when the text says the figure shows something ("as shown", "shown below", "the diagram shows",
# "in the diagram below"); "In the diagram, ..." followed by a full description, or "(see the figure below)", is not.
_FIGURE = re.compile(
    r"\b(?:shown|pictured|depicted|illustrated)\s+(?:\w+\s+){0,2}(?:in|below|above|here|at (?:the )?(?:right|left))\b"
    r"|\bas shown\b|\b(?:figure|diagram|picture)s?\s+(?:below|above|at (?:the )?right)\b"
    r"|\bthe (?:figure|diagram|picture|graph) (?:below |above )?shows\b"
    r"|\b(?:adjoining|accompanying) (?:figure|diagram)\b",
    re.IGNORECASE,
)
_SEE_ALSO = re.compile(r"\(\s*see\b[^()]*\)", re.IGNORECASE)
# Answers are measured by their content tokens: LaTeX structure (\frac, \left, \begin{pmatrix}, ...) is free.
_ANSWER_STRUCTURE = frozenset(
    [
        "frac",
        "dfrac",
        "tfrac",
        "left",
        "right",
        "begin",
        "end",
        "pmatrix",
        "bmatrix",
        "vmatrix",
        "matrix",
        "array",
        "text",
        "mathrm",
        "textbf",
        "displaystyle",
        "cdot",
        "quad",
    ]
)

_INTERACTIVE = re.compile(
    r"\binteractive problem\b|\bthis is an interactive\b|\bflush the output\b|\bfflush\b|\bsys\.stdout\.flush\b"
    r"|\binteractor\b|\bafter printing a query\b",
    re.IGNORECASE,
)
# Several outputs accepted. A fixed tie-break ("if there are multiple answers, return the lexicographically smallest")
# is not a special judge: the tests hold the one answer.
_SPECIAL_JUDGE = re.compile(
    r"\b(?:print|output|return|find|report|construct)\s+any\b(?!\s+(?:order\b|case\b|of the following\b))"
    r"|\b(?:print|output|return|find)\s+(?:one|an?)\s+(?:such|valid|possible|suitable)\b"
    r"|\bany\s+(?:of\s+(?:them|these|those)\s+|such\s+|valid\s+|correct\s+|possible\s+|optimal\s+)?(?:answers?|solutions?|outputs?|"
    r"sequences?|arrays?|strings?|permutations?|ones?|of them|of these)\s+(?:is|are|will\s+be|would\s+be)\s+(?:considered\s+)?"
    r"(?:correct|accepted|acceptable|fine|ok)\b"
    r"|\bif\s+there\s+(?:are|exist|is)\s+(?:several|multiple|many|more than one)\b[^.]{0,80}?\b(?:print|output|return|find)\s+"
    r"(?:any|either)\b"
    r"|\b(?:multiple|several) (?:possible |valid |correct )?(?:answers|solutions) (?:exist|are possible),? (?:print|output|return) any\b"
    r"|\bspecial judge\b",
    re.IGNORECASE,
)
# "Return the answer in any order": several outputs accepted, all equal as multisets.
_ANY_ORDER = re.compile(
    r"\b(?:return|print|output|answer|result|returned|printed|output)\b[^.\n]{0,80}?\bin any order\b"
    r"|\bin any order\b[^.\n]{0,40}?\b(?:return|print|output|answer)\b|\border (?:of the (?:output|answer|elements) )?does not matter\b",
    re.IGNORECASE,
)
# The statement refers to an image for its meaning ("in diagonal order as shown in the below images"); images that only
# illustrate the examples do not count, nor anything after the examples start.
_IMAGE_NEEDED = re.compile(
    r"\bas (?:shown|illustrated|depicted) (?:in|on|by) (?:the )?(?:below |above |following )?(?:images?|pictures?|figures?|diagrams?|illustrations?)\b"
    r"|\bas shown (?:below|above)\b",
    re.IGNORECASE,
)
_EXAMPLES_START = re.compile(r"^\s*(?:Sample Input|Examples?|Input|Explanation|Note|Constraints)\b", re.IGNORECASE | re.MULTILINE)


def non_english_share(text: str) -> float:
    """Share of letters outside ASCII, after removing LaTeX (whose Greek letters and symbols are not language)."""
    letters = [c for c in _LATEX.sub(" ", text) if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if not c.isascii()) / len(letters)


def asks_several_questions(text: str) -> str | None:
    """The parts, when at least two enumerated parts each ask something themselves ("(a) Find x. (b) What is y?"). The
    question after the last part belongs to the whole problem, not to that part."""
    markers = list(_PART_MARKER.finditer(text))
    if len(markers) < 2:
        return None
    parts = [text[m.end() : markers[i + 1].start() if i + 1 < len(markers) else len(text)] for i, m in enumerate(markers)]
    last = parts[-1]
    end_of_first_sentence = re.search(r"[.;]\s", last)
    parts[-1] = (
        last[: end_of_first_sentence.end()] if end_of_first_sentence and _ASKS.search(last[: end_of_first_sentence.end()]) is None else last
    )
    asking = [m.group(0).strip() + " " + snippet(p, 40) for m, p in zip(markers, parts) if _ASKS.search(p)]
    return "; ".join(asking) if len(asking) >= 2 else None


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z]+|\d+", _LATEX.sub(" x ", text)))


def answer_tokens(answer: str) -> int:
    """The size of an answer's content: tokens without LaTeX structure, so a 3x3 matrix of fractions is 9-18 tokens."""
    return sum(1 for t in tokenize(answer) if t not in _ANSWER_STRUCTURE)


def _contains(haystack: list[str], needle: list[str]) -> bool:
    return bool(needle) and any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def multiple_choice(prose: str, answer: str) -> str | None:
    """Evidence that a math problem is multiple choice: a choice phrase, or lettered options that the gold answer picks
    (a letter, or the text of one option). Letters that label conditions ("(A) the first two digits are ...") are not
    options when the answer is none of them."""
    if phrase := _CHOOSE.search(prose):
        return f"matched {snippet(phrase.group(0), 80)!r}"
    options = _UPPER_OPTIONS.search(prose) or _LINE_OPTIONS.search(prose) or _LOWER_OPTIONS.search(prose)
    if options is None:
        return None
    if _LETTER_ANSWER.match(answer):
        return f"options {snippet(options.group(0), 80)!r} and the answer {answer!r} is a letter"
    if _contains(tokenize(fractions_as_slashes(prose[options.start() :])), tokenize(fractions_as_slashes(answer))):
        return f"options {snippet(options.group(0), 80)!r} and the answer {snippet(answer, 40)!r} is one of them"
    return None


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


_BOOLEAN_OUTPUT = re.compile(r"\breturn (?:true|false)\b|\bprint (?:yes|no)\b", re.IGNORECASE)


def special_judge(problem: str) -> str | None:
    """Evidence that several outputs are accepted. "Find any substring ... Return true if one exists" asks whether one
    exists: the output is a yes/no, so "find any" alone does not count there."""
    for found in _SPECIAL_JUDGE.finditer(problem):
        if found.group(0).lower().startswith("find") and _BOOLEAN_OUTPUT.search(problem):
            continue
        return f"matched {snippet(found.group(0), 80)!r}"
    return None


def figure_needed(problem: str) -> str | None:
    """Evidence that the problem needs a figure it lacks: a reference saying the figure shows something, with no
    drawing in the text, and (for "shown below"/"above") no list of values on that side of the reference, which would
    be what is shown ("The first 20 numbers are shown below. Row 1: 2, 2 ...")."""
    if _DRAWING.search(problem):
        return None
    text = _SEE_ALSO.sub(" ", problem)
    for found in _FIGURE.finditer(text):
        phrase = found.group(0).lower()
        side = text[found.end() :] if "below" in phrase else text[: found.start()] if "above" in phrase else ""
        if len(_NUMBER.findall(side)) >= 5:
            continue  # the values shown are written out in the text
        return f"matched {snippet(found.group(0), 80)!r}, no drawing in the text"
    return None


MATH_RULES = (
    "mcq",
    "proof",
    "multi_part",
    "yes_no",
    "true_false",
    "figure_reference",
    "non_english",
    "too_brief",
    "missing_answer",
    "answer_too_long",
)
CODE_RULES = ("interactive", "special_judge", "image_statement", "too_few_tests")


def _check_drop(drop: list[str], known: tuple[str, ...], where: str) -> None:
    unknown = [code for code in drop if code not in known]
    if unknown:
        raise ValueError(f"{where}.drop: unknown reason code(s) {unknown} (known: {', '.join(known)})")


@dataclass
class MathFormatConfig:
    drop: list[str] = field(default_factory=lambda: list(MATH_RULES))
    min_words: int = setting(2, 'A LaTeX span counts as one word: "Compute $2^{10}$." has two and stays.')
    max_answer_tokens: int = setting(40, "Content tokens of the gold answer (LaTeX structure is free): a 3x3 matrix of fractions is 18.")
    max_non_english: float = 0.2
    keep_asy: bool = setting(True, "A figure given as [asy] code or an array is in the text, so the problem stays.")

    def __post_init__(self):
        _check_drop(self.drop, MATH_RULES, "math")


def _found(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return f"matched {snippet(match.group(0), 80)!r}" if match else None


def math_reason(problem: str, answer: str | None, config: MathFormatConfig) -> tuple[str, str] | None:
    """(reason code, evidence) for the first rule in `config.drop` that applies (checked in the order below), or None."""
    answer = answer.strip() if isinstance(answer, str) else ""
    prose = ASY_BLOCK.sub(" ", problem)  # drawing code is full of "(A)" and "(B)"
    yes_no = _YES_NO_ANSWER.match(answer)
    checks = {
        "missing_answer": lambda: "no gold answer" if not answer else None,
        "answer_too_long": lambda: (
            f"answer has {count} content tokens (max {config.max_answer_tokens}): {snippet(answer, 80)!r}"
            if (count := answer_tokens(answer)) > config.max_answer_tokens
            else None
        ),
        "non_english": lambda: (
            f"{share:.0%} of letters are not ASCII" if (share := non_english_share(problem)) > config.max_non_english else None
        ),
        "too_brief": lambda: f"{count} word(s)" if (count := word_count(problem)) < config.min_words else None,
        "mcq": lambda: (
            multiple_choice(prose, answer)
            or (
                "the answer is a letter and the drawing labels its options"
                if _LETTER_ANSWER.match(answer) and "enter the letter" in problem.lower()
                else None
            )
        ),
        "yes_no": lambda: f"answer {answer!r}" if yes_no else None,
        "true_false": lambda: _found(_TRUE_FALSE_PROMPT, problem),
        "proof": lambda: _found(_PROOF, prose),
        "multi_part": lambda: f"parts that each ask: {parts}" if (parts := asks_several_questions(prose)) else None,
        "figure_reference": lambda: figure_needed(problem) if config.keep_asy else _found(_FIGURE, problem),
    }
    for code, check in checks.items():
        if code in config.drop and (evidence := check()):
            return code, evidence
    return None


@dataclass
class CodeFormatConfig:
    drop: list[str] = field(default_factory=lambda: list(CODE_RULES))
    min_tests: int = 1
    mark_unordered: bool = setting(True, 'Problems that accept output in any order get "compare": "unordered" in their tests.')

    def __post_init__(self):
        _check_drop(self.drop, CODE_RULES, "code")


def _statement_part(problem: str) -> str:
    """The statement before its examples, notes and constraints."""
    start = _EXAMPLES_START.search(problem)
    return problem[: start.start()] if start else problem


def code_reason(problem: str, tests_json: str | None, config: CodeFormatConfig) -> tuple[str, str] | None:
    """(reason code, evidence) for the first rule in `config.drop` that applies, or None."""
    checks = {
        "interactive": lambda: _found(_INTERACTIVE, problem),
        "special_judge": lambda: special_judge(problem),
        "image_statement": lambda: _found(_IMAGE_NEEDED, _statement_part(problem)),
        "too_few_tests": lambda: (
            f"{count} test(s) (min {config.min_tests})" if (count := count_tests(tests_json)) < config.min_tests else None
        ),
    }
    for code, check in checks.items():
        if code in config.drop and (evidence := check()):
            return code, evidence
    return None


def any_order(problem: str) -> str | None:
    """The phrase saying the output may come in any order, or None."""
    return _found(_ANY_ORDER, problem)


@dataclass
class FormatFilterConfig:
    math: MathFormatConfig = field(default_factory=MathFormatConfig)
    code: CodeFormatConfig = field(default_factory=CodeFormatConfig)


@stage(
    "format-filter",
    FormatFilterConfig,
    requires=("problem", "domain", "answer", "tests"),
    modifies=("tests",),
    example="acecurate format-filter dumps/math.jsonl --set math.max_answer_tokens=60 --out runs/formats",
)
def format_filter(frame, config: FormatFilterConfig, ctx) -> StageResult:
    """Remove problems whose format cannot be verified or trained on (MCQ, proofs, interactive, special judge, ...);
    mark code whose output may come in any order (`"compare": "unordered"` in its tests)."""
    verdicts, unordered = [], []
    rows = zip(frame["domain"], frame["problem"], frame["answer"], frame["tests"])
    for domain, problem, answer, tests in ctx.track(rows, len(frame), "rules"):
        if domain == "math":
            verdicts.append(math_reason(problem, answer, config.math))
            unordered.append(None)
        else:
            verdicts.append(code_reason(problem, tests, config.code))
            unordered.append(any_order(problem) if config.code.mark_unordered and verdicts[-1] is None else None)
    result = split_by_reason(frame, [v[0] if v else None for v in verdicts], [v[1] if v else None for v in verdicts])
    marked = [i for i, phrase in enumerate(unordered) if phrase]
    if marked:
        positions = frame.index[marked]
        result.kept.loc[positions, "tests"] = [mark_unordered(t) for t in frame.loc[positions, "tests"]]
    result.stats["unordered"] = len(marked)
    if (frame["domain"] == "code").any():
        result.report["any order"] = f'{len(marked)} code problems accept their output in any order: tests marked `"compare": "unordered"`'
    return result
