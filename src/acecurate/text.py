"""Text normalisation, tokenisation and n-gram hashing shared by dedup and decontamination, and `last_boxed`.

A token's hash is a polynomial hash of its UTF-8 bytes (mod 2^64, finalised with splitmix64), computed from prefix
sums over the Arrow byte buffer of a whole chunk of texts at once; it depends only on the token's bytes, so it is the
same on every machine and in every process, and benchmark fingerprints can be shipped. An n-gram's hash is a
polynomial combination of its token hashes, also from prefix sums: a constant number of numpy passes whatever n is.
Whole strings (exact dedup keys) are hashed with `hash_strings` (pandas' SipHash with its fixed key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

# Bump when normalize() or tokenize() change: shipped fingerprints record it, and stale ones are rejected.
NORMALIZER_VERSION = 8

# All normalisation runs as vectorised RE2 passes over Arrow string arrays (one C loop per pass over the whole
# corpus), after NFKC and lower-casing. Single texts go through the same code, so a text always tokenises the same
# way alone and in bulk. The patterns are also valid Python `re` patterns (the reference implementation in
# benchmarks/dedup_decontam.py and the tests use them with `re`). Order matters.
# Characters NFKC leaves alone that have a LaTeX or ASCII spelling (only run on text that is not pure ASCII).
UNICODE_PASSES = (
    ("\u2264|\u2a7d", " <= "),
    ("\u2265|\u2a7e", " >= "),
    ("\u2260", " != "),
    ("\u00d7", " times "),
    ("\u00f7", " div "),
    ("\u00b7|\u22c5", " cdot "),
    ("\u2212|\u2013|\u2014", "-"),
    ("\u00b0", " ^ circ "),
    ("\u03c0", " pi "),
    ("\u221a", " sqrt "),
    ("\u221e", " infty "),
)
TEXT_PASSES = (
    # Thousands separators: 24,\!000 and 10{,}000 are 24000 and 10000.
    (r"(\d)(?:,\\!|\{,\})(\d)", r"\1\2"),
    # \frac12 is \frac{1}{2} (braces are dropped below, so the digits must be split here).
    (r"\\[dt]?frac\s*(\d)\s*(\d)", r" frac \1 \2 "),
    # \text{...} and friends keep their content (group 1), \dfrac and \tfrac become frac (group 2); sizing,
    # spacing, `$`, display-math brackets \[ \] \( \) and empty sub/superscripts (`$m_{}$` padding) disappear.
    (
        r"\\(?:text|textbf|textit|textrm|textsf|textnormal|mathrm|mathbf|mathit|mathsf|mbox|hbox|operatorname|emph)"
        r"\s*\{([^{}]*)\}|\\[dt]?(frac)"
        r"|\\(?:left|right|biggl|biggr|bigg|bigl|bigr|big|displaystyle|textstyle|scriptstyle|limits|nolimits|quad|qquad|it|bf|rm)\b"
        r"|\\[,;:! ]|~|\$|\\[\[\]()]|[_^]\s*\{\s*\}",
        r" \1\2 ",
    ),
    # One spelling per relation: \le, \leq, \leqslant are <=; \ge... are >=; \ne, \neq, \not= are !=.
    (r"\\le(?:q|qslant)?\b", " <= "),
    (r"\\ge(?:q|qslant)?\b", " >= "),
    (r"\\neq?\b|\\not\s*=", " != "),
    (r"\\[lc]?dots[bc]?\b|\.\.\.", " dots "),
    (r"\^\s*\\circ\b|\^\s*\{\s*\\circ\s*\}", " ^ circ "),
    (r"-{2,}", "-"),  # -- and --- are dashes, like -
    # Notation that differs between copies of one statement: HTML markup (`10<sup>9</sup>` is `10^9`), Python's power
    # `10**9`, ordinal suffixes (`i^th`, `i-th` are `ith`; `(i+1)^th`, `1^st` are `(i+1)th`, `1st`), and a product of
    # numbers written with `*` or `\cdot` (`2 * 10^5` is `2 \times 10^5`).
    (r"<sup>", "^"),
    (r"<sub>", "_"),
    (r"</?(?:sup|sub|code|strong|em|var|span|pre|p|ul|ol|li)>", ""),
    (r"(\d)\s*\*\*\s*(\d)", r"\1^\2"),
    (r"(?:(\b[a-z])\s*(?:\^\s*\{?\s*|-)(th|st|nd|rd)|([\d)])\s*\^\s*\{?\s*(th|st|nd|rd))(?:\s*\})?\b", r"\1\2\3\4"),
    (r"(\d\s*\}?)\s*(?:\*|\\cdot\b)\s*(\{?\s*\d)", r"\1 times \2"),
)
# Matching view only: a power of ten is written as its digits (`10^9 + 7` and the scraped `109 + 7` are one text).
MATCH_VIEW_PASSES = ((r"\b10\s*\^\s*\{?\s*(\d{1,2})\s*\}?", r"10\1"),)
_SPACE_AROUND_SYMBOL = (r"\s*([^\p{L}\p{N}_\s])\s*", r"\1")
_SPACE = (r"\s+", " ")


# Matching view: drawings, fenced (starter) code, and a code statement's examples and constraints (from the first
# "Example 1:", "Sample Input" or "Constraints" line on: copies of one problem differ in them) are left out.
# A drawing given as code: Asymptote in [asy] or \begin{asy}, or TikZ.
DRAWING = r"\[asy\].*?\[/asy\]|\\begin\{asy\}.*?\\end\{asy\}|\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}"


class GatedPattern:
    """A compiled regex searched only in texts that hold one of its `literals` (every match holds one, so a text
    without any cannot match): a substring test costs far less than a regex search that fails at every position.
    With `ignore_case`, the literals are lower case and tested on the lower-cased text, and only where the text is
    ASCII (Unicode case folding matches look-alikes: `ſ` for `s`, the Kelvin sign for `k`). Searches, matches and
    substitutions return exactly what the pattern's own would."""

    def __init__(self, pattern: re.Pattern, literals: tuple[str, ...], ignore_case: bool | None = None):
        self.pattern, self.literals = pattern, literals
        self.ignore_case = bool(pattern.flags & re.IGNORECASE) if ignore_case is None else ignore_case

    def may_match(self, text: str) -> bool:
        if self.ignore_case:
            if not text.isascii():
                return True
            text = text.lower()
        return any(literal in text for literal in self.literals)

    def search(self, text: str, *span):
        return self.pattern.search(text, *span) if self.may_match(text) else None

    def match(self, text: str, *span):
        return self.pattern.match(text, *span) if self.may_match(text) else None

    def finditer(self, text: str, *span):
        return self.pattern.finditer(text, *span) if self.may_match(text) else iter(())

    def findall(self, text: str, *span):
        return self.pattern.findall(text, *span) if self.may_match(text) else []

    def sub(self, replacement, text: str, count: int = 0) -> str:
        return self.pattern.sub(replacement, text, count) if self.may_match(text) else text


