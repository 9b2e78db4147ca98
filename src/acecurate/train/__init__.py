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


def trl_arguments(recipe: Recipe, stage: TrainStage, output_dir: Path, max_steps: int, on_gpu: bool, bf16_supported: bool) -> dict:
    """GRPOConfig's arguments for a stage. The temperature is None for a stage that chooses it at run time."""
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
        "bf16": recipe.bf16 and bf16_supported,
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
    recipe: Recipe,
    math_dir=None,
    code_dir=None,
    out: str | Path = "runs/train",
    on_gpu: bool = False,
    data: dict | None = None,
    bf16_supported: bool | None = None,
) -> list[StagePlan]:
    """The resolved plan: one entry per stage, with its dataset size, TRL settings and the estimated rollouts.
    bf16 is used where the GPU supports it (`bf16_supported`, by default: on a GPU)."""
    bf16_supported = on_gpu if bf16_supported is None else bf16_supported
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
                trl_arguments(recipe, stage, directory / "checkpoints", max_steps or 0, on_gpu, bf16_supported),
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
        import trl  # noqa: F401
        from transformers import AutoTokenizer
    except ImportError:
        raise missing_extra("torch, transformers and trl", "train") from None
    from ..sandbox.executor import configure

    configure(recipe.sandbox)
    on_gpu = torch.cuda.is_available()
    out = Path(out)
    data = curated_data(recipe, math_dir, code_dir)
    plans = plan(recipe, math_dir, code_dir, out, on_gpu, data=data, bf16_supported=on_gpu and torch.cuda.is_bf16_supported())
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
        summary = train_stage(recipe, p, rows, dropped, model_path, tokenizer, console)
        if recipe.eval is not None:
            _free_accelerator_memory(torch)
            summary["eval"] = evaluate_stage(recipe, p, str(p.directory / "final"), summary["steps"], console)
        results.append(summary)
        model_path = str(p.directory / "final")
        last_dir_of_domain[p.stage.domain] = p.directory
    return results


def train_stage(recipe: Recipe, p: StagePlan, rows: list[dict], dropped: dict, model_path: str, tokenizer, console=None) -> dict:
    """One stage, epoch by epoch (see `epochs`): the temperature is chosen first (or read back on resume), then each
    epoch is one `GRPOTrainer.train()` over that epoch's prompts in their recorded order, resumed from the newest
    checkpoint. Writes stage.json at the start and done.json, last, at the end."""
    from .rewards import RolloutLog, make_reward

    # Made first, so that its graders warm up while the model loads, the pilot samples and the trainer is built.
    reward = make_reward(
        RolloutLog(p.directory / "rollouts.jsonl"),
        p.stage.max_response_tokens,
        workers=recipe.reward_workers or os.cpu_count() or 1,
        policy=recipe.grading,
        stop_ids=model_stop_ids(model_path, tokenizer),
        domain=p.stage.domain,
    )
    try:
        return _train_stage(recipe, p, rows, dropped, model_path, tokenizer, reward, console)
    finally:
        reward.close()


def model_stop_ids(model_path: str, tokenizer) -> list[int]:
    """`rewards.stop_token_ids` of a model, from its generation config as from_pretrained builds it, without loading
    its weights."""
    from types import SimpleNamespace

    from transformers import AutoConfig, GenerationConfig

    from .rewards import stop_token_ids

    try:
        config = GenerationConfig.from_pretrained(model_path)
    except OSError:  # no generation_config.json: from_pretrained derives it from the model's config
        config = GenerationConfig.from_model_config(AutoConfig.from_pretrained(model_path))
    return stop_token_ids(SimpleNamespace(generation_config=config), tokenizer)


