"""n graded samples per prompt, generating only what the sample store lacks: the one loop behind the curation stages
that sample a model, `acecurate eval`, and the evaluation after each training stage.

Every completion is graded by `verify.responses.grade_responses` (the grader of training rewards) under the caller's
grading policy (`verify.policy`) and stored with the policy's record and a digest of the row's reference as soon as
it is graded (a batch of samples per transaction), so a killed run resumes without regenerating anything: only the
(prompt, sample index) pairs the store lacks are asked for, whichever backend returned the others and in what order.
A rerun under another policy (or grader version, or reference) regrades the stored texts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from ..config import setting
from ..errors import AcecurateError
from ..progress import NullProgress
from . import build_prompt, make_backend, prompt_id
from .protocol import Completion, Request, SamplingSettings
from .store import SampleStore

GRADE_BATCH_PER_WORKER = 8  # samples graded together per grading worker


@dataclass
class SamplerConfig:
    model: str | None = setting(None, "A hub id or local path; without one the stage is skipped.")
    backend: str = setting("vllm", "vllm, openai, transformers or ray (a Ray cluster: sampler.options.engine openai or vllm).")
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32768
    seed: int = 0
    options: dict = setting(factory=dict, help="Backend options: base_url, concurrency, tensor_parallel_size, device, ...")
    estimate: bool = setting(
        False, "Sample a pilot (pilot_fraction of the prompts, at least 4), print the projected samples, tokens and GPU-hours, and stop."
    )
    max_gpu_hours: float | None = setting(None, "Stop before the full run when a pilot projects more GPU-hours than this.")
    gpus: float | None = setting(None, "GPUs behind the backend, for GPU-hours (default: from its options; one per openai endpoint).")
    pilot_fraction: float = setting(0.01, "Share of the prompts the cost pilot samples (estimate, max_gpu_hours).")

    def settings(self) -> SamplingSettings:
        return SamplingSettings(self.temperature, self.top_p, self.max_tokens, self.seed)


def grade_completions(prompts, workers: int, math_grader, policy) -> list[list]:
    """A verdict (`verify.responses.Verdict`) per completion, for (domain, completions, gold, tests, time limit) of
    one or more prompts, graded in one call under `policy` so that every worker is busy. A completion whose
    finish_reason is "length" is truncated: the policy's truncation rule applies to it."""
    from ..verify.responses import grade_responses

    flat = [(p, c) for p, (_, completions, _, _, _) in enumerate(prompts) for c in completions]
    graded = iter(
        grade_responses(
            [prompts[p][0] for p, _ in flat],
            [c.text for _, c in flat],
            [prompts[p][2] for p, _ in flat],
            [prompts[p][3] for p, _ in flat],
            math_grader,
            workers,
            policy,
            time_limits=[prompts[p][4] for p, _ in flat],
            truncated=[c.finish_reason == "length" for _, c in flat],
        )
    )
    return [[next(graded) for _ in completions] for _, completions, _, _, _ in prompts]


def reference_key(gold, tests, time_limit) -> str:
    """A digest of what a row's verdicts are graded against (its gold answer or tests, and its own time limit): a
    stored verdict for another reference is stale."""
    from ..verify.policy import row_limit

    text = json.dumps([gold, tests, row_limit(time_limit)])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def sample_records(
    prompt: str, row_id, model: str, settings: SamplingSettings, first_index: int, completions: list[Completion], grades, info, graded_under
) -> list[dict]:
    """Store rows for one prompt's graded completions; `graded_under` is (policy record JSON, reference key)."""
    return [
        {
            "prompt_id": prompt,
            "model": model,
            "settings_key": settings.key(),
            "sample_index": first_index + k,
            "row_id": row_id,
            "text": c.text,
            "tokens": c.tokens,
            "finish_reason": c.finish_reason,
            **verdict_columns(g, graded_under),
            "backend": info.backend,
            "revision": info.revision,
            "settings": asdict(settings),
        }
        for k, (c, g) in enumerate(zip(completions, grades))
    ]


def verdict_columns(verdict, graded_under: tuple[str, str]) -> dict:
    """A verdict's store columns, with the policy record and the reference it was given under."""
    return {
        "status": verdict.status,
        "correct": int(verdict.correct),
        "extracted": verdict.extracted,
        "rule": verdict.rule,
        "policy": graded_under[0],
        "reference_key": graded_under[1],
    }


