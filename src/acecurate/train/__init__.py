"""`acecurate train`: the staged math-then-code GRPO recipe over TRL's GRPOTrainer.

Each stage builds a new trainer from the previous stage's final weights, with its own response length, group size,
learning rate and temperature. Every stage is token-level (`loss_type="dapo"`), has no KL term (`beta=0`), no entropy
bonus, and takes exactly one optimizer step per rollout batch (`num_iterations=1`, `steps_per_generation` equal to the
accumulation steps), so training stays on-policy. torch and trl are imported only when training runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AcecurateError, missing_extra
from ..io import read_parquet, write_json
from ..sampling import build_prompt, grpo_row, prompt_id
from .recipe import Recipe, TrainStage, load_recipe  # noqa: F401


@dataclass
class StagePlan:
    index: int
    stage: TrainStage
    directory: Path
    prompts_available: int  # curated prompts of the stage's domain (length and easy filters apply at run time)
    max_steps: int | None
    trl_args: dict
    easy_filter_source: str  # where the easy-prompt filter gets its pass rates

    @property
    def estimated_rollouts(self) -> int | None:
        return self.max_steps * self.stage.prompts_per_batch * self.stage.rollouts if self.max_steps is not None else None


def load_curated(directory: str | Path | None, domain: str):
    """The curated dataset of a run directory (`data/train.parquet`), or None when not given."""
    if directory is None:
        return None
    path = Path(directory) / "data" / "train.parquet"
    if not path.exists():
        raise AcecurateError(f"{path}: no curated {domain} dataset here (run `acecurate filter ... --out {directory}` first)")
    frame = read_parquet(path)
    return frame[frame["domain"] == domain].reset_index(drop=True)


def unverified_tests(frame) -> int:
    """Code prompts whose tests nothing has checked (`tests_verified: false`: no reference and no sampled model passed)."""
    return int(frame["tests_verified"].eq(False).sum()) if frame is not None and "tests_verified" in frame else 0


def curated_data(recipe: Recipe, math_dir, code_dir) -> dict:
    """The curated prompts of each domain that the recipe trains on: code prompts with unverified tests only when
    `include_unverified_tests` is on (the paper trained on verified tests only)."""
    data = {"math": load_curated(math_dir, "math"), "code": load_curated(code_dir, "code")}
    if data["code"] is not None and not recipe.include_unverified_tests and unverified_tests(data["code"]):
        data["code"] = data["code"][data["code"]["tests_verified"].ne(False)].reset_index(drop=True)
    return data


def batch_shape(recipe: Recipe, stage: TrainStage) -> tuple[int, int]:
    """(per-device micro-batch, accumulation steps) so that one optimizer step sees exactly one rollout batch."""
    completions = stage.prompts_per_batch * stage.rollouts
    per_device = min(recipe.per_device_batch_size, completions // recipe.num_processes)
    if completions % (per_device * recipe.num_processes):
        raise AcecurateError(
            f"stage {stage.name}: {completions} completions per step do not split into micro-batches of "
            f"{per_device} on {recipe.num_processes} process(es)"
        )
    return per_device, completions // (per_device * recipe.num_processes)


def trl_arguments(recipe: Recipe, stage: TrainStage, output_dir: Path, max_steps: int, on_gpu: bool) -> dict:
    per_device, accumulation = batch_shape(recipe, stage)
    args = {
        "output_dir": str(output_dir),
        "learning_rate": stage.learning_rate,
        "lr_scheduler_type": "constant",
        "optim": "adamw_torch",
        "weight_decay": 0.0,
        "num_generations": stage.rollouts,
        "max_completion_length": stage.max_response_tokens,
        "temperature": stage.temperature,
        "top_p": stage.top_p,
        "loss_type": "dapo",
        "beta": 0.0,
        "num_iterations": 1,
        "entropy_coef": 0.0,
        "mask_truncated_completions": stage.overlong_masking,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        "steps_per_generation": accumulation,  # one generation batch = one optimizer step: strictly on-policy
        "max_steps": max_steps,
        "save_strategy": "steps",
        "save_steps": recipe.save_steps,
        "logging_steps": 1,
        "report_to": recipe.report_to or "none",
        "seed": recipe.seed,
        "disable_dropout": True,
        "bf16": recipe.bf16 and on_gpu,
        "use_cpu": not on_gpu,
        "use_vllm": recipe.generation.use_vllm and on_gpu,
    }
    if args["use_vllm"]:
        g = recipe.generation
        args.update(
            vllm_mode=g.vllm_mode,
            vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
            vllm_tensor_parallel_size=g.vllm_tensor_parallel_size,
            vllm_importance_sampling_correction=g.vllm_importance_sampling_correction,
            vllm_importance_sampling_cap=g.vllm_importance_sampling_cap,
        )
        if g.vllm_mode == "server" and g.vllm_server_base_url:
            args["vllm_server_base_url"] = g.vllm_server_base_url
    return args


def easy_filter_source(stage: TrainStage, frame, seen_domains: set[str]) -> str:
    """Where a stage's easy-prompt filter gets its pass rates, said plainly, including when it has none."""
    if stage.easy_filter is None:
        return "none"
    if stage.domain in seen_domains:
        return f"the pass rates of the previous {stage.domain} stage's rollouts"
    if frame is not None and has_pass_counts(frame):
        return "the pass_count of the curated dataset"
    return (
        f"no pass rates: the curated {stage.domain} dataset has no pass_count (run its difficulty stage with a model), "
        "so the filter is skipped in this stage"
    )


