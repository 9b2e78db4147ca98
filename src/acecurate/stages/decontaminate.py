"""Benchmark decontamination: an n-gram index over benchmark fingerprints, and date windows for code.

Default rule (`match: coverage`): a row is contaminated by a benchmark item when the row's n-grams cover at least
`min_coverage` of that item's n-grams, or when at least `min_row_coverage` of the row's own n-grams come from that
item. `match: any` flags any shared n-gram, as the paper and open-r1 do; on MATH train that flags 9% of the rows, mostly
through stock phrasing. N-grams found in more than `max_item_frequency` benchmark items are boilerplate and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..benchmarks import Fingerprint, fingerprint_file, load_fingerprint, shipped_names
from ..config import setting
from ..errors import AcecurateError
from ..stage import StageResult, stage
from ..text import TokenizedCorpus, shingle_corpus, tokenize, tokenize_corpus, window_hashes

DEFAULT_N = {"math": 9, "code": 14}
_BITMAP_MASK = np.uint64((1 << 24) - 1)  # low 24 bits of an n-gram hash index a 16 MB membership prefilter


@dataclass
class NgramIndex:
    """Distinct (n-gram hash, benchmark item) pairs sorted by hash, without boilerplate n-grams."""

    n: int
    hashes: np.ndarray  # uint64, sorted, one entry per (hash, item) pair
    items: np.ndarray  # int64 item index, aligned with hashes
    item_ngrams: np.ndarray  # distinct non-boilerplate n-grams per item
    item_benchmark: list[str]
    item_id: list[str]
    ignored_ngrams: int
    short_item_lengths: list[int]  # token counts of items shorter than n (they match as a whole, contained in a row)
    bitmap: np.ndarray  # bool, True where some index hash has these low bits


def build_index(fingerprints: list[Fingerprint], n: int, max_item_frequency: int) -> NgramIndex:
    hashes = np.concatenate([fp.corpus.hashes for fp in fingerprints]) if fingerprints else np.zeros(0, np.uint64)
    lengths = np.concatenate([fp.corpus.lengths for fp in fingerprints]) if fingerprints else np.zeros(0, np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    shingles = shingle_corpus(TokenizedCorpus(hashes, offsets), n)
    pairs = np.unique(np.stack([shingles.hashes, shingles.owner.astype(np.uint64)], axis=1), axis=0)
    pair_hashes, pair_items = pairs[:, 0], pairs[:, 1].astype(np.int64)
    _, inverse, item_counts = np.unique(pair_hashes, return_inverse=True, return_counts=True)
    keep = item_counts[inverse] <= max_item_frequency
    pair_hashes, pair_items = pair_hashes[keep], pair_items[keep]
    benchmark_of_item = [fp.name for fp in fingerprints for _ in fp.ids]
    ids = [i for fp in fingerprints for i in fp.ids]
    return NgramIndex(
        n,
        pair_hashes,
        pair_items,
        np.bincount(pair_items, minlength=len(ids)),
        benchmark_of_item,
        ids,
        int(np.count_nonzero(item_counts > max_item_frequency)),
        sorted(set(lengths[(lengths > 0) & (lengths < n)].tolist())),
        _bitmap(pair_hashes),
    )


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    bitmap = np.zeros(int(_BITMAP_MASK) + 1, dtype=bool)
    bitmap[hashes & _BITMAP_MASK] = True
    return bitmap


@dataclass
class Match:
    """For each text, its best benchmark item (-1 when none) with the share of the item and of the text matched."""

    item: np.ndarray
    item_coverage: np.ndarray
    text_coverage: np.ndarray
    ngram_start: np.ndarray  # token position in the text of one matching n-gram (-1 when none)


def match_texts(texts: list[str], index: NgramIndex, workers: int = 2, chunk_rows: int = 50_000) -> Match:
    """Match texts in chunks of `chunk_rows` on `workers` threads (the work is numpy and Arrow kernels, which release
    the GIL), so memory stays bounded at 10^6 rows and both cores are used."""
    chunks = [texts[i : i + chunk_rows] for i in range(0, len(texts), chunk_rows)] or [[]]
    if len(chunks) == 1 or workers <= 1:
        parts = [_match_chunk(chunk, index) for chunk in chunks]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda chunk: _match_chunk(chunk, index), chunks))
    return Match(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("item", "item_coverage", "text_coverage", "ngram_start")))


def _match_chunk(texts: list[str], index: NgramIndex) -> Match:
    """Every text's n-grams looked up in the index at once: a bitmap prefilter, then a sorted search for survivors."""
    corpus = tokenize_corpus(texts)
    shingles = shingle_corpus(corpus, index.n)
    n_texts = len(texts)
    text_ngrams = np.bincount(shingles.owner, minlength=n_texts)  # n-grams per text (a repeated one counts again)
    best_item = np.full(n_texts, -1, dtype=np.int64)
    best_item_cov, best_text_cov = np.zeros(n_texts), np.zeros(n_texts)
    start = np.full(n_texts, -1, dtype=np.int64)
    candidates = np.flatnonzero(index.bitmap[shingles.hashes & _BITMAP_MASK]) if len(index.hashes) else np.zeros(0, np.int64)
    lo = np.searchsorted(index.hashes, shingles.hashes[candidates], side="left")
    hi = np.searchsorted(index.hashes, shingles.hashes[candidates], side="right")
    found = hi > lo
    hit_shingles, lo, counts = candidates[found], lo[found], (hi - lo)[found]
    if len(hit_shingles):
        # Expand each hit to every benchmark item holding that n-gram (at most max_item_frequency each).
        which = np.repeat(np.arange(len(hit_shingles)), counts)
        within = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
        items = index.items[lo[which] + within]
        owners = shingles.owner[hit_shingles[which]]
        hashes = shingles.hashes[hit_shingles[which]]
        # Distinct (text, item, n-gram) triples, then the number of distinct shared n-grams per (text, item).
        order = np.lexsort((hashes, items, owners))
        owners, items, hashes = owners[order], items[order], hashes[order]
        new_triple = np.r_[True, (owners[1:] != owners[:-1]) | (items[1:] != items[:-1]) | (hashes[1:] != hashes[:-1])]
        owners, items = owners[new_triple], items[new_triple]
        new_pair = np.flatnonzero(np.r_[True, (owners[1:] != owners[:-1]) | (items[1:] != items[:-1])])
        pair_owner, pair_item = owners[new_pair], items[new_pair]
        shared = np.diff(np.r_[new_pair, len(owners)])
        item_cov = shared / np.maximum(index.item_ngrams[pair_item], 1)
        text_cov = np.minimum(shared / np.maximum(text_ngrams[pair_owner], 1), 1.0)
        # Best pair per text: sort by text, then score descending.
        best = np.lexsort((-np.maximum(item_cov, text_cov), pair_owner))
        first = best[np.r_[True, pair_owner[best][1:] != pair_owner[best][:-1]]]
        best_item[pair_owner[first]] = pair_item[first]
        best_item_cov[pair_owner[first]] = item_cov[first]
        best_text_cov[pair_owner[first]] = text_cov[first]
        # The first matching n-gram of each text, for the removal record (hit_shingles is in shingle order).
        hit_owner = shingles.owner[hit_shingles]
        _, first_hit = np.unique(hit_owner, return_index=True)
        start[hit_owner[first_hit]] = shingles.start[hit_shingles[first_hit]]
    match = Match(best_item, best_item_cov, best_text_cov, start)
    _match_short_items(corpus, index, match)
    return match


