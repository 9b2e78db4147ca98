"""Sampling and code execution on a Ray cluster (a local one of 2 CPUs, once per session: tests/conftest.py), against
loopback servers of the tiny model: the same verdicts as on one machine, resume after a Ray worker or the driver is
killed mid-run, clear errors when the cluster or an endpoint cannot be reached, and Ray Data's vLLM processor rows."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray", reason="needs acecurate[ray] (make test installs it)")
pytest.importorskip("torch", reason="needs acecurate[train] (torch, transformers)")

from typer.testing import CliRunner

from acecurate.cli import app
from acecurate.errors import AcecurateError
from acecurate.pipeline import pipeline_from_dict, run_pipeline
from acecurate.sampling import Request, SamplingSettings, build_prompt, make_backend, prompt_id, request_seed
from acecurate.sampling.collect import SamplerConfig, collect
from acecurate.sampling.store import SampleStore
from acecurate.verify.policy import GradingPolicy

from .conftest import FAST, kill_when_stored, needs_bwrap, write_jsonl
from .tiny_server import TinyEngineStage, TinyServer

runner = CliRunner()
MATH_ROWS = [{"id": f"m{i}", "problem": f"Compute {i} plus {4 - i}.", "answer": "4"} for i in range(3)]


def processes_titled(title: bytes) -> list[int]:
    """Pids of this machine's processes whose title (Ray sets `ray::Class.method` on its workers) starts with `title`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(title):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def kill_first_worker(title: bytes, ready, timeout: float = 120) -> list[int]:
    """In a thread: once `ready()` holds, SIGKILL the first Ray worker whose title starts with `title` (a worker this
    test's cluster started); returns the list the thread fills with the killed pid."""
    killed: list[int] = []

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = processes_titled(title) if ready() else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return killed


def stored_count(path: Path) -> int:
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# The tiny model does not think in tags: require_think_close off, as in tests/test_difficulty.py.
UNTAGGED = GradingPolicy(require_think_close=False)


def sampler(backend: str, model: Path, **options) -> dict:
    return {"model": str(model), "backend": backend, "max_tokens": 12, "options": options}


def difficulty_run(rows_file: Path, run: Path, sampler_values: dict, n: int = 2):
    data = {
        "name": "d",
        "domain": "math",
        "stages": [{"difficulty": {"n": n, "keep": [1, n], "sampler": sampler_values, "grading": UNTAGGED.settings()}}],
    }
    summary = run_pipeline(pipeline_from_dict(data, "test"), [str(rows_file)], run)
    with sqlite3.connect(run / "cache/samples.sqlite") as db:
        graded = db.execute("SELECT prompt_id, sample_index, text, status, correct, extracted, rule, backend FROM samples").fetchall()
    kept, removed = pd.read_parquet(run / "data/train.parquet"), pd.read_parquet(run / "removed.parquet")
    return summary, {(p, i): (t, s, c, e, r) for p, i, t, s, c, e, r, _ in graded}, {b for *_, b in graded}, kept, removed


def test_ray_sampling_gives_the_single_machine_verdicts(tiny_model, ray_cluster, tmp_path):
    first, second = TinyServer(tiny_model), TinyServer(tiny_model)
    try:
        rows = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
        urls = [first.url, second.url]
        # One machine: the openai backend over both replicas, one request per sample (the seed of its index).
        _, local, local_backends, local_kept, local_removed = difficulty_run(
            rows, tmp_path / "local", sampler("openai", tiny_model, base_url=urls, supports_n=False)
        )
        # The cluster: two Ray actors, each with acecurate's client over both replicas.
        summary, spread, ray_backends, kept, removed = difficulty_run(
            rows, tmp_path / "ray", sampler("ray", tiny_model, engine="openai", base_url=urls, workers=2)
        )
        assert (local_backends, ray_backends) == ({"openai"}, {"ray"})
        assert len(spread) == 2 * len(MATH_ROWS) and spread == local  # every sample's text, verdict and rule
        assert sorted(kept["id"]) == sorted(local_kept["id"]) and sorted(removed["reason"]) == sorted(local_removed["reason"])
        assert list(kept.sort_values("id")["pass_count"]) == list(local_kept.sort_values("id")["pass_count"])
        assert summary.stages[1].stats["samples_generated"] == 2 * len(MATH_ROWS)
    finally:
        first.close()
        second.close()


