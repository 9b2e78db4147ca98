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

import itertools
import re
from dataclasses import dataclass, field

from ..config import setting
from ..stage import StageResult, row_rule, split_by_verdicts, stage
from ..suites import count_tests, mark_unordered
from ..text import ASY_BLOCK, DRAWING, GatedPattern, fractions_as_slashes, snippet, tokenize, tokenize_many
from ..words import words

# The patterns that cost most per row are gated by literals that each of their matches holds (GatedPattern): most
# rows hold none, and a substring test is cheaper than a regex search that fails.
# A figure given in the text: Asymptote ([asy] or \begin{asy}), TikZ, or an array or table of its values.
_DRAWING = GatedPattern(
    re.compile(DRAWING + r"|\\begin\{(?:array|tabular|matrix)\}", re.IGNORECASE | re.DOTALL),
    ("[asy]", "\\begin{asy}", "\\begin{tikzpicture}", "\\begin{array}", "\\begin{tabular}", "\\begin{matrix}"),
)
_LATEX = re.compile(r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]|\\[a-zA-Z]+", re.DOTALL)

# Multiple choice. Lettered options: (A) ... (B) ... (C), \textbf{(A)}, "A. ..." lines, (a) ... (b) ... (c).
# (A) (B) (C), and the ACT's (F) (G) (H) on even questions.
_UPPER_OPTIONS = re.compile(
    r"\(\s*A\s*\).{0,400}?\(\s*B\s*\).{0,400}?\(\s*C\s*\)|\(\s*F\s*\).{0,400}?\(\s*G\s*\).{0,400}?\(\s*H\s*\)", re.DOTALL
)
_LOWER_OPTIONS = re.compile(r"\(a\).{0,400}?\(b\).{0,400}?\(c\)", re.DOTALL)
# "A. 5" and "A) 5" lines, and "A)5 B)6 C)7" run together (AQuA): a paren needs no space after it.
_LINE_OPTIONS = GatedPattern(
    re.compile(r"(?:^|\s)A(?:\.\s+|\)\s*)\S.{0,300}?\sB(?:\.\s+|\)\s*)\S.{0,300}?\sC(?:\.\s+|\)\s*)\S", re.DOTALL),
    ("A.", "A)"),
)
# Options laid out as a contest typesets them (\textbf{(A)}, \qquad between options, all of (A) to (E)): options
# whatever the gold answer is (a mix may convert the ask to a number: "... (E) 7/2. Find m+n").
_TYPESET_OPTIONS = re.compile(
    r"\\(?:textbf|mathrm|text)\s*\{\s*\(\s*A\s*\)|\(\s*[A-D]\s*\)[^()\n]{0,120}?\\qquad\s*(?:\\(?:textbf|mathrm|text)\s*\{\s*)?\(\s*[B-E]\s*\)"
)
_OPTION_LABEL = re.compile(r"\(\s*([A-E])\s*\)")
# A closed list of named answers: "Determine if the graph is a parabola, circle, ellipse, hyperbola, point, line, two
# lines, or empty", "Is the function even, odd, or neither?"
_CLOSED_LIST = GatedPattern(
    re.compile(
        r"\b(?:determine|decide|tell|state|classify|identify|say)\s+(?:if|whether|which)\b[^.?!\n]{0,120}?\b(?:is|are)\s+(?:an?\s+)?"
        r"[a-z]+(?:\s[a-z]+)?(?:,\s*(?:an?\s+)?[a-z]+(?:\s[a-z]+)?){2,},?\s+or\s+(?:an?\s+)?[a-z]+"
        r"|\bis\s+(?:the\s+function\s+|it\s+|f\s+)?(?:even|odd),\s+(?:even|odd),?\s+or\s+neither\b",
        re.IGNORECASE,
    ),
    ("determine", "decide", "tell", "state", "classify", "identify", "say", "neither"),
)
# Phrases that make the reader choose from given options.
_CHOOSE = GatedPattern(
    re.compile(
        r"\bwhich of the following\b|\b(?:the|following|these) answer choices\b|\benter the letters?\b|\b(?:select|choose|circle) the (?:correct|right|best) "
        r"(?:answer|option)|\bletters? of the (?:correct|true|valid)\b|\blabels? of the statements?\b"
        r"|\benter\s+[\"'`]+[^\"'`\n]{1,20}[\"'`]+\s*(?:,\s*(?:or\s+)?[\"'`]+[^\"'`\n]{1,20}[\"'`]+\s*)+"  # Enter "odd", "even", or "neither"
        r"|\benter\s+[\"'`]+[A-Z][\"'`]+\s+(?:for|if)\b",  # Enter "C" for circle, "P" for parabola, ...
        re.IGNORECASE,
    ),
    ("which of the following", "answer choices", "enter", "select", "choose", "circle", "letter", "label"),
)
_LETTER_ANSWER = re.compile(r"^\s*(?:\\(?:text|textbf|mathrm)\s*\{)?\s*\(?\s*[A-Ea-e]\s*\)?(?:\s*,\s*\(?[A-Ea-e]\)?)*\s*\}?\s*\.?\s*$")

