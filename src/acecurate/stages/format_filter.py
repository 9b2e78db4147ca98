"""Rule filters for problem formats the recipe cannot verify or should not train on. Each rule has its own reason code.

Math: multiple choice, proofs, multi-part questions, yes/no and true/false answers, figure references without the
drawing, non-English text, too-brief statements, missing or overlong answers.
Code: interactive problems, special judges (several valid outputs), statements carried by images, too few tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..config import setting
from ..records import test_count
from ..stage import StageResult, split_by_reason, stage
from ..text import snippet

_MCQ = re.compile(
    r"\\textbf\{\s*\(?[A-E]\)?\s*\}|\([A]\)[^\n]{0,300}?\([B]\)|^\s*\(?A[.)]\s+\S[^\n]*\n\s*\(?B[.)]\s"
    r"|(?:^|\s)A\.\s+\S.{0,120}?\sB\.\s+\S.{0,120}?\sC\.\s+\S.{0,120}?\sD\.\s|(?i:\bwhich of the following\b|\banswer choices\b)",
    re.MULTILINE | re.DOTALL,
)
_PROOF = re.compile(r"\b(?:prove|show that|demonstrate that|give a proof|justify your answer)\b", re.IGNORECASE)
# Enumerated parts: (a) (b), (i) (ii), (1) (2), a) b). A part is a sub-question when it asks something itself.
_PART_MARKER = re.compile(r"(?:^|(?<=\s))\((?:[a-d]|i{1,3}|iv|[1-4])\)\s|^\s*(?:[a-d]|[1-4])[.)]\s", re.IGNORECASE | re.MULTILINE)
_ASKS = re.compile(r"\?|\b(?:find|compute|determine|calculate|evaluate|what|how many|show|prove|express|simplify|solve)\b", re.IGNORECASE)
_YES_NO_ANSWER = re.compile(r"^\s*(?:\\text\{)?\s*(?:yes|no|true|false|correct|incorrect)\s*\}?\s*[.!]?\s*$", re.IGNORECASE)
_TRUE_FALSE_PROMPT = re.compile(
    r"(?i:\btrue or false\b|\bdetermine whether\b|\bdecide whether\b)|(?:^|[.?!]\s+)Is (?:it|this|the statement) (?:true|possible)\b"
)
_FIGURE = re.compile(
    r"\b(?:shown|pictured|depicted|illustrated) (?:in|below|above|here)\b|\bas shown\b|\b(?:see|in) the (?:figure|diagram|picture|image)\b"
    r"|\b(?:adjoining|accompanying|following) (?:figure|diagram)\b|\b(?:figure|diagram|picture) (?:below|above)\b",
    re.IGNORECASE,
)
_ASY_BLOCK = re.compile(r"\[asy\].*?\[/asy\]", re.IGNORECASE | re.DOTALL)
_DRAWING = re.compile(r"\[asy\]|\\begin\{(?:array|tabular|matrix)\}", re.IGNORECASE)
_LATEX = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+", re.DOTALL)

_INTERACTIVE = re.compile(
    r"\binteractive problem\b|\bthis is an interactive\b|\bflush the output\b|\bfflush\b|\bsys\.stdout\.flush\b"
    r"|\binteractor\b|\bafter printing a query\b",
    re.IGNORECASE,
)
_SPECIAL_JUDGE = re.compile(
    r"\b(?:print|output|return|find) any (?:of them|one of them|such|valid|correct|possible)\b"
    r"|\bif there are (?:several|multiple|many) (?:possible |valid |correct |optimal )?(?:answers|solutions|ways)"
    r"|\bany (?:of the )?(?:valid|correct|possible) (?:answer|solution)s? (?:is|are|will be) accepted\b"
    r"|\bspecial judge\b",
    re.IGNORECASE | re.DOTALL,
)
_IMAGE = re.compile(r"<img\b|!\[[^\]]*\]\(|\.(?:png|jpe?g|gif|svg)\b|\bsee the image\b|\bin the image\b|\bimage below\b", re.IGNORECASE)


def non_english_share(text: str) -> float:
    """Share of letters outside ASCII, after removing LaTeX (whose Greek letters and symbols are not language)."""
    letters = [c for c in _LATEX.sub(" ", text) if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if not c.isascii()) / len(letters)


def asks_several_questions(text: str) -> bool:
    """True when at least two enumerated parts each ask something, e.g. "(a) Find x. (b) What is y?"."""
    markers = list(_PART_MARKER.finditer(text))
    if len(markers) < 2:
        return False
    bounds = [m.end() for m in markers] + [len(text)]
    parts = [text[bounds[i] : markers[i + 1].start() if i + 1 < len(markers) else len(text)] for i in range(len(markers))]
    return sum(1 for part in parts if _ASKS.search(part)) >= 2


def word_count(text: str) -> int:
    return len(re.findall(r"[A-Za-z]+|\d+", _LATEX.sub(" x ", text)))


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
    max_answer_chars: int = 48
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
    prose = _ASY_BLOCK.sub(" ", problem)  # drawing code is full of "(A)" and "(B)"
    yes_no = _YES_NO_ANSWER.match(answer)
    figure = _FIGURE.search(problem)
    checks = {
        "missing_answer": lambda: "no gold answer" if not answer else None,
        "answer_too_long": lambda: (
            f"answer has {len(answer)} characters (max {config.max_answer_chars})" if len(answer) > config.max_answer_chars else None
        ),
        "non_english": lambda: (
            f"{share:.0%} of letters are not ASCII" if (share := non_english_share(problem)) > config.max_non_english else None
        ),
        "too_brief": lambda: f"{count} word(s)" if (count := word_count(problem)) < config.min_words else None,
        "mcq": lambda: _found(_MCQ, prose),
        "yes_no": lambda: f"answer {answer!r}" if yes_no else None,
        "true_false": lambda: _found(_TRUE_FALSE_PROMPT, problem),
        "proof": lambda: _found(_PROOF, problem),
        "multi_part": lambda: "several enumerated parts each ask something" if asks_several_questions(prose) else None,
        "figure_reference": lambda: (
            f"matched {snippet(figure.group(0), 80)!r}, no drawing in the text"
            if figure and not (config.keep_asy and _DRAWING.search(problem))
            else None
        ),
    }
    for code, check in checks.items():
        if code in config.drop and (evidence := check()):
            return code, evidence
    return None


@dataclass
class CodeFormatConfig:
    drop: list[str] = field(default_factory=lambda: list(CODE_RULES))
    min_tests: int = 1

    def __post_init__(self):
        _check_drop(self.drop, CODE_RULES, "code")


def code_reason(problem: str, tests_json: str | None, config: CodeFormatConfig) -> tuple[str, str] | None:
    """(reason code, evidence) for the first rule in `config.drop` that applies, or None."""
    checks = {
        "interactive": lambda: _found(_INTERACTIVE, problem),
        "special_judge": lambda: _found(_SPECIAL_JUDGE, problem),
        "image_statement": lambda: _found(_IMAGE, problem),
        "too_few_tests": lambda: (
            f"{count} test(s) (min {config.min_tests})" if (count := test_count(tests_json)) < config.min_tests else None
        ),
    }
    for code, check in checks.items():
        if code in config.drop and (evidence := check()):
            return code, evidence
    return None


@dataclass
class FormatFilterConfig:
    math: MathFormatConfig = field(default_factory=MathFormatConfig)
    code: CodeFormatConfig = field(default_factory=CodeFormatConfig)


@stage(
    "format-filter",
    FormatFilterConfig,
    requires=("problem", "domain", "answer", "tests"),
    example="acecurate format-filter dumps/math.jsonl --set math.max_answer_chars=64 --out runs/formats",
)
def format_filter(frame, config: FormatFilterConfig, ctx) -> StageResult:
    """Remove problems whose format cannot be verified or trained on (MCQ, proofs, interactive, special judge, ...)."""
    verdicts = []
    rows = zip(frame["domain"], frame["problem"], frame["answer"], frame["tests"])
    for domain, problem, answer, tests in ctx.track(rows, len(frame), "rules"):
        verdicts.append(math_reason(problem, answer, config.math) if domain == "math" else code_reason(problem, tests, config.code))
    return split_by_reason(frame, [v[0] if v else None for v in verdicts], [v[1] if v else None for v in verdicts])
