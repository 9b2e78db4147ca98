"""Benchmark decontamination: an n-gram index over benchmark fingerprints, copies told apart from templates, evaluation
windows, and date cutoffs for code.

Default rule (`match: coverage`), for each row and its best few benchmark items:
- a **copy** (`contaminated:<benchmark>`): the row holds at least `min_coverage` of the item's n-grams, each weighted by
  how rare it is in the input (1 / the number of input rows holding it, so stock phrasing such as "Enter your answer in
  the form Ax+By+Cz+D=0" weighs little wherever it is common), the item's numbers, and what the item asks; or at least
  `min_row_coverage` of the row's n-grams come from the item and the row's numbers are in the item; or the row holds
  `min_coverage` of the item's *setup* (all but its final ask) with the setup's numbers, whatever it asks at the end
  (a copy whose final ask was rewritten: "find k+m" for "find m^2+n^2");
- a **template** (`contaminated_template:<benchmark>`): the same with other numbers, or `template_coverage` of the item's
  n-grams and of its setup matched once every number is masked. A template shares the setup, the objects and the
  conditions: a one-line drill ("Compute $\\dbinom{31}{28}$") has no setup and is nobody's template. Removed by default
  (`drop_templates: false` keeps them);
- for code, a row whose constraint bounds differ from the item's is another problem (a "II" that only enlarges the
  limits of its "I"), neither copy nor template.
Benchmark items too short for n-grams of size n (fewer than 4n tokens, such as MBPP+ tasks) are also matched with
`short_n`-grams, so that a wrapper that splits or rewords them ("Your code should pass these tests:") does not hide them.
Items dated outside their benchmark's evaluation window (LiveCodeBench v5: 2024-08-01 to 2025-02-01) are not targets.
`match: any` flags any shared n-gram, as the paper and open-r1 do; on MATH train that flags 9% of the rows, mostly
through stock phrasing. N-grams found in more than `max_item_frequency` benchmark items are boilerplate and ignored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..benchmarks import Fingerprint, canonical_name, fingerprint_file, load_fingerprint, shipped_names
from ..benchmarks.fingerprint import calls_of, limit_values, names_of
from ..config import setting
from ..errors import AcecurateError
from ..stage import StageResult, stage
from ..text import TokenizedCorpus, quote, shingle_corpus, snippet, tokenize, tokenize_corpus, window_hashes
from ..words import phrases, words
from .contam_judge import ContamJudgeConfig, run_judge
from .pair_judge import bounded_diff

DEFAULT_N = {"math": 9, "code": 14}
CANDIDATES = 3  # benchmark items considered per row, best first
_BITMAP_MASK = np.uint64((1 << 24) - 1)  # low 24 bits of an n-gram hash index a 16 MB membership prefilter
_NUMBER = np.uint64(0x9E3779B97F4A7C15)  # the token every number becomes in masked (template) n-grams


@dataclass
class NgramIndex:
    """Distinct (n-gram hash, benchmark item) pairs sorted by hash, without boilerplate n-grams."""

    n: int
    hashes: np.ndarray  # uint64, sorted, one entry per (hash, item) pair
    items: np.ndarray  # int64 item index, aligned with hashes
    ngram_id: np.ndarray  # int64: which distinct n-gram each pair holds (0 .. n_ngrams-1)
    in_setup: np.ndarray  # bool, aligned with hashes: the n-gram lies in the item's setup (before its final ask)
    n_ngrams: int
    item_benchmark: list[str]
    item_id: list[str]
    item_snippet: list[str]
    item_numbers: list[np.ndarray]  # distinct number-token hashes of each item
    item_setup_numbers: list[np.ndarray]  # those of its setup
    item_questions: np.ndarray  # (items, k) hashes of the words of each item's question, 0-padded
    item_limits: list[np.ndarray]  # bounds of each item's constraint lines (code)
    item_names: list[np.ndarray]  # hashes of the names each item gives its objects (benchmarks.names_of)
    item_meanings: list[np.ndarray]  # hashes of the meaning words of each item (words/math_meaning_words.txt)
    item_calls: list[np.ndarray]  # hashes of the calls each (code) item's examples make (benchmarks.calls_of)
    item_setup_ngrams: np.ndarray  # int64 per item: n-grams in its setup
    item_lengths: np.ndarray  # int64 per item: tokens
    item_asks: np.ndarray  # int64 per item: tokens of its final ask (the rest is its setup)
    item_tokens: list[np.ndarray]  # token hashes of each item (matching view), for aligning a reworded copy
    ignored_ngrams: int
    short_item_lengths: list[int]  # token counts of items shorter than n (they match as a whole, contained in a row)
    bitmap: np.ndarray  # bool, True where some index hash has these low bits


def _masked(corpus: TokenizedCorpus) -> TokenizedCorpus:
    return TokenizedCorpus(np.where(corpus.numeric, _NUMBER, corpus.hashes), corpus.offsets, corpus.numeric)


def _concatenated(fingerprints: list[Fingerprint]) -> TokenizedCorpus:
    if not fingerprints:
        return TokenizedCorpus(np.zeros(0, np.uint64), np.zeros(1, np.int64), np.zeros(0, bool))
    lengths = np.concatenate([fp.corpus.lengths for fp in fingerprints])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return TokenizedCorpus(
        np.concatenate([fp.corpus.hashes for fp in fingerprints]), offsets, np.concatenate([fp.corpus.numeric for fp in fingerprints])
    )


def build_index(
    fingerprints: list[Fingerprint], n: int, max_item_frequency: int, masked: bool = False, max_item_tokens: int | None = None
) -> NgramIndex:
    """The n-gram index of every item; with `masked`, every number is one token, so templates with other numbers match;
    with `max_item_tokens`, only items shorter than that give n-grams (the index of short items)."""
    plain = _concatenated(fingerprints)
    corpus = _masked(plain) if masked else plain
    lengths = corpus.lengths
    asks = np.concatenate([fp.asks if fp.asks is not None else fp.corpus.lengths for fp in fingerprints]) if fingerprints else lengths
    setup_length = np.maximum(lengths - asks, 0)
    shingles = shingle_corpus(corpus, n)
    in_setup = (shingles.start + n <= setup_length[shingles.owner]) & (lengths[shingles.owner] >= n)
    keep = lengths[shingles.owner] < max_item_tokens if max_item_tokens else np.ones(len(shingles.hashes), bool)
    hashes, owner, in_setup = shingles.hashes[keep], shingles.owner[keep], in_setup[keep]
    # Distinct (hash, item) pairs, sorted by hash; a pair is in the setup when any of its occurrences is.
    order = np.lexsort((owner, hashes))
    hashes, owner, in_setup = hashes[order], owner[order], in_setup[order]
    starts = np.flatnonzero(np.r_[True, (hashes[1:] != hashes[:-1]) | (owner[1:] != owner[:-1])]) if len(hashes) else np.zeros(0, np.int64)
    pair_hashes, pair_items = hashes[starts], owner[starts].astype(np.int64)
    pair_setup = np.maximum.reduceat(in_setup.astype(np.int8), starts).astype(bool) if len(starts) else np.zeros(0, bool)
    _, inverse, item_counts = np.unique(pair_hashes, return_inverse=True, return_counts=True)
    frequent = item_counts[inverse.reshape(-1)] > max_item_frequency
    pair_hashes, pair_items, pair_setup = pair_hashes[~frequent], pair_items[~frequent], pair_setup[~frequent]
    distinct, ngram_id = np.unique(pair_hashes, return_inverse=True)
    numbers, setup_numbers, meanings = [], [], []
    is_meaning, meaning_of = _meaning_groups(plain.hashes)  # one lookup over every item's tokens, not one per item
    for a, b, s in zip(plain.offsets[:-1], plain.offsets[1:], setup_length):
        tokens, numeric = plain.hashes[a:b], plain.numeric[a:b]
        numbers.append(np.unique(tokens[numeric]))
        setup_numbers.append(np.unique(tokens[:s][numeric[:s]]))
        meanings.append(np.unique(meaning_of[a:b][is_meaning[a:b]]))
    n_items = len(lengths)
    return NgramIndex(
        n,
        pair_hashes,
        pair_items,
        ngram_id.astype(np.int64).reshape(-1),
        pair_setup,
        len(distinct),
        [fp.name for fp in fingerprints for _ in fp.ids],
        [i for fp in fingerprints for i in fp.ids],
        [s for fp in fingerprints for s in fp.snippets],
        numbers,
        setup_numbers,
        np.concatenate([fp.questions for fp in fingerprints]) if fingerprints else np.zeros((0, 1), np.uint64),
        [x for fp in fingerprints for x in (fp.limits or [np.zeros(0)] * len(fp.ids))],
        [x for fp in fingerprints for x in (fp.names or [np.zeros(0, np.uint64)] * len(fp.ids))],
        meanings,
        [x for fp in fingerprints for x in (fp.calls or [np.zeros(0, np.uint64)] * len(fp.ids))],
        np.bincount(pair_items[pair_setup], minlength=n_items).astype(np.int64),
        lengths.astype(np.int64),
        np.minimum(asks, lengths).astype(np.int64),
        [plain.hashes[a:b] for a, b in zip(plain.offsets[:-1], plain.offsets[1:])],
        int(np.count_nonzero(item_counts > max_item_frequency)),
        sorted(set(lengths[(lengths > 0) & (lengths < n)].tolist())),
        _bitmap(pair_hashes),
    )


@functools.cache
def _meaning_table() -> tuple[np.ndarray, np.ndarray]:
    """Token hashes of the words that change a problem when they change (sum/product, left/right, odd/even, ...),
    sorted, and for each the hash that stands for its group of synonyms (words/meaning_synonyms.txt)."""
    listed = sorted(w for w in words("math_meaning_words") if len(w) > 2)  # the matching view splits two-letter words
    groups = [line.split() for line in phrases("meaning_synonyms")]
    listed = sorted(set(listed) | {w for group in groups for w in group})
    hashes = tokenize_corpus([" ".join(listed)], match_view=True).hashes
    canonical = dict(zip(hashes.tolist(), hashes.tolist()))
    for group in groups:
        group_hashes = tokenize_corpus([" ".join(group)], match_view=True).hashes.tolist()
        canonical.update((h, group_hashes[0]) for h in group_hashes)
    keys = np.array(sorted(canonical), dtype=np.uint64)
    return keys, np.array([canonical[k] for k in keys.tolist()], dtype=np.uint64)


def _meaning_groups(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each token is a meaning word, and its synonym group (0 where it is none)."""
    keys, canonical = _meaning_table()
    found = np.isin(tokens, keys)
    groups = np.zeros(len(tokens), dtype=np.uint64)
    groups[found] = canonical[np.searchsorted(keys, tokens[found])]
    return found, groups


