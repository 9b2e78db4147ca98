"""`acecurate eval`: benchmark readers (LiveCodeBench's released format, compressed private tests, a refused malicious
pickle), the score estimators on hand-computed cases, and whole evaluations of the tiny local model through the
transformers backend and the OpenAI backend on loopback, checked against the grades in the sample store."""

import base64
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.config import hide_secrets
from acecurate.errors import AcecurateError, InputError
from acecurate.eval.loading import decode_private_tests, load_bench_file, load_benchmark
from acecurate.eval.report import compare_runs
from acecurate.eval.scores import ks_for, paired_difference, paper_model, pass_at_k, scores
from acecurate.sampling.collect import SamplerConfig, collect
from acecurate.sampling.store import SampleStore
from acecurate.verify.policy import GradingPolicy

from .conftest import kill_when_stored, needs_bwrap, write_jsonl

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def compressed(tests: list[dict]) -> str:
    """LiveCodeBench's encoding of private tests: base64 of zlib of a pickled JSON string."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_row(question_id, date, difficulty, public, private, starter="", func_name=None, content=None) -> dict:
    return {
        "question_title": f"title {question_id}",
        "question_content": content or f"Problem {question_id}.",
        "platform": "atcoder" if not starter else "leetcode",
        "question_id": question_id,
        "contest_id": "c1",
        "contest_date": date,
        "starter_code": starter,
        "difficulty": difficulty,
        "public_test_cases": json.dumps(public),
        "private_test_cases": compressed(private),
        "metadata": json.dumps({"func_name": func_name} if func_name else {}),
    }


ADD_STDIN = [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]
ADD_STDIN_PRIVATE = [
    {"input": "5 7\n", "output": "12\n", "testtype": "stdin"},
    {"input": "100 200\n", "output": "300\n", "testtype": "stdin"},
]
ADD_STARTER = "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        "


def lcb_file(directory: Path) -> Path:
    rows = [
        lcb_row("abc1_a", "2024-09-01T00:00:00", "easy", ADD_STDIN, ADD_STDIN_PRIVATE),  # stdin, in v5
        lcb_row(  # functional (LeetCode), in v5: the function name comes from metadata
            "3001",
            "2024-12-01T00:00:00",
            "medium",
            [{"input": "1\n2", "output": "3", "testtype": "functional"}],
            [{"input": "10\n-3", "output": "7", "testtype": "functional"}],
            starter=ADD_STARTER,
            func_name="addTwo",
        ),
        lcb_row("abc0_a", "2024-07-31T00:00:00", "easy", ADD_STDIN, ADD_STDIN_PRIVATE),  # the day before v5: left out
        lcb_row("abc9_a", "2025-03-01T00:00:00", "hard", ADD_STDIN, ADD_STDIN_PRIVATE),  # v6
        lcb_row("abc8_a", "2025-02-01T00:00:00", "hard", ADD_STDIN, ADD_STDIN_PRIVATE),  # v5 ends before this day; v6 starts on it
    ]
    directory.mkdir(parents=True, exist_ok=True)
    return write_jsonl(directory / "livecodebench.jsonl", rows)


def test_livecodebench_format_decodes_with_windows_and_private_tests(tmp_path):
    lcb_file(tmp_path)
    v5 = load_benchmark("lcb-v5", tmp_path)
    assert list(v5.rows["item_id"]) == ["abc1_a", "3001"]
    assert list(v5.rows["difficulty"]) == ["easy", "medium"]
    assert list(v5.rows["private_tests"]) == [2, 1] and not v5.notes
    stdin, functional = (json.loads(t) for t in v5.rows["tests"])
    assert stdin == {"format": "stdin", "cases": [{"input": c["input"], "output": c["output"]} for c in ADD_STDIN + ADD_STDIN_PRIVATE]}
    assert functional["format"] == "functional" and functional["fn_name"] == "addTwo" and len(functional["cases"]) == 2
    assert v5.rows["starter_code"].iat[1] == ADD_STARTER
    v6 = load_benchmark("lcb-v6", tmp_path)
    assert sorted(v6.rows["item_id"]) == ["abc8_a", "abc9_a"]
    assert v5.samples == v6.samples == 8


@needs_bwrap
def test_decoded_private_tests_run_in_the_sandbox(tmp_path):
    """A solution that only reproduces the public example fails on the decoded private tests; a real one passes."""
    from acecurate.verify.math import MathGrader
    from acecurate.verify.responses import grade_responses

    lcb_file(tmp_path)
    tests = list(load_benchmark("lcb-v5", tmp_path).rows["tests"])
    responses = [
        (tests[0], "<think>sum</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```"),
        (tests[0], "</think>\n```python\nprint(3)\n```"),  # passes the public test only
        (tests[1], "</think>\n```python\nclass Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b\n```"),
        (tests[1], "</think>\n```python\nclass Solution:\n    def addTwo(self, a, b):\n        return 3\n```"),  # public only
    ]
    with MathGrader(workers=1) as grader:
        graded = grade_responses(["code"] * 4, [r for _, r in responses], [None] * 4, [t for t, _ in responses], grader, 2)
    assert [g[0] for g in graded] == ["passed", "wrong_answer", "passed", "wrong_answer"]


class RunsCode:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_in_private_tests_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = base64.b64encode(zlib.compress(pickle.dumps(RunsCode(f"touch {marker}")))).decode()
    row = lcb_row("x1", "2024-09-01", "easy", ADD_STDIN, [])
    row["private_test_cases"] = evil
    path = write_jsonl(tmp_path / "evil.jsonl", [lcb_row("ok", "2024-09-01", "easy", ADD_STDIN, ADD_STDIN_PRIVATE), row])
    with pytest.raises(InputError) as caught:
        load_bench_file(str(path))
    message = str(caught.value)
    assert str(path) in message and "row 2" in message and "column 'private_test_cases'" in message
    assert "refused to unpickle: it holds STACK_GLOBAL for posix.system" in message
    assert not marker.exists()
    # Through the command: one clear message, exit 2, no traceback, nothing run.
    result = runner.invoke(app, ["eval", "--model", "m", "--bench-file", str(path), "--out", str(tmp_path / "run")], env=WIDE)
    assert result.exit_code == 2 and "refused to unpickle" in result.output and "Traceback" not in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (pickle.dumps([{"input": "", "output": "1"}]), "refused to unpickle: it holds EMPTY_LIST"),  # data, but not a string
        (pickle.dumps(eval), "refused to unpickle: it holds STACK_GLOBAL for builtins.eval"),  # a bare global
        (pickle.dumps(eval, protocol=0), "refused to unpickle: it holds GLOBAL for __builtin__.eval"),
        (b"\x80\x04(" + b"\x94" * 100 + b".", "refused to unpickle: it holds MARK"),  # the start of a memory bomb
        (b"\x80\x04K", "not a readable pickle"),  # truncated
        (pickle.dumps("not json"), "not JSON"),
    ],
)
def test_only_a_pickled_json_string_is_accepted(payload, why):
    with pytest.raises(ValueError, match=why):
        decode_private_tests(base64.b64encode(zlib.compress(payload)).decode())


def test_private_tests_that_are_not_base64_zlib_are_named():
    with pytest.raises(ValueError, match="neither a JSON list nor base64"):
        decode_private_tests("@@not base64@@")
    with pytest.raises(ValueError, match="not zlib data"):
        decode_private_tests(base64.b64encode(b"plain bytes").decode())
    assert decode_private_tests('[{"input": "1", "output": "2"}]') == [{"input": "1", "output": "2"}]  # some copies store JSON


def test_pass_at_k_matches_the_estimator_on_hand_computed_cases():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(4, 2, 2) == pytest.approx(1 - 1 / 6)  # 1 - C(2,2)/C(4,2)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - 21 / 252)  # 1 - C(7,5)/C(10,5)
    assert pass_at_k(64, 0, 64) == 0.0 and pass_at_k(8, 8, 1) == 1.0
    assert pass_at_k(5, 3, 3) == 1.0  # fewer than k wrong samples: every draw of k holds a correct one
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)
    assert ks_for(8) == [1, 2, 4, 8] and ks_for(6) == [1, 2, 4, 6] and ks_for(1) == [1]


def test_scores_on_a_hand_computed_benchmark():
    # Three problems of 4 samples: 4, 2 and 0 correct; one truncated sample; the majority is right on two.
    problems = pd.DataFrame(
        {
            "n": [4, 4, 4],
            "correct": [4, 2, 0],
            "truncated": [0, 0, 1],
            "majority_correct": [True, True, False],
            "prompt_id": ["a", "b", "c"],
        }
    )
    samples = pd.DataFrame({"tokens": [10, 20, 30, 40] * 3, "finish_reason": ["stop"] * 11 + ["length"]})
    s = scores(problems, samples, "math")
    assert s["avg"] == pytest.approx(0.5)
    assert s["se"] == pytest.approx(0.5 / 3**0.5)  # rates 1, 0.5, 0: sample sd 0.5 over sqrt(3)
    assert s["se_sampling"] == pytest.approx((0.25 / 3) ** 0.5 / 3)  # only the middle problem varies: 0.5*0.5/(4-1)
    assert s["pass_at_k"] == {"1": pytest.approx(0.5), "2": pytest.approx((1 + 5 / 6 + 0) / 3), "4": pytest.approx(2 / 3)}
    assert s["maj_at_k"] == pytest.approx(2 / 3) and s["truncated"] == pytest.approx(1 / 12)
    assert s["tokens"]["p50"] == 25 and s["tokens"]["known"] == 12 and s["pass_count_histogram"] == {"0": 1, "2": 1, "4": 1}
    assert "maj_at_k" not in scores(problems, samples, "code")


def test_paired_difference_on_hand_computed_rates():
    a = pd.Series({"p1": 1.0, "p2": 0.5, "p3": 0.0, "p4": 0.25})
    b = pd.Series({"p1": 1.0, "p2": 1.0, "p3": 0.5, "p5": 1.0})
    d = paired_difference(a, b)  # shared p1-p3, differences 0, 0.5, 0.5
    assert d["difference"] == pytest.approx(1 / 3) and d["se"] == pytest.approx((1 / 12) ** 0.5 / 3**0.5)
    assert d["beyond_se"] and (d["shared_problems"], d["only_in_a"], d["only_in_b"]) == (3, 1, 1)
    assert not paired_difference(a, a)["beyond_se"]  # no difference is never beyond its error


def test_rows_with_one_prompt_and_two_gold_answers_are_refused(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b"], "domain": ["math"] * 2, "problem": ["What is 2+2?"] * 2, "answer": ["4", "5"]})
    store = SampleStore(tmp_path / "s.sqlite")
    with pytest.raises(AcecurateError, match="'a' and 'b' give the model the same prompt but have different gold answers"):
        collect(frame, SamplerConfig(model="any", backend="transformers"), 2, store, workers=1)
    store.close()


def test_hub_benchmark_offline_says_what_to_do(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "COLUMNS": "250"}
    command = [sys.executable, "-m", "acecurate.cli", "eval", "--model", "m", "--bench", "aime24", "--out", str(tmp_path / "run")]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    text = " ".join(result.stderr.split())
    assert result.returncode == 2, result.stderr
    assert "HuggingFaceH4/aime_2024" in text and "offline" in text and "--data-dir" in text and "--bench-file" in text
    assert "Traceback" not in result.stderr


def test_eval_command_needs_model_and_out_and_compare_needs_two_runs(tmp_path):
    result = runner.invoke(app, ["eval", "--bench", "aime24"], env=WIDE)
    assert result.exit_code == 2 and "give --model and --out" in result.output
    result = runner.invoke(app, ["eval", "compare", str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and "at least two" in result.output
    result = runner.invoke(app, ["eval", "--bench", "x", "compare", str(tmp_path), str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and "go with --model" in result.output


def test_unknown_benchmark_lists_the_known_ones(tmp_path):
    result = runner.invoke(app, ["eval", "--model", "m", "--bench", "aime23", "--out", str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and "unknown benchmark 'aime23'" in result.output and "lcb-v6" in result.output


def test_shared_benchmark_files_read_as_the_registry_says(shared_data, tmp_path):
    bench_dir = shared_data / "benchmarks"
    sizes = {name: len(load_benchmark(name, bench_dir).rows) for name in ("aime24", "aime25", "hmmt25", "math500", "amc23")}
    assert sizes == {"aime24": 30, "aime25": 30, "hmmt25": 30, "math500": 500, "amc23": 40}
    hmmt = load_benchmark("hmmt25", bench_dir).rows
    assert not any("Please reason step by step" in p for p in hmmt["problem"])  # the file appends it; the prompt adds it once
    amc = load_benchmark("amc23", bench_dir).rows
    assert amc["answer"].iat[0] == "27"  # the file stores 27.0
    assert load_benchmark("aime24", bench_dir).rows["answer"].iat[0] == "204"

    # LiveCodeBench v5 statements with their dates and difficulties from the index, written in the released format
    # (the public tests also stored as compressed private tests).
    statements = json.loads((bench_dir / "livecodebench_v5_statements.json").read_text())
    index = {}
    for line in (bench_dir / "livecodebench_index.jsonl").read_text().splitlines():
        entry = json.loads(line)
        index.setdefault(entry["question_title"], entry)
    rows = []
    for s in statements:
        entry = index.get(s["problem_title"])
        if entry is None:
            continue
        tests = json.loads(s["public_test_cases"])
        func = None
        if s["starter_code"]:
            func = s["starter_code"].split("def ", 1)[1].split("(", 1)[0]
        rows.append(
            lcb_row(entry["question_id"], entry["contest_date"], entry["difficulty"], tests, tests, s["starter_code"], func, s["problem"])
        )
    lcb_dir = tmp_path / "lcb"
    lcb_dir.mkdir()
    write_jsonl(lcb_dir / "livecodebench.jsonl", rows)
    expected = sorted(r["question_id"] for r in rows if "2024-08-01" <= r["contest_date"][:10] < "2025-02-01")
    v5 = load_benchmark("lcb-v5", lcb_dir)
    assert sorted(v5.rows["item_id"]) == expected and len(expected) > 200
    assert set(v5.rows["difficulty"]) == {"easy", "medium", "hard"}
    formats = Counter(json.loads(t)["format"] for t in v5.rows["tests"])
    assert formats["stdin"] > 50 and formats["functional"] > 50
    if shutil.which("bwrap"):
        # Decoded real tests run in the sandbox: a program that answers nothing gets a verdict, not a sandbox fault.
        from acecurate.sandbox import grade_many

        stdin = v5.rows[[json.loads(t)["format"] == "stdin" for t in v5.rows["tests"]]].head(2)
        functional = v5.rows[[json.loads(t)["format"] == "functional" for t in v5.rows["tests"]]].head(2)
        jobs = [("print(0)", t) for t in stdin["tests"]]
        jobs += [
            (f"class Solution:\n    def {json.loads(t)['fn_name']}(self, *args):\n        return None\n", t) for t in functional["tests"]
        ]
        assert [r.verdict for r in grade_many(jobs, workers=2, early_stop=True)] == ["wrong_answer"] * 4


# --- whole evaluations of the tiny model -------------------------------------------------------------------------------------

pytest_slow = pytest.mark.slow


def math_rows(count: int) -> list[dict]:
    # Answers 4 and 5: the tiny model's vocabulary holds \boxed{4} and \boxed{5}, so some samples are right.
    return [{"id": f"q{i}", "problem": f"Compute {i} plus {4 - i}.", "answer": "4" if i % 2 else "5"} for i in range(count)]


def code_file(directory: Path) -> Path:
    # stdin problems printing 1: the tiny model's vocabulary holds a code block that prints 1 (and one that prints 2).
    one = [{"input": "", "output": "1\n", "testtype": "stdin"}]
    rows = [lcb_row(f"p{i}", f"2024-{9 + i % 3:02d}-0{1 + i}", ["easy", "medium"][i % 2], one, one) for i in range(4)]
    rows.append(lcb_row("old", "2024-01-01", "easy", one, one))  # outside the v5 window
    directory.mkdir(parents=True, exist_ok=True)
    return write_jsonl(directory / "livecodebench.jsonl", rows)


def store_frame(run: Path) -> pd.DataFrame:
    with sqlite3.connect(run / "cache/samples.sqlite") as db:
        return pd.read_sql_query("SELECT * FROM samples", db)


@pytest.fixture(scope="module")
def bench_inputs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench")
    code_file(directory)
    return directory, write_jsonl(directory / "small-math.jsonl", math_rows(6))


def eval_args(model, bench_inputs, out, *extra):
    data_dir, math_file = bench_inputs
    return [
        "eval",
        "--model",
        str(model),
        "--backend",
        "transformers",
        "--bench",
        "lcb-v5",
        "--bench-file",
        str(math_file),
        "--data-dir",
        str(data_dir),
        "--samples",
        "4",
        "--set",
        "sampler.max_tokens=24",
        "--set",
        "grading.require_think_close=false",  # the tiny model's chat template opens no <think>
        "--out",
        str(out),
        "--workers",
        "2",
        *extra,
    ]


@pytest.fixture(scope="module")
def two_runs(tiny_model, bench_inputs, tmp_path_factory):
    """The tiny model evaluated twice under different seeds."""
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for seed in (0, 1):
        out = root / f"seed{seed}"
        result = runner.invoke(app, eval_args(tiny_model, bench_inputs, out, "--set", f"sampler.seed={seed}"), env=WIDE)
        assert result.exit_code == 0, result.output
        runs.append(out)
    return runs


@pytest_slow
def test_scores_equal_the_grades_in_the_store(two_runs):
    from acecurate.verify.math import vote_key

    run = two_runs[0]
    results = json.loads((run / "results.json").read_text())
    per_problem = pd.read_parquet(run / "per_problem.parquet")
    stored = store_frame(run)
    assert set(stored["backend"]) == {"transformers"} and len(stored) == 4 * (6 + 4)
    assert {json.dumps(json.loads(s), sort_keys=True) for s in stored["settings"]} == {
        json.dumps({"temperature": 0.6, "top_p": 0.95, "max_tokens": 24, "seed": 0}, sort_keys=True)
    }
    # Every verdict names its rule and records the grading policy it was given under, with the graders' versions.
    policies = [json.loads(text) for text in stored["policy"]]
    assert stored["rule"].notna().all() and all(p == GradingPolicy(require_think_close=False).to_dict() for p in policies)
    assert results["grading"]["policy"] == policies[0]
    assert set(per_problem["benchmark"]) == {"lcb-v5", "small-math"}
    assert sorted(per_problem.loc[per_problem["benchmark"] == "lcb-v5", "item_id"]) == ["p0", "p1", "p2", "p3"]  # not "old"
    by_prompt = stored.groupby("prompt_id")
    for _, row in per_problem.iterrows():
        group = by_prompt.get_group(row["prompt_id"])
        assert row["correct"] == group["correct"].sum() and row["n"] == len(group) == 4
        assert row["truncated"] == (group["finish_reason"] == "length").sum()
    for name, bench in results["benchmarks"].items():
        part = per_problem[per_problem["benchmark"] == name]
        prompts = stored[stored["prompt_id"].isin(part["prompt_id"])]
        counts = prompts.groupby("prompt_id")["correct"].sum()
        s = bench["scores"]
        assert s["avg"] == pytest.approx((counts / 4).mean())
        assert s["avg"] == pytest.approx(prompts["correct"].mean())  # equal n: avg@k is the share of correct samples
        assert s["truncated"] == pytest.approx((prompts["finish_reason"] == "length").mean())
        for k in ("1", "2", "4"):
            assert s["pass_at_k"][k] == pytest.approx(sum(pass_at_k(4, int(c), int(k)) for c in counts) / len(counts))
        assert s["samples_per_problem"] == 4 and s["problems"] == len(part)
    # maj@4 recomputed from the stored answers.
    math_samples = stored[stored["prompt_id"].isin(per_problem.loc[per_problem["benchmark"] == "small-math", "prompt_id"])]
    majority_right = []
    for _, group in math_samples.sort_values("sample_index").groupby("prompt_id"):
        answered = group[group["extracted"].notna()]
        if answered.empty:
            majority_right.append(False)
            continue
        winner = Counter(answered["extracted"].map(vote_key)).most_common(1)[0][0]
        majority_right.append(bool(answered[answered["extracted"].map(vote_key) == winner]["correct"].iat[0]))
    assert results["benchmarks"]["small-math"]["scores"]["maj_at_k"] == pytest.approx(sum(majority_right) / len(majority_right))
    # Per difficulty for LiveCodeBench; the chance answers give some passes and some failures.
    assert set(results["benchmarks"]["lcb-v5"]["scores"]["by_difficulty"]) == {"easy", "medium"}
    assert 0 < stored["correct"].sum() < len(stored)
    # Every setting is recorded.
    assert results["sampling"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 24, "seed": 0}
    assert results["system_prompt"] is None and results["math_prompt"].endswith("put your final answer within \\boxed{}.")
    assert results["benchmarks"]["lcb-v5"]["window"] == ["2024-08-01", "2025-02-01"]
    readme = (run / "README.md").read_text()
    assert "| LiveCodeBench v5 (2024-08-01 to 2025-02-01) | 4 | avg@4" in readme and "### By difficulty" in readme
    for plot in ("scores.png", "pass_counts.png", "lengths.png"):
        assert (run / plot).stat().st_size > 0 and plot in readme


@pytest_slow
def test_rerun_reuses_every_sample(tiny_model, bench_inputs, two_runs):
    before = store_frame(two_runs[0])
    first = json.loads((two_runs[0] / "results.json").read_text())
    result = runner.invoke(app, eval_args(tiny_model, bench_inputs, two_runs[0], "--set", "sampler.seed=0"), env=WIDE)
    assert result.exit_code == 0, result.output
    again = json.loads((two_runs[0] / "results.json").read_text())
    assert again["samples_generated"] == 0 and again["samples_reused"] == len(before)
    assert again["benchmarks"] == first["benchmarks"]


@pytest_slow
def test_compare_prints_the_differences(two_runs):
    a, b = two_runs
    comparison = compare_runs([a, b])
    table_a, table_b = pd.read_parquet(a / "per_problem.parquet"), pd.read_parquet(b / "per_problem.parquet")
    for name, bench in comparison["benchmarks"].items():
        rates_a = table_a[table_a["benchmark"] == name].set_index("item_id")["pass_rate"]
        rates_b = table_b[table_b["benchmark"] == name].set_index("item_id")["pass_rate"]
        d = (rates_b - rates_a.loc[rates_b.index]).to_numpy()
        assert bench["differences"][0]["difference"] == pytest.approx(d.mean())
        assert bench["differences"][0]["se"] == pytest.approx(d.std(ddof=1) / len(d) ** 0.5)
        solved = bench["solved"][0]
        assert {i for i, _, _ in solved["first_only"]} == {i for i in rates_b.index if rates_a[i] >= 0.5 > rates_b[i]}
        assert {i for i, _, _ in solved["other_only"]} == {i for i in rates_b.index if rates_b[i] >= 0.5 > rates_a[i]}
    result = runner.invoke(app, ["eval", "compare", str(a), str(b)], env=WIDE)
    assert result.exit_code == 0, result.output
    for bench in comparison["benchmarks"].values():
        d = bench["differences"][0]
        assert f"{100 * d['difference']:+.1f}" in result.output
        assert f"{100 * bench['runs'][0]['avg']:.1f}" in result.output and f"{100 * bench['runs'][1]['avg']:.1f}" in result.output
    assert "solved by seed0 only" in result.output and "solved by seed1 only" in result.output


def write_run(directory: Path, rates: dict[str, float], model: str) -> Path:
    """A finished run's two files, as `acecurate eval` writes them, with chosen pass rates out of 4 samples."""
    directory.mkdir()
    frame = pd.DataFrame({"benchmark": "aime24", "item_id": list(rates), "pass_rate": list(rates.values())})
    frame.to_parquet(directory / "per_problem.parquet")
    avg = sum(rates.values()) / len(rates)
    se = float(pd.Series(list(rates.values())).std(ddof=1) / len(rates) ** 0.5)
    bench = {"title": "AIME 2024", "problems": len(rates), "scores": {"avg": avg, "se": se, "samples_per_problem": 4}}
    (directory / "results.json").write_text(json.dumps({"model": model, "benchmarks": {"aime24": bench}}))
    return directory


