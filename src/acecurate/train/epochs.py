"""A stage's epochs, and what a resumed stage must keep: `NN-stage/schedule.json`.

A stage trains epoch by epoch. Each epoch is a fixed, seeded order of the prompts still in play, padded by wrap-around
to whole batches, so that every prompt of the epoch gets its rollouts in that epoch. After an epoch, a stage with
`drop_solved_each_epoch` drops the prompts that every one of that epoch's logged rollouts solved (the paper's per-epoch
re-filter for code). The schedule records the chosen temperature and, per epoch, its first step, step count, order
and the prompt ids it dropped, so that a killed stage resumes with the same temperature, the same prompt set and the
same order. Steps count optimizer updates from 1, as checkpoint-N and the `step` of every log line do; an epoch with
`first_step` s and `steps` n trains updates s+1 .. s+n. On resume, the logs are cut back to the checkpoint: the
rollouts of updates that no checkpoint holds are graded again with the steps that redo them, and are then logged once.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from ..io import atomic_write_text, write_json
from .recipe import TrainStage

SCHEDULE = "schedule.json"


def load_schedule(directory: Path) -> dict | None:
    path = directory / SCHEDULE
    return json.loads(path.read_text()) if path.exists() else None


def save_schedule(directory: Path, schedule: dict) -> None:
    write_json(directory / SCHEDULE, schedule)


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[1])


def latest_checkpoint(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint. Its trainer_state.json is written last, so one killed while being saved is
    skipped."""
    for path in sorted(checkpoints.glob("checkpoint-*"), key=checkpoint_step, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return path
    return None


def read_rollouts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def cut_back(path: Path, step: int) -> int:
    """Keep only the lines of a stage log (rollouts.jsonl, metrics.jsonl) for optimizer steps up to `step`, the
    resumed checkpoint's: the others belong to updates no checkpoint holds. Returns how many lines were dropped."""
    if not path.exists():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in lines if (json.loads(line).get("step") or 0) <= step]
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return len(lines) - len(kept)


def solved_by_every_rollout(records: list[dict], first_step: int, last_step: int) -> set[str]:
    """Prompt ids whose every rollout for optimizer steps first_step+1 .. last_step earned reward 1."""
    rewards: dict[str, list[float]] = {}
    for record in records:
        if record.get("step") is not None and first_step < record["step"] <= last_step:
            rewards.setdefault(record["prompt_id"], []).append(record["reward"])
    return {pid for pid, values in rewards.items() if all(r == 1.0 for r in values)}


def epoch_order(prompt_ids: list[str], batch: int, seed: int, epoch: int) -> list[str]:
    """A seeded shuffle of the epoch's prompts, padded by wrap-around to a whole number of batches."""
    order = list(prompt_ids)
    random.Random(f"{seed}:{epoch}").shuffle(order)
    pad = -len(order) % batch
    return order + (order * math.ceil(pad / len(order)))[:pad]


def next_epoch(epochs: list[dict], prompt_ids: list[str], stage: TrainStage, step: int, rollouts: Path, seed: int):
    """The epoch that trains from global step `step`: the recorded one that holds it, else a new one (appended to
    `epochs`, with the prompts the previous epoch solved every time removed). None when the stage is over: its steps
    or epochs are done, or no prompt is left. Epochs planned past `step` (a checkpoint was deleted) are planned anew."""
    epochs[:] = [e for e in epochs if e["first_step"] <= step]
    if epochs and (epochs[-1]["steps"] == 0 or step < epochs[-1]["first_step"] + epochs[-1]["steps"]):
        return epochs[-1] if epochs[-1]["steps"] else None
    if (stage.steps is not None and step >= stage.steps) or (stage.epochs is not None and len(epochs) >= math.ceil(stage.epochs)):
        return None
    removed = {pid for e in epochs for pid in e["dropped_solved"]}
    solved: set[str] = set()
    if stage.drop_solved_each_epoch and epochs:
        last = epochs[-1]
        solved = solved_by_every_rollout(read_rollouts(rollouts), last["first_step"], last["first_step"] + last["steps"]) - removed
    remaining = [pid for pid in prompt_ids if pid not in removed and pid not in solved]
    number = len(epochs) + 1
    entry = {"epoch": number, "first_step": step, "steps": 0, "prompts": len(remaining), "dropped_solved": sorted(solved), "order": []}
    if remaining:
        batch = stage.prompts_per_batch
        steps = math.ceil(len(remaining) / batch)
        if stage.steps is not None:
            steps = min(steps, stage.steps - step)
        elif number == math.ceil(stage.epochs) and stage.epochs % 1:  # the last, partial epoch
            steps = max(1, math.ceil((stage.epochs % 1) * len(remaining) / batch))
        entry.update(steps=steps, order=epoch_order(remaining, batch, seed, number)[: steps * batch])
    epochs.append(entry)
    return entry if remaining else None