def _regrade_stale(samples, rows: dict, items, store: SampleStore, workers: int, policy, keys: dict) -> tuple[int, list[str]]:
    """Regrade stored samples whose verdicts were given under another policy record (any setting, or another version
    of a grader or the judge environment; or before policies were recorded) or against another reference: their
    texts are reused, their verdicts are not. `rows` maps a prompt id to its first row, `items(row, completions)` gives
    grade_completions' tuple, `keys` the prompt's reference key. Returns how many were regraded and what changed."""
    from ..verify.math import MathGrader

    record = policy.to_json()
    stale = samples[samples["policy"].ne(record) | samples["reference_key"].ne(samples["prompt_id"].map(keys))]
    if stale.empty:
        return 0, []
    fields = len(policy.to_dict())
    changed = set()
    for text in stale["policy"].unique():
        differ = policy.stale_fields(text) if isinstance(text, str) else []
        if not isinstance(text, str) or len(differ) == fields:
            changed.add("(no record)")  # a verdict stored before policies were recorded
        else:
            changed.update(differ)  # none when only the reference changed
    if stale["reference_key"].ne(stale["prompt_id"].map(keys)).any():
        changed.add("reference")
    groups = [(prompt, group) for prompt, group in stale.groupby("prompt_id", sort=False)]
    completions = [[Completion(t, k, f) for t, k, f in zip(g["text"], g["tokens"], g["finish_reason"])] for _, g in groups]
    with MathGrader(workers=workers, timeout=policy.math_timeout_s) as math_grader:
        verdicts = grade_completions([items(rows[p], c) for (p, _), c in zip(groups, completions)], workers, math_grader, policy)
    key_columns = ["prompt_id", "model", "settings_key", "sample_index"]
    store.regrade(
        [
            {**key, **verdict_columns(v, (record, keys[prompt]))}
            for (prompt, group), vs in zip(groups, verdicts)
            for key, v in zip(group[key_columns].to_dict("records"), vs)
        ]
    )
    return len(stale), sorted(changed)


def missing_runs(stored: set[int], wanted: int) -> list[tuple[int, int]]:
    """The [start, stop) runs of sample indices below `wanted` that are not stored, in order."""
    runs: list[tuple[int, int]] = []
    for index in range(wanted):
        if index in stored:
            continue
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs


@dataclass
class Collected:
    prompt_ids: list[str]  # one per input row
    samples: object  # pandas.DataFrame: the first n samples of every prompt, as stored (graded)
    generated: int  # samples generated by this call
    reused: int  # samples found in the store
    settings: dict = field(default_factory=dict)
    regraded: int = 0  # stored samples regraded: their verdicts were given under another policy or reference
    regraded_because: list[str] = field(default_factory=list)  # the policy fields (or "reference") that changed


def _column(frame, name: str) -> list:
    """A text column as a list, with missing values (None, NaN) as None."""
    return [v if isinstance(v, str) else None for v in frame[name]] if name in frame else [None] * len(frame)


def frame_prompts(frame) -> list[str]:
    """The user message of each row, as every backend sends it."""
    return [build_prompt(d, p, s) for d, p, s in zip(frame["domain"], frame["problem"], _column(frame, "starter_code"))]


def frame_prompt_ids(frame) -> list[str]:
    return [prompt_id(p) for p in frame_prompts(frame)]


