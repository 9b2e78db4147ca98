"""One grading policy for training rewards, evaluation and curation: its record, its per-row limits, its truncation
rule, regrading of stored verdicts whenever it or a grader changes, and one verdict for one response whichever of
`train`, `eval` and the difficulty stage grades it (the real math grader, the real sandbox)."""

import asyncio
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.records import load_inputs
from acecurate.sampling import build_prompt, grpo_row, prompt_id
from acecurate.sampling.collect import SamplerConfig, collect, reference_key, sample_records
from acecurate.sampling.protocol import BackendInfo, Completion
from acecurate.sampling.store import SampleStore
from acecurate.verify import policy as policy_module
from acecurate.verify.math import MathGrader
from acecurate.verify.policy import GradingPolicy
from acecurate.verify.responses import Verdict, grade_responses

from .conftest import needs_bwrap, stdin_tests, write_jsonl

runner = CliRunner()
SLOW_ONE = "</think>\n```python\nimport time\ntime.sleep(1.5)\nprint(1)\n```"  # right, in 1.5 s
FAST_ONE = "</think>\n```python\nprint(1)\n```"
PRINT_ONE = stdin_tests(("", "1\n"))


def test_the_policy_record_is_json_and_says_what_changed(monkeypatch):
    policy = GradingPolicy(require_think_close=False, time_limit_s=2.0)
    record = json.loads(policy.to_json())
    assert GradingPolicy.from_dict(record) == policy  # an export's record rebuilds the policy
    assert set(record) >= {"require_think_close", "truncated", "time_limit_s", "allow_inline_asserts", "math_grader", "code_grader"}
    assert record["judge_environment"] and policy.stale_fields(record) == []
    assert GradingPolicy().stale_fields(record) == ["require_think_close", "time_limit_s"]
    assert "math_timeout_s" in policy.stale_fields({**record, "math_timeout_s": 9.0})
    assert policy.stale_fields("not json") == sorted(record)  # no readable record: everything is stale
    real = policy_module.grader_versions()
    monkeypatch.setattr(policy_module, "grader_versions", lambda: {**real, "math_grader": "x"})
    assert policy.stale_fields(record) == ["math_grader"]  # a grader fix makes stored verdicts stale
    with pytest.raises(ValueError, match="not fields of a grading policy: colour"):
        GradingPolicy.from_dict({**record, "colour": "red"})
    with pytest.raises(ValueError, match="truncated must be one of wrong, graded"):
        GradingPolicy(truncated="half")


def test_a_rows_own_limit_applies_where_it_is_lower():
    policy = GradingPolicy(time_limit_s=4.0)
    assert (policy.limits(1.5).time_s, policy.limits(1.5).cpu_s) == (1.5, 2)  # CPU seconds follow the wall limit
    assert policy.limits(9.0).time_s == 4.0  # never above the policy's
    for missing in (None, float("nan"), 0, -1.0, "2", True):  # no own limit
        assert policy.limits(missing).time_s == 4.0, missing
    assert GradingPolicy(per_row_limits=False).limits(1.5).time_s == 4.0
    assert policy.limits(1.5).memory_mb == policy.memory_mb


@needs_bwrap
def test_truncation_rule_and_row_limits_decide_before_the_graders():
    domains = ["math", "math", "code", "code", "code"]
    texts = ["</think> \\boxed{4}", "</think> \\boxed{4}", SLOW_ONE, SLOW_ONE, FAST_ONE]
    golds = ["4", "4", None, None, None]
    tests = [None, None, PRINT_ONE, PRINT_ONE, PRINT_ONE]
    limits = [None, None, 1.0, None, 1.0]  # the slow program's row has its own 1 s limit; the next row has none
    cut = [False, True, False, False, True]
    with MathGrader(workers=1) as grader:
        wrong = grade_responses(domains, texts, golds, tests, grader, 2, GradingPolicy(), time_limits=limits, truncated=cut)
        graded = grade_responses(
            domains, texts, golds, tests, grader, 2, GradingPolicy(truncated="graded"), time_limits=limits, truncated=cut
        )
    assert [(v.status, v.correct) for v in wrong] == [
        ("correct", True),
        ("truncated", False),  # a truncated completion is wrong, whatever it boxed
        ("time_limit", False),  # 1.5 s under the row's own 1 s
        ("passed", True),  # the same program under the policy's 4 s
        ("truncated", False),
    ]
    assert [v.correct for v in graded] == [True, True, False, True, True]