def _train_stage(recipe: Recipe, p: StagePlan, rows: list[dict], dropped: dict, model_path: str, tokenizer, reward, console) -> dict:
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from .callbacks import MetricsCallback
    from .epochs import checkpoint_step, cut_back, latest_checkpoint, load_schedule, save_schedule

    state = PartialState()
    stage, directory = p.stage, p.directory
    metrics, rollouts = directory / "metrics.jsonl", directory / "rollouts.jsonl"
    checkpoint = latest_checkpoint(directory / "checkpoints")
    step, resumed_from = (checkpoint_step(checkpoint), checkpoint.name) if checkpoint else (0, None)
    dtype = torch.bfloat16 if p.trl_args["bf16"] else torch.float32
    if state.is_main_process:
        for log in (rollouts, metrics):  # lines of updates that no checkpoint holds: those steps are trained again
            cut_back(log, step)
    state.wait_for_everyone()
    schedule = load_schedule(directory) or new_schedule(model_path, dtype, tokenizer, rows, stage, recipe.seed, console)
    if state.is_main_process:
        save_schedule(directory, schedule)
    by_id = {row["prompt_id"]: row for row in rows}
    trainer, start_digest = None, None
    while (epoch := plan_epoch(state, schedule, directory, list(by_id), stage, step, recipe.seed, console)) is not None:
        if trainer is not None:  # the previous epoch's trainer; its weights are in the checkpoint it saved last
            del trainer
            _free_accelerator_memory(torch)
        args = {
            **p.trl_args,
            "temperature": schedule["temperature"],
            "max_steps": epoch["first_step"] + epoch["steps"],
            "shuffle_dataset": False,  # the epoch's recorded order, from where it stopped
            "ignore_data_skip": True,
        }
        args = GRPOConfig(**args)  # before the model: under DeepSpeed ZeRO-3 it then loads partitioned
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        if start_digest is None:
            start_digest = weights_digest(model)
            if state.is_main_process:
                write_json(
                    directory / "stage.json",
                    {
                        "stage": asdict(stage),
                        "init_from": model_path,
                        "init_weights": start_digest,
                        "prompts": len(rows),
                        "dropped": dropped,
                        "easy_filter_source": p.easy_filter_source,
                        "resumed_from": resumed_from,
                        "temperature": schedule["temperature"],
                        "pilot": schedule["pilot"],
                        "trl_args": {**p.trl_args, "temperature": schedule["temperature"]},
                        "grading": recipe.grading.to_dict(),
                    },
                )
        order = epoch["order"][(step - epoch["first_step"]) * stage.prompts_per_batch :]
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=[reward],
            args=args,
            train_dataset=Dataset.from_list([by_id[pid] for pid in order]),
            processing_class=tokenizer,
            callbacks=[MetricsCallback(stage.name, metrics, console, schedule["temperature"], reward)],
        )
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        checkpoint, step = latest_checkpoint(directory / "checkpoints"), trainer.state.global_step
    final = directory / "final"
    if trainer is not None:
        trainer.save_model(str(final))
        model = trainer.model
    else:  # killed after its last checkpoint and before done.json: that checkpoint holds the final weights
        if checkpoint is None:
            raise AcecurateError(f"stage {stage.name}: its schedule is complete but {directory / 'checkpoints'} holds no checkpoint")
        start_digest = json.loads((directory / "stage.json").read_text())["init_weights"]
        model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=dtype)
        if state.is_main_process:
            model.save_pretrained(str(final))
    if state.is_main_process:
        tokenizer.save_pretrained(str(final))
    summary = {
        "stage": stage.name,
        "steps": step,
        "prompts": len(rows),
        "dropped": dropped,
        "temperature": schedule["temperature"],
        "epochs": [{"epoch": e["epoch"], "prompts": e["prompts"], "dropped_solved": len(e["dropped_solved"])} for e in schedule["epochs"]],
        "init_from": model_path,
        "init_weights": start_digest,
        "final_weights": weights_digest(model),
        "resumed_from": resumed_from,
    }
    if state.is_main_process:
        write_json(directory / "done.json", summary)  # written last: the stage is finished only when this exists
    del trainer, model
    return summary


def new_schedule(model_path: str, dtype, tokenizer, rows: list[dict], stage: TrainStage, seed: int, console=None) -> dict:
    """A new stage's schedule: its temperature, chosen now and once, and no epochs yet. With `target_entropy`, the
    entropy pilot samples the stage's initial policy, loaded whole on this process's device for it and then freed
    (the trainer's own copy may be partitioned, under ZeRO-3)."""
    if stage.target_entropy is None:
        return {"temperature": stage.temperature, "target_entropy": None, "pilot": None, "epochs": []}
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM

    from .temperature import choose_temperature

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype).to(PartialState().device)
    choice = choose_temperature(model, tokenizer, rows, stage, seed)
    del model
    _free_accelerator_memory(torch)
    if console is not None and PartialState().is_main_process:
        measured = ", ".join(f"{m['temperature']:g} -> {m['entropy']:.3f}" for m in choice["pilot"] if m["entropy"] is not None)
        console.print(
            f"[bold]{stage.name}[/] temperature {choice['temperature']:g}, for entropy {stage.target_entropy:g} (pilot: {measured})"
        )
    return {**choice, "epochs": []}


def plan_epoch(state, schedule: dict, directory: Path, prompt_ids: list[str], stage: TrainStage, step: int, seed: int, console):
    """The epoch that trains from `step` (see `epochs.next_epoch`), planned by the main process once every process's
    rollouts are logged, and read back by all; None when the stage is over. A new epoch gets one metrics.jsonl line."""
    from .epochs import load_schedule, next_epoch, save_schedule

    state.wait_for_everyone()
    if state.is_main_process:
        next_epoch(schedule["epochs"], prompt_ids, stage, step, directory / "rollouts.jsonl", seed)
        save_schedule(directory, schedule)
        log_epochs(directory / "metrics.jsonl", stage.name, schedule["epochs"], console)
    state.wait_for_everyone()
    schedule.update(load_schedule(directory))
    return next((e for e in schedule["epochs"] if e["first_step"] <= step < e["first_step"] + e["steps"]), None)


def log_epochs(metrics: Path, stage: str, epochs: list[dict], console=None) -> None:
    """One metrics.jsonl line per epoch, written once (a rerun finds it): its first step, its prompts, and how many
    prompts every rollout of the previous epoch solved."""
    logged = {json.loads(line).get("epoch") for line in metrics.read_text().splitlines() if line.strip()} if metrics.exists() else set()
    for e in epochs:
        if e["epoch"] in logged:
            continue
        line = {"step": e["first_step"], "epoch": e["epoch"], "prompts": e["prompts"], "dropped_solved": len(e["dropped_solved"])}
        with metrics.open("a") as handle:
            handle.write(json.dumps(line) + "\n")
        if console is not None:
            solved = f"; {len(e['dropped_solved']):,} dropped, solved by every rollout of epoch {e['epoch'] - 1}" if e["epoch"] > 1 else ""
            left = f"{e['prompts']:,} prompts, {e['steps']} steps" if e["steps"] else "no prompts left: the stage ends here"
            console.print(f"[bold]{stage}[/] epoch {e['epoch']}: {left}{solved}")


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
