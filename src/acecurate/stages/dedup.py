"""Exact and near-duplicate removal.

Exact: rows whose normalised problem text (or, for code, source URL) is equal; the row of the highest-priority source
is kept. Near: MinHash LSH over token bigrams (numbers, operators and LaTeX commands are tokens; bigrams found in many
rows are stock phrasing and left out) finds candidates; a pair whose *real* Jaccard similarity reaches the threshold is
then judged: it is the same problem only when the statements differ in wording alone, math gold answers are equivalent
under the grader, and code tests agree. Otherwise it is a variant (a different problem, kept with `variant_of`). Rows are
compared only with rows that are themselves kept, so removals never chain through dissimilar rows.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

from ..config import setting
from ..stage import StageResult, stage
from ..suites import MalformedTests, parse_tests, unlimited_int_digits
from ..text import (
    ASY_BLOCK,
    SYMBOLS,
    Shingles,
    fractions_as_slashes,
    hash_strings,
    normalize_many,
    shingle_corpus,
    snippet,
    tokenize_corpus,
    tokenize_many,
)


def priority_order(frame, source_priority: list[str]) -> np.ndarray:
    """Row positions sorted by source priority (listed sources first, in list order), then by input order."""
    rank = {source: i for i, source in enumerate(source_priority)}
    ranks = frame["source"].map(lambda s: rank.get(s, len(rank))).to_numpy()
    return np.lexsort((np.arange(len(frame)), ranks))


def _first_by_key(keys: np.ndarray, order: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """For each row, the position of the first row (in `order`) with the same key; -1 where not valid."""
    first = np.full(len(keys), -1, dtype=np.int64)
    ordered = order[valid[order]]
    if len(ordered) == 0:
        return first
    _, first_index, inverse = np.unique(keys[ordered], return_index=True, return_inverse=True)
    first[ordered] = ordered[first_index[inverse]]
    return first


@dataclass
class DedupConfig:
    source_priority: list[str] = setting(factory=list, help="Earlier sources win; unlisted ones follow in input order.")
    by_url: bool = setting(True, "Code: the same problem URL is the same problem.")
    max_groups_reported: int = 20


@stage(
    "dedup",
    DedupConfig,
    requires=("id", "source", "problem"),
    evidence=("dup_of",),
    example="acecurate dedup dumps/a.jsonl dumps/b.parquet --source-priority b --out runs/dedup",
)
def exact_dedup(frame, config: DedupConfig, ctx) -> StageResult:
    """Remove rows whose normalised statement (or URL) equals an earlier, higher-priority row's."""
    order = priority_order(frame, config.source_priority)
    first = _first_by_key(
        hash_strings(normalize_many(frame["problem"].tolist(), workers=ctx.workers)), order, np.ones(len(frame), dtype=bool)
    )
    reason = np.where(first != np.arange(len(frame)), "exact_duplicate", None).astype(object)
    if config.by_url and "url" in frame:
        urls = frame["url"].fillna("").astype(str).str.strip().str.rstrip("/").str.lower().to_numpy()
        has_url = urls != ""
        # Only rows still kept compete for a URL, so each removed row points at a kept one.
        url_first = _first_by_key(hash_strings(list(urls)), order, has_url & (reason == None))  # noqa: E711
        by_url = (url_first >= 0) & (url_first != np.arange(len(frame))) & (reason == None)  # noqa: E711
        reason[by_url] = "duplicate_url"
        first = np.where(by_url, url_first, first)
    removed_mask = reason != None  # noqa: E711
    ids = frame["id"].to_numpy()
    removed = frame[removed_mask].copy()
    removed["dup_of"] = ids[first[removed_mask]]
    removed["reason"] = reason[removed_mask]
    problems = frame["problem"].to_numpy()
    removed["evidence"] = [
        f"{'same normalised statement' if r == 'exact_duplicate' else 'same URL'} as kept row {ids[f]!r}: {snippet(problems[f])}"
        for r, f in zip(reason[removed_mask], first[removed_mask])
    ]
    groups = removed.groupby("dup_of").size().sort_values(ascending=False)
    return StageResult(
        frame[~removed_mask].copy(),
        removed,
        {
            "duplicate_groups": len(groups),
            "largest_groups": [{"kept": k, "duplicates": int(v)} for k, v in groups.head(config.max_groups_reported).items()],
        },
    )