def _fill(store, frame, texts, finish, model="m", settings=None, graded_under=("{}", "stale")):
    """Store the given samples for every row as if a model had produced them, with a made-up verdict (correct) given
    under no policy: every one of them is stale."""
    settings = settings or SamplerConfig(model=model).settings()
    for _, row in frame.iterrows():
        completions = [Completion(t, 3, f) for t, f in zip(texts, finish)]
        fake = [Verdict("prefilled", True, None, "prefilled")] * len(texts)
        pid = prompt_id(build_prompt(row["domain"], row["problem"], None))
        store.add(sample_records(pid, row["id"], model, settings, 0, completions, fake, BackendInfo("fake", model, "r"), graded_under))


def test_stored_samples_are_regraded_whenever_the_policy_a_grader_or_the_reference_changes(tmp_path, monkeypatch):
    frame = pd.DataFrame([{"id": "m1", "domain": "math", "problem": "Compute 2 plus 2.", "answer": "4"}])
    store = SampleStore(tmp_path / "samples.sqlite")
    _fill(store, frame, ["</think> \\boxed{4}", "</think> \\boxed{4}"], ["stop", "length"])
    sampler = SamplerConfig(model="m")  # every sample is in the store: nothing is generated, no model is loaded

    def run(policy, rows=frame):
        collected = collect(rows, sampler, 2, store, workers=1, policy=policy)
        return collected.regraded, collected.regraded_because, list(collected.samples["correct"])

    assert run(GradingPolicy()) == (2, ["(no record)", "reference"], [1, 0])  # made-up verdicts are never reused
    assert run(GradingPolicy())[0] == 0  # the same policy: reused
    assert run(GradingPolicy(truncated="graded")) == (2, ["truncated"], [1, 1])
    assert run(GradingPolicy(truncated="graded", allow_inline_asserts=True))[:2] == (2, ["allow_inline_asserts"])
    real = policy_module.grader_versions()
    monkeypatch.setattr(policy_module, "grader_versions", lambda: {**real, "math_grader": "v2"})
    assert run(GradingPolicy(truncated="graded", allow_inline_asserts=True))[:2] == (2, ["math_grader"])
    assert run(GradingPolicy(truncated="graded", allow_inline_asserts=True), frame.assign(answer="5")) == (2, ["reference"], [0, 0])
    stored = store.samples("m", sampler.settings().key())
    assert {json.loads(p)["math_grader"] for p in stored["policy"]} == {"v2"}
    assert set(stored["reference_key"]) == {reference_key("5", None, None)}
    store.close()


