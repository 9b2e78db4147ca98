"""What a production user hit: permissions, bad output paths, logs without a terminal, absurd rows, 1-based errors,
ids that join back to the input, one schema for math and code, mixed domains, exports, resumable test validation."""

import io
import json
import os
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.errors import AcecurateError, ConfigError, InputError
from acecurate.io import read_records
from acecurate.pipeline import load_pipeline, pipeline_from_dict, run_pipeline
from acecurate.progress import LineProgress
from acecurate.records import load_inputs, parse_mapping

from .conftest import REPO, needs_bwrap, write_jsonl

runner = CliRunner()
MATH_YAML = REPO / "pipelines/math.yaml"


def math_rows():
    return [
        {"id": "q1", "problem": "What is the sum of the first 100 positive integers?", "answer": "5050"},
        {"id": "q2", "problem": "What is the  sum of the first $100$ positive integers?", "answer": "5050"},  # exact duplicate of q1
        {"id": "q3", "problem": "Find the number of positive divisors of 360.", "answer": "24"},
    ]


def test_outputs_are_readable_by_others(tmp_path):
    # mkstemp creates 0600 files; a dataset on a shared disk must follow the umask (022 here: 0644).
    old = os.umask(0o022)
    try:
        src = write_jsonl(tmp_path / "in.jsonl", math_rows())
        run_pipeline(load_pipeline(MATH_YAML), [str(src)], tmp_path / "run")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and "cache" not in p.parts]
    assert len(files) > 20
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, path


