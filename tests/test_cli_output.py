"""What a user reads: the summary and `acecurate stages` on an 80-column terminal, Ctrl-C, time estimates after a
resume, output errors, the data card, and the small things (plurals, help, wording, warnings for small sources)."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import acecurate.cli as cli
from acecurate.cli import app
from acecurate.pipeline import load_pipeline, pipeline_from_dict, run_pipeline

from .conftest import REPO, needs_bwrap, stdin_tests, write_jsonl

runner = CliRunner()
MATH_YAML = REPO / "pipelines/math.yaml"

ROWS = [
    # exact duplicates, a benchmark template, and several format rules: many reasons, some of them long names
    {"id": "a1", "problem": "What is the sum of the first 100 positive integers?", "answer": "5050"},
    {"id": "a2", "problem": "What is the sum of the first $100$ positive integers?", "answer": "5050"},
    {"id": "t1", "problem": "Compute $\\dbinom{10}{3}$.", "answer": "120"},
    {"id": "f1", "problem": "Which of the following is prime? (A) 21 (B) 27 (C) 29 (D) 33", "answer": "C"},
    {"id": "f2", "problem": "Prove that there are infinitely many prime numbers.", "answer": "infinitely many"},
    {"id": "f3", "problem": "Is 2^31 - 1 a prime number? Answer yes or no.", "answer": "Yes"},
    {"id": "f4", "problem": "In the figure below, triangle ABC is right-angled at C with AC = 3 and BC = 4. Find AB.", "answer": "5"},
    {"id": "k1", "problem": "Find the number of positive divisors of 360.", "answer": "24"},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A math run over two sources with long names; returns (summary, run directory)."""
    tmp = tmp_path_factory.mktemp("cli-output")
    first = write_jsonl(tmp / "rllm_math_train_with_a_long_name.jsonl", ROWS[:5])
    second = write_jsonl(tmp / "numina_synthetic_amc.jsonl", ROWS[5:])
    pipeline = load_pipeline(MATH_YAML)
    return run_pipeline(pipeline, [str(first), str(second)], tmp / "run"), tmp / "run"


def rendered(print_fn, width=80) -> str:
    """What a terminal `width` columns wide shows (rich measures the terminal; a real one is checked in tmux)."""
    buffer = io.StringIO()
    saved = cli.out
    cli.out = Console(file=buffer, width=width, force_terminal=True, color_system=None)
    try:
        print_fn()
    finally:
        cli.out = saved
    return buffer.getvalue()


def test_summary_at_80_columns_splits_no_number_and_no_name(run):
    # Before: `exact_duplicate=35` / `7` and `rllm` / `_mat` across lines, and blank lines before the table.
    summary, _ = run
    text = rendered(lambda: cli._print_summary(summary))
    lines = text.splitlines()
    assert lines[0].startswith("acecurate: ") and all(len(line) <= 80 for line in lines)
    words = {w.strip(",") for line in lines for w in line.split()}
    for s in summary.stages:
        assert s.name in words
        for reason, count in s.reasons.items():
            assert f"{reason}={count}" in words, reason
    assert {"rllm_math_train_with_a_long_name", "numina_synthetic_amc"} <= words


def test_stages_fit_a_terminal():
    text = rendered(lambda: cli.stages_command(markdown=False))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and "validate-tests" in lines
    # every column name of a stage is whole on its line
    assert any("reference_time_s, tests_verified" in line for line in lines)


def test_help_shows_no_value_type_for_flags():
    result = runner.invoke(app, ["validate-tests", "--help"], terminal_width=80)
    assert result.exit_code == 0 and "<bool>" not in result.output and "--require-reference / --no-require-reference" in result.output


def test_ctrl_c_says_what_was_kept_and_how_to_resume(tmp_path):
    rows = [
        {"id": f"r{i}", "problem": f"Compute ${i} \\cdot {i + 7} + {i % 13}$.", "answer": str(i * (i + 7) + i % 13)} for i in range(4000)
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    (tmp_path / "p.yaml").write_text("domain: math\nstages:\n  - dedup: {}\n  - answer-check: {}\n  - near-dedup: {}\n")
    command = [sys.executable, "-m", "acecurate.cli", "filter", str(src), "-p", str(tmp_path / "p.yaml"), "-o", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "run/01-dedup/stats.json").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = process.communicate(timeout=120)
    # Before: exit 130 and nothing said
    assert process.returncode == 130, err
    assert "interrupted" in err and "01-dedup" in err and "Run the same command again" in err and "Traceback" not in err


def test_time_left_counts_only_this_runs_work(monkeypatch):
    # Before: 900 cached results counted as done in the first second, so the rate said "about 0 s left".
    from acecurate import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    stream = io.StringIO()
    with progress.LineProgress(stream, interval=5).task("validate-tests: run references", 1000) as task:
        task.cached(900)
        for _ in range(10):
            now[0] += 1.0
            task.advance(1)
    first = stream.getvalue().splitlines()[0]
    assert "5/100 (5%) (900 more cached) in 5 s, about 95 s left" in first


def test_output_errors_are_one_line(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS[:2])
    run_pipeline(pipeline_from_dict({"domain": "math", "stages": [{"dedup": {}}]}, "m"), [str(src)], tmp_path / "run", write_card=False)
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes through permissions: a read-only file system is what stops it
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(locked)], capture_output=True)
        if mounted.returncode:
            pytest.skip(f"cannot mount a read-only file system here: {mounted.stderr.decode().strip()}")
    else:
        locked.chmod(0o555)
    try:
        result = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "verl", "--out", str(locked / "x")])
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(locked)], check=True)
        locked.chmod(0o755)
    # Before: a 30-line traceback
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_card_shows_reasons_per_source_examples_and_honest_plots(run):
    summary, run_dir = run
    card = (run_dir / "README.md").read_text()
    # per source x reason, with the counts of each source
    section = card.split("### Per source")[1].split("###")[0]
    assert "| rllm_math_train_with_a_long_name | numina_synthetic_amc |" in section
    assert "| dedup | `exact_duplicate` | 1 |  | 1 |" in section
    # a few removed rows of each reason, with their evidence
    examples = card.split("### Examples")[1].split("## What each stage reports")[0]
    for s in summary.stages:
        for reason in s.reasons:
            assert f"**{s.name}: `{reason}`**" in examples
    assert "evidence: same normalised statement as kept row 'a1'" in examples
    # skipped stages say so in the funnel instead of looking like stages that ran; no placeholder repository link
    assert (
        "| majority-check | 2 | 2 | 0 |" in card
        and "| skipped: no model given" in card
        and "| ran |" in card
        and "github.com/acecurate" not in card
    )
    assert (run_dir / "funnel.png").stat().st_size > 0 and (run_dir / "lengths.png").stat().st_size > 0


