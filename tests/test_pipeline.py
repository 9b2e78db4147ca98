"""Pipeline configs, column checks, per-stage outputs, caching and the `filter` command end to end."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.errors import ConfigError
from acecurate.pipeline import check_columns, load_pipeline, pipeline_from_dict, run_pipeline

from .conftest import REPO, needs_bwrap, write_jsonl

runner = CliRunner()


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_loads(path):
    """Curation pipelines and training recipes share one config schema style; every shipped file must load."""
    import yaml

    if "model" in yaml.safe_load(path.read_text()):
        from acecurate.train.recipe import load_recipe

        assert load_recipe(path).stages
    else:
        pipeline = load_pipeline(path)
        assert pipeline.stages and pipeline.domain in ("math", "code")


def test_all_config_problems_reported_at_once():
    with pytest.raises(ConfigError) as err:
        pipeline_from_dict(
            {
                "domain": "maths",
                "colour": 1,
                "stages": [
                    {"dedup": {"priority": ["a"]}},  # unknown key (it is source_priority)
                    {"decontaminate": {"n": "nine", "match": "any"}},  # wrong type
                    {"no-such-stage": {}},
                ],
            },
            "test.yaml",
        )
    problems = err.value.problems
    assert len(problems) == 5
    joined = "\n".join(problems)
    for fragment in ["colour", "domain", "'priority'", "decontaminate.n", "no-such-stage"]:
        assert fragment in joined


def test_set_override_applies_and_unknown_stage_is_an_error():
    pipeline = load_pipeline(REPO / "pipelines/math.yaml", ["decontaminate.n=13", "near-dedup.threshold=0.9"])
    configs = {s.stage: s.config for s in pipeline.stages}
    assert configs["decontaminate"].n == 13 and configs["near-dedup"].threshold == 0.9
    with pytest.raises(ConfigError, match="no stage 'dedupe'"):
        load_pipeline(REPO / "pipelines/math.yaml", ["dedupe.by_url=false"])


def test_column_check_fails_before_work():
    pipeline = pipeline_from_dict({"domain": "math", "stages": [{"answer-check": {}}]}, "p.yaml")
    with pytest.raises(ConfigError, match="needs column"):
        check_columns(pipeline, {"id", "problem"})


def _math_rows():
    return [
        {"problem": "What is the sum of the first 100 positive integers?", "answer": "5050"},  # kept
        {"problem": "What is the  sum of the first $100$ positive integers?", "answer": "5050"},  # exact duplicate
        {"problem": "Which of the following is prime? (A) 21 (B) 27 (C) 29 (D) 33", "answer": "C"},  # mcq
        {"problem": "Find the number of positive divisors of 360.", "answer": "24"},  # kept
    ]


def test_run_writes_every_stage_and_resumes(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _math_rows())
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    out = tmp_path / "run"
    summary = run_pipeline(pipeline, [str(src)], out)
    assert summary.rows_out == 2
    for i, stage in enumerate(pipeline.stages):
        folder = out / f"{i:02d}-{stage.stage}"
        assert {p.name for p in folder.iterdir()} >= {"kept.parquet", "removed.parquet", "stats.json", "config.json"}
    removed = pd.read_parquet(out / "removed.parquet")
    assert sorted(removed["reason"]) == ["exact_duplicate", "mcq"]
    assert set(removed["removed_by"]) == {"dedup", "format-filter"}
    train = pd.read_parquet(out / "data/train.parquet")
    assert len(train) + len(removed) == 4
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "| dedup |" in card and "`mcq`" in card
    assert (out / "funnel.png").stat().st_size > 0

    # Unchanged rerun: every stage cached. Changed setting: that stage and the ones after it rerun.
    again = run_pipeline(pipeline, [str(src)], out)
    assert all(s.cached for s in again.stages)
    changed = run_pipeline(load_pipeline(REPO / "pipelines/math.yaml", ["decontaminate.min_coverage=0.6"]), [str(src)], out)
    # (input-check, clean-prompts, dedup and near-dedup come before decontaminate)
    assert [s.cached for s in changed.stages] == [True] * 4 + [False] * (len(changed.stages) - 4)


def test_a_rule_changed_in_place_reruns_every_stage(tmp_path, monkeypatch):
    # Before, the cache keyed on the config, the input and the version number: a rule fixed without a version bump
    # (a development install, a patched package) left every stage's old verdicts "cached".
    import acecurate.pipeline as pipeline_module

    src = write_jsonl(tmp_path / "in.jsonl", _math_rows())
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    run_pipeline(pipeline, [str(src)], tmp_path / "run")
    assert all(s.cached for s in run_pipeline(pipeline, [str(src)], tmp_path / "run").stages)
    digest = pipeline_module.rules_version()
    assert len(digest) == 12 and digest == pipeline_module.source_digest(pipeline_module.RULE_FILES)
    monkeypatch.setattr(pipeline_module, "rules_version", lambda: "another-rule")
    assert not any(s.cached for s in run_pipeline(pipeline, [str(src)], tmp_path / "run").stages)


def test_incomplete_stage_reruns(tmp_path):
    # A stage whose stats.json (written last) is missing did not finish: it must run again.
    src = write_jsonl(tmp_path / "in.jsonl", _math_rows())
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    run_pipeline(pipeline, [str(src)], tmp_path / "run")
    (tmp_path / "run/03-near-dedup/stats.json").unlink()
    again = run_pipeline(pipeline, [str(src)], tmp_path / "run")
    assert [s.cached for s in again.stages][:4] == [True, True, True, False]


def test_filter_command_end_to_end(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _math_rows())
    result = runner.invoke(app, ["filter", str(src), "--pipeline", str(REPO / "pipelines/math.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "kept 2 of 4 rows" in result.output
    stats = json.loads((tmp_path / "o/02-dedup/stats.json").read_text())
    assert stats["removed"] == 1 and stats["duplicate_groups"] == 1


def test_cli_bad_input_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem": "x", "answer": "1"}\n{oops\n')
    result = runner.invoke(app, ["filter", str(bad), "--pipeline", str(REPO / "pipelines/math.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "line 2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()  # no partial output


def test_single_stage_commands(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", _math_rows())
    result = runner.invoke(app, ["dedup", str(src), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "d/data/train.parquet")) == 3
    result = runner.invoke(app, ["format-filter", str(src), "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(tmp_path / "f/removed.parquet")["reason"]) == ["mcq"]


def demo(tmp_path, yaml_name, inputs):
    """The README's demo command on the bundled examples."""
    args = ["filter", *[str(REPO / "examples" / i) for i in inputs], "--pipeline", str(REPO / "pipelines" / yaml_name)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / yaml_name)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(tmp_path / yaml_name / "removed.parquet")


