"""acecurate's reward for TRL's GRPOTrainer, on `acecurate export --format trl` data:

    from acecurate.rewards.trl_reward import acecurate_reward
    GRPOTrainer(model=..., reward_funcs=[acecurate_reward], train_dataset=load_dataset("parquet", data_files=...))

or `trl grpo --reward_funcs acecurate.rewards.trl_reward.acecurate_reward`. GRPOTrainer passes the dataset's columns to
the reward function by name: `domain`, `answer` (math), `tests` (code), `time_limit_s` (the row's own code limit) and
`grading` (the policy recorded at curation). `acecurate train` uses the same graders, with its rollout log on top (`train.rewards`).
"""

from __future__ import annotations

from acecurate.rewards import grade, rewards


def completion_text(completion) -> str:
    """TRL gives conversational completions as a list of messages, and plain ones as text."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion


def acecurate_reward(completions, domain, answer, tests, grading=None, time_limit_s=None, **kwargs) -> list[float]:
    """1.0 for a correct completion, else 0.0."""
    truths = [a if d == "math" else t for d, a, t in zip(domain, answer, tests)]
    texts = [completion_text(c) for c in completions]
    return rewards(grade(list(domain), texts, truths, grading or [None] * len(completions), time_limit_s))
