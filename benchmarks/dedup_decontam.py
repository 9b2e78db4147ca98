"""Throughput and peak memory of exact dedup, near dedup and decontamination on >= 200,000 rows built from the shared
dumps, beside the peer ways in the same run: datasketch's MinHashLSH for near dedup (pip install -e '.[bench]') and
Python sets of word n-gram strings (as open-r1 does) for decontamination. Each near-dedup way reports its merges below
the threshold: removed rows whose real token-bigram Jaccard similarity to the row they were merged with is under it.

    python benchmarks/dedup_decontam.py [--rows 200000] [--workers 2]
"""

import argparse
import json
import random
import re
import resource
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from acecurate.benchmarks import REGISTRY, load_fingerprint, shipped_names
from acecurate.stages.decontaminate import DecontamConfig, Indexes, build_indexes, contaminated_mask, match_texts
from acecurate.stages.dedup import NearDedupConfig
from acecurate.stages.minhash import jaccard, near_duplicates, shingle_sets
from acecurate.stages.pair_judge import PairJudge
from acecurate.text import (
    MATCH_VIEW_DROP,
    MATCH_VIEW_PASSES,
    SYMBOLS,
    TEXT_PASSES,
    UNICODE_PASSES,
    hash_strings,
    normalize_many,
    tokenize_many,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def build_rows(n: int) -> list[str]:
    """Real problems, repeated with light random edits (a word dropped, a number changed) to reach n rows."""
    base = [r["problem"] for r in json.load(open(DATA / "raw/rllm_math_train.json"))]
    base += [r["problem"] for r in json.load(open(DATA / "raw/deepscaler_aime_1983_2023.json"))]
    rng = random.Random(0)
    rows = list(base)
    while len(rows) < n:
        words = rng.choice(base).split()
        if len(words) > 4:
            del words[rng.randrange(len(words))]
        words.append(str(rng.randrange(1000)))
        rows.append(" ".join(words))
    return rows[:n]


# The same normalisation passes as acecurate.text (its RE2 patterns are valid Python `re` patterns with re.ASCII),
# applied with Python's re one text at a time.
_UNICODE = [(re.compile(p, re.ASCII), r) for p, r in UNICODE_PASSES]
_PASSES = [(re.compile(p, re.ASCII), r) for p, r in TEXT_PASSES]
_MATCH_PASSES = [(re.compile(p, re.ASCII), r) for p, r in MATCH_VIEW_PASSES]
_DROP = re.compile(MATCH_VIEW_DROP, re.ASCII)
_TOKEN = re.compile("[A-Za-z\u0080-\U0010ffff]+|[0-9]+|[" + re.escape(SYMBOLS) + "]")


def python_tokenize(text, match_view=True):
    """The straightforward tokenizer: Python's re, one text at a time, same rules as acecurate's matching view."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        for pattern, replacement in _UNICODE:
            text = pattern.sub(replacement, text)
    text = text.lower()
    if match_view:
        text = _DROP.sub(" ", text)
    for pattern, replacement in _PASSES + (_MATCH_PASSES if match_view else []):
        text = pattern.sub(replacement, text)
    tokens = _TOKEN.findall(text)
    if match_view:
        tokens = [part for t in tokens for part in ((t[0], t[1]) if len(t) == 2 and t.isascii() and t.isalpha() else (t,))]
    return tokens


def naive_decontam(texts, bench_texts, n, max_freq):
    """open-r1's way: a Python set of word n-gram strings per text."""

    def grams(t):
        toks = python_tokenize(t)
        return (
            {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)}
            if len(toks) >= n
            else ({"\0" + " ".join(toks)} if toks else set())
        )

    freq = {}
    for b in bench_texts:
        for g in grams(b):
            freq[g] = freq.get(g, 0) + 1
    bench = {g for g, c in freq.items() if c <= max_freq}
    return np.array([bool(grams(t) & bench) for t in texts])


