"""Benchmark decontamination: an n-gram index over benchmark fingerprints, copies told apart from templates, evaluation
windows, and date cutoffs for code.

Default rule (`match: coverage`), for each row and benchmark item:
- a **copy** (`contaminated:<benchmark>`): the row holds at least `min_coverage` of the item's n-grams, each weighted by
  how rare it is in the input (1 / the number of input rows holding it, so stock phrasing such as "Enter your answer in
  the form Ax+By+Cz+D=0" weighs little wherever it is common), and the item's numbers are in the row; or at least
  `min_row_coverage` of the row's n-grams come from the item and the row's numbers are in the item;
- a **template** (`contaminated_template:<benchmark>`): the same with other numbers: the coverage above is reached but the
  numbers differ, or `template_coverage` of the item's n-grams match once every number is masked. Removed by default
  (`drop_templates: false` keeps them).
Items dated outside their benchmark's evaluation window (LiveCodeBench v5: 2024-08-01 to 2025-02-01) are not targets.
`match: any` flags any shared n-gram, as the paper and open-r1 do; on MATH train that flags 9% of the rows, mostly
through stock phrasing. N-grams found in more than `max_item_frequency` benchmark items are boilerplate and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..benchmarks import Fingerprint, canonical_name, fingerprint_file, load_fingerprint, shipped_names
from ..config import setting
from ..errors import AcecurateError
from ..stage import StageResult, stage
from ..text import TokenizedCorpus, shingle_corpus, snippet, tokenize, tokenize_corpus, window_hashes

DEFAULT_N = {"math": 9, "code": 14}
_BITMAP_MASK = np.uint64((1 << 24) - 1)  # low 24 bits of an n-gram hash index a 16 MB membership prefilter
_NUMBER = np.uint64(0x9E3779B97F4A7C15)  # the token every number becomes in masked (template) n-grams


@dataclass
class NgramIndex:
    """Distinct (n-gram hash, benchmark item) pairs sorted by hash, without boilerplate n-grams."""

    n: int
    hashes: np.ndarray  # uint64, sorted, one entry per (hash, item) pair
    items: np.ndarray  # int64 item index, aligned with hashes
    ngram_id: np.ndarray  # int64: which distinct n-gram each pair holds (0 .. n_ngrams-1)
    n_ngrams: int
    item_benchmark: list[str]
    item_id: list[str]
    item_snippet: list[str]
    item_numbers: list[np.ndarray]  # distinct number-token hashes of each item
    item_questions: np.ndarray  # (items, k) hashes of the words of each item's question, 0-padded
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


def build_index(fingerprints: list[Fingerprint], n: int, max_item_frequency: int, masked: bool = False) -> NgramIndex:
    """The n-gram index of every item; with `masked`, every number is one token, so templates with other numbers match."""
    plain = _concatenated(fingerprints)
    corpus = _masked(plain) if masked else plain
    shingles = shingle_corpus(corpus, n)
    pairs = np.unique(np.stack([shingles.hashes, shingles.owner.astype(np.uint64)], axis=1), axis=0)
    pair_hashes, pair_items = pairs[:, 0], pairs[:, 1].astype(np.int64)
    _, inverse, item_counts = np.unique(pair_hashes, return_inverse=True, return_counts=True)
    keep = item_counts[inverse] <= max_item_frequency
    pair_hashes, pair_items = pair_hashes[keep], pair_items[keep]
    distinct, ngram_id = np.unique(pair_hashes, return_inverse=True)
    ids = [i for fp in fingerprints for i in fp.ids]
    lengths = corpus.lengths
    numbers = [np.unique(plain.hashes[a:b][plain.numeric[a:b]]) for a, b in zip(plain.offsets[:-1], plain.offsets[1:])]
    return NgramIndex(
        n,
        pair_hashes,
        pair_items,
        ngram_id.astype(np.int64).reshape(-1),
        len(distinct),
        [fp.name for fp in fingerprints for _ in fp.ids],
        ids,
        [s for fp in fingerprints for s in fp.snippets],
        numbers,
        np.concatenate([fp.questions for fp in fingerprints]) if fingerprints else np.zeros((0, 1), np.uint64),
        int(np.count_nonzero(item_counts > max_item_frequency)),
        sorted(set(lengths[(lengths > 0) & (lengths < n)].tolist())),
        _bitmap(pair_hashes),
    )


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    bitmap = np.zeros(int(_BITMAP_MASK) + 1, dtype=bool)
    bitmap[hashes & _BITMAP_MASK] = True
    return bitmap


@dataclass
class _Hits:
    """(text, item, n-gram) hits of one chunk of texts, and per text of the chunk: the weight of its n-grams that are
    in no benchmark item (each 1 / how often the chunk holds it) and its token count."""

    owner: np.ndarray  # int64, global text index
    item: np.ndarray
    ngram: np.ndarray
    other_weight: np.ndarray  # per text of the chunk
    text_tokens: np.ndarray  # per text of the chunk


def _distinct(*columns: np.ndarray) -> list[np.ndarray]:
    """The distinct rows of equal-length columns, sorted by the first column, then the next."""
    if not len(columns[0]):
        return list(columns)
    order = np.lexsort(columns[::-1])
    sorted_columns = [c[order] for c in columns]
    new = np.zeros(len(order), dtype=bool)
    new[0] = True
    for c in sorted_columns:
        new[1:] |= c[1:] != c[:-1]
    return [c[new] for c in sorted_columns]


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
        _, inverse, occurrences = np.unique(hashes, return_inverse=True, return_counts=True)
        other = np.ones(len(hashes), dtype=bool)
        other[hits] = False
        other_weight = np.bincount(owner[other], weights=1.0 / occurrences[inverse.reshape(-1)[other]], minlength=len(corpus))
    # Expand each hit to every benchmark item holding that n-gram (at most max_item_frequency each).
    which = np.repeat(np.arange(len(hits)), counts)
    within = np.arange(len(which)) - np.repeat(np.cumsum(counts) - counts, counts)
    at = lo[which] + within
    return _Hits(owner[hits[which]] + first_text, index.items[at], index.ngram_id[at], other_weight, corpus.lengths)


@dataclass
class Coverage:
    """For each text, its best benchmark item (-1 when none) with the weighted share of the item's n-grams it holds and
    the weighted share of its own n-grams that come from that item."""

    item: np.ndarray
    item_coverage: np.ndarray
    text_coverage: np.ndarray


def _coverage(hits: list[_Hits], index: NgramIndex, n_texts: int) -> Coverage:
    owner = np.concatenate([h.owner for h in hits])
    item = np.concatenate([h.item for h in hits])
    ngram = np.concatenate([h.ngram for h in hits])
    other_weight = np.concatenate([h.other_weight for h in hits])
    # How many input rows hold each benchmark n-gram: a phrase common in the input is stock phrasing, and weighs little.
    holder_owner, holder_ngram = _distinct(owner, ngram)
    rows_holding = np.bincount(holder_ngram, minlength=index.n_ngrams)
    weight = 1.0 / np.maximum(rows_holding, 1)
    item_weight = np.bincount(index.items, weights=weight[index.ngram_id], minlength=len(index.item_id))
    row_weight = other_weight + np.bincount(holder_owner, weights=weight[holder_ngram], minlength=n_texts)
    best_item = np.full(n_texts, -1, dtype=np.int64)
    best_item_cov, best_text_cov = np.zeros(n_texts), np.zeros(n_texts)
    if len(owner):
        owner, item, ngram = _distinct(owner, item, ngram)
        new_pair = np.flatnonzero(np.r_[True, (owner[1:] != owner[:-1]) | (item[1:] != item[:-1])])
        pair_owner, pair_item = owner[new_pair], item[new_pair]
        shared_weight = np.add.reduceat(weight[ngram], new_pair)
        item_cov = shared_weight / np.maximum(item_weight[pair_item], 1e-12)
        text_cov = np.minimum(shared_weight / np.maximum(row_weight[pair_owner], 1e-12), 1.0)
        best = np.lexsort((-np.maximum(item_cov, text_cov), pair_owner))
        first = best[np.r_[True, pair_owner[best][1:] != pair_owner[best][:-1]]]
        best_item[pair_owner[first]] = pair_item[first]
        best_item_cov[pair_owner[first]] = np.minimum(item_cov[first], 1.0)
        best_text_cov[pair_owner[first]] = text_cov[first]
    return Coverage(best_item, best_item_cov, best_text_cov)


@dataclass
class Match:
    """Exact and masked (template) coverage of each text's best items, and whether the numbers agree with the best
    exact item (share of the item's distinct numbers found in the text, and of the text's found in the item)."""

    exact: Coverage
    masked: Coverage | None
    item_numbers_found: np.ndarray
    text_numbers_found: np.ndarray
    question_found: np.ndarray  # share of the best item's question words found in the text

    @property
    def item(self) -> np.ndarray:  # kept for callers that ask "does any n-gram match"
        return self.exact.item


def match_texts(
    texts: list[str], index: NgramIndex, masked_index: NgramIndex | None = None, workers: int = 2, chunk_rows: int = 50_000
) -> Match:
    """Match texts in chunks of `chunk_rows` on `workers` threads (the work is numpy and Arrow kernels, which release
    the GIL), so memory stays bounded at 10^6 rows and both cores are used."""
    starts = list(range(0, len(texts), chunk_rows)) or [0]

    def one(begin: int):
        corpus = tokenize_corpus(texts[begin : begin + chunk_rows], match_view=True)
        exact = _chunk_hits(corpus, begin, index)
        masked = _chunk_hits(_masked(corpus), begin, masked_index, weigh_rows=False) if masked_index is not None else None
        return exact, masked

    if len(starts) == 1 or workers <= 1:
        parts = [one(b) for b in starts]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(one, starts))
    exact = _coverage([p[0] for p in parts], index, len(texts))
    masked = _coverage([p[1] for p in parts], masked_index, len(texts)) if masked_index is not None else None
    _match_short_items(texts, np.concatenate([p[0].text_tokens for p in parts]), index, exact)
    return Match(exact, masked, *_agreement(texts, index, exact))


def _match_short_items(texts: list[str], lengths: np.ndarray, index: NgramIndex, coverage: Coverage) -> None:
    """A benchmark item shorter than n matches a row that contains all of it, when the row is at most n-1 tokens
    longer (an added instruction sentence), so "Simplify sqrt 242" is found in "Solve this. Simplify sqrt 242"."""
    if not index.short_item_lengths:
        return
    near = (lengths >= min(index.short_item_lengths)) & (lengths < max(index.short_item_lengths) + index.n)
    short = np.flatnonzero(near & (coverage.item_coverage < 1))
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
            coverage.item[row], coverage.item_coverage[row] = index.items[at], 1.0
            coverage.text_coverage[row] = length / corpus.lengths[rows[owner]]


def _agreement(texts: list[str], index: NgramIndex, coverage: Coverage, floor: float = 0.2):
    """For texts whose best item covers at least `floor` either way: the share of the item's distinct numbers found in
    the text, of the text's distinct numbers found in the item, and of the item's question words found in the text
    (1 where there are none)."""
    item_found, text_found, question_found = np.ones(len(texts)), np.ones(len(texts)), np.ones(len(texts))
    rows = np.flatnonzero((coverage.item >= 0) & (np.maximum(coverage.item_coverage, coverage.text_coverage) >= floor))
    if not len(rows):
        return item_found, text_found, question_found
    corpus = tokenize_corpus([texts[r] for r in rows], match_view=True)
    for k, r in enumerate(rows):
        span = slice(corpus.offsets[k], corpus.offsets[k + 1])
        tokens = corpus.hashes[span]
        own = np.unique(tokens[corpus.numeric[span]])
        theirs = index.item_numbers[coverage.item[r]]
        if len(theirs):
            item_found[r] = np.isin(theirs, own).mean()
        if len(own):
            text_found[r] = np.isin(own, theirs).mean()
        question = index.item_questions[coverage.item[r]]
        question = question[question != 0]
        if len(question):
            question_found[r] = np.isin(question, tokens).mean()
    return item_found, text_found, question_found


@dataclass
class DecontamConfig:
    benchmarks: list[str] = setting(factory=list, help="Shipped fingerprints to use; empty means all of the domain.")
    benchmark_files: list[str] = setting(factory=list, help="Extra benchmark files of your own.")
    n: int | None = setting(None, "Token n-gram size; default 9 for math, 14 for code.")
    match: str = setting("coverage", '"coverage" (default) or "any".')
    min_coverage: float = setting(0.5, "Share of one item's n-grams (weighted by their rarity in the input) found in the row.")
    min_row_coverage: float = setting(0.8, "Share of the row's n-grams found in one benchmark item.")
    min_numbers: float = setting(
        0.9, "Share of the item's numbers in the row, and of the row's in the item, for a copy (fewer: a template)."
    )
    min_question: float = setting(
        0.75, "Share of the words of the item's question (its last words) in the row for a copy (fewer: a template); 0 for code."
    )
    template_coverage: float = setting(0.8, "Share of an item's n-grams matched with every number masked: the same template.")
    drop_templates: bool = setting(True, "Remove rows with the template of a benchmark item (other numbers, other answer).")
    max_item_frequency: int = setting(10, "N-grams in more benchmark items than this are boilerplate.")
    windows: dict = setting(
        factory=dict,
        help="Evaluation window per benchmark, {name: [start, end]} or {name: null} for every item; registry defaults: "
        "lcb-v5 2024-08-01..2025-02-01, lcb-v6 2025-02-01..2025-05-01 (for a benchmark file of that name).",
    )
    date_cutoff: str | None = setting("2024-08-01", "Code rows with a later contest_date are removed (LiveCodeBench v5/v6).")

    def __post_init__(self):
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
    return fingerprints


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
            )
        )
    return chosen, notes


def classify(match: Match, config: DecontamConfig) -> tuple[np.ndarray, np.ndarray]:
    """(kind per text: "copy", "template" or None; the item index it refers to)."""
    exact = match.exact
    kind = np.full(len(exact.item), None, dtype=object)
    item = exact.item.copy()
    if config.match == "any":
        kind[exact.item >= 0] = "copy"
        return kind, item
    by_item = (exact.item >= 0) & (exact.item_coverage >= config.min_coverage)
    by_row = (exact.item >= 0) & (exact.text_coverage >= config.min_row_coverage)
    # A copy holds the item's numbers and no others (a row contained in the item, which adds examples or constraints,
    # needs only its own numbers to be the item's), and asks what the item asks.
    same_numbers = (match.item_numbers_found >= config.min_numbers) & (match.text_numbers_found >= config.min_numbers)
    copy = ((by_item & same_numbers) | (by_row & (match.text_numbers_found >= config.min_numbers))) & (
        match.question_found >= config.min_question
    )
    template = (by_item | by_row) & ~copy
    if match.masked is not None:
        masked = (match.masked.item >= 0) & (match.masked.item_coverage >= config.template_coverage) & ~copy & ~template
        item[masked] = match.masked.item[masked]
        template |= masked
    kind[copy], kind[template] = "copy", "template"
    return kind, item


def dropped(kind: np.ndarray, config: DecontamConfig) -> np.ndarray:
    """Rows the stage removes, from their classification: copies, and templates unless `drop_templates` is off."""
    return (kind == "copy") | ((kind == "template") & config.drop_templates)


def contaminated_mask(match: Match, config: DecontamConfig) -> np.ndarray:
    return dropped(classify(match, config)[0], config)


def _after_cutoff(frame, cutoff: str | None) -> np.ndarray:
    import pandas as pd

    if not cutoff or "contest_date" not in frame:
        return np.zeros(len(frame), dtype=bool)
    dates = pd.to_datetime(frame["contest_date"], errors="coerce", utc=True, format="mixed")
    return (dates > pd.Timestamp(cutoff, tz="UTC")).fillna(False).to_numpy(dtype=bool)


def shared_spans(text: str, index: NgramIndex, item: int, masked: bool = False, limit: int = 3) -> list[str]:
    """The stretches of `text` whose n-grams are in benchmark item `item` (longest first), as token text."""
    tokens = tokenize(text, match_view=True)
    corpus = tokenize_corpus([text], match_view=True)
    if masked:
        corpus = _masked(corpus)
    windows = window_hashes(corpus, index.n)
    if not len(windows.hashes):
        return [" ".join(tokens)] if len(tokens) < index.n else []
    item_hashes = index.hashes[index.items == item]
    covered = np.zeros(len(tokens) + 1, dtype=np.int64)
    for start in windows.start[np.isin(windows.hashes, item_hashes)]:
        covered[start] += 1
        covered[start + index.n] -= 1
    inside = np.cumsum(covered)[: len(tokens)] > 0
    if not inside.any():  # an item shorter than n tokens, found whole inside a short row
        return [snippet(" ".join(tokens), 120)]
    edges = np.flatnonzero(np.diff(np.r_[0, inside.astype(np.int8), 0]))
    spans = sorted(zip(edges[::2], edges[1::2]), key=lambda s: s[0] - s[1])[:limit]
    return [snippet(" ".join(tokens[a:b]), 120) for a, b in sorted(spans)]


def _differing_numbers(text: str, index: NgramIndex, item: int) -> str:
    own = [t for t in tokenize(text, match_view=True) if t[0].isdigit()]
    hashes = tokenize_corpus(own, match_view=True).hashes if own else np.zeros(0, np.uint64)
    missing = [t for t, h in zip(own, hashes) if not np.isin(h, index.item_numbers[item])]
    return ", ".join(dict.fromkeys(missing[:8])) or "(none)"


@stage(
    "decontaminate",
    DecontamConfig,
    requires=("id", "problem"),
    evidence=("contaminated_by", "benchmark_item", "benchmark_text", "matched_ngrams", "coverage", "row_coverage"),
    example="acecurate decontaminate dumps/math.jsonl --benchmark-files my_eval.jsonl --out runs/decontam",
)
def decontaminate(frame, config: DecontamConfig, ctx) -> StageResult:
    """Remove rows that copy a benchmark item, or its template with other numbers, or post-date the code cutoff."""
    n = config.n or DEFAULT_N[ctx.domain]
    fingerprints, window_notes = in_window(load_benchmarks(config, ctx.domain), config.windows)
    index = build_index(fingerprints, n, config.max_item_frequency)
    masked_index = build_index(fingerprints, n, config.max_item_frequency, masked=True) if config.match == "coverage" else None
    texts = list(frame["problem"])
    match = match_texts(texts, index, masked_index, workers=ctx.workers)
    kind, item_of = classify(match, config)
    hit = dropped(kind, config)
    late = _after_cutoff(frame, config.date_cutoff if ctx.domain == "code" else None) & ~hit
    removed_mask = hit | late
    positions = np.flatnonzero(removed_mask)
    records = []
    for r in positions:
        if not hit[r]:
            records.append(
                (
                    None,
                    None,
                    None,
                    None,
                    f"after_cutoff:{config.date_cutoff}",
                    f"contest_date {frame['contest_date'].iat[r]} is after {config.date_cutoff}",
                )
            )
            continue
        item = int(item_of[r])
        bench, item_id, text = index.item_benchmark[item], index.item_id[item], index.item_snippet[item]
        if kind[r] == "copy":
            spans = shared_spans(texts[r], index, item)
            evidence = (
                f"copy of {bench} item {item_id!r}: the row holds {match.exact.item_coverage[r]:.0%} of the item's {n}-grams "
                f"(weighted by rarity in the input) and {match.exact.text_coverage[r]:.0%} of its own come from it, "
                f"numbers agree; item: {snippet(text, 200)}"
            )
            reason = f"contaminated:{bench}"
        else:
            masked = item != match.exact.item[r] or (
                match.exact.item_coverage[r] < config.min_coverage and match.exact.text_coverage[r] < config.min_row_coverage
            )
            spans = shared_spans(texts[r], masked_index if masked else index, item, masked=masked)
            share = match.masked.item_coverage[r] if masked else match.exact.item_coverage[r]
            evidence = (
                f"template of {bench} item {item_id!r} with other numbers ({share:.0%} of the item's {n}-grams match"
                f"{' with numbers masked' if masked else ''}; the row's numbers not in the item: {_differing_numbers(texts[r], index, item)}); "
                f"item: {snippet(text, 200)}"
            )
            reason = f"contaminated_template:{bench}"
        records.append((bench, item_id, text, " | ".join(spans), reason, evidence))
    removed = frame[removed_mask].copy()
    for column, values in zip(
        ("contaminated_by", "benchmark_item", "benchmark_text", "matched_ngrams", "reason", "evidence"),
        zip(*records) if records else [[]] * 6,
    ):
        removed[column] = list(values)
    removed["coverage"] = np.round(match.exact.item_coverage[positions], 4)
    removed["row_coverage"] = np.round(match.exact.text_coverage[positions], 4)
    found = sorted({f"{index.item_benchmark[item_of[r]]}/{index.item_id[item_of[r]]}" for r in np.flatnonzero(hit)})
    templates_kept = int(np.count_nonzero((kind == "template") & ~hit))
    names = ", ".join(f"{fp.name} ({len(fp.ids)})" for fp in fingerprints)
    report = {
        "benchmarks": f"token {n}-grams, match `{config.match}`, against {names}",
        "benchmark items found in the input": ", ".join(f"`{i}`" for i in found) or "none",
    }
    report.update({f"{name} window": note for name, note in window_notes.items()})
    if templates_kept:
        report["templates kept"] = f"{templates_kept} rows share a benchmark item's template with other numbers (drop_templates: false)"
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
            "rows_sharing_any_ngram": int(np.count_nonzero(match.exact.item >= 0)),
            "copies": int(np.count_nonzero(kind == "copy")),
            "templates": int(np.count_nonzero(kind == "template")),
            "templates_kept": templates_kept,
            "contaminated_items": found,
        },
        report,
    )
