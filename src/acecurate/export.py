"""Exports of a curated dataset to the schemas of the trainers people use. Every prompt is built exactly as
`acecurate train` builds it (the paper's math instruction; the code template with starter code), so a model trained
elsewhere sees the same prompts and its reward gets the same ground truth.

- verl: parquet with `data_source`, `prompt` (chat messages), `ability`, `reward_model` {`style`: "rule",
  `ground_truth`}, `extra_info` {`split`, `index`, `id`, ...}, as verl's RLHFDataset reads it.
- openrlhf: jsonl with `input` (chat messages, for `--input_key input --apply_chat_template`), `label` (for
  `--label_key label`, handed to the reward function) and `datasource`.
- trl: parquet with `prompt` (chat messages) and the columns the reward functions read: `domain`, `answer`,
  `tests`, `prompt_id` (the columns `acecurate train` gives GRPOTrainer).
- jsonl: the curated rows as they are, one JSON object per line.
"""

from __future__ import annotations

from pathlib import Path

from .errors import AcecurateError
from .io import read_parquet, write_jsonl, write_parquet
from .sampling import build_prompt, grpo_row

FORMATS = ("verl", "openrlhf", "trl", "jsonl")


def _rows(frame):
    for index, record in enumerate(frame.to_dict("records")):
        text = build_prompt(record["domain"], record["problem"], record.get("starter_code"))
        truth = record.get("answer") if record["domain"] == "math" else record.get("tests")
        yield index, record, text, truth or ""


def export(run_dir: str | Path, fmt: str, out_dir: str | Path) -> list[tuple[Path, int]]:
    """Write `run_dir/data/train.parquet` in format `fmt` under `out_dir`; returns (file, rows) for each file written."""
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
        return [(path, len(frame))]
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
                    "difficulty": None if pd.isna(record.get("difficulty")) else int(record["difficulty"]),
                },
            }
            for index, record, text, truth in _rows(frame)
        ]
        path = out / "train.parquet"
        write_parquet(path, pd.DataFrame(rows))
        return [(path, len(rows))]
    if fmt == "openrlhf":
        rows = [
            {"input": [{"role": "user", "content": text}], "label": truth, "datasource": record["source"], "id": record["id"]}
            for _, record, text, truth in _rows(frame)
        ]
        path = out / "train.jsonl"
        write_jsonl(path, rows)
        return [(path, len(rows))]
    rows = [{**grpo_row(record["domain"], record), "id": record["id"]} for record in frame.to_dict("records")]
    path = out / "train.parquet"
    write_parquet(path, pd.DataFrame(rows))
    return [(path, len(rows))]