def plan(
    recipe: Recipe, math_dir=None, code_dir=None, out: str | Path = "runs/train", on_gpu: bool = False, data: dict | None = None
) -> list[StagePlan]:
    """The resolved plan: one entry per stage, with its dataset size, TRL settings and the estimated rollouts."""
    data = data or curated_data(recipe, math_dir, code_dir)
    plans, seen_domains = [], set()
    for index, stage in enumerate(recipe.stages):
        frame = data[stage.domain]
        available = len(frame) if frame is not None else 0
        max_steps = (
            stage.steps
            if stage.steps is not None
            else (math.ceil(stage.epochs * available / stage.prompts_per_batch) if available else None)
        )
        directory = Path(out) / f"{index:02d}-{stage.name}"
        source = easy_filter_source(stage, frame, seen_domains)
        plans.append(
            StagePlan(
                index,
                stage,
                directory,
                available,
                max_steps,
                trl_arguments(recipe, stage, directory / "checkpoints", max_steps or 0, on_gpu),
                source,
            )
        )
        seen_domains.add(stage.domain)
    return plans


def stage_dataset(frame, stage: TrainStage, tokenizer, recipe: Recipe, pass_rates: dict[str, float] | None):
    """Chat prompts for a stage, without prompts that are too long or that the policy already solves too often."""
    rows, dropped = [], {"prompt_too_long": 0, "too_easy": 0}
    limit = stage.easy_filter.max_solved / stage.easy_filter.out_of if stage.easy_filter else None
    for record in frame.to_dict("records"):
        row = grpo_row(stage.domain, record)
        if len(tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True)) > recipe.max_prompt_tokens:
            dropped["prompt_too_long"] += 1
            continue
        if limit is not None and pass_rates is not None and pass_rates.get(row["prompt_id"], 0.0) > limit:
            dropped["too_easy"] += 1
            continue
        rows.append(row)
    return rows, dropped


def rollout_pass_rates(stage_dir: Path) -> dict[str, float]:
    """Mean reward per prompt id in a finished stage's rollout log."""
    totals: dict[str, list[float]] = {}
    path = stage_dir / "rollouts.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            totals.setdefault(record["prompt_id"], []).append(record["reward"])
    return {pid: sum(r) / len(r) for pid, r in totals.items()}


def has_pass_counts(frame) -> bool:
    """Whether the curated difficulty stage ran (its columns are present and not all null)."""
    return "pass_count" in frame and "n_samples" in frame and not frame["pass_count"].isna().all()


def curated_pass_rates(frame, domain: str) -> dict[str, float] | None:
    """Pass rates from the curated difficulty stage, or None when it did not run."""
    if not has_pass_counts(frame):
        return None
    return {
        prompt_id(build_prompt(domain, p, s)): c / n
        for p, s, c, n in zip(frame["problem"], frame.get("starter_code", [None] * len(frame)), frame["pass_count"], frame["n_samples"])
        if n
    }


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]


