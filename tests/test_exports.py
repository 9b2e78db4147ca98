"""`filter` -> `export` -> the trainer's reward: each shipped reward function, loaded the way its trainer loads it,
scores a correct and a wrong response of a math and a code row exactly as acecurate's own training reward does."""

import asyncio
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from acecurate.cli import app

from .conftest import REPO, needs_bwrap, write_jsonl
from .tiny_model import CHAT_TEMPLATE

pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")
runner = CliRunner()

MATH_ROWS = [
    {"id": "gauss", "problem": "What is the sum of the first $100$ positive integers?", "answer": "5050"},
    {"id": "half", "problem": "What is $\\frac{1}{2}$ of $10$?", "answer": "5"},
]
CODE_ROWS = [
    {
        "id": "sum-two",
        "problem": "Read two integers a and b from one line and print their sum.",
        "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "-5 5\n", "output": "0\n"}],
        "solutions": ["a, b = map(int, input().split())\nprint(a + b)\n"],
    }
]
# (row id, response, right?) -- R1-style responses: the reasoning is closed by </think>, the answer follows it.
RESPONSES = [
    ("gauss", "<think>pair 1 with 100: 50 pairs of 101</think> The sum is $\\boxed{5050}$.", True),
    ("gauss", "<think>about 100 times 50</think> The sum is $\\boxed{5000}$.", False),
    ("gauss", "<think>pair them up... so \\boxed{5050}? let me check", False),  # never closed its reasoning
    ("sum-two", "<think>read, add</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```", True),
    ("sum-two", "<think>read, subtract</think>\n```python\na, b = map(int, input().split())\nprint(a - b)\n```", False),
]
PIPELINES = {
    "math": "domain: math\nstages:\n  - dedup: {}\n  - answer-check: {}\n",
    "code": "domain: code\nstages:\n  - dedup: {}\n  - validate-tests: {time_limit_s: 3.0}\n",
}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A math and a code run curated with `acecurate filter`."""
    tmp = tmp_path_factory.mktemp("exports")
    for domain, rows in (("math", MATH_ROWS), ("code", CODE_ROWS)):
        (tmp / f"{domain}.yaml").write_text(PIPELINES[domain])
        src = write_jsonl(tmp / f"{domain}.jsonl", rows)
        result = runner.invoke(app, ["filter", str(src), "--pipeline", str(tmp / f"{domain}.yaml"), "--out", str(tmp / domain), "-w", "2"])
        assert result.exit_code == 0, result.output
    return tmp


def exported(curated, fmt: str) -> dict[str, list[dict]]:
    """Each domain's export in `fmt`, as its trainer's loader reads it, and the settings lines `export` printed."""
    from datasets import load_dataset

    rows = {}
    for domain in ("math", "code"):
        out = curated / f"{fmt}-{domain}"
        result = runner.invoke(app, ["export", str(curated / domain), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        file = next(p for p in out.iterdir() if p.name.startswith("train."))
        rows[domain] = load_dataset("parquet" if file.suffix == ".parquet" else "json", data_files=str(file), split="train").to_list()
        rows[domain + ":output"] = result.output
    return rows


def by_id(rows: dict, key) -> dict:
    return {key(r): r for domain in ("math", "code") for r in rows[domain]}


def acecurate_rewards(curated) -> list[float]:
    """What `acecurate train` rewards these responses with: its reward function on the rows it trains on."""
    from acecurate.io import read_parquet
    from acecurate.sampling import grpo_row
    from acecurate.train.rewards import RolloutLog, make_reward

    records = {r["id"]: r for d in ("math", "code") for r in read_parquet(curated / d / "data/train.parquet").to_dict("records")}
    rows = [grpo_row(records[i]["domain"], records[i]) for i, _, _ in RESPONSES]
    reward = make_reward(RolloutLog(curated / "rollouts.jsonl"), 4096, workers=2)
    try:
        columns = {k: [r[k] for r in rows] for k in ("domain", "answer", "tests", "prompt_id")}
        return asyncio.run(reward([[{"role": "assistant", "content": t}] for _, t, _ in RESPONSES], **columns))
    finally:
        reward.close()


@pytest.fixture(scope="module")
def expected(curated):
    rewards = acecurate_rewards(curated)
    assert rewards == [1.0 if right else 0.0 for _, _, right in RESPONSES]  # the graders themselves are right here
    return rewards


@needs_bwrap
def test_verl_reward_function_scores_as_acecurate_does(curated, expected):
    from acecurate.rewards import verl_reward

    rows = exported(curated, "verl")
    # Before: data_source was the file name (verl's default_compute_score raises NotImplementedError for it) and the
    # code ground truth was a tests JSON no verl scorer reads; now export names the reward function to use.
    output = rows["math:output"]
    assert f"custom_reward_function.path={Path(verl_reward.__file__).resolve()}" in output
    assert "reward.custom_reward_function.name=compute_score" in output
    row_of = by_id(rows, lambda r: r["extra_info"]["id"])
    calls = [
        dict(
            data_source=row_of[i]["data_source"],
            solution_str=t,
            ground_truth=row_of[i]["reward_model"]["ground_truth"],
            extra_info=row_of[i]["extra_info"],
        )
        for i, t, _ in RESPONSES
    ]
    # verl's naive manager: one call per response, by keyword, with the row's extra_info (it adds keys of its own)
    assert [verl_reward.compute_score(**c, **{})["score"] for c in calls] == expected
    # verl's batch manager: one call with the whole batch
    batch = verl_reward.compute_score_batch(
        data_sources=[c["data_source"] for c in calls],
        solution_strs=[c["solution_str"] for c in calls],
        ground_truths=[c["ground_truth"] for c in calls],
        extra_infos=[{**c["extra_info"], "rollout_reward_scores": {}} for c in calls],
    )
    assert [s["score"] for s in batch] == expected


def byte_tokenizer(directory: Path) -> Path:
    """A byte-level tokenizer with a chat template: every text round-trips exactly, as a real model's does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    return directory


