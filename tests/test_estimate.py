"""What a sampling run will cost: `--estimate` on a sampling stage and on eval samples a pilot, prints the projection
and stops; `sampler.max_gpu_hours` stops a run that would exceed it; the pilot's samples serve the full run."""

import io
import json
import math
import sqlite3

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from acecurate import cli
from acecurate.cli import app
from acecurate.sampling import build_prompt, prompt_id
from acecurate.sampling.collect import SamplerConfig
from acecurate.sampling.estimate import CostEstimate, backend_gpus, pilot_rows

from .conftest import write_jsonl

runner = CliRunner()


def estimate(**changes) -> CostEstimate:
    values = dict(
        model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        backend="vllm",
        prompts=1000,
        samples_wanted=8000,
        samples_stored=80,
        pilot_prompts=10,
        pilot_samples=80,
        pilot_seconds=40.0,
        startup_seconds=90.0,
        tokens_per_sample=4000.0,
        truncated_share=0.05,
        tokens_per_second=8000.0,
        gpus=8.0,
        gpus_from="tensor x data parallel size",
        max_gpu_hours=None,
    )
    return CostEstimate(**{**values, **changes})


def test_projection_by_hand():
    e = estimate()
    # 7,920 samples of 4,000 tokens at 8,000 tokens/s: 31.68M tokens, 3,960 s = 1.1 h on 8 GPUs = 8.8 GPU-hours
    assert (e.samples_left, e.tokens_left) == (7920, 31_680_000)
    assert math.isclose(e.hours, 1.1) and math.isclose(e.gpu_hours, 8.8)
    assert estimate(samples_stored=8000).gpu_hours == 0.0


def test_gpus_come_from_the_backend_options():
    def gpus(backend, **options):
        return backend_gpus(SamplerConfig(model="m", backend=backend, options=options))

    assert gpus("vllm", tensor_parallel_size=4, data_parallel_size=2) == (8.0, "tensor x data parallel size")
    assert gpus("ray", engine="vllm", replicas=3, tensor_parallel_size=2) == (6.0, "replicas x tensor parallel size")
    assert gpus("openai", base_url=["http://a/v1", "http://b/v1", "http://c/v1"]) == (3.0, "assumed one per endpoint; set sampler.gpus")
    assert gpus("ray", engine="openai", base_url="http://a/v1")[0] == 1.0
    assert gpus("transformers", device="cuda:0")[0] == 1.0 and gpus("transformers")[0] == 0.0
    assert backend_gpus(SamplerConfig(model="m", backend="openai", gpus=2.5)) == (2.5, "sampler.gpus")


def test_pilot_draws_the_smallest_prompt_ids_still_missing_samples():
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(500)], "domain": "math", "problem": [f"Problem {i}." for i in range(500)]})
    ids = [prompt_id(build_prompt("math", p)) for p in frame["problem"]]
    done = sorted(ids)[:3]  # the three smallest ids have all their samples: not in the pilot
    rows = pilot_rows(frame, 4, {pid: {0, 1, 2, 3} for pid in done} | {sorted(ids)[3]: {0}}, 0.01)
    assert len(rows) == 5  # 1% of 500 prompts
    assert sorted(ids[r] for r in rows) == sorted(ids)[3:8]  # the fourth smallest lacks three samples: it is in
    assert len(pilot_rows(frame.iloc[:20], 4, {}, 0.01)) == 4  # at least four prompts


def test_projection_reads_well_at_80_columns():
    buffer = io.StringIO()
    saved = cli.out
    cli.out = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    try:
        cli._print_estimate(estimate(max_gpu_hours=100.0), cli.Path("runs/difficulty"))
    finally:
        cli.out = saved
    lines = buffer.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    text = " ".join(" ".join(lines).split())
    for figure in ("7,920", "31,680,000", "8,000 tokens/s", "1.10 h", "8.80", "100.0", "tensor x data parallel size"):
        assert figure in text, figure


pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")


@pytest.fixture
def rows_file(tmp_path):
    return write_jsonl(
        tmp_path / "math.jsonl", [{"id": f"m{i}", "problem": f"Cost test {i}: two plus two.", "answer": "4"} for i in range(12)]
    )


def difficulty(rows_file, run, tiny_model, *extra):
    sets = [f"sampler.model={tiny_model}", "sampler.backend=transformers", "sampler.max_tokens=8", "grading.require_think_close=false"]
    arguments = ["difficulty", str(rows_file), "--n", "2", "--set", "keep=[0,2]", "--out", str(run)]
    return runner.invoke(app, [*arguments, *(a for s in sets for a in ("--set", s)), *extra])


def stored(run) -> int:
    with sqlite3.connect(run / "cache/samples.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]


def test_estimate_then_budget_then_the_run(tiny_model, rows_file, tmp_path):
    run = tmp_path / "run"
    result = difficulty(rows_file, run, tiny_model, "--estimate")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # 12 prompts x 2 samples; the pilot: 4 prompts (1% is less than 4), 8 samples, kept in the store
    assert "cost estimate" in text and "samples wanted 24" in text and "samples to generate 16" in text
    assert "pilot 4 prompts, 8 samples" in text and "GPUs 0 (CPU)" in text and "GPU-hours 0.00" in text
    assert stored(run) == 8 and not (run / "01-difficulty/stats.json").exists()  # the stage did not run

    result = difficulty(rows_file, run, tiny_model, "--set", "sampler.gpus=1", "--set", "sampler.max_gpu_hours=0")
    assert result.exit_code == 2
    assert "GPU-hours" in result.output and "over sampler.max_gpu_hours 0" in result.output
    assert stored(run) == 16 and not (run / "01-difficulty/stats.json").exists()  # a second pilot, of other prompts

    result = difficulty(rows_file, run, tiny_model, "--set", "sampler.gpus=1", "--set", "sampler.max_gpu_hours=1000")
    assert result.exit_code == 0, result.output
    stats = json.loads((run / "01-difficulty/stats.json").read_text())
    # this run's pilot drew the last 4 prompts; the full run then had nothing left to sample
    assert (stats["samples_generated"], stats["samples_reused"]) == (8, 16) and stored(run) == 24


def test_eval_estimate(tiny_model, tmp_path):
    bench = write_jsonl(
        tmp_path / "bench.jsonl", [{"id": f"b{i}", "problem": f"Bench {i}: one plus one.", "answer": "2"} for i in range(5)]
    )
    out = tmp_path / "eval"
    arguments = ["eval", "--model", str(tiny_model), "--backend", "transformers", "--bench-file", f"tiny={bench}", "--samples", "2"]
    result = runner.invoke(app, [*arguments, "--set", "sampler.max_tokens=8", "--out", str(out), "--estimate"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "samples wanted 10" in text and "samples to generate 2" in text  # a pilot of 4 of the 5 problems
    assert not (out / "results.json").exists()
