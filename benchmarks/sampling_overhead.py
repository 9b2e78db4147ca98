"""What the difficulty stage adds per sample besides generation (grading and storing), measured with pre-made
completions on 2 cores: math samples through the math grader, code samples through the sandbox, all into the store.

    python benchmarks/sampling_overhead.py [--prompts 500 --n 16]
"""

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from acecurate.sampling import BackendInfo, Completion, SamplingSettings
from acecurate.sampling.collect import grade_completions, sample_records
from acecurate.sampling.store import SampleStore
from acecurate.verify.math import MathGrader

REASONING = "Let me think about this step by step. " * 100
PRE_MADE = BackendInfo("pre-made", "m", "-")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--n", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(0)
    settings = SamplingSettings()
    with tempfile.TemporaryDirectory() as tmp:
        store = SampleStore(Path(tmp) / "samples.sqlite")
        for domain in ("math", "code"):
            prompts = args.prompts if domain == "math" else max(args.prompts // 10, 10)
            tests = json.dumps({"format": "stdin", "cases": [{"input": f"{i}\n", "output": f"{i + 1}\n"} for i in range(5)]})
            started = time.perf_counter()
            with MathGrader(workers=2) as grader:
                for p in range(prompts):
                    if domain == "math":
                        comps = [
                            Completion(f"<think>{REASONING}</think> The answer is \\boxed{{{rng.choice([p, p + 1])}}}.", 900, "stop")
                            for _ in range(args.n)
                        ]
                        [grades] = grade_completions([("math", comps, str(p), None)], 2, grader)
                    else:
                        comps = [
                            Completion(f"</think>\n```python\nprint(int(input()) + {rng.choice([1, 2])})\n```", 300, "stop")
                            for _ in range(args.n)
                        ]
                        [grades] = grade_completions([("code", comps, None, tests)], 2, grader)
                    store.add(sample_records(f"{domain}{p}", str(p), "m", settings, 0, comps, grades, PRE_MADE))
            seconds = time.perf_counter() - started
            samples = prompts * args.n
            print(f"{domain}: {samples / seconds:8.0f} samples/s graded and stored ({samples} samples, {seconds:.1f} s, 2 workers)")
        store.close()


if __name__ == "__main__":
    main()