# Proof: the task is to prove (an imperative at the start of a sentence), not a counting question that says "show".
_PROOF = GatedPattern(
    re.compile(
        r"(?:^|[.!?:;,]\s+|\n\s*|\(\w{1,3}\)\s*)(?:prove|show|demonstrate|verify)\s+(?:that|why|how)\b|\b(?:give|write) a proof\b|\bprove\s+(?:it|this)\b",
        re.IGNORECASE,
    ),
    ("prove", "show", "demonstrate", "verify", "proof"),
)
# Enumerated parts: (a) (b), (i) (ii), (1) (2), a) b). A part is a sub-question when it asks something itself.
# Markers start a line or follow a sentence ("... for all n. a) Find P. b) Prove ..."); "(1)x" may touch its part.
_PART_MARKER = re.compile(
    r"(?:^|(?<=[\s$]))\((?:[a-d]|i{1,3}|iv|[1-4])\)\s?|^\s*(?:[a-d]|[1-4])[.)]\s|(?<=[.;:?!]\s)(?:[a-d]|[1-4])\)\s",
    re.IGNORECASE | re.MULTILINE,
)
_ASKS = re.compile(
    r"\?|(?:^|[.!;:]\s+|\n)\s*(?:find|compute|determine|calculate|evaluate|show|prove|express|simplify|solve|what|how many|list|give)\b",
    re.IGNORECASE,
)
# A gold answer with several answers in it: "$0.05$ and $0.6$", "domain: ..., range: ...".
# ("$x=1$ and $y=2$" is one answer, the solution of a system.)
_JOINED_ANSWERS = re.compile(r"\$\s*(?:and|;)\s*\$")
_LABELLED_ANSWERS = re.compile(r"^\s*[A-Za-z][\w ]{0,20}:\s*\S.*?[,;]\s*[A-Za-z][\w ]{0,20}:\s*\S", re.DOTALL)
# An ask right before the parts applies to each of them: "Determine the greatest value of (1) ...; (2) ...".
_ASK_BEFORE_PARTS = re.compile(
    r"(?:find|compute|determine|calculate|evaluate|express|simplify|what (?:is|are)|give)\b[^.?!;:]{0,80}?(?:of|for)?\s*:?\s*$",
    re.IGNORECASE,
)
_CONDITIONS = re.compile(r"\b(?:conditions?|satisf\w*|such that|statements?|following)\b", re.IGNORECASE)
_YES_NO_ANSWER = re.compile(r"^\s*(?:\\text\{)?\s*(?:yes|no|true|false|correct|incorrect)\s*\}?\s*[.!]?\s*$", re.IGNORECASE)
_TRUE_OR_FALSE = GatedPattern(
    re.compile(r"\btrue or false\b", re.IGNORECASE),
    ("true or false",),
)
_TRUE_FALSE_PROMPT = GatedPattern(
    re.compile(
        r"(?i:\btrue or false\b|\bdetermine whether\b|\bdecide whether\b)|(?:^|[.?!]\s+)Is (?:it|this|the statement) (?:true|possible)\b"
    ),
    ("whether", "true", "possible"),
    ignore_case=True,
)
# A figure is needed when the text says the figure shows something ("as shown", "shown below", "the diagram shows",
# "in the diagram below"); "In the diagram, ..." followed by a full description, or "(see the figure below)", is not.
_FIGURE = GatedPattern(
    re.compile(
        r"\b(?:shown|pictured|depicted|illustrated|exhibited|displayed)\s+(?:\w+\s+){0,2}(?:in|below|above|here|at (?:the )?(?:right|left))\b"
        r"|\bas shown\b|\b(?:figure|diagram|picture)s?\s+(?:below|above|at (?:the )?right)\b"
        r"|\bthe (?:figure|diagram|picture|graph) (?:below |above )?shows\b"
        r"|\b(?:adjoining|accompanying) (?:figure|diagram)\b"
        # "In the addition problem shown, ...", "the side lengths of four squares are shown, and ...": shown, nothing
        # says where, so what is shown is before it if anywhere ("it can be shown that" is a proof's phrase).
        r"|(?P<bare>\b(?:the|are|is)\s+(?:(?!as\b)[\w-]+\s+){0,3}shown(?=\s*(?:[,.;:?]|and\b|is\b|are\b|has\b|have\b)))",
        re.IGNORECASE,
    ),
    ("shown", "pictured", "depicted", "illustrated", "exhibited", "displayed", "figure", "diagram", "picture", "shows"),
)
_SEE_ALSO = re.compile(r"\(\s*see\b[^()]*\)", re.IGNORECASE)
# A figure that illustrates an example ("A sample transformation is shown in the figure below") shows nothing the
# problem needs.
_ILLUSTRATES = re.compile(r"\b(?:samples?|examples?|for instance)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")