@dataclass
class NearDedupConfig:
    threshold: float = setting(0.5, "Jaccard similarity of token bigram sets (stock bigrams left out) from which two rows are compared.")
    ngram: int = setting(2, "Tokens per shingle (numbers, operators and LaTeX commands are tokens).")
    num_perm: int = 120
    bands: int = setting(40, "LSH bands (num_perm / bands rows each); 40 x 3 finds a 0.5-similar pair with probability > 0.99.")
    seed: int = 1
    stock_share: float = setting(0.01, "Shingles in more than this share of the rows (and in stock_min_rows) are stock phrasing, left out.")
    stock_min_rows: int = 50
    check_answers: bool = setting(True, "Math: two rows whose gold answers the grader finds not equivalent are variants, not duplicates.")
    max_judged: int = setting(5, "Similar kept rows judged per row, most similar first (a row with many kept variants meets the closest).")
    source_priority: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")


_EMPTY = np.iinfo(np.uint64).max


def minhash_signatures(shingles, num_perm: int, seed: int, chunk_entries: int = 1 << 24) -> np.ndarray:
    """One row of `num_perm` minimums per text, from the multiply-shift family (a*x + b mod 2^64, a odd)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    order = np.argsort(shingles.owner, kind="stable")
    hashes, owner = shingles.hashes[order], shingles.owner[order]
    signatures = np.full((shingles.n_texts, num_perm), _EMPTY, dtype=np.uint64)
    step = max(1, chunk_entries // num_perm)
    with np.errstate(over="ignore"):
        for start in range(0, len(hashes), step):
            block_hashes, block_owner = hashes[start : start + step], owner[start : start + step]
            permuted = block_hashes[:, None] * a[None, :] + b[None, :]
            starts = np.flatnonzero(np.r_[True, block_owner[1:] != block_owner[:-1]])
            minima = np.minimum.reduceat(permuted, starts, axis=0)
            owners = block_owner[starts]
            # A text split across two blocks takes the minimum of both parts.
            signatures[owners] = np.minimum(signatures[owners], minima)
    return signatures


def _band_keys(signatures: np.ndarray, bands: int) -> np.ndarray:
    rows = signatures.shape[1] // bands
    keys = np.zeros((signatures.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(rows):
            keys = keys * np.uint64(0x100000001B3) + signatures[:, j::rows][:, :bands]
    return keys


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of unique shingle hashes."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def _shingle_sets(texts: list[str], config: NearDedupConfig) -> tuple[Shingles, list[np.ndarray], int]:
    """Each text's distinct shingles without stock ones (found in too many rows), and how many stock shingles."""
    shingles = shingle_corpus(tokenize_corpus(texts), config.ngram)
    if not len(shingles.hashes):
        return shingles, [np.zeros(0, np.uint64) for _ in texts], 0
    # Distinct (text, shingle) pairs, sorted by text then shingle: each text's set is one sorted slice.
    pairs = np.unique(np.stack([shingles.owner.astype(np.uint64), shingles.hashes], axis=1), axis=0)
    distinct, rows_with = np.unique(pairs[:, 1], return_counts=True)
    stock = distinct[rows_with > max(config.stock_min_rows, config.stock_share * len(texts))]
    pairs = pairs[~np.isin(pairs[:, 1], stock)]
    owner = pairs[:, 0].astype(np.int64)
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1))
    sets = [pairs[bounds[i] : bounds[i + 1], 1] for i in range(len(texts))]
    return Shingles(pairs[:, 1], owner, np.zeros(len(owner), np.int64), len(texts)), sets, len(stock)