def test_out_pointing_at_a_file_or_read_only_dir_is_a_clear_error(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", math_rows())
    (tmp_path / "taken").write_text("x")
    result = runner.invoke(app, ["filter", str(src), "-p", str(MATH_YAML), "-o", str(tmp_path / "taken")])
    assert result.exit_code == 2 and "is a file" in result.output and "Traceback" not in result.output
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores mode bits: lock it harder with a file in the way
            result = runner.invoke(app, ["filter", str(src), "-p", str(MATH_YAML), "-o", str(tmp_path / "taken" / "sub")])
            assert result.exit_code == 2 and "cannot create the run directory" in result.output
        else:
            result = runner.invoke(app, ["filter", str(src), "-p", str(MATH_YAML), "-o", str(locked / "run")])
            assert result.exit_code == 2 and "Traceback" not in result.output
    finally:
        locked.chmod(0o755)


def test_plain_progress_lines_in_a_log():
    stream = io.StringIO()
    progress = LineProgress(stream, interval=0)
    with progress.task("validate-tests: run references", 4) as task:
        for _ in range(4):
            task.advance(1)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[progress] validate-tests: run references: 1/4 (25%)")
    assert lines[-1].endswith("done") and "4/4 (100%)" in lines[-1]


def test_summary_table_is_never_cut(tmp_path):
    # CliRunner is not a terminal: the table must hold every reason whole, however wide.
    rows = [{"id": f"r{i}", "problem": "What is the sum of the first 100 positive integers?", "answer": "5050"} for i in range(5)]
    rows += [{"id": "mcq", "problem": "Which of the following is prime? (A) 21 (B) 27 (C) 29 (D) 33", "answer": "C"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = runner.invoke(app, ["filter", str(src), "-p", str(MATH_YAML), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "exact_duplicate=4" in result.output and "…" not in result.output


def test_absurdly_long_problem_is_removed_with_its_own_reason(tmp_path):
    rows = math_rows() + [{"id": "huge", "problem": "Find x. " + "1+" * 60_000, "answer": "1"}]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    summary = run_pipeline(load_pipeline(MATH_YAML, ["input-check.max_problem_chars=100000"]), [str(src)], tmp_path / "run")
    removed = pd.read_parquet(summary.removed_path)
    huge = removed[removed["id"] == "huge"].iloc[0]
    assert huge["reason"] == "problem_too_long" and huge["removed_by"] == "input-check" and "120,008 characters" in huge["evidence"]


def test_mixed_math_and_code_rows_say_why(tmp_path):
    rows = [
        {"id": "m", "problem": "Compute 2+2.", "answer": "4"},
        {"id": "c", "problem": "Print the sum of two integers.", "tests": [{"input": "1 2", "output": "3"}]},
    ]
    src = write_jsonl(tmp_path / "mixed.jsonl", rows)
    summary = run_pipeline(load_pipeline(MATH_YAML), [str(src)], tmp_path / "run")
    removed = pd.read_parquet(summary.removed_path)
    assert list(removed["id"]) == ["c"] and removed["reason"].iat[0] == "other_domain"
    assert removed["evidence"].iat[0] == "a code row (it has tests) in a math pipeline"
    # a single-stage command without --domain cannot guess for mixed rows: it asks
    result = runner.invoke(app, ["dedup", str(src), "-o", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--domain" in result.output


def test_dedup_on_code_detects_the_domain(tmp_path):
    rows = [{"id": f"c{i}", "problem": "Print the sum.", "tests": [{"input": "1 2", "output": "3"}]} for i in range(2)]
    src = write_jsonl(tmp_path / "code.jsonl", rows)
    result = runner.invoke(app, ["dedup", str(src), "-o", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(tmp_path / "d/removed.parquet")["reason"]) == ["exact_duplicate"]


def test_ids_come_back_as_given_and_collisions_are_said(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "clean-12", "problem": "Compute 1+1.", "answer": "2"}])
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [{"id": "clean-12", "problem": "Compute 2+3.", "answer": "5"}, {"id": 7, "problem": "Compute 3+3.", "answer": "6"}],
    )
    loaded = load_inputs([str(a)])
    assert list(loaded.frame["id"]) == ["clean-12"] and not loaded.warnings  # no prefix when nothing collides
    loaded = load_inputs([str(a), str(b)])
    assert list(loaded.frame["id"]) == ["a/clean-12", "b/clean-12", "7"]
    assert list(loaded.frame["source_row"]) == [1, 1, 2]
    assert "2 rows share 1 id(s)" in loaded.warnings[0]
    summary = run_pipeline(load_pipeline(MATH_YAML), [str(a), str(b)], tmp_path / "run")
    assert summary.warnings and "share" in summary.warnings[0]
    assert "share 1 id(s)" in (tmp_path / "run/README.md").read_text()


def test_one_schema_for_math_and_code(tmp_path):
    math_src = write_jsonl(tmp_path / "m.jsonl", math_rows())
    code_src = write_jsonl(tmp_path / "c.jsonl", [{"id": "c", "problem": "Echo.", "tests": [{"input": "1", "output": "1"}]}])
    stages = [{"dedup": {}}]
    run_pipeline(pipeline_from_dict({"domain": "math", "stages": stages}, "m"), [str(math_src)], tmp_path / "m", write_card=False)
    run_pipeline(pipeline_from_dict({"domain": "code", "stages": stages}, "c"), [str(code_src)], tmp_path / "c", write_card=False)
    import pyarrow.parquet as pq
    from datasets import load_dataset

    schemas = [pq.read_schema(tmp_path / d / "data/train.parquet") for d in ("m", "c")]
    assert schemas[0] == schemas[1]
    both = load_dataset("parquet", data_files=[str(tmp_path / d / "data/train.parquet") for d in ("m", "c")], split="train")
    assert sorted(both["domain"]) == ["code", "math", "math"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "folder", "is a directory"),
        (lambda d: d / "dumpfile", "file without an extension"),
    ],
)
def test_paths_that_are_not_dumps(tmp_path, make, message):
    (tmp_path / "folder").mkdir()
    (tmp_path / "dumpfile").write_text('{"problem": "x", "answer": "1"}\n')
    with pytest.raises(InputError, match=message):
        read_records(make(tmp_path))


def test_missing_local_path_is_not_tried_as_a_hub_id(tmp_path):
    # `data/mydump` with `data/` present locally is a missing file, not a Hugging Face id (no network wait).
    (tmp_path / "data").mkdir()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(InputError, match="no such file"):
            read_records("data/mydump")
    finally:
        os.chdir(old)


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"problem": "Compute 1+1.", "answer": "2"}\n')
    assert read_records(path) == [{"problem": "Compute 1+1.", "answer": "2"}]


def test_rows_are_numbered_from_one_everywhere(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"problem": "a", "answer": "1"}, "not an object"]))
    with pytest.raises(InputError, match="row 2"):
        read_records(path)
    path = write_jsonl(tmp_path / "p.jsonl", [{"problem": "a", "answer": "1"}, {"problem": 5, "answer": "1"}])
    with pytest.raises(InputError, match="row 2, column 'problem'"):
        load_inputs([str(path)])