def _meanings(tokens: np.ndarray) -> np.ndarray:
    """The distinct meaning words among `tokens`, each as its synonym group."""
    keys, canonical = _meaning_table()
    found = tokens[np.isin(tokens, keys)]
    return np.unique(canonical[np.searchsorted(keys, found)])


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    bitmap = np.zeros(int(_BITMAP_MASK) + 1, dtype=bool)
    bitmap[hashes & _BITMAP_MASK] = True
    return bitmap


@dataclass
class _Hits:
    """(text, item, n-gram) hits of one chunk of texts, whether each n-gram lies in the item's setup, and per text of
    the chunk: the weight of its n-grams that are in no benchmark item (each 1 / how often the chunk holds it) and its
    token count."""

    owner: np.ndarray  # int64, global text index
    item: np.ndarray
    ngram: np.ndarray
    setup: np.ndarray
    other_weight: np.ndarray  # per text of the chunk
    text_tokens: np.ndarray  # per text of the chunk


def _distinct(*columns: np.ndarray, carry: tuple[np.ndarray, ...] = ()) -> list[np.ndarray]:
    """The distinct rows of equal-length columns, sorted by the first column, then the next; `carry` columns (equal
    wherever the keys are) come along."""
    if not len(columns[0]):
        return list(columns) + list(carry)
    widths = [int(c.max()).bit_length() for c in columns]
    if sum(widths) <= 64 and all(c.min() >= 0 for c in columns):
        # Non-negative ids that fit one 64-bit key together: one sort of the packed key orders them as lexsort would.
        key = np.zeros(len(columns[0]), dtype=np.uint64)
        for c, width in zip(columns, widths):
            key = (key << np.uint64(width)) | c.astype(np.uint64)
        order = np.argsort(key)  # rows with equal keys are equal (carry too), so any order of ties will do
        key = key[order]
        new = np.r_[True, key[1:] != key[:-1]]
    else:
        order = np.lexsort(columns[::-1])
        new = np.zeros(len(order), dtype=bool)
        new[0] = True
        for c in columns:
            ordered = c[order]
            new[1:] |= ordered[1:] != ordered[:-1]
    return [c[order][new] for c in columns] + [c[order][new] for c in carry]