def near_duplicates(texts: list[str], config: NearDedupConfig, order: np.ndarray, track=None, judge: PairJudge | None = None):
    """For each text, the kept text it duplicates (dup_of, else -1) and the kept text it is a variant of (variant_of,
    else -1), with the similarity and what decided. `judge(i, j)` -> ("duplicate" | "variant", why) decides pairs whose
    similarity reaches the threshold; without one, every such pair is a duplicate."""
    shingles, sets, stock = _shingle_sets(texts, config)
    signatures = minhash_signatures(shingles, config.num_perm, config.seed)
    keys = _band_keys(signatures, config.bands)
    n = len(texts)
    dup_of, variant_of = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    similarity, variant_similarity = np.zeros(n), np.zeros(n)
    why: dict[int, str] = {}
    shared = np.zeros(n, dtype=bool)
    for band in range(config.bands):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    has_shingles = np.array([len(s) > 0 for s in sets], dtype=bool)
    candidates_rows = [i for i in order if shared[i] and has_shingles[i]]
    if judge is not None:
        judge.prepare(candidates_rows)
    buckets: list[dict[int, list[int]]] = [dict() for _ in range(config.bands)]
    checked = judged = 0
    iterator = track(candidates_rows, len(candidates_rows), "verify candidates") if track else candidates_rows
    floor = config.threshold - 0.2  # MinHash estimates within 0.2 of the threshold are verified exactly
    for i in iterator:
        row_keys = keys[i]
        seen: set[int] = set()
        for band in range(config.bands):
            seen.update(buckets[band].get(int(row_keys[band]), ()))
        if seen:
            cands = np.fromiter(seen, dtype=np.int64, count=len(seen))
            estimates = (signatures[cands] == signatures[i]).mean(axis=1)
            judged_here = 0
            for j in cands[np.argsort(-estimates, kind="stable")][: np.count_nonzero(estimates >= floor)]:
                checked += 1
                sim = jaccard(sets[i], sets[j])
                if sim < config.threshold:
                    continue
                if judged_here == config.max_judged:
                    break
                judged, judged_here = judged + 1, judged_here + 1
                verdict, reason = judge(int(i), int(j)) if judge else ("duplicate", "")
                if verdict == "duplicate":
                    dup_of[i], similarity[i], why[i] = j, sim, reason
                    break
                if variant_of[i] < 0:
                    variant_of[i], variant_similarity[i], why[i] = j, sim, reason
        if dup_of[i] < 0:
            for band in range(config.bands):
                buckets[band].setdefault(int(row_keys[band]), []).append(i)
    similarity = np.where(dup_of >= 0, similarity, variant_similarity)
    stats = {"candidate_rows": len(candidates_rows), "pairs_verified": checked, "pairs_judged": judged, "stock_shingles": stock}
    return dup_of, variant_of, similarity, why, stats


