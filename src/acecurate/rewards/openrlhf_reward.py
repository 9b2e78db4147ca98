"""acecurate's reward for OpenRLHF, on `acecurate export --format openrlhf` data. OpenRLHF loads this file by path:

    --remote_rm_url <this file> --input_key input --label_key label --apply_chat_template

and calls `reward_func(queries, prompts, labels)`: each query is the prompt with the response decoded after it (special
tokens kept), each prompt the chat-templated prompt, each label the exported `label` (a JSON string with the domain,
the ground truth, the grading policy recorded at curation and the row's time limit). The response is what follows the prompt.
"""

from __future__ import annotations

import json

from acecurate.rewards import grade, rewards


def response_of(query: str, prompt: str) -> str:
    """The response part of an OpenRLHF query: what follows its prompt."""
    if isinstance(prompt, str) and prompt and query.startswith(prompt):
        return query[len(prompt) :]
    at = query.rfind(prompt) if isinstance(prompt, str) and prompt else -1
    return query[at + len(prompt) :] if at >= 0 else query


def reward_func(queries, prompts, labels, **kwargs) -> dict:
    """`rewards` and `scores` (1.0 correct, else 0.0) per query, and the accuracy in `extra_logs`."""
    import torch

    parsed = [json.loads(label) if isinstance(label, str) else label for label in labels]
    verdicts = grade(
        [p.get("domain") for p in parsed],
        [response_of(q, p) for q, p in zip(queries, prompts)],
        [p.get("truth") for p in parsed],
        [p.get("grading") for p in parsed],
        [p.get("time_limit_s") for p in parsed],
    )
    scores = torch.tensor(rewards(verdicts), dtype=torch.float)
    return {"rewards": scores, "scores": scores, "extra_logs": {"acecurate_accuracy": scores.mean() if len(scores) else scores.sum()}}