def test_a_killed_ray_worker_costs_only_its_samples_in_flight(tiny_model, ray_cluster, tmp_path):
    server = TinyServer(tiny_model, delay=0.3)
    store_path = tmp_path / "samples.sqlite"
    store = SampleStore(store_path)
    try:
        frame = pd.DataFrame([{"id": f"k{i}", "domain": "math", "problem": f"Kill test {i}.", "answer": "1"} for i in range(6)])
        config = SamplerConfig(**{**sampler("ray", tiny_model, engine="openai", base_url=server.url, workers=1, concurrency=2)})
        # Killed once the server has answered 4 requests: the worker holds 2 more in flight.
        killed = kill_first_worker(b"ray::EndpointWorker", lambda: sum(server.requests.values()) >= 4)
        collected = collect(frame, config, 2, store, workers=2, policy=UNTAGGED)
        assert killed, "the worker was never killed"
        assert collected.generated == 12 and len(collected.samples) == 12  # Ray restarted the actor and retried its calls
        settings = config.settings()
        texts = {prompt_id(t): t for t in (build_prompt("math", p) for p in frame["problem"])}
        requested = {  # (prompt id, sample index) -> requests the server got for it (its prompt and its seed)
            (p, i): server.requests[(texts[p], request_seed(settings, Request(p, texts[p], 1, i)))]
            for p, i in collected.samples[["prompt_id", "sample_index"]].itertuples(index=False)
        }
        # Only the worker's samples in flight (at most its concurrency, 2) were asked for again; the samples it had
        # returned were graded and stored by the driver as they came.
        assert sum(1 for count in requested.values() if count > 1) <= 2, requested
        assert sum(requested.values()) <= 12 + 2
        assert collect(frame, config, 2, store, workers=2, policy=UNTAGGED).generated == 0
    finally:
        store.close()
        server.close()


@pytest.mark.slow
def test_a_killed_driver_resumes_from_the_store(tiny_model, ray_cluster, tmp_path):
    server = TinyServer(tiny_model, delay=0.2)
    try:
        rows = [{"id": f"d{i}", "problem": f"Driver test {i}.", "answer": "2"} for i in range(8)]
        src = write_jsonl(tmp_path / "math.jsonl", rows)
        run = tmp_path / "run"
        sets = [
            f"--set=sampler.model={tiny_model}",
            "--set=sampler.backend=ray",
            "--set=sampler.max_tokens=12",
            "--set=grading.require_think_close=false",
            "--set=keep=[0,2]",
            f"--set=sampler.options={json.dumps({'engine': 'openai', 'base_url': server.url, 'address': ray_cluster, 'workers': 1, 'concurrency': 2})}",
        ]
        # One grading worker: samples are graded and stored 8 at a time, so the kill finds some stored, some not.
        command = [sys.executable, "-m", "acecurate.cli", "difficulty", str(src), "--n", "2", "--workers", "1", "--out", str(run), *sets]
        process = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kill_when_stored(process, run / "cache/samples.sqlite", 4)
        deadline = time.monotonic() + 60  # Ray ends the dead driver's actors; wait for them, so no late request is counted
        while processes_titled(b"ray::EndpointWorker") and time.monotonic() < deadline:
            time.sleep(0.1)
        before = stored_count(run / "cache/samples.sqlite")
        assert 4 <= before < 16
        asked_before = sum(server.requests.values())
        result = runner.invoke(app, ["difficulty", str(src), "--n", "2", "--out", str(run), *sets])
        assert result.exit_code == 0, result.output
        stats = json.loads((run / "01-difficulty/stats.json").read_text())
        assert (stats["samples_reused"], stats["samples_generated"]) == (before, 16 - before)
        # The rerun asked only for what the store lacked (the killed driver's samples in flight were asked twice).
        assert sum(server.requests.values()) - asked_before == 16 - before
    finally:
        server.close()