# What counts as a change of problem in a math statement: numbers, operators, one-letter names, words written in
# capitals (point names such as ABC, the word to permute), LaTeX commands that name something (\heartsuit, \alpha),
# and the words that flip what is asked. Other words are
# wording ("then find" vs "compute", names of people, typos).
_MATH_MEANING_WORDS = frozenset(
    [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "thousand",
        "million",
        "billion",
        "first",
        "second",
        "third",
        "fourth",
        "fifth",
        "sixth",
        "seventh",
        "eighth",
        "ninth",
        "tenth",
        "half",
        "halves",
        "twice",
        "double",
        "triple",
        "quarter",
        "quarters",
        "thirds",
        "once",
        "not",
        "no",
        "never",
        "without",
        "except",
        "only",
        "all",
        "any",
        "each",
        "every",
        "some",
        "none",
        "both",
        "either",
        "neither",
        "least",
        "most",
        "minimum",
        "maximum",
        "minimal",
        "maximal",
        "smallest",
        "largest",
        "greatest",
        "fewest",
        "shortest",
        "longest",
        "min",
        "max",
        "increasing",
        "decreasing",
        "ascending",
        "descending",
        "left",
        "right",
        "last",
        "before",
        "after",
        "above",
        "below",
        "inside",
        "outside",
        "odd",
        "even",
        "same",
        "different",
        "distinct",
        "equal",
        "unequal",
        "positive",
        "negative",
        "nonnegative",
        "nonpositive",
        "rational",
        "irrational",
        "prime",
        "composite",
        "sum",
        "product",
        "difference",
        "quotient",
        "remainder",
        "area",
        "perimeter",
        "volume",
        "radius",
        "diameter",
        "probability",
        "expected",
        "ordered",
        "unordered",
        "consecutive",
        "adjacent",
        "perpendicular",
        "parallel",
        "sin",
        "cos",
        "tan",
        "cot",
        "sec",
        "csc",
        "log",
        "ln",
        "sqrt",
        "cdot",
        "times",
        "div",
        "pm",
        "mp",
        "cup",
        "cap",
        "subset",
        "circ",
        "infty",
        "pi",
    ]
)
# Code statements: every word but these changes the task (easy vs hard, "preorder" vs "inorder", "I" vs "II").
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "and",
        "or",
        "as",
        "is",
        "are",
        "be",
        "been",
        "was",
        "were",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "how",
        "we",
        "you",
        "your",
        "our",
        "us",
        "he",
        "she",
        "his",
        "her",
        "can",
        "may",
        "will",
        "would",
        "should",
        "shall",
        "must",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "such",
        "so",
        "than",
        "then",
        "also",
        "into",
        "onto",
        "over",
        "under",
    ]
)
_SYMBOL_TOKENS = frozenset(SYMBOLS)
_CAPITALS = re.compile(r"(?<![\\A-Za-z])[A-Z]{2,}(?![A-Za-z])")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
# LaTeX commands that only format or decorate; every other command (\heartsuit, \alpha, \angle) names something.
_FORMATTING = frozenset(
    [
        "text",
        "textbf",
        "textit",
        "textrm",
        "textsf",
        "textnormal",
        "mathrm",
        "mathbf",
        "mathit",
        "mathsf",
        "mathbb",
        "mathcal",
        "mbox",
        "hbox",
        "operatorname",
        "emph",
        "frac",
        "dfrac",
        "tfrac",
        "left",
        "right",
        "bigl",
        "bigr",
        "big",
        "bigg",
        "biggl",
        "biggr",
        "quad",
        "qquad",
        "displaystyle",
        "textstyle",
        "scriptstyle",
        "limits",
        "nolimits",
        "begin",
        "end",
        "overline",
        "underline",
        "it",
        "bf",
        "rm",
        "phantom",
        "hspace",
        "vspace",
        "dots",
        "ldots",
        "cdots",
        "vdots",
        "ddots",
        "label",
        "boxed",
        "color",
        "textcolor",
        "renewcommand",
        "arraystretch",
        "newline",
        "noindent",
        "centering",
        "item",
        "over",
    ]
)


def _is_content(token: str, domain: str, capitals: set[str]) -> bool:
    if token[0].isdigit() or token in _SYMBOL_TOKENS or len(token) == 1 or token in capitals:
        return True
    return token in _MATH_MEANING_WORDS if domain == "math" else token not in _STOPWORDS


def _chunk_text(tokens: list[str], limit: int = 60) -> str:
    return snippet(" ".join(tokens), limit) if tokens else "(nothing)"