def collect(
    frame,
    sampler: SamplerConfig,
    n,
    store: SampleStore,
    *,
    workers: int,
    policy=None,
    progress=None,
    description: str = "sample and grade",
    backend=None,
) -> Collected:
    """n graded samples per row of `frame` (columns id, domain, problem and, where present, starter_code, answer,
    tests, time_limit_s) from `sampler`, generating only what `store` lacks, graded under `policy` (a
    verify.policy.GradingPolicy; its defaults when None). `n` is one count or one per row; rows with the same prompt
    share its samples (the largest n among them is drawn). `progress` is anything with `task(description, total)` (a
    RunContext or an acecurate.progress display). `backend` is one made for `sampler` already (a cost pilot's), else
    one is made when something is missing."""
    from ..verify.math import MathGrader
    from ..verify.policy import GradingPolicy, row_limit

    policy = policy or GradingPolicy()
    record = policy.to_json()
    progress = progress or NullProgress()
    settings = sampler.settings()
    counts = [n] * len(frame) if isinstance(n, int) else [int(k) for k in n]
    prompts = frame_prompts(frame)
    ids = [prompt_id(p) for p in prompts]
    golds, tests, row_ids = _column(frame, "answer"), _column(frame, "tests"), list(frame["id"])
    limits = [row_limit(v) for v in frame["time_limit_s"]] if "time_limit_s" in frame else [None] * len(frame)
    first_row: dict[str, int] = {}
    wanted: dict[str, int] = {}
    for row, pid in enumerate(ids):
        first = first_row.setdefault(pid, row)
        if (golds[row], tests[row], limits[row]) != (golds[first], tests[first], limits[first]):
            # Samples are stored and graded once per prompt: two references for one prompt would make one row's
            # grades wrong.
            what = "gold answers" if golds[row] != golds[first] else "tests" if tests[row] != tests[first] else "time limits"
            raise AcecurateError(
                f"rows {row_ids[first]!r} and {row_ids[row]!r} give the model the same prompt but have different {what} "
                f"({str(golds[first] or tests[first] or limits[first])[:80]!r} vs {str(golds[row] or tests[row] or limits[row])[:80]!r}): "
                "remove the duplicate first (acecurate dedup)"
            )
        wanted[pid] = max(wanted.get(pid, 0), counts[row])
    keys = {pid: reference_key(golds[row], tests[row], limits[row]) for pid, row in first_row.items()}
    have = store.indices(sampler.model, settings.key())
    requests = [
        Request(pid, prompts[row], stop - start, start)
        for pid, row in first_row.items()
        for start, stop in missing_runs(have.get(pid, set()), wanted[pid])
    ]
    generated = 0

    def item(row: int, completions) -> tuple:
        return frame["domain"].iat[row], completions, golds[row], tests[row], limits[row]

    if requests:
        backend = backend or make_backend(sampler.backend, sampler.model, **sampler.options)
        pending: list = []  # (request, row, completions) generated, not yet graded

        def grade_and_store(math_grader, task) -> None:
            nonlocal generated
            items = [item(row, completions) for _, row, completions in pending]
            records = [
                one
                for (request, row, completions), grades in zip(pending, grade_completions(items, workers, math_grader, policy))
                for one in sample_records(
                    request.prompt_id,
                    row_ids[row],
                    sampler.model,
                    settings,
                    request.first_index,
                    completions,
                    grades,
                    backend.info,
                    (record, keys[request.prompt_id]),
                )
            ]
            store.add(records)  # one transaction for the graded batch
            generated += len(records)
            task.advance(len(records))
            pending.clear()

        total = sum(r.n for r in requests)
        with MathGrader(workers=workers, timeout=policy.math_timeout_s) as math_grader, progress.task(description, total) as task:
            for request, completions in backend.generate(requests, settings):
                pending.append((request, first_row[request.prompt_id], completions))
                # Several prompts' samples are graded together, so the sandboxes and math workers stay busy when one
                # prompt has fewer samples than there are workers; a kill loses at most this many ungraded samples.
                if sum(len(c) for _, _, c in pending) >= GRADE_BATCH_PER_WORKER * workers:
                    grade_and_store(math_grader, task)
            if pending:
                grade_and_store(math_grader, task)

    def stored():
        samples = store.samples(sampler.model, settings.key(), list(first_row))
        return samples[samples["sample_index"] < samples["prompt_id"].map(wanted)].reset_index(drop=True)

    samples = stored()
    regraded, because = _regrade_stale(samples, first_row, item, store, workers, policy, keys)
    if regraded:
        samples = stored()
    reused = sum(sum(1 for i in have.get(p, ()) if i < k) for p, k in wanted.items())
    return Collected(ids, samples, generated, reused, asdict(settings), regraded, because)


def majority_votes(samples) -> dict[str, tuple[str | None, int, bool]]:
    """Per prompt id: (majority answer, its votes, whether it is correct). Answers vote under `vote_key` (spacing,
    `\\text{}`, `\\dfrac` do not split votes); samples without an answer do not vote; ties go to the earliest sample."""
    from ..verify.math import vote_key

    result = {}
    for pid, group in samples.groupby("prompt_id", sort=False):
        answered = group[group["extracted"].notna()].sort_values("sample_index")
        if answered.empty:
            result[pid] = (None, 0, False)
            continue
        keys = answered["extracted"].map(vote_key)
        winner, count = Counter(keys).most_common(1)[0]
        chosen = answered[keys == winner]
        result[pid] = (chosen["extracted"].iat[0], int(count), bool(chosen["correct"].iat[0]))
    return result
