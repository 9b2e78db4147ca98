"""Scores from graded samples: avg@k with its standard error, pass@k by the unbiased estimator, maj@k, the truncation
rate, response-length percentiles and the pass-count histogram; and the paper's published numbers."""

from __future__ import annotations

import math
import re

import numpy as np

LENGTH_PERCENTILES = (10, 25, 50, 75, 90, 99)

# AceReason-Nemotron (arXiv 2505.16400), Table 1: AIME avg@64, LiveCodeBench avg@8, in percent.
PAPER_RESULTS = {
    "R1-Distill-Qwen-7B": {"AIME24": 55.5, "AIME25": 39.0, "MATH500": 92.8, "LiveCodeBench v5": 37.6, "LiveCodeBench v6": 34.1},
    "AceReason-Nemotron-7B": {"AIME24": 69.0, "AIME25": 53.6, "MATH500": 94.1, "LiveCodeBench v5": 51.8, "LiveCodeBench v6": 44.1},
    "R1-Distill-Qwen-14B": {"AIME24": 69.7, "AIME25": 50.2, "MATH500": 93.9, "LiveCodeBench v5": 53.1, "LiveCodeBench v6": 47.9},
    "AceReason-Nemotron-14B": {"AIME24": 78.6, "AIME25": 67.4, "MATH500": 95.0, "LiveCodeBench v5": 61.1, "LiveCodeBench v6": 54.9},
}
_MODEL_NAMES = {
    "deepseek-r1-distill-qwen-7b": "R1-Distill-Qwen-7B",
    "deepseek-r1-distill-qwen-14b": "R1-Distill-Qwen-14B",
    "acereason-nemotron-7b": "AceReason-Nemotron-7B",
    "acereason-nemotron-14b": "AceReason-Nemotron-14B",
}


def paper_model(model: str) -> str | None:
    """The paper's name for `model` when it is one the paper reports: a hub id, a local copy named like it, or a hub
    cache folder (models--owner--name/snapshots/...)."""
    for part in reversed(re.split(r"[/\\]", model.rstrip("/\\"))):
        name = _MODEL_NAMES.get(part.split("--")[-1].lower())
        if name:
            return name
    return None


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al., 2021): 1 - C(n-c, k) / C(n, k), as a stable product."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def ks_for(n: int) -> list[int]:
    """The k of pass@k that are reported: powers of two below n, and n."""
    ks = [2**i for i in range(int(math.log2(n)) + 1)] if n >= 1 else []
    return sorted({*(k for k in ks if k < n), n}) if n >= 1 else []


def scores(problems, samples, domain: str) -> dict:
    """Scores of one benchmark (or one slice of it). `problems` has one row per problem (n, correct, truncated,
    majority_correct); `samples` one row per sample (tokens, finish_reason)."""
    n = problems["n"].to_numpy()
    correct = problems["correct"].to_numpy()
    rates = correct / n
    count = len(problems)
    k = int(n.min())
    result = {
        "problems": count,
        "samples_per_problem": k,
        "avg": float(rates.mean()),
        # The standard error of avg@k over problems (the problems as a sample of problems like them): what a
        # comparison of two models on other problems of the same kind would see.
        "se": float(rates.std(ddof=1) / math.sqrt(count)) if count > 1 else None,
        # The part of it that comes from sampling only: how much avg@k moves if the same problems are sampled again.
        "se_sampling": float(math.sqrt(np.sum(rates * (1 - rates) / (n - 1))) / count) if k > 1 else None,
        "pass_at_k": {str(j): float(np.mean([pass_at_k(int(a), int(c), j) for a, c in zip(n, correct)])) for j in ks_for(k)},
        "truncated": float(problems["truncated"].sum() / n.sum()),
        **_without_truncated(problems),
        "pass_count_histogram": {str(c): int(v) for c, v in zip(*np.unique(correct, return_counts=True))},
    }
    if domain == "math":
        result["maj_at_k"] = float(problems["majority_correct"].mean())
    tokens = samples["tokens"].dropna().to_numpy(dtype=float)
    result["tokens"] = (
        {
            "mean": float(tokens.mean()),
            **{f"p{q}": float(v) for q, v in zip(LENGTH_PERCENTILES, np.percentile(tokens, LENGTH_PERCENTILES))},
            "max": float(tokens.max()),
            "known": len(tokens),
        }
        if len(tokens)
        else {"known": 0}
    )
    return result


def _without_truncated(problems) -> dict:
    """avg@k over the samples that finished (truncated ones left out; a problem with none finished left out): beside
    avg@k, where a truncated sample counts as the grading policy says, it tells a model that is wrong from one that
    runs out of tokens."""
    if "correct_finished" not in problems:
        return {}
    finished = problems["n"] - problems["truncated"]
    scored = finished > 0
    rates = problems.loc[scored, "correct_finished"] / finished[scored]
    return {"avg_finished": float(rates.mean()) if scored.any() else None, "problems_finished": int(scored.sum())}


def paired_difference(a, b) -> dict:
    """b - a on the problems both runs scored (per-problem pass rates, indexed by problem id), with the paired
    standard error of the difference: the spread of the per-problem differences over the square root of their count."""
    shared = a.index.intersection(b.index)
    d = (b.loc[shared] - a.loc[shared]).to_numpy(dtype=float)
    se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else None
    diff = float(d.mean()) if len(d) else None
    return {
        "difference": diff,
        "se": se,
        "beyond_se": bool(se is not None and diff is not None and abs(diff) > se),
        "shared_problems": len(d),
        "only_in_a": len(a.index.difference(b.index)),
        "only_in_b": len(b.index.difference(a.index)),
    }