def datasketch_near_dedup(rows, config: NearDedupConfig) -> np.ndarray:
    """datasketch's MinHashLSH at the same threshold and permutations, over the same token bigrams (the usual recipe:
    the first row of each LSH query answer is kept, the rest merged into it); dup_of per row, -1 where kept."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    dup_of = np.full(len(rows), -1, dtype=np.int64)
    for i, tokens in enumerate(tokenize_many(rows)):
        signature = MinHash(num_perm=config.num_perm, seed=config.seed)
        signature.update_batch([" ".join(tokens[k : k + config.ngram]).encode() for k in range(max(len(tokens) - config.ngram + 1, 1))])
        found = lsh.query(signature)
        if found:
            dup_of[i] = min(found)
        else:
            lsh.insert(i, signature)
    return dup_of


def merges_below(rows, dup_of: np.ndarray, config: NearDedupConfig) -> int:
    """Removed rows whose real Jaccard similarity (token bigrams, stock ones left out) to their kept row is under the
    threshold."""
    _, sets, _ = shingle_sets(rows, config.minhash())
    return sum(1 for i in np.flatnonzero(dup_of >= 0) if jaccard(sets[i], sets[dup_of[i]]) < config.threshold)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measured(fn):
    """(result, seconds, peak resident memory in MB above what the process held before) of fn(), the memory sampled
    every 10 ms by a thread."""
    import threading

    start, peak, done = _rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t
    done.set()
    sampler.join()
    return result, seconds, max(peak[0], _rss_mb()) - start


def bench_texts_math():
    texts = []
    for spec in REGISTRY.values():
        if spec.domain == "math" and spec.fingerprint:
            path = DATA / "benchmarks" / spec.fingerprint.source
            texts += [json.loads(l)[spec.fingerprint.text_field] for l in open(path)]
    return texts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rows = build_rows(args.rows)
    print(f"{len(rows):,} rows")

    t = time.perf_counter()
    keys = hash_strings(normalize_many(rows, workers=2))
    _, first = np.unique(keys, return_index=True)
    exact_s = time.perf_counter() - t
    print(f"exact dedup:          {len(rows) / exact_s:>10,.0f} rows/s  ({len(rows) - len(first):,} duplicates, {exact_s:.1f} s)")
    t = time.perf_counter()
    naive_keys = {}
    for i, r in enumerate(rows):
        naive_keys.setdefault(" ".join(python_tokenize(r, match_view=False)), i)
    naive_exact_s = time.perf_counter() - t
    print(f"exact dedup (naive):  {len(rows) / naive_exact_s:>10,.0f} rows/s  (dict of token strings, {naive_exact_s:.1f} s)")

    config = NearDedupConfig()

    def ours():
        judge = PairJudge(pd.DataFrame({"problem": rows}), rows, "math", check_answers=False)  # statements only: no answers here
        return near_duplicates(rows, config.minhash(), np.arange(len(rows)), judge=judge)

    found, near_s, near_mb = measured(ours)
    dup_of, variant_of, stats = found.dup_of, found.variant_of, found.stats
    print(
        f"near dedup (acecurate): {len(rows) / near_s:>8,.0f} rows/s  peak {near_mb:,.0f} MB  ({int((dup_of >= 0).sum()):,} near duplicates, "
        f"{merges_below(rows, dup_of, config)} merged below the threshold, {int((variant_of >= 0).sum()):,} variants, {near_s:.1f} s, {stats})"
    )
    try:
        sketch_dup, sketch_s, sketch_mb = measured(lambda: datasketch_near_dedup(rows, config))
        print(
            f"near dedup (datasketch MinHashLSH): {len(rows) / sketch_s:>8,.0f} rows/s  peak {sketch_mb:,.0f} MB  "
            f"({int((sketch_dup >= 0).sum()):,} near duplicates, {merges_below(rows, sketch_dup, config)} merged below the threshold, {sketch_s:.1f} s)"
        )
    except ImportError:
        print("near dedup (datasketch MinHashLSH): not installed (pip install -e '.[bench]')")

    fingerprints = [load_fingerprint(n) for n in shipped_names("math")]

    def fast_any():  # the task the plain sets do: does the row share any 9-gram with a benchmark item
        exact = build_indexes(fingerprints, 9, 10, masked=False, short_n=None).exact
        return contaminated_mask(match_texts(rows, Indexes(exact), workers=args.workers, measure=False), DecontamConfig(match="any"))

    def fast_coverage():  # the stage's default rule: copies and templates, by coverage
        indexes = build_indexes(fingerprints, 9, 10, masked=True, short_n=5)
        return contaminated_mask(match_texts(rows, indexes, workers=args.workers), DecontamConfig(match="coverage"), indexes.exact)

    fast_any, fast_s, fast_mb = measured(fast_any)
    print(
        f"decontam (acecurate, any): {len(rows) / fast_s:>10,.0f} rows/s  peak {fast_mb:,.0f} MB  ({int(fast_any.sum()):,} rows, {fast_s:.1f} s)"
    )
    fast_cov, cov_s, cov_mb = measured(fast_coverage)
    print(
        f"decontam (acecurate, coverage): {len(rows) / cov_s:>10,.0f} rows/s  peak {cov_mb:,.0f} MB  ({int(fast_cov.sum()):,} rows, {cov_s:.1f} s)"
    )
    naive_any, naive_s, naive_mb = measured(lambda: naive_decontam(rows, bench_texts_math(), 9, 10))
    print(
        f"decontam (naive sets): {len(rows) / naive_s:>9,.0f} rows/s  peak {naive_mb:,.0f} MB  (any: {int(naive_any.sum()):,} rows, {naive_s:.1f} s)"
    )
    print(
        f"speed-up (any): {naive_s / fast_s:.1f}x; the coverage rule: {naive_s / cov_s:.1f}x; any-match results identical: "
        f"{bool((naive_any == fast_any).all())}"
    )
    print(f"peak RSS of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MB")


if __name__ == "__main__":
    main()
