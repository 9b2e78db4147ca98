"""Per-stage training logs: reward (the pass rate, since rewards are 0/1), response length, truncation, entropy."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback

KEYS = {
    "reward": "pass rate",
    "completions/mean_length": "length",
    "completions/clipped_ratio": "truncated",
    "entropy": "entropy",
    "loss": "loss",
}


class MetricsCallback(TrainerCallback):
    def __init__(self, stage: str, path: Path, console=None):
        self.stage, self.path, self.console = stage, path, console

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "reward" not in logs:
            return
        record = {"step": state.global_step, **{k: logs[k] for k in KEYS if k in logs}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.console is not None:
            shown = "  ".join(f"{KEYS[k]} {record[k]:.3g}" for k in KEYS if k in record)
            self.console.print(f"[bold]{self.stage}[/] step {state.global_step}: {shown}")
