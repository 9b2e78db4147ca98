"""Rows per second of each rule stage (the stage functions themselves, with the shipped pipelines' settings) on rows
built from the shared dumps, for this checkout and for a baseline revision, side by side in the same run.

    python benchmarks/stage_speed.py [--rows 50000] [--baseline 8dc4d20] [--workers 1 2] [--stages format-filter ...]

Math rows come from MATH train and the AIME dump, code rows from the four code dumps, each repeated with light edits
(a word dropped, a number appended) to reach --rows, so that near-dedup meets real near duplicates. Each side runs in
its own process (two versions of the package cannot share one); the baseline's sources come from `git archive`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BASELINE = "8dc4d20"  # before the rules were made linear (issue 19)
MATH_RAW = ("rllm_math_train.json", "deepscaler_aime_1983_2023.json")
CODE_RAW = ("rllm_leetcode.json", "rllm_livecodebench_train.json", "rllm_codeforces.json", "rllm_code_contests.json")
STAGES = {  # stage -> domains it is timed on
    "clean-prompts": ("math", "code"),
    "format-filter": ("math", "code"),
    "near-dedup": ("math", "code"),
    "decontaminate": ("math", "code"),
    "answer-check": ("math",),
}


def build_frame(domain: str, n: int, data: Path):
    import pandas as pd

    from acecurate.records import load_inputs

    base = load_inputs([str(data / "raw" / f) for f in (MATH_RAW if domain == "math" else CODE_RAW)]).frame
    rng = random.Random(0)
    rows = base.to_dict("records")
    out = list(rows)
    while len(out) < n:
        row = dict(rng.choice(rows))
        words = row["problem"].split(" ")
        if len(words) > 4:
            del words[rng.randrange(len(words))]
        row["problem"] = " ".join(words) + f" {rng.randrange(1000)}"
        out.append(row)
    frame = pd.DataFrame(out[:n]).reset_index(drop=True)
    frame["id"] = [f"r{i}" for i in range(len(frame))]
    return frame


def time_stages(repo: Path, rows: int, stages: list[str], data: Path, workers: list[int]) -> dict:
    from acecurate.pipeline import load_pipeline
    from acecurate.stage import RunContext
    from acecurate.stages import STAGE_BY_NAME

    results = {}
    for domain in ("math", "code"):
        configs = {s.stage: s.config for s in load_pipeline(repo / "pipelines" / f"{domain}.yaml").stages}
        frame = build_frame(domain, rows, data)
        for name in stages:
            if domain not in STAGES[name]:
                continue
            if name not in STAGE_BY_NAME:
                continue  # the stage does not exist in this version
            config = configs.get(name) or STAGE_BY_NAME[name].config_cls()
            for count in workers:
                with tempfile.TemporaryDirectory() as tmp:
                    ctx = RunContext(Path(tmp), Path(tmp) / name, domain, count)
                    (Path(tmp) / name).mkdir()
                    started = time.perf_counter()
                    result = STAGE_BY_NAME[name](frame, dataclasses.replace(config), ctx)
                    seconds = time.perf_counter() - started
                results[f"{name} ({domain}, {count} worker{'s' if count > 1 else ''})"] = {
                    "rows": len(frame),
                    "seconds": round(seconds, 2),
                    "removed": len(result.removed),
                }
    return results


def run_side(src: Path, repo: Path, rows: int, stages: list[str], data: Path, workers: list[int]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, __file__, "--side", "--repo", str(repo), "--rows", str(rows), "--data", str(data), "--stages", *stages]
    command += ["--workers", *map(str, workers)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"timing {repo} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--stages", nargs="*", default=list(STAGES))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="worker counts to time each stage with")
    parser.add_argument("--side", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(time_stages(args.repo, args.rows, args.stages, args.data, args.workers)))
        return
    new = run_side(REPO / "src", REPO, args.rows, args.stages, args.data, args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        old = run_side(Path(tmp) / "src", Path(tmp), args.rows, args.stages, args.data, args.workers)
    print(f"{args.rows:,} rows per domain (measured under the machine's current load: {os.getloadavg()[0]:.1f})\n")
    print(f"| stage | rows/s (this checkout) | rows/s ({args.baseline}) | removed (new / old) |")
    print("|---|---:|---:|---|")
    for key in new:
        a, b = new[key], old.get(key)

        def speed(cell):
            return f"{cell['rows'] / max(cell['seconds'], 1e-9):,.0f}" if cell else "-"

        print(f"| {key} | {speed(a)} | {speed(b)} | {a['removed'] if a else '-'} / {b['removed'] if b else '-'} |")


if __name__ == "__main__":
    main()