def _chunk_hits(corpus: TokenizedCorpus, first_text: int, index: NgramIndex, weigh_rows: bool = True) -> _Hits:
    """Every text's n-grams looked up in the index at once: a bitmap prefilter, then a sorted search for the survivors.
    With `weigh_rows`, each text's n-grams that are in no item are weighed by how often the chunk holds them (stock
    phrasing weighs little), for the share of the text that comes from an item."""
    shingles = shingle_corpus(corpus, index.n)
    owner, hashes = shingles.owner, shingles.hashes
    candidates = np.flatnonzero(index.bitmap[hashes & _BITMAP_MASK]) if len(index.hashes) else np.zeros(0, np.int64)
    lo = np.searchsorted(index.hashes, hashes[candidates], side="left")
    hi = np.searchsorted(index.hashes, hashes[candidates], side="right")
    found = hi > lo
    hits, lo, counts = candidates[found], lo[found], (hi - lo)[found]
    other_weight = np.zeros(len(corpus))
    if weigh_rows and len(hashes):
        import pandas as pd

        codes, _ = pd.factorize(hashes)  # a hash table: the counts np.unique gives, without sorting every n-gram
        other = np.ones(len(hashes), dtype=bool)
        other[hits] = False
        other_weight = np.bincount(owner[other], weights=1.0 / np.bincount(codes)[codes[other]], minlength=len(corpus))
    # Expand each hit to every benchmark item holding that n-gram (at most max_item_frequency each).
    which = np.repeat(np.arange(len(hits)), counts)
    within = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
    at = lo[which] + within
    return _Hits(owner[hits[which]] + first_text, index.items[at], index.ngram_id[at], index.in_setup[at], other_weight, corpus.lengths)


@dataclass
class Coverage:
    """For each text, its best `CANDIDATES` benchmark items, best first (-1 where none), each with the weighted share of
    the item's n-grams the text holds, of the text's own n-grams that come from the item, and of the item's setup."""

    item: np.ndarray  # (texts, CANDIDATES) int64
    item_coverage: np.ndarray
    text_coverage: np.ndarray
    setup_coverage: np.ndarray

    @classmethod
    def empty(cls, n_texts: int) -> Coverage:
        shape = (n_texts, CANDIDATES)
        return cls(np.full(shape, -1, np.int64), np.zeros(shape), np.zeros(shape), np.zeros(shape))

    @property
    def score(self) -> np.ndarray:
        return np.where(self.item >= 0, np.maximum(np.maximum(self.item_coverage, self.text_coverage), self.setup_coverage), -1.0)

    def merged(self, other: Coverage) -> Coverage:
        """The best candidates of both, each item once, with the better of each measure where both hold it."""
        item = np.concatenate([self.item, other.item], axis=1)
        names = ("item_coverage", "text_coverage", "setup_coverage")
        fields = [np.concatenate([getattr(self, f), getattr(other, f)], axis=1) for f in names]
        width = item.shape[1]
        for j in range(width):  # an item held by both: its measures are the better ones, and its second entry goes
            for k in range(j + 1, width):
                same = (item[:, j] == item[:, k]) & (item[:, j] >= 0)
                for values in fields:
                    values[same, j] = np.maximum(values[same, j], values[same, k])
                item[same, k] = -1
        merged = Coverage(item, *fields)
        order = np.argsort(-merged.score, axis=1, kind="stable")[:, :CANDIDATES]
        return Coverage(np.take_along_axis(item, order, 1), *(np.take_along_axis(f, order, 1) for f in fields))


