"""`acecurate train` on CPU: a tiny random Qwen2 model runs a math -> math -> code recipe for a few GRPO steps."""

import json
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("trl", reason="needs acecurate[train] (torch, transformers, trl)")

from acecurate.cli import app
from acecurate.pipeline import pipeline_from_dict, run_pipeline
from acecurate.sandbox import run_solution
from acecurate.train import load_recipe, plan
from acecurate.verify.math import grade
from acecurate.verify.policy import GradingPolicy

from .conftest import REPO, needs_bwrap, write_jsonl
from .tiny_model import build_tiny_model

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
    assert "rewards: require_think_close on, truncated completions wrong" in " ".join(result.output.split())


@needs_bwrap  # its code rows run in the sandbox
def test_two_domain_recipe_trains_filters_and_resumes(tmp_path):
    model = build_tiny_model(tmp_path / "tiny")
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
    assert (dirs[2] / "metrics.jsonl").exists()

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


def test_recipe_eval_runs_after_each_stage_and_is_logged(tmp_path):
    model = build_tiny_model(tmp_path / "tiny")
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