ASY_BLOCK = GatedPattern(re.compile(DRAWING, re.IGNORECASE | re.DOTALL), ("[asy]", "\\begin{asy}", "\\begin{tikzpicture}"))
MATCH_VIEW_DROP = r"(?s)" + DRAWING + r"|```.*?```|(?m:^[ \t]*(?:example 1:|sample input|constraints:?[ \t]*$)).*"


def _token_text_many(texts, match_view: bool = False):
    """The normalisation steps that change tokens (spacing around symbols does not), as an Arrow array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), type=pa.large_string())
    array = array.fill_null("")
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    # NFKC and the Unicode passes change nothing in ASCII text, and cost most: only the other texts take them.
    other = pc.invert(pc.string_is_ascii(array))
    lowered = pc.ascii_lower(array)
    if pc.any(other).as_py():
        rest = pc.utf8_normalize(array.filter(other), form="NFKC")
        for pattern, replacement in UNICODE_PASSES:
            rest = pc.replace_substring_regex(rest, pattern=pattern, replacement=replacement)
        lowered = pc.replace_with_mask(lowered, other, pc.utf8_lower(rest))
    array = lowered
    if match_view:
        array = pc.replace_substring_regex(array, pattern=MATCH_VIEW_DROP, replacement=" ")
    for pattern, replacement in TEXT_PASSES + (MATCH_VIEW_PASSES if match_view else ()):
        array = pc.replace_substring_regex(array, pattern=pattern, replacement=replacement)
    return array


def normalize_many(texts, workers: int = 1, chunk_rows: int = 50_000) -> list[str]:
    """normalize() for many texts at once, in chunks on `workers` threads (Arrow kernels release the GIL)."""
    texts = list(texts)
    if workers > 1 and len(texts) > chunk_rows:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = pool.map(_normalize_chunk, [texts[i : i + chunk_rows] for i in range(0, len(texts), chunk_rows)])
            return [text for part in parts for text in part]
    return _normalize_chunk(texts)


def _normalize_chunk(texts) -> list[str]:
    import pyarrow.compute as pc

    array = _token_text_many(texts)
    for pattern, replacement in (_SPACE_AROUND_SYMBOL, _SPACE):
        array = pc.replace_substring_regex(array, pattern=pattern, replacement=replacement)
    return pc.utf8_trim_whitespace(array).to_pylist()


def normalize(text: str) -> str:
    """Meaning-preserving canonical form: NFKC, lower case, no `$`, no LaTeX spacing, sizing or empty sub/superscripts,
    one spelling of <=, >=, != and dots, no spaces around symbols ("2x = 4" is "2x=4"), single spaces. Digits are kept
    as they are: "x=12" and "x=13" stay different."""
    return normalize_many([text])[0]


def tokenize(text: str, match_view: bool = False) -> list[str]:
    """Tokens of the normalised text: runs of letters (ASCII letters and any non-ASCII character), runs of digits,
    and each operator symbol (`+ - * / = < > ( ) [ ] | ^ ! % '`) alone, so "(2n+1)" and "(2n-1)" differ and "15a"
    is "15 a". Spaces, punctuation, `_`, braces, backslashes and `$` only separate tokens, so `a_{1}` is `a_1`.

    `match_view` is how decontamination compares a row with a benchmark item: `[asy]` drawing code, fenced code
    (starter code) and a code statement's examples and constraints are left out (a redrawn figure or new examples make
    no new problem) and two-letter words are split (`Ax` and `A x` are one product)."""
    return tokenize_many([text], match_view)[0]


def tokenize_many(texts, match_view: bool = False) -> list[list[str]]:
    """tokenize() for many texts: one vectorised normalisation, then the token regex per text."""
    normalised = _token_text_many(list(texts), match_view).to_pylist() if len(texts) else []
    tokens = [_TOKEN.findall(text) for text in normalised]
    if match_view:
        tokens = [[p for t in row for p in ((t[0], t[1]) if len(t) == 2 and t.isascii() and t.isalpha() else (t,))] for row in tokens]
    return tokens


# Byte classes drive bulk tokenisation (tokenize_corpus); the regex for single texts (tokenize) is built from the
# same table, so the two cannot disagree. A token is a run of one class (letters or digits), or one symbol byte.
_SEPARATOR, _LETTER, _DIGIT, _SYMBOL = 0, 1, 2, 3
SYMBOLS = "+-*/=<>()[]|^!%'"
_BYTE_CLASS = np.zeros(256, dtype=np.int8)
_BYTE_CLASS[ord("a") : ord("z") + 1] = _LETTER
_BYTE_CLASS[ord("A") : ord("Z") + 1] = _LETTER
_BYTE_CLASS[0x80:] = _LETTER  # every byte of a non-ASCII character
_BYTE_CLASS[ord("0") : ord("9") + 1] = _DIGIT
for _symbol in SYMBOLS:
    _BYTE_CLASS[ord(_symbol)] = _SYMBOL
_TOKEN = re.compile("[A-Za-z\u0080-\U0010ffff]+|[0-9]+|[" + re.escape(SYMBOLS) + "]")


def hash_strings(strings: list[str]) -> np.ndarray:
    """Stable 64-bit hashes of strings, computed in C."""
    import pandas as pd

    if not strings:
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(np.asarray(strings, dtype=object), categorize=False)


@dataclass
class TokenizedCorpus:
    """The token hashes of many texts, concatenated, with offsets: text i is hashes[offsets[i]:offsets[i+1]]."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = n_texts + 1
    numeric: np.ndarray  # bool per token: a run of digits (decontamination masks numbers to find templates)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def subset(self, rows: np.ndarray) -> TokenizedCorpus:
        lengths = self.lengths[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        take = np.concatenate([np.arange(self.offsets[r], self.offsets[r + 1]) for r in rows]) if len(rows) else np.zeros(0, np.int64)
        return TokenizedCorpus(self.hashes[take], offsets, self.numeric[take])


_BYTE_BASE = np.uint64(0x100000001B3)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the whole 64-bit hash."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_power_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _powers(n: int, base: np.uint64 = _BYTE_BASE) -> tuple[np.ndarray, np.ndarray]:
    """base^i and base^-i (mod 2^64; base is odd, so it has an inverse) for i < n, computed once and reused."""
    cached = _power_cache.get(int(base))
    if cached is None or len(cached[0]) < n:
        size = max(2 * n, 1 << 22)  # doubling: chunks a little longer than the last do not recompute it each time
        inverse_base = np.uint64(pow(int(base), -1, 1 << 64))
        with np.errstate(over="ignore"):
            powers = np.ones(size, dtype=np.uint64)
            inverse = np.ones(size, dtype=np.uint64)
            np.cumprod(np.full(size - 1, base, dtype=np.uint64), out=powers[1:])
            np.cumprod(np.full(size - 1, inverse_base, dtype=np.uint64), out=inverse[1:])
        cached = _power_cache[int(base)] = (powers, inverse)
    return cached


def _tokenize_chunk(array, split_pairs: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token hashes, numeric flags, tokens per text) for one Arrow large_string array, straight from its byte buffer:
    byte classes come from a lookup table, a token starts where the class changes (or at every symbol byte), and each
    token's polynomial hash comes from prefix sums, all in numpy."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = (
        np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]] if offsets[-1] > offsets[0] else np.zeros(0, np.uint8)
    )
    offsets = offsets - offsets[0]
    kind = _BYTE_CLASS[data]
    row_start = np.zeros(len(data) + 1, dtype=bool)
    row_start[offsets] = True
    inside = kind != _SEPARATOR
    # joined[i]: byte i+1 goes on the token of byte i (same class, no symbol, same text)
    joined = (kind[1:] == kind[:-1]) & (kind[1:] != _SYMBOL) & ~row_start[1:-1]
    starts = np.flatnonzero(inside & ~np.r_[False, joined])
    ends = np.flatnonzero(inside & ~np.r_[joined, False]) + 1
    if split_pairs:  # two ASCII letters become two tokens
        pair = (
            (ends - starts == 2) & (kind[starts] == _LETTER) & (data[starts] < 0x80) & (data[np.minimum(starts + 1, len(data) - 1)] < 0x80)
        )
        at = np.flatnonzero(pair)  # the new edges fall inside token `at`: inserted in place, the edges stay sorted
        starts, ends = np.insert(starts, at + 1, starts[at] + 1), np.insert(ends, at, ends[at] - 1)
    powers, inverse = _powers(len(data) + 1, _BYTE_BASE)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(data) + 1, dtype=np.uint64)
        np.cumsum((data.astype(np.uint64) + np.uint64(1)) * powers[: len(data)], out=prefix[1:])
        hashes = _mix((prefix[ends] - prefix[starts]) * inverse[starts] + (ends - starts).astype(np.uint64))
    owners = np.searchsorted(offsets, starts, side="right") - 1
    return hashes, kind[starts] == _DIGIT, np.bincount(owners, minlength=len(array))


