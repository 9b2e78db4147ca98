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
    the row's own time limit, length, truncated flag and the text (for audit)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, records: list[dict]) -> None:
        with self._lock, self.path.open("a") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
            handle.flush()


def make_reward(
    log: RolloutLog, max_completion_length: int, workers: int, policy: GradingPolicy | None = None, stop_ids: list[int] | None = None
):
    """The AceReason reward for a stage: math rows by the math grader, code rows by the sandbox (early stop on, the
    row's own `time_limit_s` where it has one), under `policy` (its defaults when None). `stop_ids`
    (`stop_token_ids`) tell truncated completions apart as TRL does.

    It is async, so TRL runs it on its event-loop thread; the grading itself runs in worker processes and sandboxes,
    and a sandbox infrastructure fault is retried there and raised if it persists (never scored 0)."""
    policy = policy or GradingPolicy()
    record = policy.to_dict()
    stop = set(stop_ids or ())
    grader = MathGrader(workers=workers, timeout=policy.math_timeout_s)

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
        step = trainer_state.global_step if trainer_state is not None else None
        return await asyncio.to_thread(grade, completions, domain, answer, tests, prompt_id, time_limit_s, completion_ids, step)

    acereason_reward.close = grader.close
    return acereason_reward