def test_compare_on_hand_made_runs(tmp_path):
    a = write_run(tmp_path / "base", {"1": 1.0, "2": 0.5, "3": 0.0, "4": 0.25}, "base")
    b = write_run(tmp_path / "tuned", {"1": 1.0, "2": 1.0, "3": 0.75, "4": 0.25}, "tuned")
    result = runner.invoke(app, ["eval", "compare", str(a), str(b)], env=WIDE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # differences 0, .5, .75, 0: mean 31.25 points, sd 0.375 -> se 18.75: larger than its standard error
    assert "+31.2" in text and "18.8" in text and "yes" in text
    assert "43.8 ± 21.3 (avg@4)" in text and "75.0 ± 17.7 (avg@4)" in text
    assert "solved by tuned only (1): 3 (0% -> 75%)" in text and "solved by base only (0): -" in text


@pytest_slow
def test_killed_eval_resumes_without_resampling(tiny_model, tmp_path):
    math_file = write_jsonl(tmp_path / "many.jsonl", math_rows(24))
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "acecurate.cli",
        "eval",
        "--model",
        str(tiny_model),
        "--backend",
        "transformers",
        "--bench-file",
        str(math_file),
        "--samples",
        "8",
        "--set",
        "sampler.max_tokens=32",
        "--set",
        "grading.require_think_close=false",
        "--out",
        str(run),
        "--workers",
        "1",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db_path = run / "cache/samples.sqlite"
    stored = kill_when_stored(process, db_path, 40)
    assert 0 < stored < 8 * 24, f"kill came at {stored} samples"
    before = {(p, i): t for p, i, t in store_frame(run)[["prompt_id", "sample_index", "text"]].itertuples(index=False)}
    assert not (run / "results.json").exists()

    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((run / "results.json").read_text())
    assert results["samples_reused"] == len(before) and results["samples_generated"] == 8 * 24 - len(before)
    after = store_frame(run)
    assert len(after) == 8 * 24
    texts = {(p, i): t for p, i, t in after[["prompt_id", "sample_index", "text"]].itertuples(index=False)}
    assert all(texts[key] == text for key, text in before.items())  # nothing stored was sampled again


@pytest_slow
def test_eval_through_the_openai_backend_on_loopback(tiny_model, tmp_path):
    pytest.importorskip("httpx", reason="needs acecurate[openai]")
    from .tiny_server import TinyServer

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_jsonl(data_dir / "aime24.jsonl", math_rows(5))  # a stand-in aime24 file: the registry reads it from --data-dir
    server = TinyServer(tiny_model)
    try:
        out = tmp_path / "run"
        # The server answers with the tiny model whatever the name; the name says which paper row to show.
        args = ["eval", "--model", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "--backend", "openai", "--bench", "aime24"]
        args += ["--data-dir", str(data_dir), "--samples", "3", "--out", str(out), "--set", f"sampler.options.base_url={server.url}"]
        result = runner.invoke(app, [*args, "--set", "sampler.max_tokens=16", "--set", "sampler.options.api_key=sk-secret"], env=WIDE)
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    stored = store_frame(out)
    assert set(stored["backend"]) == {"openai"} and len(stored) == 3 * 5 and stored["tokens"].notna().all()
    assert results["benchmarks"]["aime24"]["scores"]["avg"] == pytest.approx(stored["correct"].mean())
    assert results["backend_options"] == {"base_url": server.url, "api_key": "(hidden)"}
    assert not any("sk-secret" in p.read_text() for p in out.glob("*.json")) and "sk-secret" not in (out / "README.md").read_text()
    assert results["reference"] == {"model": "R1-Distill-Qwen-7B", "scores": {"aime24": 55.5}}
    readme = (out / "README.md").read_text()
    assert "paper (R1-Distill-Qwen-7B)" in readme and "| 55.5 |" in readme
    assert "55.5" in result.output


def test_recorded_command_hides_secrets():
    argv = ["--set", "sampler.options.api_key=sk-1", "--set", "sampler.options.base_url=http://h/v1", "--set", "sampler.max_tokens=8"]
    hidden = ["--set", "sampler.options.api_key=(hidden)", "--set", "sampler.options.base_url=http://h/v1", "--set", "sampler.max_tokens=8"]
    assert hide_secrets(argv) == hidden
    assert hide_secrets(["x.hf_token=t", "password=p", "--model", "m=1"]) == ["x.hf_token=(hidden)", "password=(hidden)", "--model", "m=1"]


def test_paper_models_are_recognised_from_hub_ids_and_paths():
    assert paper_model("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B") == "R1-Distill-Qwen-7B"
    assert paper_model("/models/AceReason-Nemotron-14B/") == "AceReason-Nemotron-14B"
    assert paper_model("/hf/hub/models--nvidia--AceReason-Nemotron-7B/snapshots/abc123") == "AceReason-Nemotron-7B"
    assert paper_model("nvidia/AceReason-Nemotron-1.1-7B") is None  # the follow-up model: not in the paper's table
    assert paper_model("runs/ace7b/05-math-32k/final") is None


@pytest_slow
def test_vllm_backend_loop_with_the_tiny_model_behind_llm_generate(tiny_model):
    """Everything of the vLLM backend but the engine: the tiny model answers through `LLM.generate`'s interface."""
    from types import SimpleNamespace

    import torch

    from acecurate.sampling import Request, SamplingSettings, make_backend, prompt_id, request_seed
    from acecurate.sampling.vllm_backend import generate_batches, sampling_params_kwargs

    model = make_backend("transformers", str(tiny_model))
    calls = []

    def llm_generate(prompts, params):
        calls.append((prompts, params))
        outputs = []
        for prompt, p in zip(prompts, params):
            ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
            torch.manual_seed(p["seed"])
            generated = model.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=p["temperature"],
                top_p=p["top_p"],
                max_new_tokens=p["max_tokens"],
                num_return_sequences=p["n"],
                pad_token_id=model.tokenizer.eos_token_id,
            )[:, ids.shape[1] :].tolist()
            samples = []
            for row in generated:
                eos = model.tokenizer.eos_token_id
                tokens = row[: row.index(eos) + 1] if eos in row else row
                reason = "stop" if eos in row else "length"
                samples.append(
                    SimpleNamespace(text=model.tokenizer.decode(tokens, skip_special_tokens=True), token_ids=tokens, finish_reason=reason)
                )
            outputs.append(SimpleNamespace(outputs=samples))
        return outputs

    settings = SamplingSettings(max_tokens=12, seed=5)
    prompts = [f"Compute {i} plus {4 - i}." for i in range(5)]
    requests = [Request(prompt_id(p), p, n, first) for p, n, first in zip(prompts, [1, 2, 3, 1, 2], [0, 0, 4, 0, 1])]
    results = list(generate_batches(llm_generate, model.tokenizer, requests, settings, 2, dict))
    assert [len(prompts) for prompts, _ in calls] == [2, 2, 1]  # batch_prompts prompts per engine call
    params = [p for _, batch in calls for p in batch]
    assert params == [sampling_params_kwargs(settings, r.n, request_seed(settings, r)) for r in requests]
    assert len({p["seed"] for p in params}) == 5  # a seed per prompt and resume point
    templated = [prompt for batch, _ in calls for prompt in batch]
    assert all(p.startswith("<|im_start|>user\n") and p.endswith("<|im_start|>assistant\n") for p in templated)
    assert [r for r, _ in results] == requests and [len(c) for _, c in results] == [1, 2, 3, 1, 2]
    completions = [c for _, cs in results for c in cs]
    assert all(c.tokens == 12 for c in completions if c.finish_reason == "length")  # cut at max_tokens
    assert all(c.tokens <= 12 for c in completions) and {c.finish_reason for c in completions} <= {"stop", "length"}

    def short_engine(prompts, params):
        return llm_generate(prompts, params)[:-1]

    with pytest.raises(AcecurateError, match="returned 1 outputs for 2 prompts"):
        list(generate_batches(short_engine, model.tokenizer, requests[:2], settings, 2, dict))


def test_vllm_backend_without_vllm_says_how_to_install(tmp_path):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    math_file = write_jsonl(tmp_path / "m.jsonl", math_rows(2))
    result = runner.invoke(app, ["eval", "--model", "m", "--bench-file", str(math_file), "--out", str(tmp_path / "run")], env=WIDE)
    assert result.exit_code == 2 and "pip install 'acecurate[vllm]'" in result.output