def run(recipe: Recipe, math_dir=None, code_dir=None, out: str | Path = "runs/train", console=None) -> list[dict]:
    """Train every stage in order. Finished stages are skipped; an unfinished one resumes from its last checkpoint."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        raise missing_extra("torch, transformers and trl", "train") from None
    from ..sandbox.executor import configure
    from .callbacks import MetricsCallback
    from .rewards import RolloutLog, make_reward, stop_token_ids

    configure(recipe.sandbox)
    on_gpu = torch.cuda.is_available()
    out = Path(out)
    data = curated_data(recipe, math_dir, code_dir)
    plans = plan(recipe, math_dir, code_dir, out, on_gpu, data=data)
    if recipe.eval is not None:
        from ..eval import load_benchmarks

        load_benchmarks(recipe.eval)  # a benchmark that cannot be read stops the run now, not after a stage of training
    model_path, results, last_dir_of_domain = recipe.model, [], {}
    for p in plans:
        done = p.directory / "done.json"
        if done.exists():
            finished = json.loads(done.read_text())
            model_path = str(p.directory / "final")
            if recipe.eval is not None and not (p.directory / "eval" / "results.json").exists():
                finished["eval"] = evaluate_stage(recipe, p, model_path, finished["steps"], console)  # killed during its eval
            results.append({**finished, "skipped": True})
            last_dir_of_domain[p.stage.domain] = p.directory
            continue
        frame = data[p.stage.domain]
        if frame is None or frame.empty:
            raise AcecurateError(f"stage {p.stage.name} trains on {p.stage.domain} but no curated {p.stage.domain} data was given")
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        if p.stage.domain in last_dir_of_domain:
            pass_rates = rollout_pass_rates(last_dir_of_domain[p.stage.domain])
        else:
            pass_rates = curated_pass_rates(frame, p.stage.domain)
        if p.stage.easy_filter and pass_rates is None:
            warnings.warn(f"stage {p.stage.name}: the easy-prompt filter has {p.easy_filter_source}", stacklevel=1)
            if console is not None:
                console.print(f"[yellow]warning[/]: stage {p.stage.name}: the easy-prompt filter has {p.easy_filter_source}")
        rows, dropped = stage_dataset(frame, p.stage, tokenizer, recipe, pass_rates if p.stage.easy_filter else None)
        if not rows:
            raise AcecurateError(f"stage {p.stage.name}: no prompts left after filtering ({dropped})")
        from datasets import Dataset

        max_steps = p.max_steps or math.ceil(p.stage.epochs * len(rows) / p.stage.prompts_per_batch)
        args = GRPOConfig(**{**p.trl_args, "max_steps": max_steps})
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if args.bf16 else torch.float32)
        start_digest = weights_digest(model)
        reward = make_reward(
            RolloutLog(p.directory / "rollouts.jsonl"),
            p.stage.max_response_tokens,
            workers=recipe.reward_workers or os.cpu_count() or 1,
            policy=recipe.grading,
            stop_ids=stop_token_ids(model, tokenizer),
        )
        checkpoints = sorted(p.directory.glob("checkpoints/checkpoint-*"), key=lambda c: int(c.name.split("-")[1]))
        write_json(
            p.directory / "stage.json",
            {
                "stage": asdict(p.stage),
                "init_from": model_path,
                "init_weights": start_digest,
                "prompts": len(rows),
                "dropped": dropped,
                "easy_filter_source": p.easy_filter_source,
                "resumed_from": checkpoints[-1].name if checkpoints else None,
                "trl_args": p.trl_args,
                "grading": recipe.grading.to_dict(),
            },
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            callbacks=[MetricsCallback(p.stage.name, p.directory / "metrics.jsonl", console)],
        )
        try:
            trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
        finally:
            reward.close()
        final = p.directory / "final"
        trainer.save_model(str(final))
        tokenizer.save_pretrained(str(final))
        summary = {
            "stage": p.stage.name,
            "steps": trainer.state.global_step,
            "prompts": len(rows),
            "dropped": dropped,
            "init_from": model_path,
            "init_weights": start_digest,
            "final_weights": weights_digest(trainer.model),
            "resumed_from": checkpoints[-1].name if checkpoints else None,
        }
        write_json(done, summary)  # written last: the stage is finished only when this exists
        del trainer, model
        if recipe.eval is not None:
            _free_accelerator_memory(torch)
            summary["eval"] = evaluate_stage(recipe, p, str(final), summary["steps"], console)
        results.append(summary)
        model_path = str(final)
        last_dir_of_domain[p.stage.domain] = p.directory
    return results


def _free_accelerator_memory(torch) -> None:
    """Release what the finished trainer held, so that the stage's evaluation can start its own engine."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def evaluate_stage(recipe: Recipe, p: StagePlan, model_path: str, step: int, console=None) -> dict | None:
    """The recipe's `eval:` on a finished stage's model, in NN-stage/eval/ (resumable like any eval), logged as one
    line {"step", "eval": {benchmark: {avg, se, k, truncated}}} in the stage's metrics.jsonl. Only the main process
    evaluates; the others wait for it."""
    from dataclasses import replace

    from accelerate import PartialState

    from ..eval import run_eval

    state = PartialState()
    scores = None
    if state.is_main_process:
        # The stage's model is graded as its rewards were: under the recipe's grading policy.
        config = replace(recipe.eval, sampler=replace(recipe.eval.sampler, model=model_path), grading=recipe.grading)
        results = run_eval(
            config,
            p.directory / "eval",
            workers=recipe.reward_workers or os.cpu_count() or 1,
            command=f"acecurate train: after stage {p.stage.name}",
        )
        scores = {
            name: {
                "avg": b["scores"]["avg"],
                "se": b["scores"]["se"],
                "k": b["scores"]["samples_per_problem"],
                "truncated": b["scores"]["truncated"],
            }
            for name, b in results["benchmarks"].items()
        }
        with (p.directory / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": step, "eval": scores}) + "\n")
        if console is not None:
            shown = "  ".join(f"{name} avg@{s['k']} {100 * s['avg']:.1f}" for name, s in scores.items())
            console.print(f"[bold]{p.stage.name}[/] eval after step {step}: {shown}")
    state.wait_for_everyone()
    return scores