def statement_difference(a: list[str], b: list[str], domain: str, capitals: frozenset[str] = frozenset()) -> tuple[str | None, str]:
    """(the first difference that changes the problem, or None; a summary of every difference) between two token lists.

    Wording is not a change: prose words in math, stopwords in code, a word written with or without a hyphen. In math,
    neither is a sentence added or dropped at the start or end (a note, a definition, a credit line: at most half the
    text), nor a reworded stretch that brings in no number, symbol or name the other statement lacks ("Find the least k"
    vs "Let k be the least ... Find k"). A math pair that passes is still a variant when its gold answers differ."""
    # The common start and end are matched without the quadratic matcher (near duplicates share most of both).
    prefix = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    limit = min(len(a), len(b)) - prefix
    suffix = next((k for k in range(limit) if a[len(a) - 1 - k] != b[len(b) - 1 - k]), limit)
    matcher = SequenceMatcher(None, a[prefix : len(a) - suffix], b[prefix : len(b) - suffix], autojunk=False)
    in_a, in_b = set(a), set(b)
    changes, summary = None, []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix
        left, right = a[i1:i2], b[j1:j2]
        summary.append(f"{_chunk_text(left)!r} -> {_chunk_text(right)!r}")
        if changes is not None:
            continue
        content = [t for t in left + right if _is_content(t, domain, capitals)]
        if not content:
            continue
        letters = [t for t in left + right if not t[0].isdigit() and t not in _SYMBOL_TOKENS]
        if all(len(t) > 1 for t in letters) and "".join(t for t in left if t not in _SYMBOL_TOKENS) == "".join(
            t for t in right if t not in _SYMBOL_TOKENS
        ):
            continue  # "in-box" vs "inbox"
        if domain == "math":
            at_edge = (i1 == 0 and j1 == 0) or (i2 == len(a) and j2 == len(b))
            added = len(left) + len(right)
            if tag in ("insert", "delete") and at_edge and 3 <= added <= 0.5 * max(len(a), len(b)):
                continue  # an added note, definition or credit line
            if left + right in (["a"], ["an"]):
                continue  # an article
            worded = len(content) < len(left) + len(right)
            if (
                worded
                and all(t in in_b for t in left if _is_content(t, domain, capitals))
                and all(t in in_a for t in right if _is_content(t, domain, capitals))
            ):
                continue  # reworded, bringing in nothing the other statement lacks: "let k be", "find k"
        changes = f"{_chunk_text(left)!r} vs {_chunk_text(right)!r}"
    return changes, "; ".join(summary[:4]) + (f"; ... ({len(summary)} differences)" if len(summary) > 4 else "")


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


_CODE_METADATA = re.compile(r"^[ \t]*Tags:[ \t]*\n[ \t]*\[[^\]\n]*\][ \t]*$|^[ \t]*(?:Time|Memory) Limit:.*$", re.MULTILINE)


def statement_text(problem: str, domain: str) -> str:
    """The statement compared for duplicates: for code, without the judge metadata (tags, time and memory limits) that
    copies of one problem from different dumps do not share."""
    return _CODE_METADATA.sub(" ", problem) if domain == "code" else problem


