"""Rewards for GRPO: the same math grader and code sandbox as curation, under the same grading policy
(`verify.policy`), so a curation verdict, an evaluation verdict and the training reward of one response are one verdict.

Reward functions have the form `(completions, **columns) -> list[float]`: 1.0 when correct, else 0.0, no format reward.
A completion is truncated when it does not end in a stop token, exactly as TRL decides it for overlong masking; the
policy's truncation rule then applies to it, as it does in evaluation and the difficulty stage. Every reward is also
logged with its prompt id, its verdict and the policy record, so the next stage's easy-prompt filter uses the pass
rates the policy actually had.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..rewards.trl_reward import completion_text
from ..verify.math import MathGrader
from ..verify.policy import GradingPolicy, row_limit
from ..verify.responses import grade_responses


def stop_token_ids(model, tokenizer) -> list[int]:
    """The tokens that end a completion, as GRPOTrainer counts them (the generation config's eos ids, the tokenizer's
    eos and pad): a completion whose last token is none of them was cut at the length limit."""
    eos = model.generation_config.eos_token_id
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return [i for i in dict.fromkeys([tokenizer.eos_token_id, *ids, tokenizer.pad_token_id]) if i is not None]


def is_truncated(ids, stop_ids, max_completion_length: int) -> bool:
    """Cut at the length limit: not ending in a stop token (TRL's rule); by length alone when no stop token is known."""
    if ids is None:
        return False
    if stop_ids:
        return len(ids) > 0 and ids[-1] not in stop_ids
    return len(ids) >= max_completion_length


class RolloutLog:
    """Appends one JSON line per graded completion: prompt id, reward with its status and rule, the policy record,
    the row's own time limit, length, truncated flag and the text (for audit).

    Lines are encoded and written on a background thread, so that the step's update (which does not read them) runs
    meanwhile; `flush()` waits for them and is called at the end of every step, before any checkpoint is saved, so a
    checkpoint never holds an update whose rollouts are not on disk."""

    def __init__(self, path: Path):
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-log")
        self._pending: list[Future] = []
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, records: list[dict]) -> None:
        self._pending.append(self._writer.submit(self._append, records))

    def _append(self, records: list[dict]) -> None:
        text = "".join(json.dumps(r) + "\n" for r in records)
        with self.path.open("a") as handle:
            handle.write(text)

    def flush(self) -> None:
        """Wait until every record written so far is on disk (a write's error is raised here)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def close(self) -> None:
        self.flush()
        self._writer.shutdown()


def warm_up(grader: MathGrader, workers: int) -> None:
    """Start a math stage's grading workers before the first step needs them: each starts its interpreter and imports
    math-verify, seconds that the first step's reward would otherwise wait for. The verdicts are thrown away."""
    # A symbolic pair that only math-verify decides, one batch of it per worker.
    grader.grade_many([("\\boxed{x^2}", "x+1")] * (grader.batch_size * workers), require_think_close=False)


def make_reward(
    log: RolloutLog,
    max_completion_length: int,
    workers: int,
    policy: GradingPolicy | None = None,
    stop_ids: list[int] | None = None,
    domain: str | None = None,
):
    """The AceReason reward for a stage: math rows by the math grader, code rows by the sandbox (early stop on, the
    row's own `time_limit_s` where it has one), under `policy` (its defaults when None). `stop_ids`
    (`stop_token_ids`) tell truncated completions apart as TRL does.

    It is async, so TRL runs it on its event-loop thread; the grading itself runs in worker processes and sandboxes,
    and a sandbox infrastructure fault is retried there and raised if it persists (never scored 0).

    TRL's GRPOTrainer awaits it between generation and the update, and nothing else in its step is independent of the
    rewards, so the grading stays on the step's critical path. What need not be on it is moved off: for a math stage
    (`domain`), the grading workers start on a thread while the model loads and the trainer is built (`warm_up`), and
    the rollout log is written while the update runs (`RolloutLog`). `flush()` waits for the log; `close()` also
    stops the math workers."""
    policy = policy or GradingPolicy()
    record = policy.to_dict()
    stop = set(stop_ids or ())
    grader = MathGrader(workers=workers, timeout=policy.math_timeout_s)
    warming = threading.Thread(target=warm_up, args=(grader, workers), name="math-grader-warm-up", daemon=True)
    if domain == "math":
        warming.start()

    def grade(completions, domain, answer, tests, prompt_id, time_limit_s, completion_ids, step):
        texts = [completion_text(c) for c in completions]
        limits = [row_limit(v) for v in time_limit_s] if time_limit_s is not None else [None] * len(texts)
        cut = [is_truncated(ids, stop, max_completion_length) for ids in completion_ids] if completion_ids is not None else None
        verdicts = grade_responses(domain, texts, answer, tests, grader, workers, policy, time_limits=limits, truncated=cut)
        rewards = [1.0 if v.correct else 0.0 for v in verdicts]
        lengths = [len(ids) for ids in completion_ids] if completion_ids is not None else [None] * len(texts)
        log.write(
            [
                {
                    "prompt_id": prompt_id[i],
                    "domain": domain[i],
                    "reward": rewards[i],
                    "status": verdicts[i].status,
                    "rule": verdicts[i].rule,
                    "policy": record,
                    "time_limit_s": limits[i],
                    "tokens": lengths[i],
                    "truncated": bool(cut[i]) if cut is not None else None,
                    "step": step,
                    "completion": texts[i],
                }
                for i in range(len(texts))
            ]
        )
        return rewards

    async def acereason_reward(
        completions, domain, answer, tests, prompt_id, time_limit_s=None, completion_ids=None, trainer_state=None, **_
    ):
        step = trainer_state.global_step + 1 if trainer_state is not None else None  # the update these rollouts feed
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(grade, completions, domain, answer, tests, prompt_id, time_limit_s, completion_ids, step)
        finally:
            acereason_reward.timings.append((started, time.perf_counter()))

    def close():
        if warming.is_alive():
            warming.join()
        log.close()
        grader.close()

    acereason_reward.timings = []  # (start, end) of each call, read and cleared by the step timer (callbacks.py)
    acereason_reward.flush = log.flush
    acereason_reward.close = close
    return acereason_reward