@needs_bwrap
def test_same_verdict_from_the_training_reward_eval_and_the_difficulty_stage(tiny_model, tmp_path):
    """The same responses (a truncated one, and a slow program on a code row with its own 1 s limit among them)
    graded by `train`'s reward function (called as GRPOTrainer calls it, with the tiny model's token ids), by
    `acecurate eval` and by the difficulty stage: one verdict each."""
    pytest.importorskip("transformers", reason="needs acecurate[train]")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from acecurate.eval import eval_config, load_benchmarks, run_eval
    from acecurate.stage import RunContext
    from acecurate.stages.sampled import DifficultyConfig, difficulty
    from acecurate.train.rewards import RolloutLog, make_reward, stop_token_ids

    math_rows = [{"id": "m1", "problem": "Compute 2 plus 2.", "answer": "4"}]
    code_rows = [
        {"id": "c-own", "problem": "Print one.", "tests": [{"input": "", "output": "1\n", "testtype": "stdin"}], "time_limit_s": 1.0},
        {"id": "c-default", "problem": "Print the number one.", "tests": [{"input": "", "output": "1\n", "testtype": "stdin"}]},
    ]
    samples = {
        "math": (["</think> so \\boxed{4}", "</think> so \\boxed{4}", "</think> \\boxed{5}"], ["stop", "length", "stop"]),
        "code": ([SLOW_ONE, FAST_ONE, FAST_ONE], ["stop", "stop", "length"]),
    }
    policy = GradingPolicy()  # R1-style, truncated completions wrong, 4 s per test or the row's own lower limit
    sampler = {"model": str(tiny_model), "backend": "transformers", "max_tokens": 64}

    def verdicts(store_path, settings) -> dict:
        store = SampleStore(store_path)
        stored = store.samples(str(tiny_model), settings.key())
        store.close()
        return {(r.prompt_id, r.sample_index): (r.status, bool(r.correct)) for r in stored.itertuples()}

    # eval: the responses stored as the tiny model's samples (with made-up verdicts), graded by the eval itself.
    files = {"math": write_jsonl(tmp_path / "m.jsonl", math_rows), "code": write_jsonl(tmp_path / "c.jsonl", code_rows)}
    config = eval_config({"bench_files": [str(f) for f in files.values()], "samples": 3, "sampler": sampler})
    settings = config.sampler.settings()
    store = SampleStore(tmp_path / "eval/cache/samples.sqlite")
    for bench in load_benchmarks(config):
        _fill(store, bench.rows, *samples[bench.domain], model=str(tiny_model), settings=settings)
    store.close()
    results = run_eval(config, tmp_path / "eval", workers=2)
    assert results["samples_generated"] == 0 and results["grading"]["policy"] == policy.to_dict()
    by_eval = verdicts(tmp_path / "eval/cache/samples.sqlite", settings)

    # the difficulty stage on the same rows as a curated dataset holds them (its own store, made-up verdicts too).
    by_difficulty, curated = {}, {}
    for domain, path in files.items():
        frame = load_inputs([str(path)]).frame
        curated[domain] = frame
        run = tmp_path / f"difficulty-{domain}"
        store = SampleStore(run / "cache/samples.sqlite")
        _fill(store, frame, *samples[domain], model=str(tiny_model), settings=settings)
        store.close()
        stage = DifficultyConfig(sampler=SamplerConfig(**sampler), n=3, keep=[0, 3], grading=policy)
        difficulty(frame, stage, RunContext(run, run, domain, 2))
        by_difficulty.update(verdicts(run / "cache/samples.sqlite", settings))

    # train: the reward function of a stage, called as GRPOTrainer calls it, on the rows it gives the trainer.
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model)
    stop = stop_token_ids(model, tokenizer)
    reward = make_reward(RolloutLog(tmp_path / "rollouts.jsonl"), 64, workers=2, policy=policy, stop_ids=stop)
    by_train = {}
    try:
        for domain, frame in curated.items():
            rows = [grpo_row(domain, record) for record in frame.to_dict("records") for _ in range(3)]
            texts, finish = samples[domain]
            texts, finish = texts * len(frame), finish * len(frame)
            ids = [
                tokenizer(t, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if f == "stop" else [])
                for t, f in zip(texts, finish)
            ]
            columns = {key: [r[key] for r in rows] for key in ("domain", "answer", "tests", "prompt_id", "time_limit_s")}
            completions = [[{"role": "assistant", "content": t}] for t in texts]
            rewards = asyncio.run(reward(prompts=[r["prompt"] for r in rows], completions=completions, completion_ids=ids, **columns))
            reward.flush()  # the log is written on a background thread, as while a step's update runs
            logged = [json.loads(line) for line in (tmp_path / "rollouts.jsonl").read_text().splitlines()][-len(rows) :]
            for k, (row, value, line) in enumerate(zip(rows, rewards, logged)):
                assert line["policy"] == policy.to_dict() and value == line["reward"]
                by_train[(row["prompt_id"], k % 3)] = (line["status"], value == 1.0)
    finally:
        reward.close()

    assert by_train == by_eval == by_difficulty and len(by_train) == 9
    pid = {r["id"]: prompt_id(build_prompt(d, r["problem"])) for d, rs in (("math", math_rows), ("code", code_rows)) for r in rs}
    assert [by_train[(pid["m1"], k)][0] for k in range(3)] == ["correct", "truncated", "wrong"]
    assert [by_train[(pid["c-own"], k)][0] for k in range(3)] == ["time_limit", "passed", "truncated"]  # its own 1 s
    assert [by_train[(pid["c-default"], k)][0] for k in range(3)] == ["passed", "passed", "truncated"]  # the policy's 4 s
    math_scores = results["benchmarks"]["m"]["scores"]  # with and without the truncated sample
    assert math_scores["avg"] == pytest.approx(1 / 3) and math_scores["avg_finished"] == pytest.approx(1 / 2)