class PairJudge:
    """Decides whether two similar rows are the same problem: the statements may differ only in wording, math gold
    answers must be equivalent under the grader, and code tests must expect the same output for any shared input."""

    def __init__(self, frame, texts: list[str], domain: str, check_answers: bool):
        self.texts, self.domain = texts, domain
        self.answers = frame["answer"].tolist() if check_answers and domain == "math" and "answer" in frame else None
        self.tests = frame["tests"].tolist() if domain == "code" and "tests" in frame else None
        self._tokens: dict[int, list[str]] = {}
        self.counts: Counter = Counter()

    def prepare(self, rows) -> None:
        """Tokenise the rows that may be judged, in one vectorised pass (one text at a time costs 40 µs of overhead)."""
        rows = [i for i in rows if i not in self._tokens]
        views = [fractions_as_slashes(ASY_BLOCK.sub(" asy ", self.texts[i])) if self.domain == "math" else self.texts[i] for i in rows]
        self._tokens.update(zip(rows, tokenize_many(views)))

    def tokens(self, i: int) -> list[str]:
        if i not in self._tokens:
            self.prepare([i])
        return self._tokens[i]

    def __call__(self, i: int, j: int) -> tuple[str, str]:
        prose = [ASY_BLOCK.sub(" ", self.texts[k]) for k in (i, j)]
        named = {w.lower() for text in prose for w in _CAPITALS.findall(text)}
        named |= {c.lower() for text in prose for c in _COMMAND.findall(text) if c.lower() not in _FORMATTING}
        capitals = frozenset(named)
        changed, summary = statement_difference(self.tokens(j), self.tokens(i), self.domain, capitals)
        if changed:
            self.counts["variant: statement"] += 1
            return "variant", f"the statements differ in {changed}"
        if self.tests is not None and (disagreement := tests_disagree(self.tests[j], self.tests[i])):
            self.counts["variant: tests"] += 1
            return "variant", f"the tests disagree: {disagreement}"
        gold_i, gold_j = (self.answers[i], self.answers[j]) if self.answers else (None, None)
        if isinstance(gold_i, str) and isinstance(gold_j, str) and gold_i.strip() and gold_j.strip():
            from ..verify.math import shared_grader

            # Two gold answers, not a model's response: no </think> to require.
            grade = shared_grader().grade_many([(f"\\boxed{{{gold_i}}}", gold_j)], require_think_close=False)[0]
            if not grade.correct:
                self.counts["variant: answers"] += 1
                return "variant", f"gold answers {snippet(gold_j, 40)!r} and {snippet(gold_i, 40)!r} are not equivalent ({grade.status})"
            summary += f"; gold answers {snippet(gold_j, 40)!r} and {snippet(gold_i, 40)!r} are equivalent"
        self.counts["duplicate"] += 1
        return "duplicate", summary or "no difference in tokens"


@stage(
    "near-dedup",
    NearDedupConfig,
    requires=("id", "source", "problem"),
    adds={"variant_of": "string"},
    evidence=("dup_of", "similarity", "dup_problem"),
    example="acecurate near-dedup dumps/math.jsonl --threshold 0.6 --out runs/near",
)
def near_dedup(frame, config: NearDedupConfig, ctx) -> StageResult:
    """Remove rows that restate a kept row's problem; record near rows that are a different problem (`variant_of`)."""
    order = priority_order(frame, config.source_priority)
    texts = [statement_text(p, ctx.domain) for p in frame["problem"]]
    judge = PairJudge(frame, texts, ctx.domain, config.check_answers)
    dup_of, variant_of, similarity, why, stats = near_duplicates(texts, config, order, ctx.track, judge)
    ids, problems = frame["id"].to_numpy(), frame["problem"].to_numpy()
    mask = dup_of >= 0
    kept = frame[~mask].copy()
    kept["variant_of"] = [ids[v] if v >= 0 else None for v in variant_of[~mask]]
    removed = frame[mask].copy()
    removed["dup_of"] = ids[dup_of[mask]]
    removed["similarity"] = np.round(similarity[mask], 4)
    removed["dup_problem"] = [problems[j] for j in dup_of[mask]]
    removed["reason"] = "near_duplicate"
    rows = np.flatnonzero(mask)
    removed["evidence"] = [
        f"same problem as kept row {ids[dup_of[r]]!r} (token {config.ngram}-gram Jaccard {similarity[r]:.2f}; differences: {why[r]}): "
        f"{snippet(problems[dup_of[r]])}"
        for r in rows
    ]
    stats.update({"variants": int((variant_of[~mask] >= 0).sum()), "judged": dict(judge.counts)})
    report = {
        "near duplicates": f"{int(mask.sum())} removed; {stats['variants']} kept rows are variants of another kept row (`variant_of`)"
    }
    return StageResult(kept, removed, stats, report)