_INTERACTIVE = GatedPattern(
    re.compile(
        r"\binteractive problem\b|\bthis is an interactive\b|\bflush the output\b|\bfflush\b|\bsys\.stdout\.flush\b"
        r"|\binteractor\b|\bafter printing a query\b",
        re.IGNORECASE,
    ),
    ("interactive", "flush", "interactor", "after printing a query"),
)
# Several outputs accepted. A fixed tie-break ("if there are multiple answers, return the lexicographically smallest")
# is not a special judge: the tests hold the one answer.
_SPECIAL_JUDGE = GatedPattern(
    re.compile(
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
    ),
    ("any", "such", "valid", "possible", "suitable", "either", "special judge"),
)
# "Return the answer in any order": several outputs accepted, all equal as multisets.
_ANY_ORDER = GatedPattern(
    re.compile(
        r"\b(?:return|print|output|answer|result|returned|printed|output)\b[^.\n]{0,80}?\bin any order\b"
        r"|\bin any order\b[^.\n]{0,40}?\b(?:return|print|output|answer)\b|\border (?:of the (?:output|answer|elements) )?does not matter\b",
        re.IGNORECASE,
    ),
    ("in any order", "does not matter"),
)
# The statement refers to an image for its meaning ("in diagonal order as shown in the below images"); images that only
# illustrate the examples do not count, nor anything after the examples start.
_IMAGE_NEEDED = GatedPattern(
    re.compile(
        r"\bas (?:shown|illustrated|depicted) (?:in|on|by) (?:the )?(?:below |above |following )?(?:images?|pictures?|figures?|diagrams?|illustrations?)\b"
        r"|\bas shown (?:below|above)\b",
        re.IGNORECASE,
    ),
    ("as shown", "as illustrated", "as depicted"),
)
_EXAMPLES_START = re.compile(r"^\s*(?:Sample Input|Examples?|Input|Explanation|Note|Constraints)\b", re.IGNORECASE | re.MULTILINE)


def non_english_share(text: str) -> float:
    """Share of letters outside ASCII, after removing LaTeX (whose Greek letters and symbols are not language)."""
    if text.isascii():
        return 0.0
    letters = [c for c in _LATEX.sub(" ", text) if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if not c.isascii()) / len(letters)


