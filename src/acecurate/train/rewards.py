"""Rewards for GRPO: the same math grader and code sandbox as curation, so a curation verdict is the training reward.

Reward functions have the form `(completions, **columns) -> list[float]`: 1.0 when correct, else 0.0, no format reward.
Every reward is also logged with its prompt id, so the next stage's easy-prompt filter uses the pass rates the policy
actually had.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from ..rewards.trl_reward import completion_text
from ..verify.math import MathGrader
from ..verify.responses import grade_responses


class RolloutLog:
    """Appends one JSON line per graded completion: prompt id, reward with its status, rule and grading setting,
    length, truncated flag and the text (for audit)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, records: list[dict]) -> None:
        with self._lock, self.path.open("a") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
            handle.flush()


def make_reward(
    log: RolloutLog, max_completion_length: int, workers: int, require_think_close: bool = True, allow_inline_asserts: bool = False
):
    """The AceReason reward for a stage: math rows by the math grader, code rows by the sandbox (early stop on), both
    reading only the answer part of a completion (`require_think_close`: see `verify.responses.answer_part`).

    It is async, so TRL runs it on its event-loop thread; the grading itself runs in worker processes and sandboxes,
    and a sandbox infrastructure fault is retried there and raised if it persists (never scored 0)."""
    grader = MathGrader(workers=workers)

    def grade(completions, domain, answer, tests, prompt_id, completion_ids=None, step=None):
        texts = [completion_text(c) for c in completions]
        verdicts = grade_responses(
            domain, texts, answer, tests, grader, workers, require_think_close, allow_inline_asserts=allow_inline_asserts
        )
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
                    "require_think_close": require_think_close,
                    "tokens": lengths[i],
                    "truncated": lengths[i] is not None and lengths[i] >= max_completion_length,
                    "step": step,
                    "completion": texts[i],
                }
                for i in range(len(texts))
            ]
        )
        return rewards

    async def acereason_reward(completions, domain, answer, tests, prompt_id, completion_ids=None, trainer_state=None, **_):
        step = trainer_state.global_step if trainer_state is not None else None
        return await asyncio.to_thread(grade, completions, domain, answer, tests, prompt_id, completion_ids, step)

    acereason_reward.close = grader.close
    return acereason_reward
