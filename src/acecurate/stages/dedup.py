"""Exact and near-duplicate removal.

Exact: rows whose normalised problem text (or, for code, source URL) is equal; the row of the highest-priority source
is kept. Near: MinHash LSH over word n-grams finds candidates, and a row is removed only when its *real* Jaccard
similarity to a row that is itself kept reaches the threshold, so removals never chain through dissimilar rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import setting
from ..stage import StageResult, stage
from ..text import hash_strings, normalize_many, shingle_corpus, snippet, tokenize_corpus


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
    threshold: float = setting(0.8, "Real Jaccard similarity of word n-gram sets at which a row is a near duplicate.")
    ngram: int = 5
    num_perm: int = 120
    bands: int = setting(24, "LSH bands (num_perm / bands rows each); 24 x 5 finds a 0.8-similar pair with probability > 0.9999.")
    seed: int = 1
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


def near_duplicates(texts: list[str], config: NearDedupConfig, order: np.ndarray, track=None):
    """(dup_of, similarity) per text: dup_of is the index of the kept text it nearly equals, or -1."""
    shingles = shingle_corpus(tokenize_corpus(texts), config.ngram)
    sets = [np.unique(s) for s in shingles.per_text()]
    signatures = minhash_signatures(shingles, config.num_perm, config.seed)
    keys = _band_keys(signatures, config.bands)
    n = len(texts)
    dup_of = np.full(n, -1, dtype=np.int64)
    similarity = np.zeros(n)
    shared = np.zeros(n, dtype=bool)
    for band in range(config.bands):
        _, inverse, counts = np.unique(keys[:, band], return_inverse=True, return_counts=True)
        shared |= counts[inverse] > 1
    has_shingles = np.array([len(s) > 0 for s in sets], dtype=bool)
    candidates_rows = [i for i in order if shared[i] and has_shingles[i]]
    buckets: list[dict[int, list[int]]] = [dict() for _ in range(config.bands)]
    checked = 0
    iterator = track(candidates_rows, len(candidates_rows), "verify candidates") if track else candidates_rows
    floor = config.threshold - 0.2  # MinHash estimates within 0.2 of the threshold are verified exactly
    for i in iterator:
        row_keys = keys[i]
        seen: set[int] = set()
        for band in range(config.bands):
            for j in buckets[band].get(int(row_keys[band]), ()):
                if j in seen:
                    continue
                seen.add(j)
        if seen:
            cands = np.fromiter(seen, dtype=np.int64, count=len(seen))
            estimates = (signatures[cands] == signatures[i]).mean(axis=1)
            for j in cands[np.argsort(-estimates, kind="stable")][: np.count_nonzero(estimates >= floor)]:
                checked += 1
                sim = jaccard(sets[i], sets[j])
                if sim >= config.threshold:
                    dup_of[i], similarity[i] = j, sim
                    break
        if dup_of[i] < 0:
            for band in range(config.bands):
                buckets[band].setdefault(int(row_keys[band]), []).append(i)
    return dup_of, similarity, {"candidate_rows": len(candidates_rows), "pairs_verified": checked}


@stage(
    "near-dedup",
    NearDedupConfig,
    requires=("id", "source", "problem"),
    evidence=("dup_of", "similarity"),
    example="acecurate near-dedup dumps/math.jsonl --threshold 0.85 --out runs/near",
)
def near_dedup(frame, config: NearDedupConfig, ctx) -> StageResult:
    """Remove rows whose word n-gram Jaccard similarity to a kept row reaches the threshold (MinHash LSH, then verified)."""
    order = priority_order(frame, config.source_priority)
    dup_of, similarity, stats = near_duplicates(list(frame["problem"]), config, order, ctx.track)
    mask = dup_of >= 0
    removed = frame[mask].copy()
    removed["dup_of"] = frame["id"].to_numpy()[dup_of[mask]]
    removed["similarity"] = np.round(similarity[mask], 4)
    removed["reason"] = "near_duplicate"
    problems = frame["problem"].to_numpy()
    removed["evidence"] = [
        f"word {config.ngram}-gram Jaccard {s:.2f} with kept row {i!r}: {snippet(problems[j])}"
        for s, i, j in zip(removed["similarity"], removed["dup_of"], dup_of[mask])
    ]
    return StageResult(frame[~mask].copy(), removed, stats)
