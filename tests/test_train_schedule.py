"""A stage's schedule without a model: the per-epoch filter, the epoch plan, resume bookkeeping and the recipe keys."""

import json

import pytest

from acecurate.errors import ConfigError
from acecurate.train import load_recipe
from acecurate.train.callbacks import step_split
from acecurate.train.epochs import cut_back, epoch_order, latest_checkpoint, next_epoch, solved_by_every_rollout
from acecurate.train.recipe import TrainStage

from .conftest import REPO, write_jsonl


def rollout(pid, step, reward):
    return {"prompt_id": pid, "step": step, "reward": reward}


def code_stage(**extra):
    return TrainStage(
        name="code",
        domain="code",
        max_response_tokens=64,
        rollouts=2,
        prompts_per_batch=2,
        target_entropy=0.3,
        drop_solved_each_epoch=True,
        **extra,
    )


def test_the_filter_drops_exactly_the_prompts_every_rollout_of_the_epoch_solved():
    records = [
        *[rollout("all", s, 1.0) for s in (1, 1, 3, 3)],  # solved by all four rollouts (two groups: it was padded in)
        *[rollout("mixed", 2, r) for r in (1.0, 0.0)],  # solved by one of two
        *[rollout("late", 1, 1.0), rollout("late", 4, 0.0)],  # step 4 belongs to the next epoch: solved within this one
        *[rollout("never", 2, 0.0), rollout("never", 2, 0.0)],
        rollout("before", 0, 1.0),  # a step of no epoch in range
    ]
    assert solved_by_every_rollout(records, 0, 3) == {"all", "late"}
    assert solved_by_every_rollout(records, 3, 4) == set()  # step 4 holds only late's failure


def test_epochs_are_planned_from_the_previous_epochs_rollouts(tmp_path):
    log = tmp_path / "rollouts.jsonl"
    ids = ["a", "b", "c", "d", "e"]
    stage, epochs = code_stage(epochs=3), []
    first = next_epoch(epochs, ids, stage, 0, log, seed=0)
    # 5 prompts in batches of 2: 3 steps, the last batch padded by wrap-around, every prompt in the epoch.
    assert (first["epoch"], first["first_step"], first["steps"], first["prompts"]) == (1, 0, 3, 5)
    assert len(first["order"]) == 6 and set(first["order"]) == set(ids) and first["dropped_solved"] == []
    assert next_epoch(epochs, ids, stage, 2, log, seed=0) is first  # mid-epoch: the recorded epoch, same order
    write_jsonl(log, [rollout(p, 1 + i // 2, 1.0 if p in ("a", "c") else 0.0) for i, p in enumerate(first["order"])])
    second = next_epoch(epochs, ids, stage, 3, log, seed=0)
    assert second["dropped_solved"] == ["a", "c"]  # every rollout of theirs solved, in one group or two
    assert not set(second["order"]) & set(second["dropped_solved"]) and second["prompts"] == 5 - len(second["dropped_solved"])
    assert second["first_step"] == 3 and len(epochs) == 2
    # The third epoch removes nothing new from an epoch whose rollouts were all wrong, and is the stage's last.
    write_jsonl(log, [rollout(p, 4 + i // 2, 0.0) for i, p in enumerate(second["order"])])
    third = next_epoch(epochs, ids, stage, 3 + second["steps"], log, seed=0)
    assert third["dropped_solved"] == [] and third["prompts"] == second["prompts"]
    assert next_epoch(epochs, ids, stage, third["first_step"] + third["steps"], log, seed=0) is None
    # Rewinding to an earlier checkpoint forgets the epochs planned after it.
    assert next_epoch(epochs, ids, stage, 1, log, seed=0) is first and len(epochs) == 1


def test_a_stage_whose_prompts_are_all_solved_ends_and_a_step_budget_cuts_the_last_epoch(tmp_path):
    log = write_jsonl(tmp_path / "rollouts.jsonl", [rollout(p, 1, 1.0) for p in "ab" for _ in range(2)])
    epochs = [{"epoch": 1, "first_step": 0, "steps": 1, "prompts": 2, "dropped_solved": [], "order": ["a", "b"]}]
    assert next_epoch(epochs, ["a", "b"], code_stage(epochs=2), 1, log, seed=0) is None
    assert epochs[-1]["prompts"] == 0 and epochs[-1]["dropped_solved"] == ["a", "b"]
    budget = next_epoch([], list("abcdef"), code_stage(steps=2), 0, log, seed=0)
    assert budget["steps"] == 2 and len(budget["order"]) == 4


def test_epoch_order_is_seeded_and_whole_batches():
    order = epoch_order(["x"], 4, seed=1, epoch=1)
    assert order == ["x"] * 4
    assert epoch_order(list("abcdefg"), 3, 0, 2) == epoch_order(list("abcdefg"), 3, 0, 2) != epoch_order(list("abcdefg"), 3, 0, 3)


def test_resume_cuts_the_logs_back_to_the_checkpoint_and_skips_a_half_written_one(tmp_path):
    log = write_jsonl(tmp_path / "metrics.jsonl", [{"step": 0, "epoch": 1}, {"step": 1}, {"step": 2}, {"step": 3}])
    assert cut_back(log, 2) == 1
    assert [json.loads(line)["step"] for line in log.read_text().splitlines()] == [0, 1, 2]
    checkpoints = tmp_path / "checkpoints"
    for step, state in ((1, "{}"), (2, "{}"), (3, None)):  # checkpoint-3 was killed before its trainer_state.json
        (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
        if state:
            (checkpoints / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    assert latest_checkpoint(checkpoints).name == "checkpoint-2"
    assert latest_checkpoint(tmp_path / "none") is None


def test_step_split_reads_the_reward_calls():
    split = step_split(10.0, 20.0, [(13.0, 15.0)])
    assert split == {"time/generation": 3.0, "time/reward": 2.0, "time/update": 5.0}


def test_recipe_takes_a_temperature_or_a_target_entropy(tmp_path):
    shipped = load_recipe(REPO / "pipelines/acereason-7b.yaml")
    assert {s.target_entropy for s in shipped.stages} == {0.3} and {s.temperature for s in shipped.stages} == {None}
    assert [s.drop_solved_each_epoch for s in shipped.stages] == [s.domain == "code" for s in shipped.stages]
    # A temperature on the command line replaces the recipe's target entropy, and the other way round.
    fixed = load_recipe(REPO / "pipelines/acereason-7b.yaml", ["code-24k.temperature=0.8"])
    assert next(s for s in fixed.stages if s.name == "code-24k").temperature == 0.8
    assert TrainStage(name="s", domain="math", max_response_tokens=8, rollouts=2, steps=1).temperature == 0.6  # neither set
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\nstages:\n  - {name: a, domain: math, max_response_tokens: 8, rollouts: 2, steps: 1, temperature: 1.0, target_entropy: 0.3}\n"
        "  - {name: b, domain: math, max_response_tokens: 8, rollouts: 2, steps: 1, target_entropy: 0.3, entropy_pilot: {temperatures: []}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_recipe(recipe)
    assert "give temperature or target_entropy, not both" in str(error.value)
    assert "entropy_pilot.temperatures must be positive numbers" in str(error.value)