def tokenize_corpus(texts, chunk_rows: int = 20_000, match_view: bool = False) -> TokenizedCorpus:
    """Token hashes of every text, vectorised over the corpus in chunks (memory stays bounded at 10^6 rows). Equal
    tokens get equal hashes in any text, alone or in bulk. `match_view`: as in `tokenize`."""
    texts = list(texts)
    parts, numeric, counts = [], [], []
    for begin in range(0, len(texts), chunk_rows):
        array = _token_text_many(texts[begin : begin + chunk_rows], match_view)
        if hasattr(array, "combine_chunks"):
            array = array.combine_chunks()
        hashes, digits, per_text = _tokenize_chunk(array, match_view)
        parts.append(hashes)
        numeric.append(digits)
        counts.append(per_text)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    return TokenizedCorpus(
        np.concatenate(parts) if parts else np.zeros(0, np.uint64), offsets, np.concatenate(numeric) if numeric else np.zeros(0, bool)
    )


# Odd 64-bit multiplier for the polynomial combination of token hashes (arithmetic wraps mod 2^64).
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
# Marks a whole-text shingle (text shorter than n) so it never equals a true n-gram of the same tokens.
_SHORT_TEXT_SALT = np.uint64(0x5BD1E9955BD1E995)


@dataclass
class Shingles:
    """N-gram hashes of a corpus: hashes[i] belongs to text owner[i]. Texts shorter than n give one whole-text shingle."""

    hashes: np.ndarray  # uint64
    owner: np.ndarray  # int64
    start: np.ndarray  # int64: position of the shingle's first token within its text
    n_texts: int


