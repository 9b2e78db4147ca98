"""Training recipes: the AceReason stages in order, as dataclasses filled from YAML (pipelines/acereason-*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import build_dataclass, deep_merge, load_yaml, parse_overrides
from ..errors import ConfigError
from ..eval import EvalConfig
from ..sandbox.executor import SandboxSettings
from ..verify.policy import GradingPolicy


@dataclass
class EasyFilter:
    """Drop prompts the policy solved more than `max_solved` of `out_of` times (the paper: more than 6 of 16)."""

    max_solved: int = 6
    out_of: int = 16


@dataclass
class EntropyPilot:
    """How `target_entropy` picks a stage's temperature: before the stage, the policy answers `prompts` of the stage's
    prompts at each candidate temperature (at most `max_tokens` tokens each), and the temperature whose mean token
    entropy (TRL's `entropy`: of the temperature-scaled next-token distribution, over the completion tokens) is
    closest to the target wins. The candidates bound the choice."""

    temperatures: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.8, 0.9, 1.0])
    prompts: int = 16
    max_tokens: int = 2048

    def __post_init__(self):
        if not self.temperatures or any(t <= 0 for t in self.temperatures):
            raise ValueError(f"entropy_pilot.temperatures must be positive numbers, got {self.temperatures}")
        if self.prompts < 1 or self.max_tokens < 1:
            raise ValueError("entropy_pilot.prompts and entropy_pilot.max_tokens must be at least 1")


@dataclass
class TrainStage:
    name: str
    domain: str  # math or code
    max_response_tokens: int
    rollouts: int  # completions per prompt (GRPO group size)
    prompts_per_batch: int = 128
    learning_rate: float = 1e-6
    temperature: float | None = None  # a fixed sampling temperature (0.6 when the stage sets neither); or
    target_entropy: float | None = None  # the paper's rule: the temperature whose token entropy is nearest (0.3)
    entropy_pilot: EntropyPilot = field(default_factory=EntropyPilot)
    top_p: float = 1.0
    overlong_masking: bool = True  # truncated completions are left out of the loss
    steps: int | None = None  # optimizer steps; or
    epochs: float | None = None  # passes over the (filtered) prompts
    easy_filter: EasyFilter | None = None
    # The paper's code stages: after each epoch, the prompts that every rollout of that epoch solved are dropped
    # from the next epochs (judged on the stage's own logged rollouts).
    drop_solved_each_epoch: bool = False

    def __post_init__(self):
        if self.domain not in ("math", "code"):
            raise ValueError(f"stage {self.name}: domain must be math or code, got {self.domain!r}")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"stage {self.name}: give exactly one of steps or epochs")
        if self.temperature is not None and self.target_entropy is not None:
            raise ValueError(f"stage {self.name}: give temperature or target_entropy, not both")
        if self.temperature is None and self.target_entropy is None:
            self.temperature = 0.6
        if self.target_entropy is not None and self.target_entropy <= 0:
            raise ValueError(f"stage {self.name}: target_entropy must be positive, got {self.target_entropy}")


@dataclass
class Generation:
    use_vllm: bool = True
    vllm_mode: str = "colocate"  # colocate (one process group) or server (a separate `trl vllm-serve`)
    vllm_gpu_memory_utilization: float = 0.35
    vllm_tensor_parallel_size: int = 1
    vllm_server_base_url: str | None = None
    # Truncated importance sampling between vLLM's sampling log-probs and the trainer's: vLLM and the trainer compute
    # slightly different log-probs (kernels, precision), so strictly on-policy GRPO is still off by that mismatch. On,
    # with TRL's default cap, it corrects for it without making the update off-policy. Off only when use_vllm is off.
    vllm_importance_sampling_correction: bool = True
    vllm_importance_sampling_cap: float = 3.0


@dataclass
class Recipe:
    model: str
    stages: list[TrainStage]
    generation: Generation = field(default_factory=Generation)
    max_prompt_tokens: int = 2048  # longer prompts are dropped before training (TRL no longer truncates them)
    per_device_batch_size: int = 8  # completions per device per micro-step; accumulation makes up the rest
    num_processes: int = 1  # data-parallel processes (accelerate launch)
    save_steps: int = 20
    report_to: list[str] = field(default_factory=list)  # e.g. ["tensorboard"] or ["wandb"]
    seed: int = 0
    bf16: bool = True  # ignored on CPU
    # Processes grading rewards (math workers, concurrent sandboxes); None means every core of the machine. A code
    # stage grades prompts x rollouts (1,024-2,048) completions per step, so this sets the reward time.
    reward_workers: int | None = None
    # How rewards are graded (verify.policy): require_think_close (on: an R1-style completion without </think> earns
    # nothing), the truncation rule, the code limits with each row's own, inline asserts. The stage evaluations grade
    # under the same policy; every reward in rollouts.jsonl records it.
    grading: GradingPolicy = field(default_factory=GradingPolicy)
    # Code prompts whose tests no reference solution or sampled model has passed (`tests_verified: false`) are left
    # out, as the paper trained on verified tests only: a suite nothing passes may be unsatisfiable, and its
    # prompts then teach nothing but cost rollouts. On, they are trained on too.
    include_unverified_tests: bool = False
    # How code sandboxes run (reuse: a warm sandbox per reward worker); verdicts are the same either way.
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    # An evaluation after each stage on the stage's final model, logged in the stage's metrics.jsonl (the paper tracks
    # AIME after each stage): the `acecurate eval` settings, usually fewer benchmarks, samples and tokens.
    eval: EvalConfig | None = None


EXCLUSIVE_KEYS = (("steps", "epochs"), ("epochs", "steps"), ("temperature", "target_entropy"), ("target_entropy", "temperature"))


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    data = load_yaml(path)
    for stage_name, values in parse_overrides(list(overrides)).items():
        if stage_name == "recipe":
            data = deep_merge(data, values)
            continue
        matches = [s for s in data.get("stages", []) if s.get("name") == stage_name]
        if not matches:
            raise ConfigError("--set", [f"the recipe has no stage '{stage_name}' (use recipe.KEY=VALUE for top-level keys)"])
        # A stage length or a temperature rule given on the command line replaces the recipe's other one.
        for given, replaced in EXCLUSIVE_KEYS:
            if given in values and replaced not in values:
                matches[0].pop(replaced, None)
        matches[0].update(deep_merge(matches[0], values))
    problems: list[str] = []
    stages = [build_dataclass(TrainStage, s, f"stages[{i}]", problems) for i, s in enumerate(data.pop("stages", None) or [])]
    if not stages:
        problems.append("stages: the recipe lists no stages")
    data["stages"] = []
    recipe = build_dataclass(Recipe, data, str(path), problems)
    names = [s.name for s in stages if s]
    if len(set(names)) != len(names):
        problems.append(f"stage names must be unique: {names}")
    if problems:
        raise ConfigError(str(path), problems)
    recipe.stages = stages
    return recipe
