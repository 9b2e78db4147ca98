"""The pair judge of near-dedup: are two similar rows the same problem, and which of them is the better copy?

Two statements are the same problem when they differ in wording alone (prose words in math, stopwords in code, an
added note or credit line at either end of a math statement), math gold answers are equivalent under the grader, and
code tests expect the same output for any input both hold. The statements are compared without what sources put
around them (`clean_prompts.clean_prompt`: instruction wrappers, judge metadata, starter code), so one task wrapped in
two prompt templates is one task; nor in layout that copies write differently (curly quotes, forum list tags, bullets,
`\\mid` for `|`, letters spaced inside math, Chinese with or without spaces). The diff is Myers' shortest edit script
with a bounded number of edits (linear in the text); statements further apart than that are different, except (math)
where what exceeds the bound is one stretch only one statement has at its start or end (a restatement paragraph),
judged as any added note is. Of two copies, the one without a second problem glued to its start or end is kept.
Evidence quotes both texts as they are written, and says which side was kept.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from typing import Callable

import numpy as np

from ..benchmarks.fingerprint import limit_values
from ..suites import MalformedTests, parse_tests, unlimited_int_digits
from ..text import ASY_BLOCK, SYMBOLS, fractions_as_slashes, quote, snippet, tokenize_many
from ..words import words
from .clean_prompts import clean_prompt

MAX_EDITS = 64  # token edits beyond which two statements are different problems (and the diff stops)
_SYMBOL_TOKENS = frozenset(SYMBOLS)
_CAPITALS = re.compile(r"(?<![\\A-Za-z])[A-Z]{2,}(?![A-Za-z])")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
_INDEXED = re.compile(r"[01] - indexed")
_GROUPING = frozenset("()[]{}")
_BULLET = re.compile(r"(?m)^[ \t]*[*\-•][ \t]+")  # a markdown list item's bullet
# Markup and spellings that differ between copies of one statement: curly quotes, AoPS forum tags ("[list]", "[*]",
# "[i]beam[/i]", a math list's other layout), `\mid` for `|`.
_QUOTE_MARKS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u201c": '"', "\u201d": '"'})
_FORUM_TAG = re.compile(r"\[/?(?:list(?:=[^\]\n]*)?|[ibus])\]|\[\*\]")
_DIVIDES = re.compile(r"\\(?:mid|vert|lvert|rvert)(?![A-Za-z])")
# Token views only. Inside math, single letters apart ("$a x+b$", "$A B$") are the product or the segment their joined
# spelling writes (in prose, "set B C) ..." is a name and an option label). Chinese and Japanese put no spaces between
# words, so each Han or kana character is a token ("若关于x的" and "若关于 x 的" are one text); as a word of prose.
_MATH_OPENER = re.compile(r"\$|\\[(\[]")
_SPACED_LETTERS = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?:[ \t]+[A-Za-z](?![A-Za-z]))+")
_CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def spaced_characters(text: str) -> str:
    """The text with each Han or kana character a word of its own: how near-dedup tokenises Chinese and Japanese."""
    return _CJK.sub(r" \1 ", text) if not text.isascii() else text


def _math_spans(text: str) -> list[tuple[int, int]]:
    """The math of a text, left to right: `$$...$$`, `$...$`, `\\(...\\)`, `\\[...\\]`, each opener closed by the next
    closer after it (as the lazy regex would), found by bisecting the closers' positions: linear however many openers
    never close (a lazy regex scans to the end for each, seconds on one long broken row)."""
    closers = {c: [m.start() for m in re.finditer(f"(?={re.escape(c)})", text)] for c in ("$$", "$", "\\)", "\\]")}
    spans, position = [], 0
    for opener in _MATH_OPENER.finditer(text):
        start = opener.start()
        if start < position:
            continue
        if opener.group() == "$":
            kinds = ["$$", "$"] if text.startswith("$$", start) else ["$"]  # `$$` closed by `$$`, else a `$` pair
        else:
            kinds = ["\\)" if opener.group() == "\\(" else "\\]"]
        for closer in kinds:
            after = closers[closer]
            k = bisect.bisect_left(after, start + (1 if closer == "$" else 2))  # the closer starts after the opener
            if k < len(after):
                spans.append((start, after[k] + len(closer)))
                position = after[k] + len(closer)
                break
    return spans


def _joined_math_letters(text: str) -> str:
    """The text with single letters spaced inside its math joined (`$a x+b$` is `$ax+b$`)."""
    pieces, position = [], 0
    for start, end in _math_spans(text):
        pieces += [text[position:start], _SPACED_LETTERS.sub(lambda letters: "".join(letters.group().split()), text[start:end])]
        position = end
    return "".join(pieces) + text[position:]


# The functions a code statement's starter code or examples define (`def furthestDistanceFromOrigin(self, moves)`).
_DEFINED = re.compile(r"\bdef[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
_ASKS = re.compile(r"\?|\b(?:find|compute|determine|calculate|evaluate|what|how many|prove|show that)\b", re.IGNORECASE)


def bounded_diff(
    a: list[str], b: list[str], max_edits: int = MAX_EDITS, open_end: bool = False
) -> list[tuple[str, int, int, int, int]] | None:
    """difflib-style opcodes (tag, i1, i2, j1, j2) of a shortest edit script from `a` to `b`, or None when more than
    `max_edits` tokens must change. Myers' algorithm: O((len(a) + len(b)) * max_edits) time, whatever the texts. With
    `open_end`, what is left of one text once the other is used up is one closing edit that costs nothing (a paragraph
    only one text has at its end)."""
    n, m = len(a), len(b)
    limit = min(max_edits, n + m)
    offset = limit + 1
    v = [0] * (2 * limit + 3)
    trace = []
    for d in range(limit + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            x = v[offset + k + 1] if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]) else v[offset + k - 1] + 1
            y = x - k
            if x < n and y < m and a[x] == b[y]:
                x, y = _snake(a, b, x + 1, y + 1, n, m)
            v[offset + k] = x
            if x >= n and y >= m:
                return _opcodes(_moves(trace, offset, d, n, m))
            if open_end and (x >= n or y >= m):
                rest = ("delete", x, n, y, y) if x < n else ("insert", x, x, y, m)
                return _opcodes(_moves(trace, offset, d, x, y)) + [rest]
    return None


def _snake(a: list, b: list, x: int, y: int, n: int, m: int) -> tuple[int, int]:
    """The end of the run of equal tokens from (x, y): compared by list slices (in C), the step doubling while they
    agree and halving after, so a long common run costs a few comparisons, not one Python step per token."""
    if x >= n or y >= m or a[x] != b[y]:
        return x, y  # most runs the diff tries end at once: no slices to halve down to one token
    step = 8
    while x < n and y < m:
        width = min(step, n - x, m - y)
        if a[x : x + width] == b[y : y + width]:
            x, y, step = x + width, y + width, step * 2
        elif width == 1:
            break
        else:
            step = max(1, width // 2)
    return x, y


def _moves(trace: list[list[int]], offset: int, depth: int, x: int, y: int) -> list[tuple[str, int, int, int, int]]:
    """The path back from (x, y): equal runs and single-token edits, in order."""
    moves = []
    for d in range(depth, 0, -1):
        v, k = trace[d], x - y
        insert = k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1])
        previous_k = k + 1 if insert else k - 1
        px = v[offset + previous_k]
        py = px - previous_k
        ax, ay = (px, py + 1) if insert else (px + 1, py)
        if x > ax:
            moves.append(("equal", ax, x, ay, y))
        moves.append(("insert", px, px, py, py + 1) if insert else ("delete", px, px + 1, py, py))
        x, y = px, py
    if x > 0:
        moves.append(("equal", 0, x, 0, y))
    return moves[::-1]


def _opcodes(moves: list[tuple[str, int, int, int, int]]) -> list[tuple[str, int, int, int, int]]:
    """Adjacent moves merged: runs of edits become one insert, delete or replace."""
    out: list[list] = []
    for tag, i1, i2, j1, j2 in moves:
        if out and (out[-1][0] == tag == "equal" or (out[-1][0] != "equal" and tag != "equal")):
            last = out[-1]
            last[2], last[4] = i2, j2
            if last[0] != tag:
                last[0] = "replace"
            continue
        out.append([tag, i1, i2, j1, j2])
    for op in out:
        if op[0] != "equal":
            op[0] = "replace" if op[2] > op[1] and op[4] > op[3] else "delete" if op[2] > op[1] else "insert"
    return [tuple(op) for op in out]


def _edge_stretch_diff(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]] | None:
    """The edit script when one text has a long stretch of its own at its end or start (a restatement paragraph, which
    alone would exceed MAX_EDITS) and the rest is within MAX_EDITS; the stretch is one insert or delete at that edge."""
    ops = bounded_diff(a, b, open_end=True)
    if ops is not None:
        return ops
    ops = bounded_diff(a[::-1], b[::-1], open_end=True)
    if ops is None:
        return None
    n, m = len(a), len(b)
    return [(tag, n - i2, n - i1, m - j2, m - j1) for tag, i1, i2, j1, j2 in ops[::-1]]


def _is_content(token: str, domain: str, capitals: frozenset[str]) -> bool:
    if token[0].isdigit() or token in _SYMBOL_TOKENS or (len(token) == 1 and not _CJK.match(token)) or token in capitals:
        return True
    return token in words("math_meaning_words") if domain == "math" else token not in words("code_stopwords")


def statement_difference(a: list[str], b: list[str], domain: str, capitals: frozenset[str] = frozenset()):
    """(the first difference that changes the problem as (i1, i2, j1, j2), or None; every difference as opcodes; the
    side holding an added stretch at the start or end that asks something of its own, "a" or "b", or None) between
    two token lists. With more than MAX_EDITS token edits, the first difference is the whole middle.

    Wording is not a change: prose words in math, stopwords in code, a word written with or without a hyphen. In math,
    neither is a sentence added or dropped at the start or end (a note, a definition, a credit line: at most half the
    text), nor a reworded stretch that brings in no number, symbol or name the other statement lacks ("Find the least k"
    vs "Let k be the least ... Find k"). A math pair that passes is still a variant when its gold answers differ."""
    # The common start and end are matched first (near duplicates share most of both).
    prefix = _snake(a, b, 0, 0, len(a), len(b))[0]
    limit = min(len(a), len(b)) - prefix
    suffix = _snake(a[::-1][:limit], b[::-1][:limit], 0, 0, limit, limit)[0]
    middle = bounded_diff(a[prefix : len(a) - suffix], b[prefix : len(b) - suffix])
    if middle is None and domain == "math":
        middle = _edge_stretch_diff(a[prefix : len(a) - suffix], b[prefix : len(b) - suffix])
    if middle is None:
        whole = (prefix, len(a) - suffix, prefix, len(b) - suffix)
        return whole, [("replace", *whole)], None
    ops = [(tag, i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix) for tag, i1, i2, j1, j2 in middle if tag != "equal"]
    in_a, in_b = None, None  # the tokens of each side, when a reworded stretch needs them
    change, glued = None, None
    for tag, i1, i2, j1, j2 in ops:
        left, right = a[i1:i2], b[j1:j2]
        content = [t for t in left + right if _is_content(t, domain, capitals)]
        at_edge = (i1 == 0 and j1 == 0) or (i2 == len(a) and j2 == len(b))
        if tag in ("insert", "delete") and at_edge and len(left) + len(right) >= 8:
            glued = glued or ("a" if left else "b")  # a stretch only one side has, at an edge: maybe a second problem
        if change is not None or not content:
            continue
        letters = [t for t in left + right if not t[0].isdigit() and t not in _SYMBOL_TOKENS]
        joined_equal = "".join(t for t in left if t not in _SYMBOL_TOKENS) == "".join(t for t in right if t not in _SYMBOL_TOKENS)
        if letters and joined_equal and (all(len(t) > 1 for t in letters) or domain == "code"):
            continue  # "in-box" vs "inbox"; in code, a subscript a scrape lost ("ai, bi" vs "a_i, b_i", "ik" vs "i_k")
        if domain == "code" and tag in ("insert", "delete") and _INDEXED.fullmatch(" ".join(left + right)):
            continue  # "0-indexed", which later LeetCode statements add

        if domain == "math":
            added = len(left) + len(right)
            if tag in ("insert", "delete") and at_edge and 3 <= added <= 0.5 * max(len(a), len(b)):
                continue  # an added note, definition or credit line
            if left + right in (["a"], ["an"]):
                continue  # an article
            if tag in ("insert", "delete") and all(t in _GROUPING for t in left + right):
                continue  # brackets only one side writes: option labels "A)" vs "(A)", "f(x)=" vs "f(x) = (...)"
            worded = len(content) < len(left) + len(right)
            if worded and in_a is None:
                in_a, in_b = set(a), set(b)
            if (
                worded
                and all(t in in_b for t in left if _is_content(t, domain, capitals))
                and all(t in in_a for t in right if _is_content(t, domain, capitals))
            ):
                continue  # reworded, bringing in nothing the other statement lacks: "let k be", "find k"
        change = (i1, i2, j1, j2)
    return change, ops, glued


def _greedy_edits(a: list[str], b: list[str], budget: int) -> int | None:
    """The cost of some edit script from `a` to `b` (one token deleted, inserted or replaced at a time, each step taking
    the edit after which the equal run reaches furthest), or None past `budget`: an upper bound on the shortest."""
    n, m = len(a), len(b)
    x, y = _snake(a, b, 0, 0, n, m)
    cost = 0
    while x < n or y < m:
        best, step = -1, 0
        if x < n:
            dx, dy = _snake(a, b, x + 1, y, n, m)
            best, step, nx, ny = dx + dy - 1, 1, dx, dy
        if y < m:
            dx, dy = _snake(a, b, x, y + 1, n, m)
            if dx + dy - 1 > best:
                best, step, nx, ny = dx + dy - 1, 1, dx, dy
        if x < n and y < m:
            dx, dy = _snake(a, b, x + 1, y + 1, n, m)
            if dx + dy - 2 > best:
                step, nx, ny = 2, dx, dy
        x, y, cost = nx, ny, cost + step
        if cost > budget:
            return None
    return cost


def _trailing_numbers(tokens: list[str]) -> set[str]:
    """The digit strings a text's joined words (symbols left out) can end in: its last numbers, with or without the
    numbers before them up to its last word ("x = 1 2" ends in "2" or "12")."""
    ends, joined = set(), ""
    for t in reversed(tokens):
        if t in _SYMBOL_TOKENS:
            continue
        if not (t.isascii() and t.isdigit()):
            break
        joined = t + joined
        ends.add(joined)
    return ends


def ends_in_other_numbers(a: list[str], b: list[str]) -> bool:
    """Whether `statement_difference(a, b, "math")` surely finds a change, told without the diff. One text ends in a
    number the other never writes, so the diff's last opcode holds it; that opcode would be excused only as an added
    note (an insert of 3 or more tokens: the shortest script is too close to allow one, by its length), as the other
    text joined differently (no common trailing digit string), or as a rewording (its number is missing from the
    other text). Adversarial copies (a word dropped, a number appended) are mostly this."""
    if not a or not b:
        return False
    n, m, x, y = len(a), len(b), a[-1], b[-1]
    # An opcode at the end that only inserts (deletes) k tokens leaves them unmatched: k <= m - LCS = (m - n + D) / 2,
    # under 3 while the shortest script D is under 6 - (m - n).
    budgets = []
    if y.isascii() and y.isdigit() and y not in a:
        budgets.append(5 - (m - n))
    if x.isascii() and x.isdigit() and x not in b:
        budgets.append(5 - (n - m))
    if not budgets or max(budgets) < 0 or _trailing_numbers(a) & _trailing_numbers(b):
        return False
    return _greedy_edits(a, b, min(MAX_EDITS, max(budgets))) is not None


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)[:3])


def _bounds(values) -> str:
    return ", ".join(f"{v:g}" for v in values)


def _case_table(tests_json) -> dict[str, str]:
    """Expected output per test input (whitespace-normalised), to tell whether two problems judge the same input alike."""
    if not isinstance(tests_json, str) or not tests_json:
        return {}
    try:
        suite = parse_tests(tests_json)
    except MalformedTests:
        return {}  # validate-tests removes it; two unreadable suites tell nothing apart
    if suite.format == "assert":
        parsed = suite.assert_cases
        with unlimited_int_digits():  # integer literals over Python's 4,300-digit limit
            cases = (
                [(json.dumps([c.args, c.kwargs], default=str), json.dumps(c.expected, default=str)) for c in parsed[0]] if parsed else []
            )
    else:
        cases = list(zip(suite.inputs(), suite.outputs()))
    return {" ".join(i.split()): " ".join(o.split()) for i, o in cases}


def tests_disagree(tests_a, tests_b) -> str | None:
    """The first input both test suites hold whose expected outputs differ, or None."""
    table_a, table_b = _case_table(tests_a), _case_table(tests_b)
    for key in table_a.keys() & table_b.keys():
        if table_a[key] != table_b[key]:
            return f"input {snippet(key, 40)!r} expects {snippet(table_a[key], 30)!r} vs {snippet(table_b[key], 30)!r}"
    return None


# A code statement's examples and constraints (from the first "Example 1:", "Sample Input" or "Constraints" line on),
# its tests (MBPP's "Your code should pass these tests:" and what follows), and fenced or docstring-quoted starter code:
# copies of one problem differ in them (one source drops the examples).
_CODE_TAIL = re.compile(
    r"(?ims)^[ \t]*(?:example\s*1\s*:|sample input|constraints:?[ \t]*$).*|```.*?(?:```|\Z)|\"\"\"|your code should pass these tests:?.*"
)
_HAS_CONSTRAINTS = re.compile(r"(?im)^[ \t]*constraints:?[ \t]*$")


def statement_text(problem: str, domain: str) -> str:
    """The statement compared for duplicates: without what its source put around it (clean_prompts.clean_prompt) and,
    in code, without its examples, constraints and starter code."""
    text = clean_prompt(problem, None, domain).problem or problem
    return (_CODE_TAIL.sub(" ", text).strip() or text) if domain == "code" else text


class PairJudge:
    """Decides whether two similar rows are the same problem, and whether the later one is the better copy: the
    statements may differ only in wording, math gold answers must be equivalent under the grader, and code tests must
    expect the same output for any shared input."""

    def __init__(self, frame, texts: list[str], domain: str, check_answers: bool):
        self.texts, self.domain = texts, domain
        self.answers = frame["answer"].tolist() if check_answers and domain == "math" and "answer" in frame else None
        self.tests = frame["tests"].tolist() if domain == "code" and "tests" in frame else None
        self.problems = frame["problem"].tolist() if domain == "code" else None  # their constraint bounds and functions
        self.starter = frame["starter_code"].tolist() if domain == "code" and "starter_code" in frame else None
        self._tokens: dict[int, list[str]] = {}
        self._vocabulary: dict[str, str] = {}
        self._named: dict[int, frozenset[str]] = {}
        self.counts: Counter = Counter()

    def view(self, i: int) -> str:
        """The statement as compared and quoted: without layout that copies of one problem write differently."""
        text = _BULLET.sub("", self.texts[i]).translate(_QUOTE_MARKS)  # "* Each element ..." and "Each element ..."
        if self.domain == "math":
            return _DIVIDES.sub("|", _FORUM_TAG.sub(" ", fractions_as_slashes(ASY_BLOCK.sub(" asy ", text))))
        return text

    def _token_view(self, i: int) -> str:
        text = self.view(i)
        if self.domain == "math":
            text = _joined_math_letters(text)
        return spaced_characters(text)

    def prepare(self, rows, chunk_rows: int = 10_000) -> None:
        """Tokenise the rows that may be judged, in vectorised passes of `chunk_rows` rows (one text at a time costs
        40 µs of overhead; a pass over every row at once holds each token of every row as a fresh string before it is
        interned). Code is read in the matching view, as decontamination reads it: `10^9` and a scrape's `109`, `i^th`
        and `ith` are one text. Tokens are interned: each distinct token is one string object, so a row's tokens cost a
        pointer each and comparing two tokens is comparing two pointers."""
        rows = [i for i in rows if i not in self._tokens]
        vocabulary = self._vocabulary
        for start in range(0, len(rows), chunk_rows):
            chunk = rows[start : start + chunk_rows]
            for i, tokens in zip(chunk, tokenize_many([self._token_view(i) for i in chunk], match_view=self.domain == "code")):
                self._tokens[i] = list(map(vocabulary.setdefault, tokens, tokens))

    def tokens(self, i: int) -> list[str]:
        if i not in self._tokens:
            self.prepare([i])
        return self._tokens[i]

    def named(self, k: int) -> frozenset[str]:
        """The names row k writes (capitalised abbreviations, LaTeX commands other than formatting), lower-cased."""
        if k not in self._named:
            prose = ASY_BLOCK.sub(" ", self.texts[k])
            found = {w.lower() for w in _CAPITALS.findall(prose)}
            found |= {c.lower() for c in _COMMAND.findall(prose) if c.lower() not in words("latex_formatting_commands")}
            self._named[k] = frozenset(found)
        return self._named[k]

    def _quote(self, k: int, tokens: list[str], limit: int = 60) -> str:
        return quote(self.view(k), tokens, limit) if tokens else "(nothing)"

    def differences(self, earlier: int, later: int, ops, later_kept: bool, limit: int = 4) -> str:
        """The differences as written, the kept row's side first: 'its text' (kept) -> 'the other's' (removed). `ops`
        turn the earlier row's tokens into the later row's."""
        a, b = self.tokens(earlier), self.tokens(later)
        shown = []
        for _, i1, i2, j1, j2 in ops[:limit]:
            kept_part, removed_part = (self._quote(later, b[j1:j2]), self._quote(earlier, a[i1:i2]))
            if not later_kept:
                kept_part, removed_part = self._quote(earlier, a[i1:i2]), self._quote(later, b[j1:j2])
            shown.append(f"{kept_part!r} (kept) -> {removed_part!r} (removed)")
        more = f"; ... ({len(ops)} differences)" if len(ops) > limit else ""
        return "; ".join(shown) + more if shown else "no difference in tokens"

    def __call__(self, i: int, j: int) -> tuple[str, Callable[[], str], bool]:
        """(verdict, why, later_is_better) for the later row i against the kept row j. `why` writes the evidence when
        called: quoting the texts costs more than judging, and only the rows removed in the end show it."""
        a, b = self.tokens(j), self.tokens(i)
        if self.domain == "math" and ends_in_other_numbers(a, b):
            self.counts["variant: statement"] += 1  # the verdict the diff gives, at a third of its cost
            return "variant", lambda: self._statement_change(j, i), False
        change, ops, glued = statement_difference(a, b, self.domain, self.named(i) | self.named(j))
        if change:
            self.counts["variant: statement"] += 1
            return "variant", lambda: self._statement_change(j, i, change), False
        # Bounds compare when both statements state their constraints the same way (one without its "Constraints:"
        # section only holds bounds of its prose, "0 <= i < j < n").
        if self.problems is not None and bool(_HAS_CONSTRAINTS.search(self.problems[j])) == bool(_HAS_CONSTRAINTS.search(self.problems[i])):
            bounds_j, bounds_i = limit_values(self.problems[j]), limit_values(self.problems[i])
            if len(bounds_j) and len(bounds_i) and (len(bounds_j) != len(bounds_i) or not np.allclose(bounds_j, bounds_i)):
                self.counts["variant: constraints"] += 1  # a "II" that only enlarges the limits of its "I"
                return "variant", lambda: f"the constraint bounds differ: {_bounds(bounds_j)} vs {_bounds(bounds_i)}", False
        if self.problems is not None:
            defined_j, defined_i = self._defined(j), self._defined(i)
            if defined_j and defined_i and not defined_j & defined_i:
                self.counts["variant: functions"] += 1  # two tasks whose only shared text is boilerplate
                return "variant", lambda: f"the starter code defines other functions: {_names(defined_j)} vs {_names(defined_i)}", False
        if self.tests is not None and (disagreement := tests_disagree(self.tests[j], self.tests[i])):
            self.counts["variant: tests"] += 1
            return "variant", lambda: f"the tests disagree: {disagreement}", False
        gold_i, gold_j = (self.answers[i], self.answers[j]) if self.answers else (None, None)
        answers = ""
        if isinstance(gold_i, str) and isinstance(gold_j, str) and gold_i.strip() and gold_j.strip():
            from ..verify.math import shared_grader

            # Two gold answers, not a model's response: no </think> to require.
            grade = shared_grader().grade_many([(f"\\boxed{{{gold_i}}}", gold_j)], require_think_close=False)[0]
            if not grade.correct:
                self.counts["variant: answers"] += 1
                return (
                    "variant",
                    lambda: f"gold answers {snippet(gold_j, 40)!r} and {snippet(gold_i, 40)!r} are not equivalent ({grade.status})",
                    False,
                )
            answers = f"; gold answers {snippet(gold_j, 40)!r} and {snippet(gold_i, 40)!r} are equivalent"
        # The copy with a second problem glued to an end is the worse one: keep the other.
        later_is_better = glued == "a" and self._asks_more(j, self.tokens(j), ops)
        self.counts["duplicate" + (", later row kept" if later_is_better else "")] += 1
        return "duplicate", lambda: self.differences(j, i, ops, later_is_better) + answers, later_is_better

    def _statement_change(self, j: int, i: int, change=None) -> str:
        """Why the statements of kept row j and row i are two problems: their first difference that changes one."""
        a, b = self.tokens(j), self.tokens(i)
        i1, i2, j1, j2 = change or statement_difference(a, b, self.domain, self.named(i) | self.named(j))[0]
        return f"the statements differ in {self._quote(j, a[i1:i2])!r} vs {self._quote(i, b[j1:j2])!r}"

    def _defined(self, k: int) -> set[str]:
        starter = self.starter[k] if self.starter is not None and isinstance(self.starter[k], str) else ""
        return {name.lower() for name in _DEFINED.findall(self.problems[k] + "\n" + starter) if name != "__init__"}

    def _asks_more(self, k: int, tokens: list[str], ops) -> bool:
        """Whether the stretch only row k has at an edge asks something itself (a second problem glued on)."""
        for tag, i1, i2, _, _ in ops:
            if tag == "delete" and i2 - i1 >= 8 and (i1 == 0 or i2 == len(tokens)):
                return bool(_ASKS.search(self._quote(k, tokens[i1:i2], 2000)))
        return False