def test_bundled_math_example_runs(tmp_path):
    removed = demo(tmp_path, "math.yaml", ["math_sample.jsonl", "numina_sample.json"])
    assert len(removed) and removed["evidence"].str.len().gt(0).all()


@needs_bwrap  # validate-tests runs the references in the sandbox
def test_bundled_code_example_runs(tmp_path):
    removed = demo(tmp_path, "code.yaml", ["code_sample.jsonl"])
    assert set(removed["reason"]) == {
        "duplicate_url",
        "after_cutoff:2024-08-01",
        "interactive",
        "special_judge",
        "no_passing_reference",
        "hackable_tests",
    }


def test_rows_stream_through_stages_in_batches_as_one_batch(tmp_path, monkeypatch):
    # The runner joins what each stage decided back to the full rows on disk, batch by batch. With batches of 2 rows,
    # kept and removed rows, the problem clean-prompts rewrote and the evidence dedup added must land on the same rows
    # as with one batch, and every column the stages were not handed (meta) must come through.
    rows = [
        {
            "id": "a",
            "problem": "A train travels 60 miles in 1.5 hours. What is its average speed in miles per hour?\n\nPlease reason step by step, and put your final answer within \\boxed{}.",
            "answer": "40",
            "tag": "t1",
        },
        {"id": "b", "problem": "Find the number of positive divisors of 360.", "answer": "24", "tag": "t2"},
        {"id": "c", "problem": "Which of the following is prime? (A) 21 (B) 27 (C) 29 (D) 33", "answer": "C", "tag": "t3"},
        {"id": "d", "problem": "Find the number of positive  divisors of $360$.", "answer": "24", "tag": "t4"},  # b's copy
        {"id": "e", "problem": "What is 7 times 6?", "answer": "42", "tag": "t5"},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    stages = [{"clean-prompts": {"rules": ["duplicated_instruction"]}}, {"dedup": {}}, {"format-filter": {}}]
    pipeline = pipeline_from_dict({"domain": "math", "stages": stages}, "p.yaml")
    one = run_pipeline(pipeline, [str(src)], tmp_path / "one", write_card=False)
    monkeypatch.setattr("acecurate.pipeline.BATCH_ROWS", 2)
    batched = run_pipeline(pipeline, [str(src)], tmp_path / "batched", write_card=False)
    for name in ("data/train.parquet", "removed.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(batched.run_dir / name), pd.read_parquet(one.run_dir / name))
    kept = pd.read_parquet(batched.train_path).set_index("id")
    removed = pd.read_parquet(batched.removed_path).set_index("id")
    assert list(kept.index) == ["a", "b", "e"] and kept.at["a", "problem"].endswith("miles per hour?")
    assert [json.loads(m)["tag"] for m in kept["meta"]] == ["t1", "t2", "t5"]
    assert removed.at["d", "dup_of"] == "b" and removed.at["d", "reason"] and removed.at["c", "removed_by"] == "format-filter"
    assert json.loads(removed.at["d", "meta"])["tag"] == "t4"