def test_length_plot_stops_at_the_data(tmp_path):
    from acecurate.card import _lengths_plot

    frame = pd.DataFrame({"problem": ["x" * (100 + i) for i in range(200)] + ["y" * 90_000]})
    note = _lengths_plot(frame, tmp_path / "lengths.png")
    # Before: one 90,000-character problem stretched the axis and the 200 others were one bar at the left
    assert note.startswith("2 problems longer than") and "the longest: 90,000" in note


@needs_bwrap
def test_card_counts_tests_per_code_problem_and_says_1_problem(tmp_path):
    rows = [
        {"id": "c1", "problem": "Print the sum of two integers.", "tests": json.loads(stdin_tests(("1 2\n", "3\n"), ("2 2\n", "4\n")))},
        {"id": "c2", "problem": "Print the product of two integers.", "tests": json.loads(stdin_tests(("2 3\n", "6\n")))},
    ]
    rows[0]["solutions"] = ["a, b = map(int, input().split())\nprint(a + b)\n"]
    src = write_jsonl(tmp_path / "code.jsonl", rows)
    run_pipeline(pipeline_from_dict({"domain": "code", "stages": [{"validate-tests": {}}]}, "c"), [str(src)], tmp_path / "run")
    card = (tmp_path / "run/README.md").read_text()
    assert "## Tests per code problem" in card and "| 1 | 1 |" in card and "| 2 | 1 |" in card
    # Before: "1 problems kept with `tests_verified: false`"
    assert "1 problem kept with `tests_verified: false`" in card


def test_a_small_source_that_loses_everything_is_flagged(tmp_path):
    tiny = write_jsonl(tmp_path / "tiny.jsonl", [ROWS[3], ROWS[4]])  # two rows, both multiple choice or proofs
    other = write_jsonl(tmp_path / "other.jsonl", [ROWS[7]])
    summary = run_pipeline(
        pipeline_from_dict({"domain": "math", "stages": [{"format-filter": {}}]}, "m"), [str(tiny), str(other)], tmp_path / "r"
    )
    # Before: no warning for sources under 10 rows
    assert any("format-filter removed 2 of 2 rows of source 'tiny'" in w for w in summary.warnings)


def test_train_says_how_many_code_prompts_have_unverified_tests(tmp_path):
    rows = [
        {"id": "v", "problem": "Echo a number.", "tests": json.loads(stdin_tests(("1\n", "1\n"))), "solutions": ["print(input())\n"]},
        {"id": "u", "problem": "Echo a word.", "tests": json.loads(stdin_tests(("a\n", "a\n")))},  # no reference: unverified
    ]
    frame = pd.DataFrame(
        [
            {
                "id": r["id"],
                "source": "s",
                "source_row": k + 1,
                "domain": "code",
                "problem": r["problem"],
                "tests": json.dumps(r["tests"]),
                "tests_verified": k == 0,
            }
            for k, r in enumerate(rows)
        ]
    )
    (tmp_path / "code/data").mkdir(parents=True)
    frame.to_parquet(tmp_path / "code/data/train.parquet")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: m\nstages:\n  - {name: code, domain: code, max_response_tokens: 64, rollouts: 2, epochs: 1}\n")
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--code", str(tmp_path / "code"), "--dry-run"])
    assert result.exit_code == 0, result.output
    # Before: nothing said, and both prompts trained on
    assert "1 prompt of" in result.output and "left out, as in the paper" in result.output
    assert "recipe.include_unverified_tests=true" in result.output
    plan_row = next(line for line in result.output.splitlines() if line.startswith("│ code "))
    assert [cell.strip() for cell in plan_row.split("│")][7] == "1"  # prompts: the verified one
    kept = runner.invoke(
        app,
        ["train", "--recipe", str(recipe), "--code", str(tmp_path / "code"), "--dry-run", "--set", "recipe.include_unverified_tests=true"],
    )
    assert "they are trained on" in kept.output


def test_easy_filter_wording(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", [{"id": "c", "problem": "Echo.", "tests": [{"input": "1", "output": "1"}]}])
    run_pipeline(pipeline_from_dict({"domain": "code", "stages": [{"dedup": {}}]}, "c"), [str(src)], tmp_path / "code", write_card=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\nstages:\n  - {name: code, domain: code, max_response_tokens: 64, rollouts: 2, steps: 1, easy_filter: {max_solved: 6, out_of: 16}}\n"
    )
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--code", str(tmp_path / "code"), "--dry-run"])
    # Before: "easy-prompt filter uses the nothing: ..."
    assert "the easy-prompt filter has no pass rates: the curated code dataset has no pass_count" in result.output
    assert "uses the nothing" not in result.output
