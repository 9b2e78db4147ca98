"""`acecurate eval`: a model on the paper's benchmarks under the paper's protocol, sampled through the same backends
and sample store as curation and graded by the same graders as training rewards (`sampling.collect`).

The run directory:
    eval.json            the resolved settings (written first)
    cache/samples.sqlite every graded sample, stored as each prompt finishes: a killed eval resumes without resampling
    per_problem.parquet  one row per problem: pass count, truncated samples, majority answer, mean length
    results.json         every score, per benchmark and per difficulty, with the settings that produced them
    README.md            the report, with scores.png, pass_counts.png and lengths.png
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import build_dataclass, deep_merge, hide_secret_values, parse_overrides, setting
from ..errors import AcecurateError, ConfigError
from ..io import write_json, write_parquet
from ..sampling import build_prompt
from ..sampling.collect import SamplerConfig, majority_votes
from ..sampling.estimate import collect_within_budget
from ..sampling.store import SampleStore
from ..verify.policy import GradingPolicy
from .loading import Benchmark, load_bench_file, load_benchmark
from .scores import PAPER_RESULTS, paper_model, scores

DEFAULT_BENCHMARKS = ["aime24", "aime25", "lcb-v5", "lcb-v6"]
PER_PROBLEM_TYPES = {
    "benchmark": "string",
    "item_id": "string",
    "row_id": "string",
    "prompt_id": "string",
    "difficulty": "string",
    "n": "int64",
    "correct": "int64",
    "pass_rate": "double",
    "truncated": "int64",
    "correct_finished": "int64",
    "majority_answer": "string",
    "majority_votes": "int64",
    "majority_correct": "bool",
    "mean_tokens": "double",
    "answer": "string",
}


@dataclass
class EvalConfig:
    benchmarks: list[str] | None = setting(
        None, "Registered benchmarks (acecurate eval list). Default: aime24, aime25, lcb-v5, lcb-v6, or none when bench_files are given."
    )
    bench_files: list[str] = setting(factory=list, help="More benchmarks from files: [NAME=]FILE.")
    samples: int | None = setting(None, "Samples per problem for every benchmark (default: the paper's, 64 for AIME, 8 for LiveCodeBench).")
    limit: int | None = setting(None, "Only the first N problems of each benchmark (quick checks).")
    data_dir: str | None = setting(None, "A folder holding benchmark files (aime24.jsonl, livecodebench.jsonl, ...), read before the hub.")
    reference: str | None = setting(None, "The paper's model to show beside the scores (default: recognised from the model name).")
    sampler: SamplerConfig = setting(
        factory=SamplerConfig, help="The model and the paper's protocol: temperature 0.6, top-p 0.95, 32,768 tokens."
    )
    grading: GradingPolicy = setting(
        factory=GradingPolicy, help="The grading policy (verify.policy), the same as the training rewards': require_think_close, ..."
    )

    def __post_init__(self):
        if self.benchmarks is None:
            self.benchmarks = [] if self.bench_files else list(DEFAULT_BENCHMARKS)
        if self.samples is not None and self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")


def eval_config(values: dict, overrides: list[str] = (), where: str = "eval") -> EvalConfig:
    """An EvalConfig from a mapping (a recipe's `eval:` section, the command's options) and `--set KEY=VALUE`
    overrides such as `sampler.options.base_url=http://host:8000/v1`."""
    merged = dict(values)
    for head, tail in parse_overrides([o if "." in o.partition("=")[0] else f"eval.{o}" for o in overrides]).items():
        merged = deep_merge(merged, tail if head == "eval" else {head: tail})
    problems: list[str] = []
    config = build_dataclass(EvalConfig, merged, where, problems)
    if problems:
        raise ConfigError(where, problems)
    return config


def load_benchmarks(config: EvalConfig) -> list[Benchmark]:
    benches = [load_benchmark(name, config.data_dir, config.limit) for name in config.benchmarks]
    benches += [load_bench_file(argument, config.limit) for argument in config.bench_files]
    names = [b.name for b in benches]
    if not benches:
        raise AcecurateError("no benchmarks given: use --bench NAME,... or --bench-file FILE")
    if len(set(names)) != len(names):
        raise AcecurateError(f"benchmark names must be unique, got {names} (name a file with --bench-file NAME=FILE)")
    for bench in benches:
        bench.samples = config.samples or bench.samples
    return benches


def protocol(config: EvalConfig, benches: list[Benchmark]) -> dict:
    """Everything that decides the numbers, as recorded in eval.json and results.json."""
    return {
        "model": config.sampler.model,
        "backend": config.sampler.backend,
        "backend_options": hide_secret_values(config.sampler.options),
        "sampling": asdict(config.sampler.settings()),
        "system_prompt": None,
        "math_prompt": build_prompt("math", "{problem}"),
        "code_prompt": build_prompt("code", "{problem}"),
        "code_prompt_with_starter_code": build_prompt("code", "{problem}", "{starter_code}"),
        "chat_template": "the model's chat template with one user message",
        "grading": {
            "math": "the boxed answer after </think>, compared with the gold answer by acecurate.verify.math (the reward "
            "grader); several different boxed answers are not correct",
            "code": "the last ```python block after </think>, run on every test in the bubblewrap sandbox (the reward grader)",
            "policy": config.grading.to_dict(),
            "truncated": "a sample cut at max_tokens counts as wrong"
            if not config.grading.scores_truncated()
            else "a sample cut at max_tokens is graded like any other",
        },
        "benchmarks": {
            b.name: {
                "title": b.title,
                "domain": b.domain,
                "source": b.source,
                "problems": len(b.rows),
                "samples": b.samples,
                "window": b.window,
            }
            for b in benches
        },
        "limit": config.limit,
    }


def _per_problem(bench: Benchmark, prompt_ids: list[str], samples):
    """One row per problem of `bench` from its first `bench.samples` samples, and those samples."""
    import pandas as pd

    mine = samples[samples["prompt_id"].isin(set(prompt_ids)) & (samples["sample_index"] < bench.samples)]
    votes = majority_votes(mine) if bench.domain == "math" else {}
    by_prompt = {pid: group for pid, group in mine.groupby("prompt_id", sort=False)}
    rows = []
    for (_, row), pid in zip(bench.rows.iterrows(), prompt_ids):
        group = by_prompt[pid]
        if len(group) != bench.samples:
            raise AcecurateError(f"{bench.name} {row['item_id']}: {len(group)} samples in the store, expected {bench.samples}")
        answer, count, majority_correct = votes.get(pid, (None, None, None))
        rows.append(
            {
                "benchmark": bench.name,
                "item_id": row["item_id"],
                "row_id": row["id"],
                "prompt_id": pid,
                "difficulty": row["difficulty"],
                "n": len(group),
                "correct": int(group["correct"].sum()),
                "truncated": int((group["finish_reason"] == "length").sum()),
                "correct_finished": int(group.loc[group["finish_reason"] != "length", "correct"].sum()),
                "majority_answer": answer,
                "majority_votes": count,
                "majority_correct": majority_correct,
                "mean_tokens": float(group["tokens"].mean()) if group["tokens"].notna().any() else None,
                "answer": row["answer"] if isinstance(row["answer"], str) else None,
            }
        )
    problems = pd.DataFrame(rows)
    problems["pass_rate"] = problems["correct"] / problems["n"]
    return problems, mine


def bench_scores(bench: Benchmark, problems, samples) -> dict:
    """Scores of a benchmark, and of each difficulty level where its problems have one (LiveCodeBench)."""
    result = scores(problems, samples, bench.domain)
    if problems["difficulty"].notna().any():
        result["by_difficulty"] = {
            str(level): scores(part, samples[samples["prompt_id"].isin(set(part["prompt_id"]))], bench.domain)
            for level, part in problems.groupby("difficulty", sort=False)
        }
    return result


def run_eval(config: EvalConfig, out: str | Path, *, workers: int, progress=None, command: str = "") -> dict:
    """Sample, grade and score `config.sampler.model` on the benchmarks; write the run directory; return results.json."""
    import pandas as pd

    from .report import write_report

    if not config.sampler.model:
        raise AcecurateError("no model given: --model HUB_ID_OR_PATH (for --backend openai, the name the server serves)")
    out = Path(out)
    started = time.time()
    benches = load_benchmarks(config)
    settings = protocol(config, benches)
    write_json(out / "eval.json", {"command": command, **settings})
    frame = pd.concat([b.rows for b in benches], ignore_index=True)
    counts = [b.samples for b in benches for _ in range(len(b.rows))]
    store = SampleStore(out / "cache" / "samples.sqlite")
    try:
        collected = collect_within_budget(
            frame,
            config.sampler,
            counts,
            store,
            workers=workers,
            policy=config.grading,
            progress=progress,
            description="eval: sample and grade",
        )
    finally:
        store.close()
    results_by_bench, tables, samples_of, offset = {}, [], {}, 0
    for bench in benches:
        ids = collected.prompt_ids[offset : offset + len(bench.rows)]
        offset += len(bench.rows)
        problems, samples_of[bench.name] = _per_problem(bench, ids, collected.samples)
        tables.append(problems)
        results_by_bench[bench.name] = {
            **settings["benchmarks"][bench.name],
            "scores": bench_scores(bench, problems, samples_of[bench.name]),
            "notes": bench.notes,
        }
    per_problem = pd.concat(tables, ignore_index=True)[list(PER_PROBLEM_TYPES)]
    write_parquet(out / "per_problem.parquet", per_problem, PER_PROBLEM_TYPES)
    reference = config.reference or paper_model(config.sampler.model)
    if reference is not None and reference not in PAPER_RESULTS:
        raise AcecurateError(f"reference {reference!r} is not a model of the paper's table (known: {', '.join(PAPER_RESULTS)})")
    used = collected.samples[["backend", "revision"]].drop_duplicates().to_dict("records")
    results = {
        "command": command,
        **settings,
        "revisions": used,
        "reference": {"model": reference, "scores": {b.name: PAPER_RESULTS[reference].get(b.paper) for b in benches if b.paper}}
        if reference
        else None,
        "samples_generated": collected.generated,
        "samples_reused": collected.reused,
        "seconds": round(time.time() - started, 1),
        "benchmarks": results_by_bench,
    }
    write_json(out / "results.json", results)
    write_report(out, results, per_problem, samples_of)
    return results