def _coverage(hits: list[_Hits], index: NgramIndex, n_texts: int) -> Coverage:
    owner = np.concatenate([h.owner for h in hits])
    item = np.concatenate([h.item for h in hits])
    ngram = np.concatenate([h.ngram for h in hits])
    setup = np.concatenate([h.setup for h in hits])
    other_weight = np.concatenate([h.other_weight for h in hits])
    # How many input rows hold each benchmark n-gram: a phrase common in the input is stock phrasing, and weighs little.
    holder_owner, holder_ngram = _distinct(owner, ngram)
    rows_holding = np.bincount(holder_ngram, minlength=index.n_ngrams)
    weight = 1.0 / np.maximum(rows_holding, 1)
    n_items = len(index.item_id)
    item_weight = np.bincount(index.items, weights=weight[index.ngram_id], minlength=n_items)
    setup_weight = np.bincount(index.items[index.in_setup], weights=weight[index.ngram_id[index.in_setup]], minlength=n_items)
    row_weight = other_weight + np.bincount(holder_owner, weights=weight[holder_ngram], minlength=n_texts)
    coverage = Coverage.empty(n_texts)
    if not len(owner):
        return coverage
    owner, item, ngram, setup = _distinct(owner, item, ngram, carry=(setup,))
    new_pair = np.flatnonzero(np.r_[True, (owner[1:] != owner[:-1]) | (item[1:] != item[:-1])])
    pair_owner, pair_item = owner[new_pair], item[new_pair]
    shared = np.add.reduceat(weight[ngram], new_pair)
    shared_setup = np.add.reduceat(weight[ngram] * setup, new_pair)
    item_cov = np.minimum(shared / np.maximum(item_weight[pair_item], 1e-12), 1.0)
    text_cov = np.minimum(shared / np.maximum(row_weight[pair_owner], 1e-12), 1.0)
    setup_cov = np.where(setup_weight[pair_item] > 0, np.minimum(shared_setup / np.maximum(setup_weight[pair_item], 1e-12), 1.0), 0.0)
    score = np.maximum(np.maximum(item_cov, text_cov), setup_cov)
    order = np.lexsort((-score, pair_owner))
    owners = pair_owner[order]
    first = np.r_[0, np.flatnonzero(owners[1:] != owners[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(first, np.diff(np.r_[first, len(order)]))
    top = rank < CANDIDATES
    rows, slots, chosen = owners[top], rank[top], order[top]
    coverage.item[rows, slots] = pair_item[chosen]
    coverage.item_coverage[rows, slots] = item_cov[chosen]
    coverage.text_coverage[rows, slots] = text_cov[chosen]
    coverage.setup_coverage[rows, slots] = setup_cov[chosen]
    return coverage


@dataclass
class Match:
    """Exact and masked (template) coverage of each text's best items, and per candidate of the exact coverage: the
    share of the item's distinct numbers found in the text, of the text's found in the item, of the item's setup numbers
    found in the text, of the item's question words found in the text, of the item's names found in the text (-1 where
    both name objects and share none), whether the constraint bounds agree, and whether no word that changes a problem
    when it changes was swapped (each side has one the other lacks: "sum" and "product", "left" and "right")."""

    exact: Coverage
    masked: Coverage | None
    item_numbers_found: np.ndarray  # (texts, CANDIDATES)
    text_numbers_found: np.ndarray
    setup_numbers_found: np.ndarray
    question_found: np.ndarray
    names_found: np.ndarray
    limits_agree: np.ndarray  # bool
    meanings_agree: np.ndarray  # bool: no meaning word swapped (the item says "sum" where the text says "product")
    aligned: np.ndarray  # share of the item's tokens a bounded diff aligns with the text (0 where not computed)
    same_call: np.ndarray  # bool (code): the text calls the item's function on one of the item's examples

    @property
    def item(self) -> np.ndarray:  # each text's best item, for callers that ask "does any n-gram match"
        return self.exact.item[:, 0]


@dataclass(frozen=True)
class Indexes:
    """The indexes one decontamination matches against: exact n-grams, masked n-grams (templates), and short_n-grams of
    the short items."""

    exact: NgramIndex
    masked: NgramIndex | None = None
    short: NgramIndex | None = None


def build_indexes(fingerprints: list[Fingerprint], n: int, max_item_frequency: int, masked: bool, short_n: int | None) -> Indexes:
    return Indexes(
        build_index(fingerprints, n, max_item_frequency),
        build_index(fingerprints, n, max_item_frequency, masked=True) if masked else None,
        build_index(fingerprints, short_n, max_item_frequency, max_item_tokens=4 * n) if short_n and short_n < n else None,
    )


def match_texts(
    texts: list[str],
    index: NgramIndex | Indexes,
    masked_index: NgramIndex | None = None,
    workers: int = 2,
    chunk_rows: int = 50_000,
    domain: str = "math",
    measure: bool = True,
) -> Match:
    """Match texts in chunks of `chunk_rows` on `workers` threads (the work is numpy and Arrow kernels, which release
    the GIL), so memory stays bounded at 10^6 rows and both cores are used. Without `measure` (`match: any`, where a
    shared n-gram alone decides), the numbers, questions, names and bounds of each candidate are not compared."""
    indexes = index if isinstance(index, Indexes) else Indexes(index, masked_index)
    starts = list(range(0, len(texts), chunk_rows)) or [0]

    def one(begin: int):
        corpus = tokenize_corpus(texts[begin : begin + chunk_rows], match_view=True)
        exact = _chunk_hits(corpus, begin, indexes.exact)
        masked = _chunk_hits(_masked(corpus), begin, indexes.masked, weigh_rows=False) if indexes.masked is not None else None
        short = _chunk_hits(corpus, begin, indexes.short) if indexes.short is not None else None
        return exact, masked, short

    if len(starts) == 1 or workers <= 1:
        parts = [one(b) for b in starts]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one, starts))
    exact = _coverage([p[0] for p in parts], indexes.exact, len(texts))
    if indexes.short is not None:
        exact = exact.merged(_coverage([p[2] for p in parts], indexes.short, len(texts)))
    masked = _coverage([p[1] for p in parts], indexes.masked, len(texts)) if indexes.masked is not None else None
    _match_short_items(texts, np.concatenate([p[0].text_tokens for p in parts]), indexes.exact, exact)
    calls = _match_called_items(texts, indexes.exact, exact) if domain == "code" else {}
    return Match(exact, masked, *_agreement(texts, indexes.exact, exact, domain, calls, floor=0.2 if measure else np.inf))


def _match_called_items(texts: list[str], index: NgramIndex, coverage: Coverage) -> dict[int, np.ndarray]:
    """An item whose example call (`Find_Min_Length([[1],[1,2]])`) a row makes becomes the row's first candidate, when
    the reworded prose left it out of the best ones (the verdict still checks names, bounds and meaning words).
    Returns the calls of each row that makes one of an item's calls."""
    owner: dict[int, int] = {}
    for item, calls in enumerate(index.item_calls):
        for h in calls.tolist():
            owner.setdefault(h, item)
    called: dict[int, np.ndarray] = {}
    if not owner:
        return called
    for row, text in enumerate(texts):
        if "(" not in text:
            continue
        calls = calls_of(text)
        found = [owner[h] for h in calls.tolist() if h in owner]
        if found:
            called[row] = calls
        if not found or found[0] in coverage.item[row]:
            continue
        for name in ("item", "item_coverage", "text_coverage", "setup_coverage"):
            values = getattr(coverage, name)
            values[row, 1:] = values[row, :-1].copy()
        coverage.item[row, 0] = found[0]
        coverage.item_coverage[row, 0] = coverage.text_coverage[row, 0] = coverage.setup_coverage[row, 0] = 0.0
    return called


def _match_short_items(texts: list[str], lengths: np.ndarray, index: NgramIndex, coverage: Coverage) -> None:
    """A benchmark item shorter than n matches a row that contains all of it, when the row is at most n-1 tokens
    longer (an added instruction sentence), so "Simplify sqrt 242" is found in "Solve this. Simplify sqrt 242"."""
    if not index.short_item_lengths:
        return
    near = (lengths >= min(index.short_item_lengths)) & (lengths < max(index.short_item_lengths) + index.n)
    short = np.flatnonzero(near & (coverage.item_coverage[:, 0] < 1))
    if not len(short):
        return
    corpus = tokenize_corpus([texts[i] for i in short], match_view=True)
    for length in index.short_item_lengths:
        rows = np.flatnonzero((corpus.lengths >= length) & (corpus.lengths < length + index.n))
        if not len(rows):
            continue
        windows = window_hashes(corpus.subset(rows), length, salted=True)
        pos = np.minimum(np.searchsorted(index.hashes, windows.hashes), len(index.hashes) - 1)
        found = index.hashes[pos] == windows.hashes
        for owner, at in zip(windows.owner[found][::-1], pos[found][::-1]):
            row = short[rows[owner]]
            for name in ("item", "item_coverage", "text_coverage", "setup_coverage"):  # the whole item: first candidate
                values = getattr(coverage, name)
                values[row, 1:] = values[row, :-1].copy()
            coverage.item[row, 0], coverage.item_coverage[row, 0] = index.items[at], 1.0
            coverage.text_coverage[row, 0], coverage.setup_coverage[row, 0] = length / corpus.lengths[rows[owner]], 0.0


def _agreement(texts: list[str], index: NgramIndex, coverage: Coverage, domain: str, called: dict, floor: float = 0.2):
    """Per candidate covering at least `floor` either way: the share of the item's distinct numbers found in the text,
    of the text's distinct numbers found in the item, of the item's setup numbers found in the text, of the item's
    question words found in the text (each 1 where there are none), and whether the constraint bounds agree (code;
    True where either side states none)."""
    shape = coverage.item.shape
    item_found, text_found, setup_found, question_found, names_found = (np.ones(shape) for _ in range(5))
    limits_agree, meanings_agree, aligned = np.ones(shape, dtype=bool), np.ones(shape, dtype=bool), np.zeros(shape)
    same_call = np.zeros(shape, dtype=bool)
    score = coverage.score  # computed once: the property builds the whole (texts, CANDIDATES) array
    rows = np.flatnonzero(((coverage.item >= 0) & (score >= floor)).any(axis=1))
    if called:  # a call on the item's example decides even where the reworded prose leaves little coverage
        rows = np.union1d(rows, np.fromiter(called, dtype=np.int64, count=len(called)))
    if not len(rows):
        return item_found, text_found, setup_found, question_found, names_found, limits_agree, meanings_agree, aligned, same_call
    corpus = tokenize_corpus([texts[r] for r in rows], match_view=True)
    for k, r in enumerate(rows):
        span = slice(corpus.offsets[k], corpus.offsets[k + 1])
        tokens = corpus.hashes[span]
        own = np.unique(tokens[corpus.numeric[span]])
        own_meanings = _meanings(tokens)
        bounds = limit_values(texts[r]) if domain == "code" else None
        names = names_of(texts[r], domain)
        calls = called.get(int(r))  # None: the row makes none of the items' calls
        for j in np.flatnonzero((coverage.item[r] >= 0) & ((score[r] >= floor) | (calls is not None))):
            item = coverage.item[r, j]
            theirs, setup = index.item_numbers[item], index.item_setup_numbers[item]
            if len(theirs):
                item_found[r, j] = np.isin(theirs, own).mean()
            if len(own):
                text_found[r, j] = np.isin(own, theirs).mean()
            if len(setup):
                setup_found[r, j] = np.isin(setup, own).mean()
            question = index.item_questions[item]
            question = question[question != 0]
            if len(question):
                question_found[r, j] = np.isin(question, tokens).mean()
            item_names = index.item_names[item]
            if len(item_names):
                shared = np.isin(item_names, names)
                names_found[r, j] = shared.mean() if shared.any() or not len(names) else -1.0
            item_bounds = index.item_limits[item]
            if bounds is not None and len(bounds) and len(item_bounds):
                limits_agree[r, j] = len(bounds) == len(item_bounds) and bool(np.allclose(bounds, item_bounds))
            meaning = index.item_meanings[item]
            if len(meaning) and len(own_meanings):  # a swap: each side has a meaning word the other lacks
                meanings_agree[r, j] = bool(np.isin(meaning, own_meanings).all() or np.isin(own_meanings, meaning).all())
            # A copy reworded all through ("satisfy the equation $z^5$" for "z satisfy $z^{5}$") keeps few n-grams but
            # aligns token by token: measured where the n-grams leave it open and the numbers agree both ways.
            if ALIGN_BAND[0] <= coverage.item_coverage[r, j] < ALIGN_BAND[1] and item_found[r, j] == 1 and text_found[r, j] == 1:
                aligned[r, j] = aligned_share(tokens, index.item_tokens[item])
            if calls is not None and len(index.item_calls[item]):
                same_call[r, j] = bool(np.isin(index.item_calls[item], calls).any())
    return item_found, text_found, setup_found, question_found, names_found, limits_agree, meanings_agree, aligned, same_call


ALIGN_BAND = (0.25, 0.5)  # item coverage where a candidate is aligned token by token
ALIGN_MAX_EDITS = 40


def aligned_share(text: np.ndarray, item: np.ndarray) -> float:
    """Share of the item's tokens that a shortest edit script (at most ALIGN_MAX_EDITS edits, Myers: linear in the
    texts) keeps as they are in the text; 0 when the two are further apart than that. The text is first cut to the
    stretch that can hold the item (from the first to the last of its tokens that the item has)."""
    inside = np.flatnonzero(np.isin(text, item))
    if not len(inside):
        return 0.0
    text = text[inside[0] : inside[-1] + 1]
    ops = bounded_diff(text.tolist(), item.tolist(), ALIGN_MAX_EDITS)
    if ops is None:
        return 0.0
    return sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal") / max(len(item), 1)


@dataclass
class DecontamConfig:
    benchmarks: list[str] = setting(factory=list, help="Shipped fingerprints to use; empty means all of the domain.")
    benchmark_files: list[str] = setting(factory=list, help="Extra benchmark files of your own.")
    n: int | None = setting(None, "Token n-gram size; default 9 for math, 14 for code.")
    short_n: int | None = setting(
        5, "N-gram size for benchmark items shorter than 4n tokens (null: none): a row that splits or rewords one keeps few n-grams."
    )
    match: str = setting("coverage", '"coverage" (default) or "any".')
    min_coverage: float = setting(0.5, "Share of one item's n-grams (weighted by their rarity in the input) found in the row.")
    min_coverage_named: float = setting(
        0.3, "The same share when the row calls the function the item's examples call (code: `assert kth_element(...)`)."
    )
    min_row_coverage: float = setting(0.8, "Share of the row's n-grams found in one benchmark item.")
    min_numbers: float = setting(
        0.9,
        "Share of the item's numbers (and names: the word ELLIPSE, the triangle ABC) in the row, and of the row's numbers in "
        "the item, for a copy (fewer: a template).",
    )
    min_question: float = setting(
        0.75, "Share of the words of the item's question (its last words) in the row for a copy (fewer: a template); 0 for code."
    )
    min_setup_ngrams: int = setting(
        3, "N-grams an item's setup (its text before the final ask) needs before its setup alone makes a copy or a template."
    )
    min_aligned: float = setting(
        0.8, "Share of an item's tokens a token-by-token alignment keeps in the row: a copy reworded all through (numbers agreeing)."
    )
    min_setup_share: float = setting(
        0.6, "Share of the item's tokens its setup must hold for the setup alone (with another final ask) to make a copy."
    )
    template_coverage: float = setting(
        0.8, "Share of an item's n-grams, and of its setup's, matched with every number masked: the same template."
    )
    drop_templates: bool = setting(True, "Remove rows with the template of a benchmark item (other numbers, other answer).")
    judge: ContamJudgeConfig = field(default_factory=ContamJudgeConfig)  # an optional model for rows the rules keep near an item
    max_item_frequency: int = setting(10, "N-grams in more benchmark items than this are boilerplate.")
    windows: dict = setting(
        factory=dict,
        help="Evaluation window per benchmark, {name: [start, end]} or {name: null} for every item; registry defaults: "
        "lcb-v5 2024-08-01..2025-02-01, lcb-v6 2025-02-01..2025-05-01 (for a benchmark file of that name).",
    )
    date_cutoff: str | None = setting("2024-08-01", "Code rows with a later contest_date are removed (LiveCodeBench v5/v6).")

    def __post_init__(self):
        if isinstance(self.judge, dict):
            self.judge = ContamJudgeConfig(**self.judge)
        if self.match not in ("coverage", "any"):
            raise ValueError(f"match must be 'coverage' or 'any', got {self.match!r}")
        for name, window in self.windows.items():
            if window is not None and (not isinstance(window, list) or len(window) != 2):
                raise ValueError(f"windows.{name}: expected [start, end] dates or null, got {window!r}")


def load_benchmarks(config: DecontamConfig, domain: str) -> list[Fingerprint]:
    names = config.benchmarks or shipped_names(domain)
    fingerprints = [load_fingerprint(name) for name in names]
    fingerprints += [fingerprint_file(path, domain) for path in config.benchmark_files]
    if not fingerprints:
        raise AcecurateError(f"no benchmarks to decontaminate against for domain '{domain}'")
    # By name, whatever order the registry or the config lists them in: items tied on coverage are taken in index
    # order, so the order would otherwise pick a row's item (and with it a template verdict).
    return sorted(fingerprints, key=lambda fp: fp.name)


def in_window(fingerprints: list[Fingerprint], windows: dict) -> tuple[list[Fingerprint], dict[str, str]]:
    """Each fingerprint with only the items inside its evaluation window, and a line per benchmark saying which."""
    chosen, notes = [], {}
    windows = {canonical_name(name): window for name, window in windows.items()}  # former names (livecodebench_v5) too
    for fp in fingerprints:
        window = tuple(windows[fp.name]) if windows.get(fp.name) else None if fp.name in windows else fp.window
        keep = fp.in_window(window)
        if window:
            notes[fp.name] = f"{int(keep.sum())} of {len(keep)} items dated {window[0]} to {window[1]}"
        rows = np.flatnonzero(keep)
        chosen.append(
            Fingerprint(
                fp.name,
                fp.domain,
                fp.description,
                [fp.ids[r] for r in rows],
                fp.corpus.subset(rows),
                [fp.dates[r] for r in rows],
                [fp.snippets[r] for r in rows],
                fp.questions[rows],
                window,
                fp.asks[rows] if fp.asks is not None else None,
                [fp.limits[r] for r in rows] if fp.limits is not None else None,
                [fp.names[r] for r in rows] if fp.names is not None else None,
                [fp.calls[r] for r in rows] if fp.calls is not None else None,
            )
        )
    return chosen, notes


@dataclass
class Verdicts:
    """Per text: "copy", "template", "variant" (another problem: other constraint bounds) or None; the item it refers
    to; and how it was decided ("item", "row", "setup", "aligned", "called", "masked", "whole", "limits", "any")."""

    kind: np.ndarray
    item: np.ndarray
    how: np.ndarray
    candidate: np.ndarray  # which candidate of the exact coverage (-1: the masked one)


def classify(match: Match, config: DecontamConfig, index: NgramIndex | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(kind per text: "copy", "template", "variant" or None; the item index it refers to)."""
    verdicts = decide(match, config, index)
    return verdicts.kind, verdicts.item


def decide(match: Match, config: DecontamConfig, index: NgramIndex | None = None) -> Verdicts:
    """The verdict of each text over its candidate items, best first: the first candidate that is a copy wins, else the
    first that is a template; a candidate whose constraint bounds disagree is a variant, never a copy or a template."""
    exact = match.exact
    n_texts = len(exact.item)
    kind = np.full(n_texts, None, dtype=object)
    item, how, candidate = exact.item[:, 0].copy(), np.full(n_texts, None, dtype=object), np.zeros(n_texts, dtype=np.int64)
    if config.match == "any":
        kind[item >= 0], how[item >= 0] = "copy", "any"
        return Verdicts(kind, item, how, candidate)
    present = exact.item >= 0
    setup_ngrams = (
        index.item_setup_ngrams[np.maximum(exact.item, 0)] if index is not None else np.full(exact.item.shape, config.min_setup_ngrams)
    )
    # The item's names: a row that names other objects (other functions, another word to arrange) is another problem;
    # one that calls the item's function needs less of its wording.
    named = match.names_found > 0
    other_names = match.names_found < 0
    if index is not None:
        has_names = np.array([len(names) > 0 for names in index.item_names] + [False], dtype=bool)  # [-1]: no item
        named &= has_names[exact.item]
    threshold = np.where(named, min(config.min_coverage, config.min_coverage_named), config.min_coverage)
    by_item = present & (exact.item_coverage >= threshold) & ~other_names
    by_row = present & (exact.text_coverage >= config.min_row_coverage)
    by_setup = present & (setup_ngrams >= config.min_setup_ngrams) & (exact.setup_coverage >= config.min_coverage)
    # A copy holds the item's numbers and no others (a row contained in the item, which adds examples or constraints,
    # needs only its own numbers to be the item's) and asks what the item asks; or it holds the item's setup with the
    # setup's numbers, and asks something else of it.
    asks = match.question_found >= config.min_question
    own_numbers = match.text_numbers_found >= config.min_numbers
    values = (match.item_numbers_found >= config.min_numbers) & (np.abs(match.names_found) >= config.min_numbers)
    copy_item = by_item & values & own_numbers & asks
    copy_row = by_row & own_numbers & asks
    # (The setup must be the bulk of the item: "A number is selected from 1 through 100. What is the probability that
    # it is a multiple of 3?" asked of a divisor of 50 is another problem on a stock preamble.)
    setup_share = (
        1 - index.item_asks[np.maximum(exact.item, 0)] / np.maximum(index.item_lengths[np.maximum(exact.item, 0)], 1)
        if index is not None
        else np.ones(exact.item.shape)
    )
    copy_setup = by_setup & (match.setup_numbers_found >= config.min_numbers) & (setup_share >= config.min_setup_share)
    # An alignment tolerates a few changed tokens: none of them may swap a word that changes the problem ("spherical
    # coordinates ... phi = c" for the item's "cylindrical coordinates ... z = c" aligns 93% of the item's tokens).
    copy_aligned = present & (match.aligned >= config.min_aligned) & asks & ~other_names & match.meanings_agree
    copy_called = present & match.same_call & named
    # A short item (fewer than 4n tokens: an MBPP task) is one sentence: with one of its meaning words swapped ("product"
    # for "sum", "left" for "right") it is another task, although most of its n-grams stay. (A clarified copy only adds.)
    short = index.item_lengths[np.maximum(exact.item, 0)] < 4 * index.n if index is not None else np.zeros(exact.item.shape, bool)
    agree = match.limits_agree & (match.meanings_agree | ~short)
    is_copy = (copy_item | copy_row | copy_setup | copy_aligned | copy_called) & agree
    # A template shares more than an instruction: the item has a setup, or one long sentence whose conditions the row
    # keeps and asks what it asks ("put 5 balls in 3 boxes if neither the balls nor the boxes are distinguishable"); a
    # one-line drill is nobody's template ("the 453rd digit of 6/13" for "the last nonzero digit of 137/500").
    lengths = index.item_lengths[np.maximum(exact.item, 0)] if index is not None else np.full(exact.item.shape, 2 * config.min_setup_ngrams)
    long_ask = (lengths >= 2 * index.n) & asks if index is not None else asks
    substantial = (setup_ngrams >= config.min_setup_ngrams) | long_ask
    is_template = (by_item | by_row) & ~(copy_item | copy_row | copy_setup | copy_aligned | copy_called) & agree & substantial
    is_variant = (by_item | by_row | copy_setup) & ~agree

    def first(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return mask.any(axis=1), np.argmax(mask, axis=1)

    rows = np.arange(n_texts)
    for label, mask in (("copy", is_copy), ("template", is_template), ("variant", is_variant)):
        found, j = first(mask)
        take = found & (kind == None)  # noqa: E711
        kind[take], item[take], candidate[take] = label, exact.item[rows[take], j[take]], j[take]
        if label == "copy":
            r_, j_ = rows[take], j[take]
            how[take] = np.select(
                [copy_item[r_, j_], copy_row[r_, j_], copy_setup[r_, j_], copy_aligned[r_, j_]],
                ["item", "row", "setup", "aligned"],
                "called",
            )
        else:
            how[take] = "item" if label == "template" else "limits"
    if match.masked is not None:
        masked = match.masked
        long_setup = index.item_setup_ngrams[np.maximum(masked.item[:, 0], 0)] >= config.min_setup_ngrams if index is not None else True
        is_masked = (
            (kind == None)  # noqa: E711
            & (masked.item[:, 0] >= 0)
            & (masked.item_coverage[:, 0] >= config.template_coverage)
            & (masked.setup_coverage[:, 0] >= config.template_coverage)
            & long_setup
        )
        kind[is_masked], item[is_masked], how[is_masked], candidate[is_masked] = "template", masked.item[is_masked, 0], "masked", -1
    return Verdicts(kind, item, how, candidate)


def dropped(kind: np.ndarray, config: DecontamConfig) -> np.ndarray:
    """Rows the stage removes, from their classification: copies, and templates unless `drop_templates` is off."""
    return (kind == "copy") | ((kind == "template") & config.drop_templates)


def contaminated_mask(match: Match, config: DecontamConfig, index: NgramIndex | None = None) -> np.ndarray:
    return dropped(classify(match, config, index)[0], config)


def _after_cutoff(frame, cutoff: str | None) -> np.ndarray:
    if not cutoff or "contest_date" not in frame:
        return np.zeros(len(frame), dtype=bool)
    dates = _dates(frame)
    import pandas as pd

    return (dates > pd.Timestamp(cutoff, tz="UTC")).fillna(False).to_numpy(dtype=bool)


def _dates(frame):
    import pandas as pd

    return pd.to_datetime(frame["contest_date"], errors="coerce", utc=True, format="mixed")


def dated_rows(frame) -> dict[str, list[int]]:
    """Per source: [rows with a readable contest_date, rows]."""
    dated = _dates(frame).notna().to_numpy() if "contest_date" in frame else np.zeros(len(frame), bool)
    counts: dict[str, list[int]] = {}
    for source, has_date in zip(frame["source"] if "source" in frame else ["input"] * len(frame), dated):
        entry = counts.setdefault(str(source), [0, 0])
        entry[0] += int(has_date)
        entry[1] += 1
    return counts


def shared_spans(text: str, index: NgramIndex, item: int, masked: bool = False, limit: int = 3) -> list[str]:
    """The stretches of `text` whose n-grams are in benchmark item `item` (longest first), quoted as written."""
    tokens = tokenize(text, match_view=True)
    corpus = tokenize_corpus([text], match_view=True)
    if masked:
        corpus = _masked(corpus)
    windows = window_hashes(corpus, index.n)
    if not len(windows.hashes):
        return [quote(text, tokens, 120)] if len(tokens) < index.n else []
    item_hashes = index.hashes[index.items == item]
    covered = np.zeros(len(tokens) + 1, dtype=np.int64)
    for start in windows.start[np.isin(windows.hashes, item_hashes)]:
        covered[start] += 1
        covered[start + index.n] -= 1
    inside = np.cumsum(covered)[: len(tokens)] > 0
    if not inside.any():  # an item shorter than n tokens, found whole inside a short row
        return [quote(text, tokens, 120)]
    edges = np.flatnonzero(np.diff(np.r_[0, inside.astype(np.int8), 0]))
    spans = sorted(zip(edges[::2], edges[1::2]), key=lambda s: s[0] - s[1])[:limit]
    return [quote(text, tokens[a:b], 120) for a, b in sorted(spans)]


def _differing_numbers(text: str, index: NgramIndex, item: int) -> str:
    own = [t for t in tokenize(text, match_view=True) if t[0].isdigit()]
    hashes = tokenize_corpus(own, match_view=True).hashes if own else np.zeros(0, np.uint64)
    missing = [t for t, h in zip(own, hashes) if not np.isin(h, index.item_numbers[item])]
    return ", ".join(dict.fromkeys(missing[:8])) or "(none)"


def _evidence(
    r: int, text: str, verdicts: Verdicts, match: Match, indexes: Indexes, n: int, judge_model: str | None = None
) -> tuple[str, str, str]:
    """(reason, matched stretches, evidence) of a contaminated row."""
    item, j, how = int(verdicts.item[r]), int(verdicts.candidate[r]), verdicts.how[r]
    index = indexes.exact
    bench, item_id, item_text = index.item_benchmark[item], index.item_id[item], index.item_snippet[item]
    exact = match.exact
    if verdicts.kind[r] == "copy":
        spans = shared_spans(text, index, item) or (shared_spans(text, indexes.short, item) if indexes.short is not None else [])
        if how == "setup":
            what = (
                f"the row holds {exact.setup_coverage[r, j]:.0%} of the item's setup (its text before the final ask, {n}-grams "
                "weighted by rarity in the input) with the setup's numbers, and asks another final question of it"
            )
        elif how == "judge":
            what = (
                f"the judge model ({judge_model}) read both and called them one problem ({exact.item_coverage[r, j]:.0%} "
                f"of the item's {n}-grams; the prompt and its answer are in judge_prompt and judge_answer)"
            )
        elif how == "called":
            what = (
                f"it calls the item's function on the item's own example ({exact.item_coverage[r, j]:.0%} of the item's "
                f"{n}-grams: the prose is reworded)"
            )
        elif how == "aligned":
            what = (
                f"reworded all through ({exact.item_coverage[r, j]:.0%} of the item's {n}-grams), yet a token-by-token alignment "
                f"keeps {match.aligned[r, j]:.0%} of the item's tokens, numbers agree both ways and it asks what the item asks"
            )
        else:
            what = (
                f"the row holds {exact.item_coverage[r, j]:.0%} of the item's {n}-grams (weighted by rarity in the input) and "
                f"{exact.text_coverage[r, j]:.0%} of its own come from it, numbers agree"
            )
        return f"contaminated:{bench}", " | ".join(spans), f"copy of {bench} item {item_id!r}: {what}; item: {snippet(item_text, 200)}"
    masked = how == "masked"
    spans = shared_spans(text, indexes.masked if masked else index, item, masked=masked)
    share = match.masked.item_coverage[r, 0] if masked else exact.item_coverage[r, j]
    evidence = (
        f"template of {bench} item {item_id!r} with other numbers ({share:.0%} of the item's {n}-grams match"
        f"{' with numbers masked, its setup too' if masked else ''}; the row's numbers not in the item: "
        f"{_differing_numbers(text, index, item)}); item: {snippet(item_text, 200)}"
    )
    return f"contaminated_template:{bench}", " | ".join(spans), evidence


def _judge(texts: list[str], match: Match, verdicts: Verdicts, hit: np.ndarray, index: NgramIndex, config: DecontamConfig, ctx):
    """Ask the judge about kept rows whose best candidate holds `judge.min_coverage` of an item's n-grams (closest
    first); those it calls the item's problem become copies ("judge"), in `verdicts` and `hit`."""
    best, share = match.exact.item[:, 0], match.exact.item_coverage[:, 0]
    rows = np.flatnonzero(~hit & (best >= 0) & (share >= config.judge.min_coverage))
    rows = rows[np.argsort(-share[rows], kind="stable")]
    pairs = [(int(r), index.item_snippet[best[r]], texts[r]) for r in rows]
    outcome = run_judge(pairs, config.judge, ctx.run_dir / "cache" / "contam_judge.jsonl")
    for r, same in outcome.same.items():
        if same:
            verdicts.kind[r], verdicts.item[r], verdicts.how[r], verdicts.candidate[r] = "copy", best[r], "judge", 0
            hit[r] = True
    return outcome


@stage(
    "decontaminate",
    DecontamConfig,
    requires=("id", "problem"),
    reads=("contest_date",),
    evidence=(
        "contaminated_by",
        "benchmark_item",
        "benchmark_text",
        "matched_ngrams",
        "coverage",
        "row_coverage",
        "judge_prompt",
        "judge_answer",
    ),
    example="acecurate decontaminate dumps/math.jsonl --benchmark-files my_eval.jsonl --out runs/decontam",
)
def decontaminate(frame, config: DecontamConfig, ctx) -> StageResult:
    """Remove rows that copy a benchmark item, or its template with other numbers, or post-date the code cutoff."""
    n = config.n or DEFAULT_N[ctx.domain]
    fingerprints, window_notes = in_window(load_benchmarks(config, ctx.domain), config.windows)
    by_coverage = config.match == "coverage"
    indexes = build_indexes(fingerprints, n, config.max_item_frequency, by_coverage, config.short_n if by_coverage else None)
    texts = list(frame["problem"])
    match = match_texts(texts, indexes, workers=ctx.workers, domain=ctx.domain, measure=by_coverage)
    verdicts = decide(match, config, indexes.exact)
    hit = dropped(verdicts.kind, config)
    judged = _judge(texts, match, verdicts, hit, indexes.exact, config, ctx) if config.judge.model else None
    late = _after_cutoff(frame, config.date_cutoff if ctx.domain == "code" else None) & ~hit
    removed_mask = hit | late
    positions = np.flatnonzero(removed_mask)
    records, coverage, row_coverage = [], [], []
    index = indexes.exact
    for r in positions:
        if not hit[r]:
            reason, evidence = (
                f"after_cutoff:{config.date_cutoff}",
                f"contest_date {frame['contest_date'].iat[r]} is after {config.date_cutoff}",
            )
            records.append((None, None, None, None, reason, evidence))
            coverage.append(None)
            row_coverage.append(None)
            continue
        item, j = int(verdicts.item[r]), int(verdicts.candidate[r])
        reason, spans, evidence = _evidence(r, texts[r], verdicts, match, indexes, n, config.judge.model)
        records.append((index.item_benchmark[item], index.item_id[item], index.item_snippet[item], spans, reason, evidence))
        coverage.append(round(float(match.exact.item_coverage[r, j] if j >= 0 else match.masked.item_coverage[r, 0]), 4))
        row_coverage.append(round(float(match.exact.text_coverage[r, j]), 4) if j >= 0 else None)
    removed = frame[removed_mask].copy()
    for column, values in zip(
        ("contaminated_by", "benchmark_item", "benchmark_text", "matched_ngrams", "reason", "evidence"),
        zip(*records) if records else [[]] * 6,
    ):
        removed[column] = list(values)
    removed["coverage"], removed["row_coverage"] = coverage, row_coverage
    removed["judge_prompt"] = [judged.prompts.get(int(r)) if judged and verdicts.how[r] == "judge" else None for r in positions]
    removed["judge_answer"] = [judged.answers.get(int(r)) if judged and verdicts.how[r] == "judge" else None for r in positions]
    found = sorted({f"{index.item_benchmark[verdicts.item[r]]}/{index.item_id[verdicts.item[r]]}" for r in np.flatnonzero(hit)})
    templates_kept = int(np.count_nonzero((verdicts.kind == "template") & ~hit))
    variants = int(np.count_nonzero(verdicts.kind == "variant"))
    names = ", ".join(f"{fp.name} ({len(fp.ids)})" for fp in fingerprints)
    report = {
        "benchmarks": f"token {n}-grams ({config.short_n}-grams for short items), match `{config.match}`, against {names}",
        "benchmark items found in the input": ", ".join(f"`{i}`" for i in found) or "none",
    }
    report.update({f"{name} window": note for name, note in window_notes.items()})
    if templates_kept:
        report["templates kept"] = f"{templates_kept} rows share a benchmark item's template with other numbers (drop_templates: false)"
    if variants:
        report["variants kept"] = f"{variants} rows match a benchmark statement with other constraint bounds (another problem)"
    if judged is not None:
        report["judge"] = (
            f"{config.judge.model} ({config.judge.backend}) judged {len(judged.prompts)} rows near an item the rules kept: "
            f"{sum(judged.same.values())} called the item's problem and removed ({judged.asked} asked, {judged.cached} from the cache)"
        )
    dated = dated_rows(frame)
    warnings = []
    if ctx.domain == "code":
        report["dated rows"] = ", ".join(f"{source}: {d} of {t}" for source, (d, t) in dated.items())
        undated = [source for source, (d, t) in dated.items() if d == 0 and t]
        if undated and config.date_cutoff:
            warnings.append(
                f"no contest_date in source(s) {', '.join(undated)}: the {config.date_cutoff} cutoff cannot apply to their rows "
                "(give dates with --map contest_date=COLUMN)"
            )
            report["warning"] = warnings[-1]
    return StageResult(
        frame[~removed_mask].copy(),
        removed,
        {
            "n": n,
            "match": config.match,
            "benchmarks": [
                {"name": fp.name, "items": len(fp.ids), "description": fp.description, "window": fp.window} for fp in fingerprints
            ],
            "boilerplate_ngrams_ignored": index.ignored_ngrams,
            "rows_sharing_any_ngram": int(np.count_nonzero(match.item >= 0)),
            "copies": int(np.count_nonzero(verdicts.kind == "copy")),
            "copies_by": {
                str(k): int(v) for k, v in zip(*np.unique(verdicts.how[verdicts.kind == "copy"].astype(str), return_counts=True))
            },
            "templates": int(np.count_nonzero(verdicts.kind == "template")),
            "templates_kept": templates_kept,
            "variants": variants,
            "contaminated_items": found,
            "judge": {
                "model": config.judge.model,
                "judged": len(judged.prompts),
                "same": sum(judged.same.values()),
                "asked": judged.asked,
                "cached": judged.cached,
            }
            if judged is not None
            else None,
            "dated_rows": dated,
            "warnings": warnings,
        },
        report,
    )
