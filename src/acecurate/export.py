"""Exports of a curated dataset to the schemas of the trainers people use, with a reward function for each that grades
with acecurate's own graders under the grading policy recorded at curation (`acecurate.rewards`). Every prompt is built
exactly as `acecurate train` builds it (the paper's math instruction; the code template with starter code), so a model
trained elsewhere sees the same prompts and its reward gets the same ground truth.

- verl: parquet with `data_source`, `prompt` (chat messages), `ability`, `reward_model` {`style`: "rule",
  `ground_truth`}, `extra_info` {`split`, `index`, `id`, `domain`, `difficulty`, `grading`, `time_limit_s`}, as verl's RLHFDataset
  reads it; the reward is `acecurate/rewards/verl_reward.py` (`custom_reward_function`).
- openrlhf: jsonl with `input` (chat messages, for `--input_key input --apply_chat_template`), `label` (for
  `--label_key label`: one JSON string with the domain, the ground truth, the grading policy and the row's time limit, since the label is
  all that OpenRLHF hands its reward function) and `datasource`; the reward is `acecurate/rewards/openrlhf_reward.py`
  (`--remote_rm_url`).
- trl: parquet with `prompt` (chat messages) and the columns the reward function reads: `domain`, `answer`, `tests`,
  `time_limit_s`, `grading`, `prompt_id`; the reward is `acecurate.rewards.trl_reward.acecurate_reward`.
- jsonl: the curated rows as they are, one JSON object per line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AcecurateError
from .io import read_parquet, write_jsonl, write_parquet
from .sampling import GRPO_TYPES, build_prompt, grpo_row
from .verify.policy import GradingPolicy, row_limit

FORMATS = ("verl", "openrlhf", "trl", "jsonl")


@dataclass
class Export:
    files: list[tuple[Path, int]]  # (file, rows) for each file written
    usage: list[str] = field(default_factory=list)  # how to train on it: the trainer's own settings


def recorded_policy(run_dir: str | Path) -> GradingPolicy:
    """The grading policy the run's verdicts were given under, which travels with every exported row: the one the
    last stage that graded (validate-tests, the sampling stages) recorded in its stats.json; the default policy when
    no stage graded. Each row's own `time_limit_s` (set by validate-tests) travels beside it."""
    policy = GradingPolicy()
    for path in sorted(Path(run_dir).glob("[0-9][0-9]-*/stats.json")):
        record = json.loads(path.read_text()).get("grading")
        if isinstance(record, dict):
            policy = GradingPolicy.from_dict(record)
    return policy


def _time_limit(record) -> float | None:
    return row_limit(record.get("time_limit_s"))


def _rows(frame):
    for index, record in enumerate(frame.to_dict("records")):
        text = build_prompt(record["domain"], record["problem"], record.get("starter_code"))
        truth = record.get("answer") if record["domain"] == "math" else record.get("tests")
        yield index, record, text, truth if isinstance(truth, str) else ""


def export(run_dir: str | Path, fmt: str, out_dir: str | Path) -> Export:
    """Write `run_dir/data/train.parquet` in format `fmt` under `out_dir`."""
    import pandas as pd

    if fmt not in FORMATS:
        raise AcecurateError(f"--format {fmt!r}: unknown (known: {', '.join(FORMATS)})")
    source = Path(run_dir) / "data" / "train.parquet"
    if not source.is_file():
        raise AcecurateError(f"{source}: no curated dataset here (run `acecurate filter ... --out {run_dir}` first)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AcecurateError(f"--out {out}: is a file; give a directory")
    frame = read_parquet(source)
    if fmt == "jsonl":
        path = out / "train.jsonl"
        write_jsonl(path, frame.to_dict("records"))
        return Export([(path, len(frame))])
    grading = recorded_policy(run_dir).to_json()
    if fmt == "verl":
        rows = [
            {
                "data_source": record["source"],
                "prompt": [{"role": "user", "content": text}],
                "ability": record["domain"],
                "reward_model": {"style": "rule", "ground_truth": truth},
                "extra_info": {
                    "split": "train",
                    "index": index,
                    "id": record["id"],
                    "domain": record["domain"],
                    "difficulty": None if pd.isna(record.get("difficulty")) else int(record["difficulty"]),
                    "grading": grading,
                    "time_limit_s": _time_limit(record),
                },
            }
            for index, record, text, truth in _rows(frame)
        ]
        path = out / "train.parquet"
        write_parquet(path, pd.DataFrame(rows))
        return Export([(path, len(rows))], usage_lines(fmt, path))
    if fmt == "openrlhf":
        rows = [
            {
                "input": [{"role": "user", "content": text}],
                "label": json.dumps(
                    {"domain": record["domain"], "truth": truth, "grading": json.loads(grading), "time_limit_s": _time_limit(record)}
                ),
                "datasource": record["source"],
                "id": record["id"],
            }
            for _, record, text, truth in _rows(frame)
        ]
        path = out / "train.jsonl"
        write_jsonl(path, rows)
        return Export([(path, len(rows))], usage_lines(fmt, path))
    rows = [{**grpo_row(record["domain"], record), "grading": grading, "id": record["id"]} for record in frame.to_dict("records")]
    path = out / "train.parquet"
    write_parquet(path, pd.DataFrame(rows), {**GRPO_TYPES, "grading": "string", "id": "string"})
    return Export([(path, len(rows))], usage_lines(fmt, path))


def usage_lines(fmt: str, path: Path) -> list[str]:
    """The trainer's own settings that train on an export with acecurate's reward function, ready to paste."""
    from .rewards import openrlhf_reward, verl_reward

    if fmt == "verl":
        reward_file = Path(verl_reward.__file__).resolve()
        return [
            "verl (python -m verl.trainer.main_ppo ...):",
            f"  data.train_files={path.resolve()}",
            f"  reward.custom_reward_function.path={reward_file} reward.custom_reward_function.name=compute_score",
            "verl before 0.9 (no reward. section), with the batch reward manager grading a whole step in parallel:",
            f"  custom_reward_function.path={reward_file} custom_reward_function.name=compute_score_batch "
            "reward_model.reward_manager=batch",
        ]
    if fmt == "openrlhf":
        return [
            "OpenRLHF (python -m openrlhf.cli.train_ppo_ray ...):",
            f"  --prompt_data {path.resolve()} --input_key input --label_key label --apply_chat_template",
            f"  --remote_rm_url {Path(openrlhf_reward.__file__).resolve()}",
        ]
    return [
        "TRL: GRPOTrainer(reward_funcs=[acecurate_reward], train_dataset=load_dataset('parquet', "
        f"data_files='{path.resolve()}', split='train'), ...)",
        "  with: from acecurate.rewards.trl_reward import acecurate_reward",
        "  (trl grpo: --reward_funcs acecurate.rewards.trl_reward.acecurate_reward)",
    ]