VERL_LIBS = Path(sys.prefix) / "verl-libs"  # verl and the libraries its reward managers import (make test installs them)


@needs_bwrap
@pytest.mark.slow
@pytest.mark.skipif(not (VERL_LIBS / "verl").is_dir(), reason=f"verl is not installed in {VERL_LIBS} (make test installs it)")
def test_verls_own_reward_managers_score_the_export(curated, expected, tmp_path):
    """verl's reward managers (verl 0.9.1, from PyPI) on the exported rows: the current reward loop's naive manager,
    configured as a trainer would be, and the earlier naive and batch managers. verl's own dependencies pin an older
    transformers, so it lives in its own directory and runs in its own process."""
    import pandas as pd

    from acecurate.rewards import verl_reward

    exported(curated, "verl")
    both = pd.concat([pd.read_parquet(curated / f"verl-{d}/train.parquet") for d in ("math", "code")], ignore_index=True)
    both.to_parquet(tmp_path / "train.parquet")
    index = {extra["id"]: k for k, extra in enumerate(both["extra_info"])}
    (tmp_path / "responses.json").write_text(json.dumps([[index[i], text] for i, text, _ in RESPONSES]))
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests/verl_driver.py"),
            str(tmp_path / "train.parquet"),
            str(tmp_path / "responses.json"),
            str(Path(verl_reward.__file__).resolve()),
            str(byte_tokenizer(tmp_path / "tokenizer")),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(VERL_LIBS), "VERL_USE_EXTERNAL_PLUGINS": "none"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    scores = json.loads(done.stdout.strip().splitlines()[-1])
    assert scores == {"reward_loop_naive": expected, "naive": expected, "batch": expected}