def asks_several_questions(text: str) -> str | None:
    """The parts, when at least two enumerated parts each ask something themselves ("(a) Find x. (b) What is y?"),
    or when an ask right before the parts applies to each ("Determine the greatest value of (1) A; (2) B.") and nothing
    after them asks again. The question after the last part belongs to the whole problem, not to that part."""
    markers = list(_PART_MARKER.finditer(text))
    if len(markers) < 2:
        return None
    parts = [text[m.end() : markers[i + 1].start() if i + 1 < len(markers) else len(text)] for i, m in enumerate(markers)]
    last = parts[-1]
    end_of_first_sentence = re.search(r"[.;]\s", last)
    closing = last[end_of_first_sentence.end() :] if end_of_first_sentence else ""
    parts[-1] = (
        last[: end_of_first_sentence.end()] if end_of_first_sentence and _ASKS.search(last[: end_of_first_sentence.end()]) is None else last
    )
    asking = [m.group(0).strip() + " " + snippet(p, 40) for m, p in zip(markers, parts) if _ASKS.search(p)]
    if len(asking) >= 2:
        return "; ".join(asking)
    before = text[max(0, markers[0].start() - 120) : markers[0].start()]
    if (
        _ASK_BEFORE_PARTS.search(before)
        and not _CONDITIONS.search(before)
        and not asking
        and _ASKS.search(closing) is None
        and all(p.strip(" ;,.") for p in parts)
    ):
        return f"{snippet(before.strip(), 60)!r} asks for each of " + ", ".join(m.group(0).strip() for m in markers)
    return None


def several_answers(answer: str) -> str | None:
    """The gold answer holds several separate answers ("$0.05$ and $0.6$", "domain: ..., range: ...")."""
    parts = _JOINED_ANSWERS.split(answer)
    if (len(parts) > 1 and not all("=" in part for part in parts)) or _LABELLED_ANSWERS.match(answer):
        return f"the gold answer holds several answers: {snippet(answer, 80)!r}"
    return None


def content_tokens(text: str, enough: int | None = None) -> int:
    """The size of a statement: its words and numbers, and each symbol of its formulas (`$\\sqrt{8}+\\sqrt{18}=$` is
    six), so a bare expression to evaluate is not "too brief" while "Solve." is. With `enough`, counting stops there
    (a statement is only ever compared with a minimum)."""
    if enough is None:
        return len(_CONTENT_TOKEN.findall(text))
    return sum(1 for _ in itertools.islice(_CONTENT_TOKEN.finditer(text), enough))


_CONTENT_TOKEN = re.compile(r"[A-Za-z]+|\d+|[+\-*/=<>^!|]")


def answer_tokens(answer: str) -> int:
    """The size of an answer's content: tokens without LaTeX structure, so a 3x3 matrix of fractions is 9-18 tokens."""
    return answer_tokens_many([answer])[0]


