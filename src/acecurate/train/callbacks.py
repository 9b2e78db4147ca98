"""Per-stage training logs: reward (the pass rate, since rewards are 0/1), response length, truncation, entropy, the
stage's temperature, each step's time split into generation, reward grading and update, and on a GPU the peak
memory allocated so far in the stage's epoch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

KEYS = {
    "reward": "pass rate",
    "completions/mean_length": "length",
    "completions/clipped_ratio": "truncated",
    "entropy": "entropy",
    "temperature": "temp",
    "loss": "loss",
    "time/generation": "gen s",
    "time/reward": "reward s",
    "time/update": "update s",
    "gpu_peak_gib": "GPU GiB",
}


def step_split(began: float, ended: float, reward_calls: list[tuple[float, float]]) -> dict[str, float]:
    """A step's wall time in three parts: generation until the first reward call (TRL generates, then grades, then
    updates), the reward calls themselves, and the update after the last one (loss, backward, optimizer step)."""
    if not reward_calls:
        return {"time/generation": 0.0, "time/reward": 0.0, "time/update": ended - began}
    return {
        "time/generation": reward_calls[0][0] - began,
        "time/reward": sum(end - start for start, end in reward_calls),
        "time/update": ended - reward_calls[-1][1],
    }


class MetricsCallback(TrainerCallback):
    """Appends one line per step to the stage's metrics.jsonl (main process only) and prints it."""

    def __init__(self, stage: str, path: Path, console=None, temperature: float | None = None, reward=None):
        self.stage, self.path, self.console, self.temperature, self.reward = stage, path, console, temperature, reward
        self._began, self._split = 0.0, {}

    def on_train_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def on_step_begin(self, args, state, control, **kwargs):
        self._began = time.perf_counter()
        if self.reward is not None:
            self.reward.timings.clear()

    def on_step_end(self, args, state, control, **kwargs):
        # Before the trainer saves a checkpoint of this update: its rollouts must be on disk first.
        if self.reward is not None:
            self.reward.flush()
            self._split = step_split(self._began, time.perf_counter(), self.reward.timings)
        if torch.cuda.is_available():
            self._split["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs or not state.is_world_process_zero:
            return
        logs = {**logs, "temperature": self.temperature, **self._split}
        record = {"step": state.global_step, **{k: logs[k] for k in KEYS if logs.get(k) is not None}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.console is not None:
            shown = "  ".join(f"{KEYS[k]} {record[k]:.3g}" for k in KEYS if k in record)
            self.console.print(f"[bold]{self.stage}[/] step {state.global_step}: {shown}")