@needs_bwrap
def test_openrlhf_reward_file_scores_as_acecurate_does(curated, expected, tmp_path):
    from transformers import AutoTokenizer

    from acecurate.rewards import openrlhf_reward

    rows = exported(curated, "openrlhf")
    assert f"--remote_rm_url {Path(openrlhf_reward.__file__).resolve()}" in rows["math:output"]
    # Loaded as OpenRLHF's SingleTurnAgentExecutor loads `--remote_rm_url FILE.py` (openrlhf/utils/agent.py)
    spec = importlib.util.spec_from_file_location("reward_func", str(Path(openrlhf_reward.__file__).resolve()))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tokenizer = AutoTokenizer.from_pretrained(byte_tokenizer(tmp_path / "tokenizer"))
    row_of = by_id(rows, lambda r: r["id"])
    scores = []
    for i, text, _ in RESPONSES:
        # --apply_chat_template: the prompt is the templated chat; the query is the prompt and response decoded as one
        # sequence with special tokens kept (an end-of-turn marker follows the response); one call per query
        prompt = tokenizer.apply_chat_template(row_of[i]["input"], add_generation_prompt=True, tokenize=False)
        ids = (
            tokenizer(prompt, add_special_tokens=False)["input_ids"] + tokenizer(text + "<|im_end|>", add_special_tokens=False)["input_ids"]
        )
        query = tokenizer.decode(ids, skip_special_tokens=False)
        result = module.reward_func([query], [prompt], [row_of[i]["label"]])
        assert set(result) == {"rewards", "scores", "extra_logs"}
        scores.append(float(result["rewards"][0]))
    assert scores == expected


@needs_bwrap
def test_trl_reward_function_scores_as_acecurate_does(curated, expected):
    from datasets import concatenate_datasets, load_dataset

    rows = exported(curated, "trl")
    assert "acecurate.rewards.trl_reward.acecurate_reward" in rows["math:output"]
    # One schema: math and code exports concatenate, with nulls of the right type (not "" or NaN)
    both = concatenate_datasets(
        [load_dataset("parquet", data_files=str(curated / f"trl-{d}/train.parquet"), split="train") for d in ("math", "code")]
    )
    assert both.features["answer"].dtype == "string" and both.features["tests"].dtype == "string"
    code_row = next(r for r in both if r["domain"] == "code")
    math_row = next(r for r in both if r["domain"] == "math")
    assert code_row["answer"] is None and math_row["tests"] is None and json.loads(code_row["tests"])["format"] == "stdin"
    # Loaded as `trl grpo --reward_funcs MODULE.FUNCTION` loads it (trl/scripts/grpo.py), called as GRPOTrainer calls
    # reward functions: the completions and every other column by name
    module_path, name = ["acecurate.rewards.trl_reward", "acecurate_reward"]
    reward = getattr(importlib.import_module(module_path), name)
    row_of = {r["id"]: r for r in both}
    inputs = [row_of[i] for i, _, _ in RESPONSES]
    columns = {k: [r[k] for r in inputs] for k in inputs[0] if k not in ("prompt", "completion")}
    completions = [[{"role": "assistant", "content": t}] for _, t, _ in RESPONSES]
    assert (
        reward(prompts=[r["prompt"] for r in inputs], completions=completions, completion_ids=None, trainer_state=None, **columns)
        == expected
    )


def test_the_recorded_grading_policy_travels_with_every_row(curated):
    from acecurate.export import recorded_policy
    from acecurate.verify.policy import GradingPolicy

    policy = recorded_policy(curated / "code")
    # the code run validated its references under 3 s per test: its rewards run the sandbox under the same limit
    assert policy.time_limit_s == 3.0 and policy.require_think_close is True
    rows = exported(curated, "verl")
    assert all(GradingPolicy.from_dict(json.loads(r["extra_info"]["grading"])) == policy for r in rows["code"])
    # each code row carries its own limit, measured from its references, no higher than the policy's
    assert all(0 < r["extra_info"]["time_limit_s"] <= 3.0 for r in rows["code"])
