"""acecurate's reward for verl, on `acecurate export --format verl` data. verl loads this file by path:

    custom_reward_function.path=<this file> custom_reward_function.name=compute_score_batch reward_model.reward_manager=batch

`compute_score` has the signature verl's naive (and reward-loop) manager calls, one response at a time:
`compute_score(data_source=, solution_str=, ground_truth=, extra_info=)`. `compute_score_batch` has the one verl's batch
manager calls with the whole rollout batch (`data_sources=, solution_strs=, ground_truths=, extra_infos=`), which grades
it in parallel: a code step grades 1,024 or more responses, so it is the one to use. Both return a dict per response,
`score` (1.0 or 0.0) with `acc` and the verdict's rule, which verl logs beside the reward.

The ground truth is the gold answer (math) or the tests JSON (code); `extra_info` carries the domain and the grading
policy recorded at curation (`verify.policy.GradingPolicy`) and the row's own `time_limit_s`.
"""

from __future__ import annotations

from acecurate.rewards import grade


def _result(verdict) -> dict:
    score = 1.0 if verdict.correct else 0.0
    return {"score": score, "acc": score, "verdict": verdict.status, "rule": verdict.rule}


def _info(extra_info) -> dict:
    return extra_info if isinstance(extra_info, dict) else {}


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict:
    """One response, as verl's naive reward manager asks for it."""
    info = _info(extra_info)
    [verdict] = grade([info.get("domain")], [solution_str], [ground_truth], [info.get("grading")], [info.get("time_limit_s")])
    return _result(verdict)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos, **kwargs) -> list[dict]:
    """A rollout batch, as verl's batch reward manager asks for it, graded in parallel."""
    infos = [_info(e) for e in extra_infos]
    verdicts = grade(
        [i.get("domain") for i in infos],
        list(solution_strs),
        list(ground_truths),
        [i.get("grading") for i in infos],
        [i.get("time_limit_s") for i in infos],
    )
    return [_result(v) for v in verdicts]
