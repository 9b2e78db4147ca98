"""Stages that sample a reference model: `difficulty` (pass-rate band; it also verifies code tests that no reference
solution checked), `majority-check` (majority answer matches the gold answer) and `response-length` (drop problems
whose correct answers are short).

Every sample is graded by the same graders the trainer uses and stored as soon as it is graded, so a killed run resumes
without regenerating anything. Without a model the stages pass every row through and say that they were skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..config import setting
from ..io import save_figure, write_parquet
from ..sampling.collect import SamplerConfig, majority_votes
from ..sampling.estimate import collect_within_budget
from ..sampling.store import SampleStore
from ..stage import StageResult, skipped_result, split_by_reason, stage
from ..verify.policy import GradingPolicy

GRADING_HELP = "The grading policy of the samples (verify.policy): require_think_close, truncated, time_limit_s, ..."


def collect_samples(frame, sampler: SamplerConfig, n: int, ctx, policy: GradingPolicy):
    """n graded samples per row from `sampler` (see sampling.collect) under `policy`, in the run's store, after a cost
    pilot where the sampler asks for an estimate or has a GPU-hour budget (sampling.estimate); the samples used are
    also written to the stage's rollouts.parquet."""
    store = SampleStore(ctx.run_dir / "cache" / "samples.sqlite")
    try:
        collected = collect_within_budget(frame, sampler, n, store, workers=ctx.workers, policy=policy, progress=ctx)
    finally:
        store.close()
    write_parquet(ctx.stage_dir / "rollouts.parquet", collected.samples)
    stats = {
        "samples_generated": collected.generated,
        "samples_reused": collected.reused,
        "samples_regraded": collected.regraded,
        "regraded_because": collected.regraded_because,
        "model": sampler.model,
        "backend": sampler.backend,
        "settings": collected.settings,
        "grading": policy.to_dict(),
    }
    return collected.prompt_ids, collected.samples, stats


def _skipped(frame, spec_name: str, adds: dict[str, str]) -> StageResult:
    return skipped_result(
        frame, f"no model given: set {spec_name}.sampler.model (e.g. --set {spec_name}.sampler.model=PATH) to run it", adds
    )


def _sampler_report(stats: dict) -> dict[str, str]:
    settings = ", ".join(f"{k} {v}" for k, v in stats["settings"].items())
    regraded = (
        f" ({stats['samples_regraded']} regraded: {', '.join(stats['regraded_because'])} changed)" if stats["samples_regraded"] else ""
    )
    return {
        "model": f"{stats['model']} ({stats['backend']}; {settings})",
        "samples": f"{stats['samples_generated']} generated, {stats['samples_reused']} reused from the store{regraded}",
        "grading": GradingPolicy.from_dict(stats["grading"]).summary(),
    }


@dataclass
class DifficultyConfig:
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    grading: GradingPolicy = setting(factory=GradingPolicy, help=GRADING_HELP)
    n: int = setting(16, "Samples per prompt.")
    keep: list[int] = setting(factory=lambda: [1, 15], help="Inclusive band of pass counts to keep.")

    def __post_init__(self):
        if len(self.keep) != 2 or not 0 <= self.keep[0] <= self.keep[1] <= self.n:
            raise ValueError(f"keep must be [low, high] with 0 <= low <= high <= n, got {self.keep}")