def test_an_unreachable_cluster_is_a_clear_error(tmp_path):
    src = write_jsonl(tmp_path / "math.jsonl", MATH_ROWS)
    options = {"engine": "openai", "base_url": "http://127.0.0.1:9/v1", "address": "127.0.0.1:1"}
    result = runner.invoke(
        app, ["majority-check", str(src), "--out", str(tmp_path / "run"), "--set", "sampler.model=m", "--set", "sampler.backend=ray",
              "--set", f"sampler.options={json.dumps(options)}"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in result.output and "ray start --head" in result.output


def test_an_unreachable_endpoint_through_ray_is_a_clear_error(ray_cluster):
    backend = make_backend("ray", "tiny", engine="openai", base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.01, workers=1)
    with pytest.raises(AcecurateError) as caught:
        list(backend.generate([Request(prompt_id("x"), "x", 1)], SamplingSettings(max_tokens=4)))
    assert str(caught.value) == "http://127.0.0.1:9/v1: giving up after 1 retries (ConnectError)"  # as the worker raised it


def test_ray_backend_options_are_checked_per_engine():
    with pytest.raises(AcecurateError, match=r"\['replicas'\] are only for engine vllm"):
        make_backend("ray", "m", engine="openai", base_url="http://h/v1", replicas=2)
    with pytest.raises(AcecurateError, match=r"needs sampler\.options\.base_url"):
        make_backend("ray", "m", engine="openai")
    with pytest.raises(AcecurateError, match="expected one of openai, vllm"):
        make_backend("ray", "m", engine="sglang")


# Code execution: the same bubblewrap runner in Ray tasks.

CODE_ROWS = [
    # a stdin reference that passes, a functional one that passes, a reference its tests reject, tests a program that
    # prints nothing passes (examples/code_sample.jsonl)
    {"id": "sum", "problem": "Print the sum of a and b.", "tests": [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}],
     "solutions": ["a, b = map(int, input().split())\nprint(a + b)\n"]},
    {"id": "max", "problem": "Return the largest element of nums.", "starter_code": "class Solution:\n    def maxElement(self, nums):\n        ",
     "tests": [{"input": "[1, 5, 3]", "output": "5", "testtype": "functional"}],
     "solutions": ["class Solution:\n    def maxElement(self, nums):\n        return max(nums)\n"]},
    {"id": "wrong", "problem": "Print n plus two.", "tests": [{"input": "1\n", "output": "3\n", "testtype": "stdin"}],
     "solutions": ["print(int(input()) + 1)\n"]},
    {"id": "silent", "problem": "Read a line.", "tests": [{"input": "x\n", "output": "", "testtype": "stdin"}], "solutions": ["input()\n"]},
]  # fmt: skip


@needs_bwrap
def test_validate_tests_on_ray_gives_the_local_verdicts(ray_cluster, tmp_path, monkeypatch):
    src = write_jsonl(tmp_path / "code.jsonl", CODE_ROWS)
    data = {"name": "v", "domain": "code", "stages": [{"validate-tests": {"time_limit_s": 4.0}}]}
    outcomes = {}
    for executor in ("local", "ray"):
        monkeypatch.setenv("ACECURATE_EXECUTOR", executor)
        run = tmp_path / executor
        run_pipeline(pipeline_from_dict(data, "test"), [str(src)], run, workers=2)
        removed = pd.read_parquet(run / "removed.parquet")
        kept = pd.read_parquet(run / "data/train.parquet")
        # evidence without the times, which differ from run to run
        evidence = sorted(
            re.sub(r"\d+\.\d+ ?s", "T", f"{i}: {e} {r}") for i, e, r in zip(removed["id"], removed["evidence"], removed["reference_runs"])
        )
        outcomes[executor] = (sorted(kept["id"]), sorted(zip(removed["id"], removed["reason"])), evidence)
    assert outcomes["ray"] == outcomes["local"]  # rows kept, reasons, and every reference run in the evidence
    assert outcomes["ray"][:2] == (["max", "sum"], [("silent", "hackable_tests"), ("wrong", "no_passing_reference")])


@needs_bwrap
def test_rewards_on_ray_take_the_policy_and_each_rows_time_limit(ray_cluster, monkeypatch):
    from acecurate.verify.responses import grade_responses

    tests = json.dumps({"format": "stdin", "cases": [{"input": "2\n", "output": "4\n"}]})
    slow = "</think>```python\nimport time\ntime.sleep(0.8)\nprint(int(input()) * 2)\n```"
    # the same slow, right answer: under the policy's 2 s limit, under its row's own 0.3 s limit, under a policy that
    # ignores row limits; an answer without </think> with require_think_close on and off; a response cut at max_tokens
    texts = [slow, slow, "no closing tag ```python\nprint(4)\n```", "</think>```python\nprint(4)\n```"]
    row_limits = [None, 0.3, None, None]
    cut = [False, False, False, True]

    def grade(policy):
        return grade_responses(["code"] * 4, texts, [None] * 4, [tests] * 4, None, 2, policy, time_limits=row_limits, truncated=cut)

    policies = [
        GradingPolicy(time_limit_s=2.0),
        GradingPolicy(time_limit_s=2.0, per_row_limits=False, truncated="graded", require_think_close=False),
    ]
    local = [grade(p) for p in policies]
    monkeypatch.setenv("ACECURATE_EXECUTOR", "ray")
    assert [grade(p) for p in policies] == local
    assert [v.status for v in local[0]] == ["passed", "time_limit", "no_code", "truncated"]
    assert [v.status for v in local[1]] == ["passed", "passed", "passed", "passed"]


@needs_bwrap
def test_a_killed_sandbox_worker_is_retried_with_the_same_verdicts(ray_cluster, monkeypatch):
    from acecurate.sandbox import grade_many

    tests = {"format": "stdin", "cases": [{"input": "2\n", "output": "4\n"}]}
    solutions = [("import time\ntime.sleep(1.5)\nprint(int(input()) * 2)\n", tests), ("print(int(input()) + 1)\n", tests)]
    local = grade_many(solutions, workers=2, limits=FAST)
    monkeypatch.setenv("ACECURATE_EXECUTOR", "ray")
    killed = kill_first_worker(b"ray::run_on_node", lambda: True)
    remote = grade_many(solutions, workers=2, limits=FAST)
    assert killed, "no sandbox task was killed"
    assert [r.verdict for r in local] == [r.verdict for r in remote] == ["passed", "wrong_answer"]
    assert [[t.verdict for t in r.tests] for r in remote] == [[t.verdict for t in r.tests] for r in local]
    assert [r.tests[0].difference for r in remote] == [r.tests[0].difference for r in local]


@needs_bwrap
def test_sandbox_tasks_on_ray_take_this_processs_reuse_setting(ray_cluster, monkeypatch):
    from acecurate.sandbox import grade_many
    from acecurate.sandbox.executor import SandboxSettings, configure, configured

    # A warm runner has imported the star-import modules before the solution runs, a fresh one-shot runner has not:
    # what the solution sees says which kind of sandbox ran it on the Ray worker.
    probe = [("import sys\nprint('heapq' in sys.modules)\n", {"format": "stdin", "cases": [{"input": "", "output": "True"}]})]
    monkeypatch.setenv("ACECURATE_EXECUTOR", "ray")
    before = configured()
    try:
        configure(SandboxSettings(reuse=False))
        fresh = grade_many(probe, limits=FAST)
        configure(SandboxSettings(reuse=True))
        warm = grade_many(probe, limits=FAST)
    finally:
        configure(before)
    assert [r.verdict for r in warm] == ["passed"]
    assert [r.verdict for r in fresh] == ["wrong_answer"]  # the worker did not fall back to its own default


def test_sandboxes_on_an_unreachable_cluster_are_a_clear_error(monkeypatch):
    from acecurate.sandbox import grade_many

    monkeypatch.setenv("ACECURATE_EXECUTOR", "ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    with pytest.raises(AcecurateError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1"):
        grade_many([("print(1)", {"format": "stdin", "cases": [{"input": "", "output": "1"}]})])
    monkeypatch.setenv("ACECURATE_EXECUTOR", "slurm")
    with pytest.raises(AcecurateError, match="ACECURATE_EXECUTOR='slurm': expected one of local, ray"):
        grade_many([])


# Ray Data's vLLM engine processor needs vLLM and a GPU on the nodes: its rows are checked against Ray's own schema,
# its config and processor are built for real, and the backend's Ray Data loop runs with the engine stage replaced.


def test_vllm_processor_rows_follow_ray_datas_schema():
    from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMOutputData

    from acecurate.sampling.ray_backend import vllm_request, vllm_sample
    from acecurate.sampling.vllm_backend import sampling_params_kwargs

    settings = SamplingSettings(temperature=0.6, top_p=0.95, max_tokens=16, seed=3)
    unit = Request(prompt_id("What is 2+2?"), "What is 2+2?", 1, 5)
    row = {"prompt_id": unit.prompt_id, "sample_index": 5, "user_message": unit.prompt, "seed": request_seed(settings, unit)}
    request = vllm_request(settings, row)
    assert request == {
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "sampling_params": sampling_params_kwargs(settings, 1, request_seed(settings, unit)),
    }
    assert request["sampling_params"]["n"] == 1 and request["sampling_params"]["seed"] != request_seed(
        settings, Request(unit.prompt_id, "", 1, 4)
    )
    # What the processor's last stage hands postprocess: our columns carried through, and Ray's output fields.
    for generated, reason in ((7, "stop"), (16, "length")):
        output = vLLMOutputData(prompt="<templated>", num_input_tokens=9, generated_text="so \\boxed{4}", num_generated_tokens=generated)
        sample = vllm_sample(
            settings.max_tokens, {**row, **request, **output.model_dump(), "request_id": 0, "params": "", "time_taken_llm": 1.0}
        )
        assert sample == {
            "prompt_id": unit.prompt_id,
            "sample_index": 5,
            "text": "so \\boxed{4}",
            "tokens": generated,
            "finish_reason": reason,
        }


def test_vllm_processor_config_places_the_engines():
    from acecurate.sampling.ray_backend import vllm_processor_config

    options = {"replicas": 4, "tensor_parallel_size": 2, "accelerator_type": "H100", "max_model_len": 40960, "engine_kwargs": {"seed": 1}}
    config = vllm_processor_config("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", options)
    assert config.concurrency == 4 and config.accelerator_type == "H100" and config.batch_size == 16
    assert {k: config.engine_kwargs[k] for k in ("tensor_parallel_size", "enable_prefix_caching", "max_model_len", "seed")} == {
        "tensor_parallel_size": 2, "enable_prefix_caching": True, "max_model_len": 40960, "seed": 1,
    }  # fmt: skip


@pytest.mark.slow
def test_vllm_processor_builds_on_ray(tiny_model, ray_cluster):
    from acecurate.sampling.ray_backend import vllm_processor

    processor = vllm_processor(str(tiny_model), SamplingSettings(max_tokens=16), {"replicas": 2, "tensor_parallel_size": 2})
    assert processor.list_stage_names() == ["ChatTemplateStage", "TokenizeStage", "vLLMEngineStage", "DetokenizeStage"]
    engine = processor.get_stage_by_name("vLLMEngineStage")
    assert engine.fn_constructor_kwargs["engine_kwargs"]["tensor_parallel_size"] == 2
    assert engine.map_batches_kwargs["compute"].max_size == 2  # two engines at most, placed by Ray Data


@pytest.mark.slow
def test_the_vllm_engines_loop_stores_each_sample_as_it_returns(tiny_model, ray_cluster, tmp_path, monkeypatch):
    import functools

    from acecurate.sampling import ray_backend

    def processor_on_cpu(model, settings, options):
        def run(dataset):
            rows = dataset.map(lambda row: {**row, **ray_backend.vllm_request(settings, row)})
            rows = rows.map(TinyEngineStage, fn_constructor_kwargs={"base_url": server.url}, concurrency=1)  # one actor
            return rows.map(functools.partial(ray_backend.vllm_sample, settings.max_tokens))

        return run

    monkeypatch.setattr(ray_backend, "vllm_processor", processor_on_cpu)
    server = TinyServer(tiny_model)
    store = SampleStore(tmp_path / "samples.sqlite")
    try:
        frame = pd.DataFrame([{"id": f"v{i}", "domain": "math", "problem": f"Engine test {i}.", "answer": "1"} for i in range(3)])
        # Sample 0 of the first prompt is in the store already (from this machine's transformers backend): the
        # engines get the other five (prompt, sample index) pairs, sample 1 of that prompt among them.
        collect(frame.iloc[:1], SamplerConfig(**sampler("transformers", tiny_model)), 1, store, workers=2, policy=UNTAGGED)
        collected = collect(
            frame, SamplerConfig(**sampler("ray", tiny_model, engine="vllm", replicas=1)), 2, store, workers=2, policy=UNTAGGED
        )
        assert (collected.generated, collected.reused) == (5, 1)
        samples = collected.samples.sort_values(["prompt_id", "sample_index"])
        assert sorted(samples["sample_index"]) == [0, 0, 0, 1, 1, 1]
        assert sorted(samples["backend"]) == ["ray"] * 5 + ["transformers"]
        assert samples["finish_reason"].isin(["stop", "length"]).all() and samples["tokens"].between(1, 12).all()
        assert ((samples["finish_reason"] == "length") == (samples["tokens"] == 12)).all()
    finally:
        store.close()
        server.close()


def test_the_cli_imports_no_ray():
    # `acecurate --help` stays instant: ray is imported by the functions that use it, never by the command.
    probe = "import sys, acecurate.cli, acecurate.sandbox, acecurate.sampling.collect; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]
