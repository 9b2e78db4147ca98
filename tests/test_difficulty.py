"""Difficulty filtering end to end with the transformers backend on a tiny local model, and resume after kill -9."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")
pytest.importorskip("transformers", reason="needs acecurate[train] (torch, transformers)")

from acecurate.pipeline import pipeline_from_dict, run_pipeline
from acecurate.verify.math import grade

from .conftest import kill_when_stored, needs_bwrap, write_jsonl

pytestmark = pytest.mark.slow


def difficulty_pipeline(domain: str, model: Path, n: int = 4, keep=(1, 3), prompts_seed: int = 0, think: bool = False) -> dict:
    # The tiny model's chat template opens no <think>: it is not R1-style, so require_think_close is off by default here.
    sampler = {"model": str(model), "backend": "transformers", "max_tokens": 32, "seed": prompts_seed}
    stage = {"n": n, "keep": list(keep), "sampler": sampler, "grading": {"require_think_close": think}}
    return {"name": f"{domain}-difficulty", "domain": domain, "stages": [{"difficulty": stage}]}


def store_pass_counts(run: Path) -> dict[str, int]:
    with sqlite3.connect(run / "cache/samples.sqlite") as db:
        return dict(db.execute("SELECT row_id, SUM(correct) FROM samples GROUP BY prompt_id").fetchall())


@needs_bwrap  # its code rows run in the sandbox
def test_math_and_code_difficulty_end_to_end(tiny_model, tmp_path):
    math_rows = [{"id": f"m{i}", "problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(5)]
    math_rows += [{"id": f"f{i}", "problem": f"Compute {i} plus {5 - i}.", "answer": "5"} for i in range(3)]
    code_rows = [
        {
            "id": f"c{i}",
            "problem": f"Print the number one ({i}).",
            "tests": [{"input": "", "output": "1\n", "testtype": "stdin"}],
            "solutions": ["print(1)"],
        }
        for i in range(4)
    ]
    for domain, rows in [("math", math_rows), ("code", code_rows)]:
        src = write_jsonl(tmp_path / f"{domain}.jsonl", rows)
        run = tmp_path / f"run-{domain}"
        summary = run_pipeline(pipeline_from_dict(difficulty_pipeline(domain, tiny_model), "test"), [str(src)], run)
        kept, removed = pd.read_parquet(run / "data/train.parquet"), pd.read_parquet(run / "removed.parquet")
        assert len(kept) + len(removed) == len(rows)
        everything = pd.concat([kept, removed])
        # The pass counts in the output are exactly the grades in the store.
        assert dict(zip(everything["id"], everything["pass_count"])) == store_pass_counts(run)
        assert (everything["n_samples"] == 4).all()
        assert set(removed["reason"]) <= {"too_hard", "too_easy"}
        assert all((r == "too_hard") == (p < 1) for r, p in zip(removed["reason"], removed["pass_count"]))
        rollouts = pd.read_parquet(run / "01-difficulty/rollouts.parquet")
        assert len(rollouts) == 4 * len(rows) and set(rollouts["backend"]) == {"transformers"}
        assert (run / "01-difficulty/pass_counts.png").exists()
        assert "01-difficulty/pass_counts.png" in (run / "README.md").read_text()
        assert summary.stages[1].stats["samples_generated"] == 4 * len(rows)
        # Some prompts pass sometimes: the tiny model's vocabulary makes boxed answers and code blocks likely.
        assert everything["pass_count"].sum() > 0, domain


def test_killed_run_resumes_without_regenerating(tiny_model, tmp_path):
    # 30 prompts x 8 samples, killed once 48 are stored (3 graded batches of 16): the run is far from done by then
    # (each batch takes seconds on the tiny model, the store is polled every 50 ms).
    rows = [{"id": f"m{i}", "problem": f"Problem number {i}: compute two plus two.", "answer": "4"} for i in range(30)]
    src = write_jsonl(tmp_path / "math.jsonl", rows)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump(difficulty_pipeline("math", tiny_model, n=8, keep=(0, 8))))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "acecurate.cli", "filter", str(src), "--pipeline", str(pipeline), "--out", str(run)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = run / "cache/samples.sqlite"
    stored = kill_when_stored(process, db_path, 48)
    assert 0 < stored < 8 * 30, f"kill came at {stored} samples"
    with sqlite3.connect(db_path) as db:
        before = {(p, i): t for p, i, t in db.execute("SELECT prompt_id, sample_index, text FROM samples")}
    assert not (run / "data/train.parquet").exists()

    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    stats = json.loads((run / "01-difficulty/stats.json").read_text())
    assert stats["samples_reused"] == len(before)
    assert stats["samples_generated"] == 8 * 30 - len(before)
    with sqlite3.connect(db_path) as db:
        after = {(p, i): t for p, i, t in db.execute("SELECT prompt_id, sample_index, text FROM samples")}
    assert all(after[key] == text for key, text in before.items())  # nothing stored was regenerated
    assert len(after) == 8 * 30


def test_majority_check_and_response_length_read_the_same_samples(tiny_model, tmp_path):
    rows = [{"id": f"m{i}", "problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(6)]
    src = write_jsonl(tmp_path / "math.jsonl", rows)
    sampler = {"model": str(tiny_model), "backend": "transformers", "max_tokens": 32}
    grading = {"require_think_close": False}
    pipeline = pipeline_from_dict(
        {
            "name": "m",
            "domain": "math",
            "stages": [
                {"majority-check": {"k": 4, "sampler": sampler, "grading": grading}},
                {
                    "response-length": {
                        "k": 4,
                        "sampler": sampler,
                        "grading": grading,
                        "min_tokens": 3,
                        "downsample_below": 6,
                        "keep_fraction": 0.5,
                    }
                },
            ],
        },
        "test",
    )
    summary = run_pipeline(pipeline, [str(src)], tmp_path / "run")
    _, majority, length = summary.stages
    assert majority.stats["samples_generated"] == 24
    assert length.stats["samples_generated"] == 0 and length.stats["samples_reused"] == 4 * majority.kept  # same model and settings
    # The card names the model each sampling stage used (read from the stage's report, not its private stats).
    card = (tmp_path / "run/README.md").read_text()
    assert f"**01-majority-check**\n\n- model: {tiny_model} (transformers;" in card
    assert f"**02-response-length**\n\n- model: {tiny_model} (transformers;" in card
    removed = pd.read_parquet(tmp_path / "run/removed.parquet")
    rollouts = pd.read_parquet(tmp_path / "run/01-majority-check/rollouts.parquet")
    for _, row in removed[removed["removed_by"] == "majority-check"].iterrows():
        assert row["reason"] in ("majority_wrong", "no_answer")
    kept = pd.read_parquet(tmp_path / "run/01-majority-check/kept.parquet")
    for _, row in kept.iterrows():  # a kept row's majority answer is one its correct samples gave
        answers = rollouts[(rollouts["row_id"] == row["id"]) & (rollouts["correct"] == 1)]["extracted"]
        assert row["majority_answer"] in set(answers)


def test_stage_without_model_is_skipped_and_says_so(tmp_path):
    src = write_jsonl(tmp_path / "m.jsonl", [{"problem": "What is two plus two, in words?", "answer": "4"}])
    summary = run_pipeline(
        pipeline_from_dict({"name": "m", "domain": "math", "stages": [{"difficulty": {}}]}, "t"), [str(src)], tmp_path / "r"
    )
    assert summary.rows_out == 1 and "no model given" in summary.stages[1].stats["skipped"]


def test_another_require_think_close_regrades_the_stored_samples(tiny_model, tmp_path):
    rows = [{"id": f"m{i}", "problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(5)]
    src = write_jsonl(tmp_path / "math.jsonl", rows)
    run = tmp_path / "run"
    run_pipeline(pipeline_from_dict(difficulty_pipeline("math", tiny_model, keep=(0, 4)), "test"), [str(src)], run)
    again = run_pipeline(pipeline_from_dict(difficulty_pipeline("math", tiny_model, keep=(0, 4), think=True), "test"), [str(src)], run)
    stats = again.stages[1].stats
    # The texts are reused; their verdicts, given with require_think_close off, are not.
    assert stats["samples_generated"] == 0 and stats["samples_regraded"] == 4 * len(rows) and stats["grading"]["require_think_close"]
    assert stats["regraded_because"] == ["require_think_close"]
    with sqlite3.connect(run / "cache/samples.sqlite") as db:
        stored = db.execute("SELECT text, finish_reason, correct, rule, policy FROM samples").fetchall()
    assert len(stored) == 4 * len(rows) and {json.loads(r[4])["require_think_close"] for r in stored} == {True}
    for text, finish_reason, correct, rule, _ in stored:
        assert correct == int(finish_reason != "length" and grade(text, "4", require_think_close=True).correct) and rule


def test_difficulty_verifies_or_removes_unverified_tests(tiny_model, tmp_path):
    """Code rows that no reference checked: tests that no sample can pass go as `unverified_tests`, whatever the band;
    a verified row with the same zero passes stays when the band keeps zero passes."""
    from acecurate.stage import RunContext
    from acecurate.stages.sampled import DifficultyConfig, SamplerConfig, difficulty

    impossible = json.dumps({"format": "stdin", "cases": [{"input": "", "output": "q7Zx-never-printed-by-a-tiny-model\n"}]})
    frame = pd.DataFrame(
        [
            {"id": "unverified", "domain": "code", "problem": "Print the secret.", "tests": impossible, "tests_verified": False},
            {"id": "verified", "domain": "code", "problem": "Print the secret, please.", "tests": impossible, "tests_verified": True},
        ]
    )
    config = DifficultyConfig(
        sampler=SamplerConfig(model=str(tiny_model), backend="transformers", max_tokens=16), n=2, keep=[0, 2]
    )  # the band keeps 0 passes: only the unverified row may go
    result = difficulty(frame, config, RunContext(tmp_path, tmp_path, "code", 1))
    assert dict(zip(result.removed["id"], result.removed["reason"])) == {"unverified": "unverified_tests"}
    assert list(result.kept["id"]) == ["verified"] and bool(result.kept["tests_verified"].iat[0])
    assert "no reference solution checked the tests" in result.removed["evidence"].iat[0]