def answer_tokens_many(answers) -> list[int]:
    """answer_tokens() for many answers at once (one vectorised normalisation)."""
    structure = words("answer_structure_commands")
    return [sum(1 for t in tokens if t not in structure) for tokens in tokenize_many([a if isinstance(a, str) else "" for a in answers])]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    return bool(needle) and any(haystack[i : i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def multiple_choice(prose: str, answer: str) -> str | None:
    """Evidence that a math problem is multiple choice: a choice phrase, a closed list of named answers, options laid
    out as a contest typesets them, or lettered options that the gold answer picks (a letter, or the text of one
    option). Letters that label conditions ("(A) the first two digits are ...") are not options when the answer is none
    of them."""
    if phrase := _CHOOSE.search(prose) or _CLOSED_LIST.search(prose):
        return f"matched {snippet(phrase.group(0), 80)!r}"
    if typeset := _TYPESET_OPTIONS.search(prose):
        return f"options laid out as a contest typesets them: {snippet(typeset.group(0), 80)!r}"
    if five := five_options(prose):
        return f"five options (A) to (E): {snippet(five, 80)!r}"
    options = _UPPER_OPTIONS.search(prose) or _LINE_OPTIONS.search(prose) or _LOWER_OPTIONS.search(prose)
    if options is None:
        return None
    if _LETTER_ANSWER.match(answer) or re.fullmatch(r"\s*\(?\s*[F-K]\s*\)?\s*", answer):
        return f"options {snippet(options.group(0), 80)!r} and the answer {answer!r} is a letter"
    if _contains(tokenize(fractions_as_slashes(prose[options.start() :])), tokenize(fractions_as_slashes(answer))):
        return f"options {snippet(options.group(0), 80)!r} and the answer {snippet(answer, 40)!r} is one of them"
    return None


_VALUE_ASK = re.compile(r"\b(?:find|compute|determine|calculate|evaluate)\b|\bwhat (?:is|are)\b|\bhow many\b|\?", re.IGNORECASE)


def proof_task(prose: str, answer: str) -> str | None:
    """Evidence that the task is to prove: a proof imperative, unless the problem also asks for a value in a sentence of
    its own and the gold answer is that value ("Show that the sequence converges, and find its limit." with gold 2)."""
    found = _PROOF.search(prose)
    if found is None:
        return None
    if answer and _VALUE.search(answer) and not _PROOF_ONLY_ANSWER.match(answer):
        sentence_end = _SENTENCE_END.search(prose, found.end())
        rest = prose[: found.start()] + " " + (prose[sentence_end.end() :] if sentence_end else "")
        inside = prose[found.start() : sentence_end.end() if sentence_end else len(prose)]
        if _VALUE_ASK.search(rest) or re.search(r"\band (?:find|compute|determine|calculate)\b", inside, re.IGNORECASE):
            return None
    return f"matched {snippet(found.group(0), 80)!r}"


# A gold "answer" that restates what is proved ("d^2 = R^2 - 2Rr", "QED") is no value of its own.
_PROOF_ONLY_ANSWER = re.compile(r"^\s*(?:q\.?e\.?d\.?|proved?|proof|true)\s*$", re.IGNORECASE)


def five_options(prose: str) -> str | None:
    """The text from (A) to (E) when all five labels come in order, each within 300 characters of the previous one on
    one line: a contest's five options, whatever the gold answer is. One pass over the labels."""
    expected, start, previous = "A", None, 0
    for found in _OPTION_LABEL.finditer(prose):
        letter = found.group(1)
        if letter == "A":
            expected, start, previous = "B", found.start(), found.end()
        elif start is not None and letter == expected and found.start() - previous <= 300 and "\n" not in prose[previous : found.start()]:
            if letter == "E":
                return prose[start : found.end()]
            expected, previous = chr(ord(letter) + 1), found.end()
        else:
            expected, start = "A", None
    return None


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
# A gold answer that is a value (a number, a formula, a symbol), not a verdict word such as "converges".
_VALUE = re.compile(r"\d|\\[A-Za-z]|[=+\-*/^_(){}\[\]<>]|^\s*[A-Za-z]{1,2}\s*$")


def truth_question(problem: str, answer: str) -> str | None:
    """Evidence that the answer is a truth value: "true or false"; "determine whether ...", "is it true ..." unless
    the gold answer is a value ("Determine whether the limit exists" with the gold `\\cos a` asks for the limit)."""
    if said := _TRUE_OR_FALSE.search(problem):
        return f"matched {snippet(said.group(0), 80)!r}"
    found = _TRUE_FALSE_PROMPT.search(problem)
    if found is None or (answer and _VALUE.search(answer)):
        return None
    return f"matched {snippet(found.group(0), 80)!r}"


_BOOLEAN_OUTPUT = re.compile(r"\breturn (?:true|false)\b|\bprint (?:yes|no)\b", re.IGNORECASE)
_NEGATED = re.compile(r"(?:n't|\bnot|\bnever|\bcannot)\s+$", re.IGNORECASE)


def special_judge(problem: str) -> str | None:
    """Evidence that several outputs are accepted. "Find any substring ... Return true if one exists" asks whether one
    exists: the output is a yes/no, so "find any" alone does not count there; nor does a negated verb ("if you didn't
    find any vowel, return an empty string", "do not print any spaces")."""
    for found in _SPECIAL_JUDGE.finditer(problem):
        if found.group(0).lower().startswith("find") and _BOOLEAN_OUTPUT.search(problem):
            continue
        if _NEGATED.search(problem, max(0, found.start() - 20), found.start()):
            continue
        return f"matched {snippet(found.group(0), 80)!r}"
    return None


def figure_needed(problem: str) -> str | None:
    """Evidence that the problem needs a figure it lacks: a reference saying the figure shows something, with no
    drawing in the text, and (for "shown below"/"above", or "shown" alone: above) no list of values on that side of
    the reference, which would be what is shown ("The first 20 numbers are shown below. Row 1: 2, 2 ..."). A figure that shows an example ("a
    sample transformation is shown in the figure below") is not needed."""
    if _DRAWING.search(problem):
        return None
    text = _SEE_ALSO.sub(" ", problem)
    for found in _FIGURE.finditer(text):
        phrase = found.group(0).lower()
        before = "above" in phrase or found.group("bare")
        side = text[found.end() :] if "below" in phrase else text[: found.start()] if before else ""
        if len(_NUMBER.findall(side)) >= 5:
            continue  # the values shown are written out in the text
        starts = [m.end() for m in _SENTENCE_END.finditer(text, 0, found.start())]
        sentence_end = _SENTENCE_END.search(text, found.end())
        sentence = text[starts[-1] if starts else 0 : sentence_end.end() if sentence_end else len(text)]
        if _ILLUSTRATES.search(sentence):
            continue
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
    min_tokens: int = setting(
        3, 'Words, numbers and formula symbols: "Solve." has one and goes, "$\\sqrt{8}+\\sqrt{18}=$" has six and stays.'
    )
    max_answer_tokens: int = setting(40, "Content tokens of the gold answer (LaTeX structure is free): a 3x3 matrix of fractions is 18.")
    max_non_english: float = 0.2
    keep_asy: bool = setting(True, "A figure given as [asy] code or an array is in the text, so the problem stays.")

    def __post_init__(self):
        _check_drop(self.drop, MATH_RULES, "math")


def _found(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return f"matched {snippet(match.group(0), 80)!r}" if match else None


def math_reason(problem: str, answer: str | None, config: MathFormatConfig, answer_size: int | None = None) -> tuple[str, str] | None:
    """(reason code, evidence) for the first rule in `config.drop` that applies (checked in the order below), or None.
    `answer_size` is answer_tokens(answer) when the caller has it (the stage counts every answer in one pass)."""
    answer = answer.strip() if isinstance(answer, str) else ""
    prose = ASY_BLOCK.sub(" ", problem)  # drawing code is full of "(A)" and "(B)"
    yes_no = _YES_NO_ANSWER.match(answer)
    checks = {
        "missing_answer": lambda: "no gold answer" if not answer else None,
        "answer_too_long": lambda: (
            f"answer has {count} content tokens (max {config.max_answer_tokens}): {snippet(answer, 80)!r}"
            if (count := answer_tokens(answer) if answer_size is None else answer_size) > config.max_answer_tokens
            else None
        ),
        "non_english": lambda: (
            f"{share:.0%} of letters are not ASCII" if (share := non_english_share(problem)) > config.max_non_english else None
        ),
        "too_brief": lambda: (
            f"{count} token(s) (min {config.min_tokens})"
            if (count := content_tokens(problem, config.min_tokens)) < config.min_tokens
            else None
        ),
        "mcq": lambda: (
            multiple_choice(prose, answer)
            or (
                "the answer is a letter and the drawing labels its options"
                if _LETTER_ANSWER.match(answer) and "enter the letter" in problem.lower()
                else None
            )
        ),
        "yes_no": lambda: f"answer {answer!r}" if yes_no else None,
        "true_false": lambda: truth_question(problem, answer),
        "proof": lambda: proof_task(prose, answer),
        "multi_part": lambda: (
            (f"parts that each ask: {parts}" if (parts := asks_several_questions(prose)) else None) or several_answers(answer)
        ),
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
    is_math = [d == "math" for d in frame["domain"]]
    sizes = iter(answer_tokens_many([a for a, m in zip(frame["answer"], is_math) if m]))
    frame = frame.assign(_answer_size=[next(sizes) if m else None for m in is_math])
    verdicts = format_verdict.verdicts(frame, config, track=lambda rows, n: ctx.track(rows, n, "rules"), workers=ctx.workers)
    frame = frame.drop(columns=["_answer_size"])
    result = split_by_verdicts(frame, verdicts)
    marked = [
        i
        for i, (domain, problem, verdict) in enumerate(zip(frame["domain"], frame["problem"], verdicts))
        if domain == "code" and verdict is None and config.code.mark_unordered and any_order(problem)
    ]
    if marked:
        positions = frame.index[marked]
        result.kept.loc[positions, "tests"] = [mark_unordered(t) for t in frame.loc[positions, "tests"]]
    result.stats["unordered"] = len(marked)
    if (frame["domain"] == "code").any():
        result.report["any order"] = f'{len(marked)} code problems accept their output in any order: tests marked `"compare": "unordered"`'
    return result


@row_rule("domain", "problem", "answer", "tests", "_answer_size")
def format_verdict(domain: str, problem: str, answer, tests, answer_size, config: FormatFilterConfig):
    """One row's verdict: the math rules or the code rules."""
    if domain == "math":
        return math_reason(problem, answer, config.math, answer_size)
    return code_reason(problem, tests, config.code)