def test_verify_math_takes_the_policy_a_record_and_the_truncation_rule(tmp_path):
    response = ["--gold", "4", "--response", "so \\boxed{4}"]  # neither tag: no answer while require_think_close is on
    assert runner.invoke(app, ["verify", "math", *response]).exit_code == 1
    record = tmp_path / "rollout.json"  # a line of rollouts.jsonl carries the policy it was graded under
    record.write_text(json.dumps({"reward": 1.0, "policy": GradingPolicy(require_think_close=False).to_dict()}))
    graded = runner.invoke(app, ["verify", "math", *response, "--policy", str(record)], env={"COLUMNS": "200"})
    assert graded.exit_code == 0 and "require_think_close off" in graded.output, graded.output
    cut = runner.invoke(app, ["verify", "math", *response, "--policy", str(record), "--truncated"], env={"COLUMNS": "200"})
    assert cut.exit_code == 1 and "truncated" in cut.output and "truncated completions are wrong" in cut.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"require_think_close": True, "colour": 1}))
    refused = runner.invoke(app, ["verify", "math", *response, "--policy", str(bad)])
    assert refused.exit_code == 2 and "not a grading policy record" in refused.output and "colour" in refused.output


@needs_bwrap
def test_verify_code_applies_a_rows_own_limit(tmp_path):
    solution = tmp_path / "slow.py"
    solution.write_text("import time\ntime.sleep(1.5)\nprint(1)\n")
    tests = tmp_path / "tests.json"
    tests.write_text(PRINT_ONE)
    base = ["verify", "code", "--solution", str(solution), "--tests", str(tests)]
    assert runner.invoke(app, base).exit_code == 0
    own = runner.invoke(app, [*base, "--row-time-limit", "1"], env={"COLUMNS": "200"})
    assert own.exit_code == 1 and "time_limit" in own.output and "this run: 1 s per test" in own.output, own.output


def test_a_grader_change_reruns_the_stages_it_could_have_decided(tmp_path, monkeypatch):
    from acecurate import pipeline as pipeline_module
    from acecurate.pipeline import pipeline_from_dict, run_pipeline

    src = write_jsonl(tmp_path / "m.jsonl", [{"problem": "Compute 2 plus 2, please.", "answer": "4"}])
    config = pipeline_from_dict({"name": "m", "domain": "math", "stages": [{"answer-check": {}}]}, "t")
    run_pipeline(config, [str(src)], tmp_path / "run", write_card=False)
    assert run_pipeline(config, [str(src)], tmp_path / "run", write_card=False).stages[1].cached  # unchanged: reused
    real = policy_module.grader_versions()
    monkeypatch.setattr(pipeline_module, "grader_versions", lambda: {**real, "math_grader": "fixed"})
    assert not run_pipeline(config, [str(src)], tmp_path / "run", write_card=False).stages[1].cached