def _histogram(counts: np.ndarray, n: int, keep: list[int], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(
        range(n + 1),
        np.bincount(counts, minlength=n + 1),
        color=["#4c72b0" if keep[0] <= k <= keep[1] else "#c44e52" for k in range(n + 1)],
    )
    ax.set_xlabel(f"correct samples of {n}")
    ax.set_ylabel("problems")
    ax.set_title(f"pass counts (kept band {keep[0]}-{keep[1]} in blue)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# What a prompt, its grading and its sample store key are made of (`sampling.collect`).
SAMPLED_READS = ("id", "domain", "starter_code", "answer", "tests", "time_limit_s")
DIFFICULTY_COLUMNS = {
    "pass_count": "int64",
    "n_samples": "int64",
    "pass_rate": "double",
    "truncated_count": "int64",
    "difficulty": "int64",
    "sampled_with": "string",
}


@stage(
    "difficulty",
    DifficultyConfig,
    requires=("problem", "domain"),
    reads=SAMPLED_READS,
    adds=DIFFICULTY_COLUMNS,
    modifies=("tests_verified",),
    example="acecurate difficulty curated/code/data/train.parquet --set sampler.model=deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --out runs/difficulty",
)
def difficulty(frame, config: DifficultyConfig, ctx) -> StageResult:
    """Sample n responses per problem, grade each, and keep problems whose pass count lies in the band."""
    if not config.sampler.model:
        return _skipped(frame, "difficulty", DIFFICULTY_COLUMNS)
    ids, samples, stats = collect_samples(frame, config.sampler, config.n, ctx, config.grading)
    per_prompt = samples.groupby("prompt_id").agg(
        pass_count=("correct", "sum"), n_samples=("correct", "size"), truncated=("finish_reason", lambda s: int((s == "length").sum()))
    )
    frame = frame.copy()
    frame["pass_count"] = [int(per_prompt.at[p, "pass_count"]) for p in ids]
    frame["n_samples"] = [int(per_prompt.at[p, "n_samples"]) for p in ids]
    frame["truncated_count"] = [int(per_prompt.at[p, "truncated"]) for p in ids]
    frame["pass_rate"] = frame["pass_count"] / frame["n_samples"]
    frame["difficulty"] = frame["n_samples"] - frame["pass_count"]  # 0 = solved every time
    frame["sampled_with"] = json.dumps({"model": config.sampler.model, "backend": config.sampler.backend, **stats["settings"]})
    low, high = config.keep
    counts = frame["pass_count"].to_numpy()
    reason = np.where(counts < low, "too_hard", np.where(counts > high, "too_easy", None)).astype(object)
    evidence = [f"passed {c} of {n} samples (kept band {low}-{high})" for c, n in zip(counts, frame["n_samples"])]
    if "tests_verified" in frame:
        # Tests no reference solution checked are satisfiable once a sample passes them; with no passing sample they
        # may be wrong, so the problem goes whatever the band.
        unverified = frame["tests_verified"].eq(False).to_numpy()
        failed = unverified & (counts == 0)
        reason[failed] = "unverified_tests"
        for r in np.flatnonzero(failed):
            evidence[r] = f"no reference solution checked the tests and none of {frame['n_samples'].iat[r]} samples passed them"
        frame.loc[unverified & (counts > 0), "tests_verified"] = True
        stats["tests_verified_by_samples"] = int(np.count_nonzero(unverified & (counts > 0)))
    _histogram(counts, config.n, config.keep, ctx.stage_dir / "pass_counts.png")
    truncated_share = float(frame["truncated_count"].sum() / max(frame["n_samples"].sum(), 1))
    stats.update(
        {
            "pass_count_histogram": {int(k): int(v) for k, v in Counter(counts).items()},
            "truncated_share": truncated_share,
            "keep": config.keep,
        }
    )
    report = {
        **_sampler_report(stats),
        "kept band": f"pass counts {low}-{high} of {config.n}",
        "truncated samples": f"{truncated_share:.1%}",
        "histogram": f"`{ctx.stage_dir.name}/pass_counts.png`",
    }
    return split_by_reason(frame, reason, evidence, stats=stats, report=report)


@dataclass
class MajorityCheckConfig:
    sampler: SamplerConfig = setting(factory=SamplerConfig, help="The paper: DeepSeek-R1.")
    grading: GradingPolicy = setting(factory=GradingPolicy, help=GRADING_HELP)
    k: int = setting(8, "Responses per problem.")


MAJORITY_COLUMNS = {"majority_answer": "string", "majority_votes": "int64"}


@stage(
    "majority-check",
    MajorityCheckConfig,
    requires=("problem", "answer"),
    reads=SAMPLED_READS,
    adds=MAJORITY_COLUMNS,
    example="acecurate majority-check dumps/math.jsonl --k 8 --set sampler.model=deepseek-ai/DeepSeek-R1 --set sampler.backend=openai --out runs/majority",
)
def majority_check(frame, config: MajorityCheckConfig, ctx) -> StageResult:
    """Keep a math problem only if the majority-voted answer of k reference responses matches its gold answer."""
    if not config.sampler.model:
        return _skipped(frame, "majority-check", MAJORITY_COLUMNS)
    ids, samples, stats = collect_samples(frame, config.sampler, config.k, ctx, config.grading)
    voted = majority_votes(samples)
    majority = {p: v[0] for p, v in voted.items()}
    votes = {p: v[1] for p, v in voted.items()}
    correct = {p: v[2] for p, v in voted.items()}
    frame = frame.copy()
    frame["majority_answer"] = [majority.get(p) for p in ids]
    frame["majority_votes"] = [votes.get(p, 0) for p in ids]
    reason = np.array(
        [None if correct.get(p) else ("no_answer" if majority.get(p) is None else "majority_wrong") for p in ids], dtype=object
    )
    evidence = [
        f"majority answer {majority.get(p)!r} ({votes.get(p, 0)} of {config.k} votes) vs gold {gold!r}"
        for p, gold in zip(ids, frame["answer"])
    ]
    return split_by_reason(frame, reason, evidence, stats=stats, report=_sampler_report(stats))


@dataclass
class ResponseLengthConfig:
    sampler: SamplerConfig = setting(factory=SamplerConfig, help="Whose responses are measured (the paper: DeepSeek-R1).")
    grading: GradingPolicy = setting(factory=GradingPolicy, help=GRADING_HELP)
    k: int = 8
    min_tokens: int = setting(2000, "Problems whose correct responses are shorter are too easy to teach reasoning.")
    downsample_below: int = setting(4000, "Problems between min_tokens and this are kept with probability keep_fraction.")
    keep_fraction: float = 0.5
    seed: int = 0


@stage(
    "response-length",
    ResponseLengthConfig,
    requires=("problem",),
    reads=SAMPLED_READS,
    adds={"response_tokens": "double"},
    example="acecurate response-length dumps/math.jsonl --min-tokens 2000 --set sampler.model=deepseek-ai/DeepSeek-R1 --out runs/length",
)
def response_length(frame, config: ResponseLengthConfig, ctx) -> StageResult:
    """Drop problems whose correct reference responses are short; downsample the middle band with a fixed seed."""
    if not config.sampler.model:
        return _skipped(frame, "response-length", {"response_tokens": "double"})
    ids, samples, stats = collect_samples(frame, config.sampler, config.k, ctx, config.grading)
    correct = samples[samples["correct"] == 1]
    median_tokens = correct.groupby("prompt_id")["tokens"].median()
    frame = frame.copy()
    frame["response_tokens"] = [float(median_tokens[p]) if p in median_tokens.index else np.nan for p in ids]
    rng = np.random.default_rng(config.seed)
    draws = rng.random(len(frame))
    tokens = frame["response_tokens"].to_numpy()
    reason = np.full(len(frame), None, dtype=object)
    reason[np.isnan(tokens)] = "no_correct_response"
    reason[tokens < config.min_tokens] = "short_response"
    middle = (tokens >= config.min_tokens) & (tokens < config.downsample_below) & (draws >= config.keep_fraction)
    reason[middle] = "downsampled"
    evidence = [
        f"median {t:.0f} tokens over correct responses (min {config.min_tokens}, downsampled below {config.downsample_below})"
        if not np.isnan(t)
        else f"none of {config.k} responses is correct"
        for t in tokens
    ]
    return split_by_reason(frame, reason, evidence, stats=stats, report=_sampler_report(stats))
