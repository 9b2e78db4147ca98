"""Throughput of exact dedup, near dedup and decontamination on >= 200,000 rows built from the shared dumps, beside a
straightforward implementation (Python sets of word n-gram strings, as open-r1 does) in the same run.

    python benchmarks/dedup_decontam.py [--rows 200000]
"""

import argparse
import json
import random
import re
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from acecurate.benchmarks import REGISTRY, load_fingerprint, shipped_names
from acecurate.stages.decontaminate import DecontamConfig, build_index, contaminated_mask, match_texts
from acecurate.stages.dedup import NearDedupConfig, PairJudge, near_duplicates
from acecurate.text import MATCH_VIEW_DROP, SYMBOLS, TEXT_PASSES, UNICODE_PASSES, hash_strings, normalize_many

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
    for pattern, replacement in _PASSES:
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

    t = time.perf_counter()
    judge = PairJudge(pd.DataFrame({"problem": rows}), rows, "math", check_answers=False)  # statements only: no answers here
    dup_of, variant_of, _, _, stats = near_duplicates(rows, NearDedupConfig(), np.arange(len(rows)), judge=judge)
    near_s = time.perf_counter() - t
    print(
        f"near dedup (MinHash): {len(rows) / near_s:>10,.0f} rows/s  ({int((dup_of >= 0).sum()):,} near duplicates, {int((variant_of >= 0).sum()):,} variants, {near_s:.1f} s, {stats})"
    )

    fingerprints = [load_fingerprint(n) for n in shipped_names("math")]
    t = time.perf_counter()
    index = build_index(fingerprints, 9, 10)
    match = match_texts(rows, index, build_index(fingerprints, 9, 10, masked=True))
    fast_any = contaminated_mask(match, DecontamConfig(match="any"))
    fast_cov = contaminated_mask(match, DecontamConfig(match="coverage"))
    fast_s = time.perf_counter() - t
    print(
        f"decontam (acecurate): {len(rows) / fast_s:>10,.0f} rows/s  (any: {int(fast_any.sum()):,} rows, coverage: {int(fast_cov.sum()):,} rows, {fast_s:.1f} s)"
    )

    t = time.perf_counter()
    naive_any = naive_decontam(rows, bench_texts_math(), 9, 10)
    naive_s = time.perf_counter() - t
    print(f"decontam (naive sets): {len(rows) / naive_s:>9,.0f} rows/s  (any: {int(naive_any.sum()):,} rows, {naive_s:.1f} s)")
    print(f"speed-up: {naive_s / fast_s:.1f}x; any-match results identical: {bool((naive_any == fast_any).all())}")


if __name__ == "__main__":
    main()