def window_hashes(corpus: TokenizedCorpus, n: int, salted: bool = False) -> Shingles:
    """Hashes of every n-token window that lies inside one text. `salted` gives the whole-text shingle form, so a
    window equal to a short text (fewer than n tokens) matches that text's shingle."""
    h, lengths = corpus.hashes, corpus.lengths
    counts = np.maximum(lengths - n + 1, 0)  # windows that start and end inside each text
    total = int(counts.sum())
    if total == 0:
        return Shingles(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64), len(corpus))
    owner = np.repeat(np.arange(len(corpus), dtype=np.int64), counts)
    start = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)  # position within its text
    first = corpus.offsets[:-1][owner] + start  # position in the corpus
    # sum_t h[j+t] * M^(n-1-t) for every window j at once, from prefix sums of h[k] * M^-k: a constant number of
    # passes over memory whatever n is. Equal to folding acc = acc * M + h token by token.
    powers, inverse = _powers(len(h) + 1, _MULTIPLIER)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(h) + 1, dtype=np.uint64)
        np.cumsum(h * inverse[: len(h)], out=prefix[1:])
        hashes = (prefix[first + n] - prefix[first]) * powers[first + (n - 1)]
        if salted:
            hashes += _SHORT_TEXT_SALT * powers[n]
    return Shingles(hashes, owner, start, len(corpus))