def test_map_names_the_missing_column(tmp_path):
    path = write_jsonl(tmp_path / "o.jsonl", [{"question": "Find n.", "final": "4"}])
    with pytest.raises(InputError) as err:
        load_inputs([str(path)], mapping=parse_mapping("problem=question,answer=final_answer"))
    assert "--map answer=final_answer: there is no column 'final_answer'" in str(err.value) and "final" in str(err.value)


def test_unknown_drop_codes_are_config_errors():
    with pytest.raises(ConfigError, match="unknown reason code"):
        pipeline_from_dict({"domain": "math", "stages": [{"format-filter": {"math": {"drop": ["mcq", "proofs"]}}}]}, "p.yaml")


def test_card_shows_what_stages_report(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", math_rows())
    run_pipeline(load_pipeline(MATH_YAML), [str(src)], tmp_path / "run")
    card = (tmp_path / "run/README.md").read_text()
    assert "**03-decontaminate**" in card and "against aime24 (30)" in card
    assert "Rows kept per source" in card
    stats = json.loads((tmp_path / "run/01-dedup/stats.json").read_text())
    assert stats["per_source"] == {"in": {"in": 3, "kept": 2, "removed": 1, "reasons": {"exact_duplicate": 1}}}


@pytest.mark.parametrize("fmt", ["verl", "openrlhf", "trl", "jsonl"])
def test_export_loads_the_way_each_trainer_reads_it(tmp_path, fmt):
    from datasets import load_dataset

    src = write_jsonl(tmp_path / "in.jsonl", math_rows())
    run_pipeline(load_pipeline(MATH_YAML), [str(src)], tmp_path / "run", write_card=False)
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", fmt, "-o", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    file = next((tmp_path / "x").iterdir())
    ds = load_dataset("parquet" if file.suffix == ".parquet" else "json", data_files=str(file), split="train")
    assert len(ds) == 2
    row = ds[0]
    if fmt == "verl":
        # verl's RLHFDataset: prompt is a chat list; the rule reward reads reward_model.ground_truth by data_source
        assert set(ds.column_names) >= {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        assert row["prompt"][0]["role"] == "user" and row["prompt"][0]["content"].endswith("within \\boxed{}.")
        assert row["reward_model"] == {"style": "rule", "ground_truth": "5050"} and row["ability"] == "math"
        assert row["extra_info"]["id"] == "q1" and row["extra_info"]["index"] == 0
    elif fmt == "openrlhf":
        # OpenRLHF: --input_key input --label_key label --apply_chat_template
        # the label is all OpenRLHF hands the reward function: the domain, the ground truth and the grading settings
        assert row["input"] == [{"role": "user", "content": row["input"][0]["content"]}]
        assert json.loads(row["label"])["truth"] == "5050" and json.loads(row["label"])["domain"] == "math"
    elif fmt == "trl":
        # GRPOTrainer: a conversational `prompt`; the other columns reach reward functions as keyword arguments
        from acecurate.sampling import build_prompt, prompt_id

        text = build_prompt("math", math_rows()[0]["problem"])
        assert row["prompt"] == [{"role": "user", "content": text}] and row["prompt_id"] == prompt_id(text)
        assert row["domain"] == "math" and row["answer"] == "5050"
    else:
        assert row["id"] == "q1" and row["problem"] == math_rows()[0]["problem"]


def test_export_of_a_missing_run_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["export", str(tmp_path / "nothing"), "--format", "verl", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no curated dataset" in result.output


def test_one_off_grade_keeps_the_shared_graders_timeout():
    from acecurate.verify.math import grade, shared_grader

    assert grade("</think> \\boxed{2}", "2", timeout=7.0).correct
    assert grade("</think> \\boxed{3}", "2").status == "wrong"
    assert shared_grader().timeout == 5.0 and shared_grader(7.0).timeout == 7.0


def test_importing_the_sandbox_runner_runs_nothing():
    import subprocess
    import sys

    from acecurate.sandbox import executor

    # Importing the runner as a module must define functions, not start reading a job from stdin.
    code = f"import importlib.util as u; s = u.spec_from_file_location('runner', {str(executor.Path(executor.__file__).with_name('runner.py'))!r}); m = u.module_from_spec(s); s.loader.exec_module(m); print('imported')"
    done = subprocess.run([sys.executable, "-c", code], input=b"", capture_output=True, timeout=30)
    assert done.stdout.strip() == b"imported", done.stderr


@needs_bwrap
def test_validate_tests_resumes_from_cached_executions(tmp_path, monkeypatch):
    rows = [
        {
            "id": f"p{i}",
            "problem": f"Add {i}.",
            "tests": [{"input": "5\n", "output": f"{35 + i}\n"}],  # answers no reward hack guesses
            "solutions": [f"print(int(input()) * 7 + {i})"],
        }
        for i in range(3)
    ]
    src = write_jsonl(tmp_path / "code.jsonl", rows)
    pipeline = pipeline_from_dict({"domain": "code", "stages": [{"validate-tests": {"time_limit_s": 2.0}}]}, "t")
    first = run_pipeline(pipeline, [str(src)], tmp_path / "run", write_card=False)
    assert first.rows_out == 3
    # A killed run leaves the stage incomplete (no stats.json); the rerun must take every execution from the cache.
    (tmp_path / "run/01-validate-tests/stats.json").unlink()

    def no_sandbox(*args, **kwargs):
        raise AssertionError("re-executed a cached solution")

    monkeypatch.setattr("acecurate.sandbox.cache.grade_many", no_sandbox)
    again = run_pipeline(pipeline, [str(src)], tmp_path / "run", write_card=False)
    assert again.rows_out == 3 and not again.stages[1].cached


def test_validate_tests_verdict_is_stable_under_timing_noise():
    from acecurate.sandbox import SolutionResult, TestVerdict
    from acecurate.stages.validate_tests import ValidateTestsConfig, reference_verdict

    def run(verdict, seconds):
        return SolutionResult(verdict, [TestVerdict(0, verdict, seconds)])

    config = ValidateTestsConfig(time_limit_s=4.0)
    # The word-ladder case: one run times out, the other passes slowly -> both orders give one verdict.
    slow_then_tle = reference_verdict([(run("passed", 3.9), run("time_limit", 4.0))], config)
    tle_then_tle = reference_verdict([(run("time_limit", 4.0), run("time_limit", 4.0))], config)
    assert slow_then_tle[0] == tle_then_tle[0] == "slow_reference"
    assert "run 1 passed" in slow_then_tle[1] and "run 2 time_limit" in slow_then_tle[1]
    # Output that changes between runs is flaky, and the evidence says which reference disagreed.
    flaky = reference_verdict([(run("passed", 0.1), run("wrong_answer", 0.1))], config)
    assert flaky[0] == "flaky_tests" and "reference(s) [1]" in flaky[1]
    assert reference_verdict([(run("wrong_answer", 0.1), run("wrong_answer", 0.1))], config)[0] == "no_passing_reference"
    assert reference_verdict([(run("passed", 0.1), run("passed", 0.2))], config)[0] is None


def test_reward_workers_default_to_every_core():
    from acecurate.train.recipe import load_recipe

    recipe = load_recipe(REPO / "pipelines/acereason-7b.yaml")
    assert recipe.reward_workers is None  # None means os.cpu_count() at run time
    assert load_recipe(REPO / "pipelines/acereason-7b.yaml", ["recipe.reward_workers=16"]).reward_workers == 16


def test_dry_run_says_when_the_easy_filter_has_no_pass_rates(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", [{"id": "c", "problem": "Echo.", "tests": [{"input": "1", "output": "1"}]}])
    run_pipeline(pipeline_from_dict({"domain": "code", "stages": [{"dedup": {}}]}, "c"), [str(src)], tmp_path / "code", write_card=False)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\nstages:\n  - {name: code, domain: code, max_response_tokens: 64, rollouts: 2, steps: 1, "
        "easy_filter: {max_solved: 6, out_of: 16}}\n"
    )
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--code", str(tmp_path / "code"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "has no pass_count" in result.output and "filter is skipped" in result.output and "…" not in result.output


def test_errors_are_acecurate_errors_for_bad_pipeline_files(tmp_path):
    with pytest.raises(AcecurateError, match="no such file"):
        load_pipeline(tmp_path / "nope.yaml")
