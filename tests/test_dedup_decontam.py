"""Exact and near dedup, and benchmark decontamination (coverage and any-match), on hand-written rows and real data."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from acecurate.benchmarks import fingerprint_file, load_fingerprint, shipped_names
from acecurate.stage import RunContext
from acecurate.stages.decontaminate import DecontamConfig, build_index, contaminated_mask, match_texts
from acecurate.stages.dedup import DedupConfig, NearDedupConfig, exact_dedup, near_duplicates
from acecurate.text import normalize, shingle_corpus, tokenize, tokenize_corpus

from .conftest import write_jsonl


def ctx(tmp_path, domain="math"):
    return RunContext(tmp_path, tmp_path, domain, 1)


def frame(rows):
    return pd.DataFrame(
        [{"id": f"r{i}", "source": r.get("source", "s"), "domain": "math", "url": r.get("url"), **r} for i, r in enumerate(rows)]
    )


def test_normalize_keeps_digits_and_drops_latex_spacing():
    assert normalize("Find $\\left( x \\right)$,\\;  where X=12") == normalize("find (x), where x=12")
    assert normalize("x=12") != normalize("x=13")
    assert normalize("\\dfrac{1}{2}") == normalize("\\frac{1}{2}")


def test_token_hashes_are_stable():
    # Shipped fingerprints hold these token hashes (tokenize_corpus, not hash_strings): a change here must bump
    # NORMALIZER_VERSION and rebuild them. The value was computed once and pinned.
    assert int(tokenize_corpus(["triangle"]).hashes[0]) == 18408806090624574155
    # A token hashes the same alone, inside a text, and in a bulk call with other texts.
    alone = tokenize_corpus(["triangle"]).hashes[0]
    bulk = tokenize_corpus(["A triangle.", "x", "The TRIANGLE's sides"])
    assert bulk.hashes[1] == alone and bulk.hashes[bulk.offsets[2]] != alone and alone in bulk.hashes[bulk.offsets[2] :]


TOKENIZER_PROBES = [
    "Find $x$ if $2x+3=7$.",  # LaTeX, operators, digits
    "Soit $f$ une fonction définie sur ℝ; déterminer f(été_2).",  # accents, a non-ASCII symbol, underscore
    "中文题目：求 $\\frac{1}{2}$ 的值。",  # CJK text and punctuation
    "tab\tnew\nline -- ~`^|{}[]@!?<>;:'\"",  # every ASCII separator class
    "",
]


def test_the_two_tokenizers_agree(shared_data):
    """tokenize() (regex, one text) and tokenize_corpus() (byte table, bulk) must cut the same tokens."""
    texts = TOKENIZER_PROBES + [r["problem"] for r in json.load(open(shared_data / "raw/rllm_math_train.json"))[:500]]
    bulk = tokenize_corpus(texts)
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        expected = tokenize_corpus(tokens).hashes if tokens else np.zeros(0, np.uint64)
        assert list(bulk.hashes[bulk.offsets[i] : bulk.offsets[i + 1]]) == list(expected), text[:80]


def test_exact_dedup_prefers_listed_source(tmp_path):
    rows = [
        {"problem": "Find x if 2x = 4.", "source": "numina"},  # loses to deepscaler's copy
        {"problem": "Find $x$ if  2x=4.", "source": "deepscaler"},
        {"problem": "Find x if 2x = 5.", "source": "numina"},
    ]  # different digit: kept
    result = exact_dedup(frame(rows), DedupConfig(source_priority=["deepscaler"]), ctx(tmp_path))
    assert list(result.kept["id"]) == ["r1", "r2"]
    assert list(result.removed["dup_of"]) == ["r1"] and list(result.removed["reason"]) == ["exact_duplicate"]


def test_url_dedup_points_at_a_kept_row(tmp_path):
    rows = [{"problem": "A", "url": "https://x.org/p/1"}, {"problem": "B", "url": "https://x.org/p/1/"}, {"problem": "C", "url": None}]
    result = exact_dedup(frame(rows), DedupConfig(), ctx(tmp_path))
    assert list(result.removed["reason"]) == ["duplicate_url"] and list(result.removed["dup_of"]) == ["r0"]


def test_near_dedup_never_chains_through_dissimilar_rows():
    # a~b and b~c are >= 0.8 similar, but a and c are not: only b goes, c stays (no transitive chain).
    base = [f"w{i}" for i in range(40)]
    a = " ".join(base)
    b = " ".join(base[:36] + ["x1", "x2", "x3", "x4"])
    c = " ".join(base[:32] + ["x1", "x2", "x3", "x4", "y1", "y2", "y3", "y4"])
    config = NearDedupConfig(threshold=0.8, ngram=1)
    dup_of, sim, _ = near_duplicates([a, b, c], config, np.arange(3))
    assert list(dup_of) == [-1, 0, -1]
    assert sim[1] >= 0.8


def test_near_dedup_short_texts_are_one_shingle():
    dup_of, _, _ = near_duplicates(["add 2 and 3", "add 2 and 3", "add 2 and 4"], NearDedupConfig(ngram=5), np.arange(3))
    assert list(dup_of) == [-1, 0, -1]


def test_vectorised_shingles_match_python():
    texts = ["the quick brown fox jumps over the lazy dog", "a b", "", "one two three four five six"]
    shingles = shingle_corpus(tokenize_corpus(texts), 3)
    for i, text in enumerate(texts):
        tokens = tokenize(text)
        expected = len(tokens) - 2 if len(tokens) >= 3 else (1 if tokens else 0)
        assert np.count_nonzero(shingles.owner == i) == expected


def _bench(tmp_path, problems):
    path = write_jsonl(tmp_path / "mybench.jsonl", [{"id": f"b{i}", "problem": p} for i, p in enumerate(problems)])
    return fingerprint_file(path, "math")


def test_coverage_ignores_stock_phrasing_but_any_match_does_not(tmp_path):
    bench = _bench(
        tmp_path, ["Let a and b be real numbers such that a + b = 7 and ab = 12. Find the value of a^2 + b^2 for these numbers."]
    )
    index = build_index([bench], 9, 10)
    texts = [
        # shares one stock 9-gram with the benchmark item, otherwise unrelated: any-match flags it, coverage does not
        "Let a and b be real numbers such that a + b = 7 and the product of a and b is at most 3. Find the maximum of a.",
        # the benchmark item with an instruction added: flagged by both
        "Solve carefully. Let a and b be real numbers such that a + b = 7 and ab = 12. Find the value of a^2 + b^2 for these numbers.",
    ]
    match = match_texts(texts, index)
    assert list(contaminated_mask(match, DecontamConfig(match="any"))) == [True, True]
    assert list(contaminated_mask(match, DecontamConfig(match="coverage"))) == [False, True]
    assert match.item_coverage[1] == 1.0


def test_short_benchmark_item_found_inside_a_row(tmp_path):
    index = build_index([_bench(tmp_path, ["Simplify $\\sqrt{242}$."])], 9, 10)
    match = match_texts(["Solve the following problem. Simplify sqrt{242}.", "Simplify $\\sqrt{243}$."], index)
    assert list(match.item >= 0) == [True, False]


def test_boilerplate_ngrams_ignored(tmp_path):
    boiler = "Please reason step by step and put your final answer within the box"
    bench = _bench(tmp_path, [f"Problem number {i} asks for {i} apples. {boiler}" for i in range(12)])
    match = match_texts([f"How many pears are there? {boiler}"], build_index([bench], 9, 10))
    assert match.item[0] == -1


def test_fingerprints_ship_for_every_benchmark():
    assert set(shipped_names()) == {
        "aime24",
        "aime25",
        "amc23",
        "math500",
        "minerva_math",
        "olympiadbench",
        "hmmt25_feb",
        "livecodebench_v5",
        "mbppplus",
    }
    assert len(load_fingerprint("math500").ids) == 500


def test_any_mode_equals_naive_sets(shared_data):
    """Same verdicts as open-r1's way (Python sets of n-gram strings, Python's re) on real rows."""
    from benchmarks.dedup_decontam import naive_decontam

    rows = json.load(open(shared_data / "raw/rllm_math_train.json"))[:2000]
    bench_texts = [json.loads(l)["problem"] for l in open(shared_data / "benchmarks/math500.jsonl")]
    texts = [r["problem"] for r in rows]
    fast = contaminated_mask(match_texts(texts, build_index([load_fingerprint("math500")], 9, 10)), DecontamConfig(match="any"))
    assert list(fast) == list(naive_decontam(texts, bench_texts, 9, 10))


def _edit(problem, k):
    problem = problem.replace("$", "") if k % 3 == 0 else re.sub(" ", "  ", problem)
    return problem + " Express your answer in simplest form." if k % 2 == 0 else "Solve the following problem. " + problem


@pytest.mark.slow
def test_inserted_benchmark_copies_are_removed(shared_data, tmp_path):
    """Issue 2's bar: >= 95% of inserted MATH-500/AIME24 copies removed, < 1% of the original rows."""
    from acecurate.pipeline import load_pipeline, run_pipeline

    from .conftest import REPO

    originals = json.load(open(shared_data / "raw/rllm_math_train.json")) + json.load(
        open(shared_data / "raw/deepscaler_aime_1983_2023.json")
    )
    bench = [json.loads(l) for name in ("math500", "aime24") for l in open(shared_data / f"benchmarks/{name}.jsonl")]
    inserted = [{"problem": b["problem"], "answer": str(b["answer"])} for b in bench]
    inserted += [{"problem": _edit(b["problem"], k), "answer": str(b["answer"])} for k, b in enumerate(bench)]
    rows = [{"id": f"orig{i}", "problem": r["problem"], "answer": str(r["answer"])} for i, r in enumerate(originals)]
    rows += [{"id": f"ins{i}", **r} for i, r in enumerate(inserted)]
    src = write_jsonl(tmp_path / "mixed.jsonl", rows)
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    pipeline.stages = [s for s in pipeline.stages if s.stage == "decontaminate"]
    run_pipeline(pipeline, [str(src)], tmp_path / "run", write_card=False)
    removed = pd.read_parquet(tmp_path / "run/removed.parquet")
    removed_ids = set(removed["id"])
    caught = sum(1 for i in range(len(inserted)) if f"ins{i}" in removed_ids)
    originals_removed = sum(1 for i in removed_ids if i.startswith("orig"))
    assert caught / len(inserted) >= 0.95, caught
    assert originals_removed / len(originals) < 0.01, originals_removed
    assert removed["benchmark_item"].notna().all() and (removed["matched_ngram"].str.len() > 0).all()
