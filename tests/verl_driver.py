"""Runs verl's own reward managers on an `acecurate export --format verl` file, the way verl's trainer does: the rows as
verl's dataset reads them, prompts and responses tokenised into a DataProto, the reward function loaded by verl from
the path and name of its config. Run with verl on PYTHONPATH (tests/test_exports.py does, where make test installed
it); prints {manager: [score per response]} as JSON.

    python tests/verl_driver.py EXPORT.parquet RESPONSES.json REWARD_FILE TOKENIZER_DIR
"""

import json
import sys

import pandas as pd
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl import DataProto
from verl.trainer.ppo.reward import load_reward_manager
from verl.workers.reward_manager import BatchRewardManager, NaiveRewardManager


def batch(rows, responses, tokenizer) -> DataProto:
    """Left-padded prompts and right-padded responses, as verl's rollout hands them to the reward."""
    prompts = [tokenizer.apply_chat_template(r["prompt"].tolist(), add_generation_prompt=True, tokenize=False) for r in rows]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    response_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in responses]
    width_p, width_r = max(map(len, prompt_ids)), max(map(len, response_ids))
    pad = tokenizer.pad_token_id
    p = torch.tensor([[pad] * (width_p - len(ids)) + ids for ids in prompt_ids])
    r = torch.tensor([ids + [pad] * (width_r - len(ids)) for ids in response_ids])
    mask = torch.tensor(
        [[0] * (width_p - len(a)) + [1] * len(a) + [1] * len(b) + [0] * (width_r - len(b)) for a, b in zip(prompt_ids, response_ids)]
    )
    non_tensors = {
        "data_source": [row["data_source"] for row in rows],
        "reward_model": [dict(row["reward_model"]) for row in rows],
        "extra_info": [dict(row["extra_info"]) for row in rows],
    }
    return DataProto.from_dict(tensors={"prompts": p, "responses": r, "attention_mask": mask}, non_tensors=non_tensors)


def main(export, responses_file, reward_file, tokenizer_dir):
    frame = pd.read_parquet(export)
    cases = json.loads(open(responses_file).read())  # [[row index, response text], ...]
    rows = [frame.iloc[i].to_dict() for i, _ in cases]
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    data = batch(rows, [text for _, text in cases], tokenizer)
    lengths = data.batch["attention_mask"][:, data.batch["prompts"].shape[-1] :].sum(-1)

    def at_last_token(tensor):
        return [float(tensor[i, lengths[i] - 1]) for i in range(len(cases))]

    scores = {}
    # verl's current reward loop: the manager and the reward function come from the trainer's config
    config = OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {"path": reward_file, "name": "compute_score", "reward_kwargs": {}},
                "reward_manager": {"source": "register", "name": "naive"},
            }
        }
    )
    manager = load_reward_manager(config, tokenizer)

    async def score_all():
        return [await manager.run_single(data[i : i + 1]) for i in range(len(cases))]

    scores["reward_loop_naive"] = [r["reward_score"] for r in manager.loop.run_until_complete(score_all())]  # its own loop
    # the earlier managers: one response per call (naive) and the whole batch in one call (batch)
    from verl.trainer.ppo.reward import get_custom_reward_fn

    for name, manager_cls, fn in (("naive", NaiveRewardManager, "compute_score"), ("batch", BatchRewardManager, "compute_score_batch")):
        fn_config = OmegaConf.create({"reward": {"custom_reward_function": {"path": reward_file, "name": fn}}})
        manager = manager_cls(tokenizer=tokenizer, num_examine=0, compute_score=get_custom_reward_fn(fn_config))
        scores[name] = at_last_token(manager(data, return_dict=True)["reward_tensor"])
    print(json.dumps(scores))


if __name__ == "__main__":
    main(*sys.argv[1:])