def shingle_corpus(corpus: TokenizedCorpus, n: int) -> Shingles:
    """All word n-gram hashes of every text, computed in n vectorised passes over the whole corpus; a text shorter
    than n gives one whole-text shingle."""
    full = window_hashes(corpus, n)
    lengths = corpus.lengths
    short_ids = np.flatnonzero((lengths > 0) & (lengths < n))
    short_hashes = np.empty(len(short_ids), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k, i in enumerate(short_ids):
            acc = _SHORT_TEXT_SALT
            for token_hash in corpus.hashes[corpus.offsets[i] : corpus.offsets[i + 1]]:
                acc = acc * _MULTIPLIER + token_hash
            short_hashes[k] = acc
    return Shingles(
        np.concatenate([full.hashes, short_hashes]),
        np.concatenate([full.owner, short_ids.astype(np.int64)]),
        np.concatenate([full.start, np.zeros(len(short_ids), np.int64)]),
        len(corpus),
    )


_FRAC = re.compile(r"\\[dt]?frac(?![A-Za-z])")
_COMMAND_TOKEN = re.compile(r"\\[A-Za-z]+|\\.")


def _tex_argument(text: str, cursor: int) -> tuple[str, int] | None:
    """(the argument, the position after it) of a TeX argument at `cursor`: a braced group (braces balanced) or, as TeX
    reads `\\frac n{729}` and `\\frac12`, one character or one command; None at the end or an unbalanced group."""
    while cursor < len(text) and text[cursor] == " ":
        cursor += 1
    if cursor >= len(text) or text[cursor] in "}$":
        return None
    if text[cursor] != "{":
        command = _COMMAND_TOKEN.match(text, cursor)
        end = command.end() if command else cursor + 1
        return text[cursor:end], end
    depth = 0
    for k in range(cursor, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[cursor + 1 : k], k + 1
    return None


def fractions_as_slashes(text: str) -> str:
    """`\\frac{A}{B}` (also `\\frac n{729}`, `\\frac12`) and `{A \\over B}` written as `{A}/{B}` (braces balanced), so
    `\\tfrac{2}{\\sqrt3}` reads like `2/\\sqrt3`. For comparing two statements or an answer with an option; a fraction it
    cannot parse stays as it was."""
    text = re.sub(r"\\over\b", "/", text)
    out, position = [], 0
    while (match := _FRAC.search(text, position)) is not None:
        numerator = _tex_argument(text, match.end())
        denominator = _tex_argument(text, numerator[1]) if numerator else None
        if denominator is None:
            out.append(text[position : match.end()])
            position = match.end()
            continue
        top, bottom = fractions_as_slashes(numerator[0]), fractions_as_slashes(denominator[0])
        out.append(text[position : match.start()] + "{" + top + "}/{" + bottom + "}")
        position = denominator[1]
    return "".join(out) + text[position:]


_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
# TeX takes a one-token argument without braces: `\boxed 5`. Only a lone number or letter followed by a delimiter
# counts, so `\boxed 12\sqrt3` is no box (it would read as 12).
_BARE_ARGUMENT = re.compile(r"([+-]?\d+(?:\.\d+)?|[A-Za-z])(?=\s|$|[.,;:!?$)\]}]|\\[\])])")
_BOX_TOKEN = re.compile(_BOX.pattern + r"|[{}]")


class Box(NamedTuple):
    """One box of a text: `text[start:end]` is `\\boxed{...}` (or `\\boxed 5`), `text[inner_start:inner_end]` its
    content, `children` the boxes directly inside it, in order."""

    start: int
    end: int
    inner_start: int
    inner_end: int
    children: list


def box_tree(text: str) -> list[Box]:
    """The top-level boxes of a text, each with the boxes inside it, in one pass over the text (linear in its length
    whatever the nesting). A box's brace closes at the matching `}`; a top-level box that never closes is a truncated
    one: it and everything after it give nothing."""
    top: list[Box] = []
    braces: list[int] = []  # for each open brace, the start of the box it opens, or -1 for a plain brace
    inside: list[tuple[int, list]] = []  # (content start, children) of each open box, innermost last
    box_start, box_brace = -1, -1  # the last box command, and where its opening brace would be
    for match in _BOX_TOKEN.finditer(text):
        token, position = match.group(), match.start()
        if token == "{":
            opens_box = position == box_brace
            braces.append(box_start if opens_box else -1)
            if opens_box:
                inside.append((position + 1, []))
        elif token == "}":
            if not braces:
                continue  # a stray closing brace outside every box
            start = braces.pop()
            if start >= 0:
                inner_start, children = inside.pop()
                (inside[-1][1] if inside else top).append(Box(start, match.end(), inner_start, position, children))
        else:
            box_start, box_brace = position, match.end()
            if not text.startswith("{", match.end()):
                bare = _BARE_ARGUMENT.match(text, match.end())  # holds no brace or backslash: no token is skipped
                if bare:
                    (inside[-1][1] if inside else top).append(Box(position, bare.end(), match.end(), bare.end(), []))
    return top


def box_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each top-level box, in order; an unbalanced (truncated) box ends the list."""
    return [(box.start, box.end, text[box.inner_start : box.inner_end]) for box in box_tree(text)]


def boxed_contents(text: str) -> list[str]:
    """Contents of the top-level \\boxed{...} and \\fbox{...} in text, in order, braces balanced (and `\\boxed 5`).
    An unbalanced box is a truncated one: it and everything after it give nothing."""
    return [content for _, _, content in box_spans(text)]


def unboxed(text: str, box: Box) -> str:
    """A box's content with every box inside it replaced by its own content (spaced), in one pass."""
    pieces: list[str] = []
    work: list = [(box.inner_start, box.inner_end, iter(box.children))]
    while work:
        position, stop, children = work[-1]
        child = next(children, None)
        if child is None:
            pieces.append(text[position:stop])
            work.pop()
            if work:
                pieces.append(" ")
            continue
        pieces += [text[position : child.start], " "]
        work[-1] = (child.end, stop, children)
        work.append((child.inner_start, child.inner_end, iter(child.children)))
    return "".join(pieces)


def unbox(text: str) -> str:
    """The text with every box replaced by its content (inner boxes too)."""
    whole = Box(0, len(text), 0, len(text), box_tree(text))
    return unboxed(text, whole)


def last_boxed(text: str) -> str | None:
    """Content of the last top-level \\boxed{...} or \\fbox{...} in text, braces balanced; None if there is none."""
    boxes = boxed_contents(text)
    return boxes[-1] if boxes else None


def snippet(text, limit: int = 160) -> str:
    """The start of a text on one line, for evidence columns and tables."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# What may separate two tokens in the original text: ASCII that is no letter, digit or symbol token (so the search
# cannot backtrack), as an explicit class (a negated class over all of Unicode takes seconds to compile).
_GAP = "[" + "".join(re.escape(chr(c)) for c in range(128) if not chr(c).isalnum() and chr(c) not in SYMBOLS) + "]*"


def quote(text: str, tokens: list[str], limit: int = 160) -> str:
    """The stretch of `text` that normalised `tokens` were cut from, as it is written there: evidence quotes the text
    ("taken by f(x)"), never the tokens ("taken b y f ( x )"). Tokens that normalisation spelled anew (`<=` for `\\le`)
    are bridged by the stretch from the first to the last tokens found; with none found, the tokens joined."""
    if not tokens:
        return ""

    def find(part: list[str], start: int = 0):
        return re.compile(_GAP.join(re.escape(t) for t in part), re.IGNORECASE).search(text, start)

    whole = find(tokens)
    if whole is not None:
        return snippet(whole.group(0), limit)
    head = next((m for k in (3, 2, 1) if (m := find(tokens[:k]))), None)
    tail = next((m for k in (3, 2, 1) if head and (m := find(tokens[-k:], head.end()))), None) if len(tokens) > 3 else head
    if head is None or tail is None:
        return snippet(" ".join(tokens), limit)
    return snippet(text[head.start() : tail.end()], limit)


def plural(count: int, noun: str) -> str:
    """`1 problem`, `2 problems`, `1,000 rows`: a count with its noun."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