def _match_short_items(corpus: TokenizedCorpus, index: NgramIndex, match: Match) -> None:
    """A benchmark item shorter than n matches a row that contains all of it, when the row is at most n-1 tokens
    longer (an added instruction sentence), so "Simplify sqrt 242" is found in "Solve this. Simplify sqrt 242"."""
    lengths = corpus.lengths
    for length in index.short_item_lengths:
        rows = np.flatnonzero((lengths >= length) & (lengths < length + index.n) & (match.item_coverage < 1))
        if not len(rows):
            continue
        windows = window_hashes(corpus.subset(rows), length, salted=True)
        pos = np.searchsorted(index.hashes, windows.hashes)
        pos = np.minimum(pos, len(index.hashes) - 1)
        found = index.hashes[pos] == windows.hashes
        for owner, start, at in zip(windows.owner[found][::-1], windows.start[found][::-1], pos[found][::-1]):
            row = rows[owner]
            match.item[row], match.item_coverage[row] = index.items[at], 1.0
            match.text_coverage[row], match.ngram_start[row] = length / lengths[row], start


@dataclass
class DecontamConfig:
    benchmarks: list[str] = setting(factory=list, help="Shipped fingerprints to use; empty means all of the domain.")
    benchmark_files: list[str] = setting(factory=list, help="Extra benchmark files of your own.")
    n: int | None = setting(None, "Word n-gram size; default 9 for math, 14 for code.")
    match: str = setting("coverage", '"coverage" (default) or "any".')
    min_coverage: float = setting(0.5, "Share of one benchmark item's n-grams found in the row.")
    min_row_coverage: float = setting(0.8, "Share of the row's n-grams found in one benchmark item.")
    max_item_frequency: int = setting(10, "N-grams in more benchmark items than this are boilerplate.")
    date_cutoff: str | None = setting("2024-08-01", "Code rows with a later contest_date are removed (LiveCodeBench v5/v6).")

    def __post_init__(self):
        if self.match not in ("coverage", "any"):
            raise ValueError(f"match must be 'coverage' or 'any', got {self.match!r}")


