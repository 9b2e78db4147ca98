"""What `acecurate eval` adds per sample besides generation, with pre-made completions served by an OpenAI-compatible
server on loopback: the whole eval (HTTP, grading, storing, scores, report) beside the bare grading of the same
completions (the math grader and the sandbox called directly), and a rerun that finds every sample in the store.

Math: MATH-500 with its gold answer boxed in half the completions (each after ~4 KB of reasoning) and a wrong one in the
other half. Code: rllm's LeetCode problems with their reference solution in half the completions and a wrong one
(fails at the first test) in the other half.

    python benchmarks/eval_overhead.py [--math 500 --code 100 --samples 4 --workers 2 --rounds 3]
"""

import argparse
import json
import random
import re
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from acecurate.eval import EvalConfig, run_eval
from acecurate.eval.loading import load_bench_file, load_benchmark
from acecurate.sampling import build_prompt
from acecurate.sampling.collect import SamplerConfig
from acecurate.sandbox import grade_many
from acecurate.verify.math import MathGrader
from acecurate.verify.responses import extract_code

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REASONING = "Let me think about this step by step, checking each case carefully. " * 60


def canned_completions(bench, samples: int, rng: random.Random) -> dict[str, list[str]]:
    """prompt -> its pre-made completions: half right, half wrong."""
    canned = {}
    for row in bench.rows.itertuples():
        texts = []
        for i in range(samples):
            if row.domain == "math":
                answer = row.answer if i % 2 == 0 else f"{row.answer}+1"
                texts.append(f"<think>{REASONING}</think>\nSo the answer is $\\boxed{{{answer}}}$.")
            else:
                name = re.findall(r"def (\w+)\(self", row.solutions[0])
                wrong = f"class Solution:\n    def {name[0] if name else 'f'}(self, *args):\n        return None\n"
                texts.append(f"<think>{REASONING[:1000]}</think>\n```python\n{row.solutions[0] if i % 2 == 0 else wrong}```")
        rng.shuffle(texts)
        canned[build_prompt(row.domain, row.problem, row.starter_code)] = texts
    return canned


def serve(canned: dict[str, list[str]]):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = canned[body["messages"][-1]["content"]][: body.get("n", 1)]
            choices = [
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop", "completion_tokens": len(t) // 4}
                for i, t in enumerate(texts)
            ]
            data = json.dumps({"choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def bare_grading(benches, canned, workers: int) -> float:
    """The same completions through the math grader and the sandbox directly, all at once."""
    math_pairs, code_jobs = [], []
    for bench in benches:
        for row in bench.rows.itertuples():
            for text in canned[build_prompt(row.domain, row.problem, row.starter_code)]:
                if row.domain == "math":
                    math_pairs.append((text, row.answer))
                else:
                    code_jobs.append((extract_code(text), row.tests))
    started = time.perf_counter()
    with MathGrader(workers=workers) as grader:
        grader.grade_many(math_pairs)
    grade_many(code_jobs, workers=workers, early_stop=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--math", type=int, default=500, help="MATH-500 problems")
    parser.add_argument("--code", type=int, default=100, help="LeetCode problems")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        math_rows = (SHARED / "benchmarks" / "math500.jsonl").read_text().splitlines()[: args.math]
        (data / "math500.jsonl").write_text("\n".join(math_rows) + "\n")
        (data / "leetcode.json").write_text(json.dumps(json.loads((SHARED / "raw" / "rllm_leetcode.json").read_text())[: args.code]))
        benches = [load_benchmark("math500", data), load_bench_file(str(data / "leetcode.json"))]
        rng = random.Random(0)
        canned = {p: t for bench in benches for p, t in canned_completions(bench, args.samples, rng).items()}
        per_domain = {b.domain: len(b.rows) * args.samples for b in benches}
        total = sum(per_domain.values())
        httpd = serve(canned)
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        config = EvalConfig(
            benchmarks=["math500"],
            bench_files=[str(data / "leetcode.json")],
            samples=args.samples,
            data_dir=str(data),
            sampler=SamplerConfig(model="pre-made", backend="openai", options={"base_url": url, "concurrency": 16}),
        )
        # Alternating rounds, best of each: the machine may be shared, and the first round pays for cold caches.
        timings: dict[str, list[float]] = {"bare": [], "eval": [], "rerun": []}
        for round_ in range(args.rounds):
            timings["bare"].append(bare_grading(benches, canned, args.workers))
            for label in ("eval", "rerun"):
                started = time.perf_counter()
                results = run_eval(config, data / f"run{round_}", workers=args.workers)
                timings[label].append(time.perf_counter() - started)
                assert results["samples_generated"] == (total if label == "eval" else 0)
        httpd.shutdown()
    best = {label: min(times) for label, times in timings.items()}
    print(f"{total} samples ({per_domain.get('math', 0)} math, {per_domain.get('code', 0)} code), {args.workers} workers")
    print(
        f"best of {args.rounds} alternating rounds; all: "
        + "; ".join(f"{k} " + ", ".join(f"{t:.1f}" for t in v) + " s" for k, v in timings.items())
    )
    rows = [
        ("bare grading (math grader and sandbox called directly)", best["bare"]),
        ("acecurate eval (HTTP, grading, store, scores, report)", best["eval"]),
        ("  eval minus bare grading", best["eval"] - best["bare"]),
        ("rerun (every sample from the store; scores, report)", best["rerun"]),
    ]
    for label, seconds in rows:
        print(f"{label:58s} {seconds:7.1f} s {1000 * seconds / total:8.1f} ms/sample")
    # Half of each problem's completions are right: the scores say whether the graders agree.
    print("scores: " + ", ".join(f"{name} avg@{args.samples} {100 * b['scores']['avg']:.1f}%" for name, b in results["benchmarks"].items()))


if __name__ == "__main__":
    main()
