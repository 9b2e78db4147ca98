"""Exact and near-duplicate removal: the two stages. The MinHash engine that finds candidate pairs is `minhash.py`; the
judge that decides whether a pair is one problem, and which copy to keep, is `pair_judge.py`.

Exact: rows whose normalised problem text (or, for code, source URL) is equal; the row of the highest-priority source
is kept. Math copies whose gold answers disagree are not merged silently: the answer most copies give wins (its
highest-priority row is kept, the others are `conflicting_answer`), and with no majority every copy goes
(`conflicting_answers`), since no one can tell which gold answer is right.
Near: MinHash LSH over token bigrams (numbers, operators and LaTeX commands are tokens; bigrams found in many rows are
stock phrasing and left out) finds candidates; a pair whose real Jaccard similarity reaches the threshold is judged
(same wording-free statement, equivalent gold answers, agreeing tests). Otherwise it is a variant (a different problem,
kept with `variant_of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import setting
from ..stage import StageResult, map_rows, stage
from ..text import hash_strings, normalize_many, plural, snippet
from .minhash import MinHashSettings, near_duplicates
from .pair_judge import PairJudge, spaced_characters, statement_text


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
    check_answers: bool = setting(True, "Math: copies whose gold answers the grader finds not equivalent are not merged silently.")
    max_groups_reported: int = 20


def answer_groups(answers: list[str]) -> list[int]:
    """For each answer, the index of the first answer in the list equivalent to it under the grader."""
    from ..verify.math import shared_grader

    first: list[int] = []
    for k, answer in enumerate(answers):
        same = next((c for c in dict.fromkeys(first) if answers[c].strip() == answer.strip()), None)
        if same is None:
            pairs = [(f"\\boxed{{{answer}}}", answers[c]) for c in dict.fromkeys(first)]
            grades = shared_grader().grade_many(pairs, require_think_close=False) if pairs else []
            same = next((c for c, g in zip(dict.fromkeys(first), grades) if g.correct), k)
        first.append(same)
    return first


def _settle_answers(frame, first: np.ndarray, reason: np.ndarray, order: np.ndarray) -> dict[int, str]:
    """Groups of copies whose gold answers disagree: rows of the majority answer stay merged under its first row;
    the others are `conflicting_answer`, or every row `conflicting_answers` without a majority. Returns evidence."""
    answers = frame["answer"].to_numpy() if "answer" in frame else None
    evidence: dict[int, str] = {}
    if answers is None:
        return evidence
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    groups: dict[int, list[int]] = {}
    for row in np.flatnonzero(first >= 0):
        groups.setdefault(int(first[row]), []).append(int(row))
    for members in groups.values():
        usable = [r for r in sorted(members, key=lambda r: rank[r]) if isinstance(answers[r], str) and answers[r].strip()]
        if len(usable) < 2 or len({answers[r].strip() for r in usable}) == 1:
            continue
        group_of = answer_groups([answers[r] for r in usable])
        sizes = {g: group_of.count(g) for g in set(group_of)}
        best, count = max(sizes.items(), key=lambda kv: (kv[1], -kv[0]))
        listed = ", ".join(f"{snippet(answers[usable[g]], 30)!r} ({n})" for g, n in sizes.items())
        others = [r for r in members if r not in usable]  # copies without a gold answer
        if count * 2 > len(usable):
            survivor = usable[best]
            for r in others:
                first[r], reason[r] = survivor, "exact_duplicate"
            for r, g in zip(usable, group_of):
                first[r] = survivor
                reason[r] = None if r == survivor else ("exact_duplicate" if g == best else "conflicting_answer")
                if g != best:
                    evidence[r] = (
                        f"same statement as kept row {frame['id'].iat[survivor]!r}, whose gold answer {snippet(answers[survivor], 30)!r} "
                        f"most copies give; this one gives {snippet(answers[r], 30)!r} (answers: {listed})"
                    )
        else:
            if others:  # a copy without an answer stays (answer-check judges it), the rest point at it
                survivor = min(others, key=lambda r: rank[r])
                for r in others:
                    first[r], reason[r] = survivor, None if r == survivor else "exact_duplicate"
            for r in usable:
                reason[r] = "conflicting_answers"
                evidence[r] = f"{len(usable)} copies of one statement give gold answers that disagree, none by a majority: {listed}"
    return evidence


@stage(
    "dedup",
    DedupConfig,
    requires=("id", "source", "problem"),
    reads=("starter_code", "url", "answer"),
    evidence=("dup_of",),
    example="acecurate dedup dumps/a.jsonl dumps/b.parquet --source-priority b --out runs/dedup",
)
def exact_dedup(frame, config: DedupConfig, ctx) -> StageResult:
    """Remove rows whose normalised statement (or URL) equals an earlier, higher-priority row's, and copies whose gold
    answers disagree with the answer most copies give."""
    order = priority_order(frame, config.source_priority)
    statements = frame["problem"].tolist()
    if "starter_code" in frame:  # two code problems with one placeholder statement differ in their signatures
        statements = [p + "\n" + s if isinstance(s, str) and s else p for p, s in zip(statements, frame["starter_code"])]
    first = _first_by_key(hash_strings(normalize_many(statements, workers=ctx.workers)), order, np.ones(len(frame), dtype=bool))
    reason = np.where(first != np.arange(len(frame)), "exact_duplicate", None).astype(object)
    conflicts = _settle_answers(frame, first, reason, order) if config.check_answers and ctx.domain == "math" else {}
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
    positions = np.flatnonzero(removed_mask)
    removed["dup_of"] = [ids[first[r]] if reason[r] != "conflicting_answers" else None for r in positions]
    removed["reason"] = reason[removed_mask]
    problems = frame["problem"].to_numpy()
    removed["evidence"] = [
        conflicts.get(r)
        or f"{'same normalised statement' if reason[r] == 'exact_duplicate' else 'same URL'} as kept row {ids[first[r]]!r}: {snippet(problems[first[r]])}"
        for r in positions
    ]
    groups = removed.groupby("dup_of").size().sort_values(ascending=False)
    return StageResult(
        frame[~removed_mask].copy(),
        removed,
        {
            "duplicate_groups": len(groups),
            "answer_conflicts": int(sum(1 for r in positions if reason[r] in ("conflicting_answer", "conflicting_answers"))),
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

    def minhash(self) -> MinHashSettings:
        return MinHashSettings(
            self.threshold, self.ngram, self.num_perm, self.bands, self.seed, self.stock_share, self.stock_min_rows, self.max_judged
        )


@stage(
    "near-dedup",
    NearDedupConfig,
    requires=("id", "source", "problem"),
    reads=("starter_code", "answer", "tests"),
    adds={"variant_of": "string"},
    evidence=("dup_of", "similarity", "dup_problem"),
    example="acecurate near-dedup dumps/math.jsonl --threshold 0.6 --out runs/near",
)
def near_dedup(frame, config: NearDedupConfig, ctx) -> StageResult:
    """Remove rows that restate a kept row's problem; record near rows that are a different problem (`variant_of`)."""
    order = priority_order(frame, config.source_priority)
    texts = list(map_rows(statement_text, [list(frame["problem"])], (ctx.domain,), ctx.workers))
    judge = PairJudge(frame, texts, ctx.domain, config.check_answers)
    # Candidates come from the judge's tokens: Han and kana characters one by one, so spacing does not split a run.
    found = near_duplicates([spaced_characters(t) for t in texts], config.minhash(), order, ctx.track, judge)
    dup_of, variant_of, similarity = found.dup_of, found.variant_of, found.similarity
    ids, problems = frame["id"].to_numpy(), frame["problem"].to_numpy()
    mask = dup_of >= 0
    kept = frame[~mask].copy()
    kept["variant_of"] = [ids[v] if v >= 0 else None for v in variant_of[~mask]]
    removed = frame[mask].copy()
    removed["dup_of"] = ids[dup_of[mask]]
    removed["similarity"] = np.round(similarity[mask], 4)
    removed["dup_problem"] = [problems[j] for j in dup_of[mask]]
    removed["reason"] = "near_duplicate"

    def evidence(r: int) -> str:
        via = f", judged against row {ids[found.via[r]]!r}, itself a copy of it" if r in found.via else ""
        return (
            f"same problem as kept row {ids[dup_of[r]]!r} (token {config.ngram}-gram Jaccard {similarity[r]:.2f}{via}; "
            f"differences: {found.why.get(r, '')}): {snippet(problems[dup_of[r]])}"
        )

    removed["evidence"] = [evidence(int(r)) for r in np.flatnonzero(mask)]
    stats = {**found.stats, "variants": int((variant_of[~mask] >= 0).sum()), "judged": dict(judge.counts)}
    report = {
        "near duplicates": f"{int(mask.sum()):,} removed; {plural(stats['variants'], 'kept row')} "
        f"{'is a variant' if stats['variants'] == 1 else 'are variants'} of another kept row (`variant_of`)"
    }
    if found.stats["survivors_swapped"]:
        report["copies kept"] = (
            f"{plural(found.stats['survivors_swapped'], 'time')} the later copy stayed: the earlier one had a second problem glued to it"
        )
    return StageResult(kept, removed, stats, report)