def load_benchmarks(config: DecontamConfig, domain: str) -> list[Fingerprint]:
    names = config.benchmarks or shipped_names(domain)
    fingerprints = [load_fingerprint(name) for name in names]
    fingerprints += [fingerprint_file(path, domain) for path in config.benchmark_files]
    if not fingerprints:
        raise AcecurateError(f"no benchmarks to decontaminate against for domain '{domain}'")
    return fingerprints


def contaminated_mask(match: Match, config: DecontamConfig) -> np.ndarray:
    if config.match == "any":
        return match.item >= 0
    return (match.item >= 0) & ((match.item_coverage >= config.min_coverage) | (match.text_coverage >= config.min_row_coverage))


def _after_cutoff(frame, cutoff: str | None) -> np.ndarray:
    import pandas as pd

    if not cutoff or "contest_date" not in frame:
        return np.zeros(len(frame), dtype=bool)
    dates = pd.to_datetime(frame["contest_date"], errors="coerce", utc=True, format="mixed")
    return (dates > pd.Timestamp(cutoff, tz="UTC")).fillna(False).to_numpy(dtype=bool)


@stage(
    "decontaminate",
    DecontamConfig,
    requires=("id", "problem"),
    evidence=("contaminated_by", "benchmark_item", "matched_ngram", "coverage", "row_coverage"),
    example="acecurate decontaminate dumps/math.jsonl --benchmark-files my_eval.jsonl --out runs/decontam",
)
def decontaminate(frame, config: DecontamConfig, ctx) -> StageResult:
    """Remove rows that copy a benchmark item (n-gram coverage, or any shared n-gram) or post-date the code cutoff."""
    n = config.n or DEFAULT_N[ctx.domain]
    fingerprints = load_benchmarks(config, ctx.domain)
    index = build_index(fingerprints, n, config.max_item_frequency)
    texts = list(frame["problem"])
    match = match_texts(texts, index, workers=ctx.workers)
    hit = contaminated_mask(match, config)
    late = _after_cutoff(frame, config.date_cutoff if ctx.domain == "code" else None) & ~hit
    removed_mask = hit | late
    rows = np.flatnonzero(hit)
    removed = frame[removed_mask].copy()
    by, item, ngram = {}, {}, {}
    for r in rows:
        item_index = match.item[r]
        by[r], item[r] = index.item_benchmark[item_index], index.item_id[item_index]
        tokens = tokenize(texts[r])
        ngram[r] = " ".join(tokens[match.ngram_start[r] : match.ngram_start[r] + n]) if match.ngram_start[r] >= 0 else ""
    positions = np.flatnonzero(removed_mask)
    removed["contaminated_by"] = [by.get(r) for r in positions]
    removed["benchmark_item"] = [item.get(r) for r in positions]
    removed["matched_ngram"] = [ngram.get(r) for r in positions]
    removed["coverage"] = np.round(match.item_coverage[positions], 4)
    removed["row_coverage"] = np.round(match.text_coverage[positions], 4)
    removed["reason"] = [f"contaminated:{by[r]}" if r in by else f"after_cutoff:{config.date_cutoff}" for r in positions]
    removed["evidence"] = [
        f"covers {match.item_coverage[r]:.0%} of {by[r]} item {item[r]!r} ({match.text_coverage[r]:.0%} of the row); "
        f"shared {n}-gram: '{ngram[r]}'"
        if r in by
        else f"contest_date {frame['contest_date'].iat[r]} is after {config.date_cutoff}"
        for r in positions
    ]
    found = sorted({f"{by[r]}/{item[r]}" for r in rows})
    names = ", ".join(f"{fp.name} ({len(fp.ids)})" for fp in fingerprints)
    return StageResult(
        frame[~removed_mask].copy(),
        removed,
        {
            "n": n,
            "match": config.match,
            "benchmarks": [{"name": fp.name, "items": len(fp.ids), "description": fp.description} for fp in fingerprints],
            "boilerplate_ngrams_ignored": index.ignored_ngrams,
            "rows_sharing_any_ngram": int(np.count_nonzero(match.item >= 0)),
            "contaminated_items": found,
        },
        {
            "benchmarks": f"word {n}-grams, match `{config.match}`, against {names}",
            "benchmark items found in the input": ", ".join(f"`{i}`" for i in found) or "none",
        },
    )
