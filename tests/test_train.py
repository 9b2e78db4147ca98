"""`acecurate train` on CPU: a tiny random Qwen2 model runs a math -> math -> code recipe for a few GRPO steps."""

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("trl", reason="needs acecurate[train] (torch, transformers, trl)")

from acecurate.cli import app
from acecurate.pipeline import pipeline_from_dict, run_pipeline
from acecurate.sampling import build_prompt, prompt_id
from acecurate.sandbox import run_solution
from acecurate.train import load_recipe, plan
from acecurate.verify.math import grade
from acecurate.verify.policy import GradingPolicy

from .conftest import REPO, needs_bwrap, write_jsonl

runner = CliRunner()


def curated(tmp_path, domain, rows):
    src = write_jsonl(tmp_path / f"{domain}.jsonl", rows)
    out = tmp_path / f"curated-{domain}"
    run_pipeline(pipeline_from_dict({"name": domain, "domain": domain, "stages": [{"dedup": {}}]}, "t"), [str(src)], out, write_card=False)
    return out


def tiny_recipe(path, model, stages: list[dict], **extra):
    """A recipe for the tiny model on CPU: small batches, no vLLM."""
    recipe = {
        "model": str(model),
        "per_device_batch_size": 4,
        "bf16": False,
        "grading": {"require_think_close": False},  # the tiny model's chat template opens no <think>
        "generation": {"use_vllm": False, "vllm_importance_sampling_correction": False},
        "stages": stages,
        **extra,
    }
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_dry_run_prints_the_papers_plan(tmp_path):
    recipe = load_recipe(REPO / "pipelines/acereason-7b.yaml")
    names = [s.name for s in recipe.stages]
    assert names == ["math-8k", "math-16k", "math-24k", "code-24k", "code-32k", "math-32k"]
    assert [s.max_response_tokens for s in recipe.stages] == [8192, 16384, 24576, 24576, 32768, 32768]
    assert [s.rollouts for s in recipe.stages] == [8, 16, 16, 8, 16, 16]
    assert {s.learning_rate for s in recipe.stages if s.domain == "math"} == {1e-6}
    assert {s.learning_rate for s in recipe.stages if s.domain == "code"} == {5e-6}
    assert [(s.easy_filter.max_solved, s.easy_filter.out_of) for s in recipe.stages if s.name in ("math-24k", "math-32k")] == [(6, 16)] * 2
    assert [s.overlong_masking for s in recipe.stages] == [True, True, True, True, False, False]
    assert recipe.grading.require_think_close  # R1-style policy: a completion without </think> earns no reward
    assert recipe.grading.truncated == "wrong"  # a truncated completion earns nothing, as it counts in eval and difficulty
    for p in plan(recipe, out=tmp_path):
        args = p.trl_args
        assert (args["loss_type"], args["beta"], args["num_iterations"], args["entropy_coef"]) == ("dapo", 0.0, 1, 0.0)
        assert args["steps_per_generation"] == args["gradient_accumulation_steps"]
        assert args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] * recipe.num_processes == 128 * p.stage.rollouts
    math_dir = curated(tmp_path, "math", [{"problem": f"Compute {i} + {i}.", "answer": str(2 * i)} for i in range(300)])
    result = runner.invoke(
        app, ["train", "--recipe", str(REPO / "pipelines/acereason-7b.yaml"), "--math", str(math_dir), "--dry-run"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "math-8k" in result.output and "math-32k" in result.output and "loss_type=dapo" in result.output
    assert "300" in result.output  # dataset size after filtering
    assert "importance-sampling correction on" in " ".join(result.output.split())
    said = " ".join(result.output.split())
    assert "rewards: require_think_close on, truncated completions wrong" in said
    assert (
        "math-8k, math-16k, math-24k, code-24k, code-32k, math-32k: temperature chosen at run time: of 0.6, 0.7, 0.8, 0.9, 1, "
        "the one whose token entropy on 16 pilot prompts is closest to 0.3" in said
    )
    assert "code-24k, code-32k: after each epoch, prompts that every rollout of that epoch solved are dropped" in said


def train_lines(metrics_path) -> list[dict]:
    """The per-step training lines of a stage's metrics.jsonl (not its epoch or eval lines)."""
    return [line for line in map(json.loads, metrics_path.read_text().splitlines()) if "reward" in line]


@pytest.mark.slow
@needs_bwrap  # its code rows run in the sandbox
def test_two_domain_recipe_trains_filters_and_resumes(tiny_model, tmp_path):
    model = tiny_model
    math_dir = curated(tmp_path, "math", [{"problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(6)])
    code_dir = curated(
        tmp_path,
        "code",
        [
            {"problem": f"Print one ({i}).", "tests": [{"input": "", "output": "1\n", "testtype": "stdin"}], "solutions": ["print(1)"]}
            for i in range(4)
        ],
    )
    small = {"rollouts": 2, "prompts_per_batch": 2, "max_response_tokens": 24, "temperature": 1.0, "learning_rate": 1e-3}
    stages = [
        {"name": "math-a", "domain": "math", "steps": 2, **small},
        {"name": "math-b", "domain": "math", "steps": 1, "easy_filter": {"max_solved": 0, "out_of": 2}, **small},
        {"name": "code", "domain": "code", "steps": 2, **small},
    ]
    recipe_path = tiny_recipe(tmp_path / "recipe.yaml", model, stages, save_steps=1)
    out = tmp_path / "run"
    command = ["train", "--recipe", str(recipe_path), "--math", str(math_dir), "--code", str(code_dir), "--out", str(out)]
    wide = {"COLUMNS": "200"}
    result = runner.invoke(app, command, env=wide)
    assert result.exit_code == 0, result.output
    dirs = [out / "00-math-a", out / "01-math-b", out / "02-code"]
    done = [json.loads((d / "done.json").read_text()) for d in dirs]
    started = [json.loads((d / "stage.json").read_text()) for d in dirs]

    # Each stage starts from the previous stage's final weights.
    assert started[0]["init_from"] == str(model)
    for i in (1, 2):
        assert started[i]["init_from"] == str(dirs[i - 1] / "final")
        assert started[i]["init_weights"] == done[i - 1]["final_weights"]
    assert done[0]["final_weights"] != started[0]["init_weights"]  # training changed the weights

    # The easy-prompt filter removed exactly the prompts that math-a's logged rollouts solved.
    rollouts_a = pd.read_json(dirs[0] / "rollouts.jsonl", lines=True)
    solved = set(rollouts_a.groupby("prompt_id")["reward"].mean().loc[lambda r: r > 0].index)
    assert started[1]["dropped"]["too_easy"] == len(solved)
    rollouts_b = pd.read_json(dirs[1] / "rollouts.jsonl", lines=True)
    assert not (set(rollouts_b["prompt_id"]) & solved)

    # Rewards came from the real math grader and the real sandbox: regrade every logged completion (a truncated one
    # scores nothing, whatever it boxed).
    for _, r in rollouts_a.iterrows():
        verdict = grade(r["completion"], "4", require_think_close=False)
        expected = (0.0, "truncated", "truncated") if r["truncated"] else (float(verdict.correct), verdict.status, verdict.rule)
        assert (r["reward"], r["status"], r["rule"]) == expected
        assert r["policy"] == GradingPolicy(require_think_close=False).to_dict()
    rollouts_code = pd.read_json(dirs[2] / "rollouts.jsonl", lines=True)
    from acecurate.verify.responses import extract_code

    tests = {"format": "stdin", "cases": [{"input": "", "output": "1\n"}]}
    for _, r in rollouts_code.iterrows():
        code = extract_code(r["completion"], require_think_close=False)
        assert r["reward"] == (float(run_solution(code, tests).passed) if code and not r["truncated"] else 0.0)
    # Every step's time is split into generation, reward grading and update, beside TRL's entropy.
    for d in dirs:
        for line in train_lines(d / "metrics.jsonl"):
            assert line["temperature"] == 1.0 and line["entropy"] > 0
            assert line["time/generation"] > 0 and line["time/reward"] > 0 and line["time/update"] > 0, line

    # A rerun skips finished stages; an unfinished stage resumes from its last checkpoint.
    again = runner.invoke(app, command, env=wide)
    assert again.exit_code == 0 and again.output.count("already finished") == 3, again.output
    (dirs[2] / "done.json").unlink()
    shutil.rmtree(dirs[2] / "final")
    shutil.rmtree(dirs[2] / "checkpoints" / "checkpoint-2")
    resumed = runner.invoke(app, command, env=wide)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((dirs[2] / "stage.json").read_text())["resumed_from"] == "checkpoint-1"
    assert json.loads((dirs[2] / "done.json").read_text())["steps"] == 2
    # The lost step was graded and logged again, once: no reward is missing or counted twice.
    steps = pd.read_json(dirs[2] / "rollouts.jsonl", lines=True)["step"]
    assert steps.value_counts().sort_index().to_dict() == {1: 4, 2: 4}
    assert [line["step"] for line in train_lines(dirs[2] / "metrics.jsonl")] == [1, 2]
    # Killed after its last checkpoint, before done.json: the rerun trains nothing and takes that checkpoint's weights.
    final_weights = json.loads((dirs[2] / "done.json").read_text())["final_weights"]
    (dirs[2] / "done.json").unlink()
    shutil.rmtree(dirs[2] / "final")
    assert runner.invoke(app, command, env=wide).exit_code == 0
    assert json.loads((dirs[2] / "done.json").read_text())["final_weights"] == final_weights
    assert len(pd.read_json(dirs[2] / "rollouts.jsonl", lines=True)) == 8


@pytest.mark.slow
def test_recipe_eval_runs_after_each_stage_and_is_logged(tiny_model, tmp_path):
    model = tiny_model
    math_dir = curated(tmp_path, "math", [{"problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(4)])
    bench = write_jsonl(tmp_path / "held-out.jsonl", [{"id": f"h{i}", "problem": f"Add {i} and {4 - i}.", "answer": "4"} for i in range(3)])
    small = {"rollouts": 2, "prompts_per_batch": 2, "max_response_tokens": 16, "temperature": 1.0, "learning_rate": 1e-3}
    recipe_path = tiny_recipe(
        tmp_path / "recipe.yaml",
        model,
        [{"name": "math-a", "domain": "math", "steps": 1, **small}, {"name": "math-b", "domain": "math", "steps": 1, **small}],
        eval={"bench_files": [str(bench)], "samples": 2, "sampler": {"backend": "transformers", "max_tokens": 16}},
    )
    out = tmp_path / "run"
    command = ["train", "--recipe", str(recipe_path), "--math", str(math_dir), "--out", str(out)]
    wide = {"COLUMNS": "200"}
    dry = runner.invoke(app, [*command, "--dry-run"], env=wide)
    assert dry.exit_code == 0 and "after each stage: eval on " in dry.output and "2 samples per problem" in dry.output, dry.output
    result = runner.invoke(app, command, env=wide)
    assert result.exit_code == 0, result.output
    for stage in ("00-math-a", "01-math-b"):
        results = json.loads((out / stage / "eval/results.json").read_text())
        assert results["model"] == str(out / stage / "final")  # the stage's own final weights
        lines = [json.loads(line) for line in (out / stage / "metrics.jsonl").read_text().splitlines()]
        evals = [line for line in lines if "eval" in line]
        assert len(evals) == 1 and evals[0]["step"] == 1
        scores = results["benchmarks"]["held-out"]["scores"]
        assert evals[0]["eval"]["held-out"] == {"avg": scores["avg"], "se": scores["se"], "k": 2, "truncated": scores["truncated"]}
        assert any("reward" in line for line in lines)  # beside the training metrics
    assert "math-a eval after step 1: held-out avg@2" in " ".join(result.output.split())
    # A stage killed during its eval: the rerun evaluates it again (from the stored samples) without training it again.
    (out / "01-math-b/eval/results.json").unlink()
    again = runner.invoke(app, command, env=wide)
    assert again.exit_code == 0 and again.output.count("already finished") == 2, again.output
    rerun = json.loads((out / "01-math-b/eval/results.json").read_text())
    assert rerun["samples_generated"] == 0 and rerun["samples_reused"] == 6
    assert len([line for line in (out / "00-math-a/metrics.jsonl").read_text().splitlines() if '"eval"' in line]) == 1


@pytest.mark.slow
def test_target_entropy_chooses_the_temperature_whose_entropy_is_nearest(tiny_model, tmp_path):
    # The tiny random model's token entropy is about 3.2 at temperature 1 and far lower at 0.05: a target of 0.3
    # must pick 0.05, a target of 3 must pick 1.0, and training must then show TRL's own entropy near the target.
    math_dir = curated(tmp_path, "math", [{"problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(4)])
    # Overlong masking off: with it, TRL's entropy leaves truncated completions out, and at 0.05 all of them are.
    small = {"rollouts": 2, "prompts_per_batch": 2, "max_response_tokens": 16, "learning_rate": 1e-3, "steps": 1, "overlong_masking": False}
    pilot = {"temperatures": [1.0, 0.05], "prompts": 4, "max_tokens": 16}
    stages = [
        {"name": "low", "domain": "math", "target_entropy": 0.3, "entropy_pilot": pilot, **small},
        {"name": "high", "domain": "math", "target_entropy": 3.0, "entropy_pilot": pilot, **small},
    ]
    command = [
        "train",
        "--recipe",
        str(tiny_recipe(tmp_path / "r.yaml", tiny_model, stages)),
        "--math",
        str(math_dir),
        "--out",
        str(tmp_path / "run"),
    ]
    dry = runner.invoke(app, [*command, "--dry-run"], env={"COLUMNS": "200"})
    assert dry.exit_code == 0 and "low: temperature chosen at run time" in dry.output and "auto" in dry.output, dry.output
    result = runner.invoke(app, command, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name, target, expected in (("00-low", 0.3, 0.05), ("01-high", 3.0, 1.0)):
        schedule = json.loads((tmp_path / "run" / name / "schedule.json").read_text())
        entropy = {m["temperature"]: m["entropy"] for m in schedule["pilot"]}
        assert entropy[0.05] < entropy[1.0] - 1.0  # the two candidates differ
        assert schedule["temperature"] == expected and schedule["target_entropy"] == target
        (other,) = set(entropy) - {expected}
        [line] = train_lines(tmp_path / "run" / name / "metrics.jsonl")
        assert line["temperature"] == expected
        # TRL measured the trained policy's entropy at the chosen temperature: nearer the target than the other
        # candidate, and close to what the pilot measured (the pilot measures what TRL logs).
        assert abs(line["entropy"] - target) < abs(entropy[other] - target)
        assert abs(line["entropy"] - entropy[expected]) < 0.25 * abs(entropy[1.0] - entropy[0.05])
        assert json.loads((tmp_path / "run" / name / "stage.json").read_text())["trl_args"]["temperature"] == expected


CODE_BLOCK = "```python\nprint(1)\n```"  # one token of the tiny model's vocabulary


@pytest.fixture(scope="module")
def prints_one(tiny_model, tmp_path_factory):
    """The tiny model, fine-tuned to answer every code prompt with a code block that prints 1 (and stop): a policy
    that solves a problem expecting 1 on every rollout, and never one expecting 2."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from acecurate.sampling import grpo_row

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    prompts = [grpo_row("code", {"problem": f"Print a number ({i})."})["prompt"] for i in range(4)]
    encoded = tokenizer.apply_chat_template(prompts, add_generation_prompt=True, return_tensors="pt", return_dict=True, padding=True)
    target = torch.tensor(tokenizer(CODE_BLOCK, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]).expand(len(prompts), -1)
    ids = torch.cat([encoded["input_ids"], target], 1)
    labels = torch.cat([torch.full_like(encoded["input_ids"], -100), target], 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-2)
    for _ in range(20):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    directory = tmp_path_factory.mktemp("prints-one")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def latest_complete_checkpoint(directory):
    from acecurate.train.epochs import latest_checkpoint

    found = latest_checkpoint(directory / "checkpoints")
    return int(found.name.split("-")[1]) if found else 0


@pytest.mark.slow
@needs_bwrap
def test_code_stage_refilters_each_epoch_and_a_killed_stage_keeps_its_temperature_and_prompts(prints_one, tmp_path):
    # Two problems expect 1 (every rollout solves them), four expect 2 (none does): epoch 1 trains on the six (three
    # steps), then the filter must drop exactly the two, and epoch 2 trains on the four (two steps). The stage is
    # killed (SIGKILL) once the first step of epoch 2 is checkpointed, and run again.
    problems = [("1", i) for i in range(2)] + [("2", i) for i in range(4)]
    code_dir = curated(
        tmp_path,
        "code",
        [
            {"problem": f"Print a number ({i}, {want}).", "tests": [{"input": "", "output": f"{want}\n", "testtype": "stdin"}]}
            for want, i in problems
        ],
    )
    stage = {
        "name": "code",
        "domain": "code",
        "epochs": 2,
        "rollouts": 2,
        "prompts_per_batch": 2,
        "max_response_tokens": 8,
        "learning_rate": 1e-4,
        "target_entropy": 0.05,  # the fine-tuned policy: about 0.001 at temperature 1, far more at 3
        "entropy_pilot": {"temperatures": [1.0, 3.0], "prompts": 4, "max_tokens": 8},
        "drop_solved_each_epoch": True,
    }
    recipe = tiny_recipe(tmp_path / "r.yaml", prints_one, [stage], save_steps=1, reward_workers=2)
    out = tmp_path / "run"
    stage_dir = out / "00-code"
    command = ["train", "--recipe", str(recipe), "--code", str(code_dir), "--out", str(out)]
    killed_output = tmp_path / "killed-run.txt"
    with killed_output.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "acecurate.cli", *command],
            env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
            stdout=handle,
            stderr=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline and latest_complete_checkpoint(stage_dir) < 4:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = latest_complete_checkpoint(stage_dir)
    assert killed_at == 4, f"killed at step {killed_at}"  # within epoch 2, planned before the kill
    before = json.loads((stage_dir / "schedule.json").read_text())
    assert not (stage_dir / "done.json").exists()

    result = runner.invoke(app, command, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    after = json.loads((stage_dir / "schedule.json").read_text())
    assert json.loads((stage_dir / "stage.json").read_text())["resumed_from"] == f"checkpoint-{killed_at}"
    # The same temperature, and the same prompts and order for the epochs planned before the kill.
    assert (after["temperature"], after["pilot"]) == (before["temperature"], before["pilot"]) and after["temperature"] == 1.0
    assert after["epochs"][: len(before["epochs"])] == before["epochs"]
    epochs = after["epochs"]
    assert [(e["first_step"], e["steps"], e["prompts"]) for e in epochs] == [(0, 3, 6), (3, 2, 4)]

    rollouts = pd.read_json(stage_dir / "rollouts.jsonl", lines=True)
    # Every update's rollouts logged exactly once, the killed step's included.
    assert rollouts["step"].value_counts().sort_index().to_dict() == {step: 4 for step in range(1, 6)}
    for previous, current in itertools.pairwise(epochs):
        in_epoch = rollouts[(rollouts["step"] > previous["first_step"]) & (rollouts["step"] <= previous["first_step"] + previous["steps"])]
        solved = set(in_epoch.groupby("prompt_id")["reward"].min().loc[lambda r: r == 1.0].index)
        assert set(current["dropped_solved"]) == solved  # exactly the prompts every rollout of the epoch solved
        later = rollouts[rollouts["step"] > current["first_step"]]
        assert not set(later["prompt_id"]) & solved
    expects_one = {prompt_id(build_prompt("code", f"Print a number ({i}, 1).")) for i in range(2)}
    assert set(epochs[1]["dropped_solved"]) == expects_one
    metrics = [json.loads(line) for line in (stage_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["dropped_solved"] for m in metrics if "epoch" in m] == [0, 2]
    assert [m["step"] for m in metrics if "reward" in m] == list(range(1, 6))
    assert {m["temperature"] for m in metrics if "reward" in m} == {1.0}
    said = " ".join((killed_output.read_text() + result.output).split())
    assert said.count("epoch 2: 4 prompts, 2 steps; 2 dropped, solved by every rollout of epoch 1") == 1, said
