"""End-to-end scale: `acecurate filter` with pipelines/math.yaml on N synthetic math rows, for this checkout and for a
baseline revision, side by side in the same run: wall time, peak memory of the process tree, seconds per stage (from
each stage's stats.json) and the runner's own time (wall minus the stages: loading, the final outputs, the card).

    python benchmarks/scale.py [--rows 100000 1000000] [--ten-million] [--baseline 8dc4d20] [--sides new baseline]

The rows are MATH train and the AIME dump in their raw layout, repeated with light edits (a word dropped, a number
appended, as `stage_speed.py` makes them) and written once per size as a raw jsonl dump, the input a user gives. Each
side runs `acecurate filter` in its own process (two versions of the package cannot share one); the baseline's sources
come from `git archive`. Peak memory is sampled every 0.1 s over the whole process tree (workers included): what the
machine must hold at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BASELINE = "8dc4d20"  # the runner before rows flowed through disk and columns (one pandas frame, every column)
MATH_RAW = ("rllm_math_train.json", "deepscaler_aime_1983_2023.json")


def write_rows(path: Path, n: int, data: Path) -> None:
    """N raw math rows as jsonl, streamed (the base rows are small; the output may be 10^7 rows)."""
    base = [row for name in MATH_RAW for row in json.loads((data / "raw" / name).read_text(encoding="utf-8"))]
    rng = random.Random(0)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = dict(base[i] if i < len(base) else rng.choice(base))
            if i >= len(base):
                words = row["problem"].split(" ")
                if len(words) > 4:
                    del words[rng.randrange(len(words))]
                row["problem"] = " ".join(words) + f" {rng.randrange(1000)}"
            row["id"] = f"r{i}"
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc (no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, stack, page = 0, [pid], os.sysconf("SC_PAGE_SIZE")
    while stack:
        current = stack.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
        stack.extend(children.get(current, []))
    return total


def pipeline_file(repo: Path, stages: list[str] | None, into: Path) -> Path:
    """The side's own pipelines/math.yaml, or only some of its stages (to time the runner apart from costly rules)."""
    import yaml

    path = repo / "pipelines" / "math.yaml"
    if not stages:
        return path
    data = yaml.safe_load(path.read_text())
    data["stages"] = [entry for entry in data["stages"] if next(iter(entry)) in stages]
    into.write_text(yaml.safe_dump(data))
    return into


def run_filter(src: Path, pipeline: Path, rows_file: Path, out: Path, log: Path, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", "from acecurate.cli import app; app()", "filter", str(rows_file)]
    command += ["--pipeline", str(pipeline), "--out", str(out), "--workers", str(workers)]
    started = time.perf_counter()
    with log.open("w") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=src.parent)
        peak, per_stage, shown = [0], {}, {}

        def sample():
            while process.poll() is None:
                rss = tree_rss(process.pid)
                peak[0] = max(peak[0], rss)
                folders = sorted(p.name for p in out.glob("[0-9][0-9]-*")) if out.exists() else []
                # the stage running now; "final" once the dataset and the card are being written
                phase = "final" if (out / "data").exists() else folders[-1].split("-", 1)[1] if folders else "load"
                per_stage[phase] = max(per_stage.get(phase, 0), rss)
                if len(per_stage) != len(shown):  # a new stage began: say how high the last one went, as it goes
                    shown.update(per_stage)
                    log.with_suffix(".peaks.json").write_text(json.dumps(per_stage))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        sampler.join()
    wall = time.perf_counter() - started
    if code:
        raise SystemExit(f"{src}: acecurate filter failed ({code}); the end of {log}:\n" + log.read_text()[-4000:])
    stages = {}
    for stats_path in sorted(out.glob("[0-9][0-9]-*/stats.json")):
        stats = json.loads(stats_path.read_text())
        stages[stats["stage"]] = {
            "seconds": stats["seconds"],
            "rows_in": stats["rows_in"],
            "removed": stats["removed"],
            "peak_tree_bytes": per_stage.get(stats["stage"]),
        }
    return {
        "wall_s": round(wall, 1),
        "peak_tree_bytes": peak[0],
        "load_peak_tree_bytes": per_stage.get("load"),
        "final_peak_tree_bytes": per_stage.get("final"),
        "stages": stages,
        "runner_s": round(wall - sum(s["seconds"] for s in stages.values()), 1),
    }


def baseline_tree(revision: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def show(results: dict) -> None:
    print("\n| rows | side | wall | peak RSS (tree) | bytes/row | runner s | " + " | ".join(STAGE_COLUMNS) + " |")
    print("|---:|---|---:|---:|---:|---:|" + "---:|" * len(STAGE_COLUMNS))
    for (rows, side), r in results.items():
        cells = [
            f"{r['stages'][s]['seconds']:.1f} s, {(r['stages'][s]['peak_tree_bytes'] or 0) / 2**30:.2f} GiB" if s in r["stages"] else "-"
            for s in STAGE_COLUMNS
        ]
        minutes = f"{int(r['wall_s'] // 60)}:{r['wall_s'] % 60:04.1f}"
        peak = r["peak_tree_bytes"]
        print(
            f"| {rows:,} | {side} | {minutes} | {peak / 2**30:.2f} GiB | {peak / rows:,.0f} | {r['runner_s']:.1f} | "
            + " | ".join(cells)
            + " |"
        )


STAGE_COLUMNS = ("input-check", "clean-prompts", "dedup", "near-dedup", "decontaminate", "format-filter", "answer-check")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--ten-million", action="store_true", help="also 10^7 rows (hours on the baseline: use --sides new)")
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--sides", nargs="*", default=["new", "baseline"], choices=["new", "baseline"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stages", nargs="*", default=None, help="only these stages of math.yaml (input-check alone times the runner)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--work", type=Path, default=None, help="folder for the inputs and runs (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    sizes = [*args.rows, *([10_000_000] if args.ten_million else [])]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        trees = {"new": (REPO / "src", REPO)}
        if "baseline" in args.sides:
            old = baseline_tree(args.baseline, Path(tempfile.mkdtemp(dir=tmp)))
            trees["baseline"] = (old / "src", old)
        results = {}
        for rows in sizes:
            rows_file = work / f"math-{rows}.jsonl"
            if not rows_file.exists():
                print(f"building {rows:,} rows -> {rows_file}", flush=True)
                write_rows(rows_file, rows, args.data)
            for side in args.sides:
                src, repo = trees[side]
                out = work / f"run-{side}-{rows}"
                subprocess.run(["rm", "-rf", str(out)], check=True)
                label = "this checkout" if side == "new" else args.baseline
                print(f"{rows:,} rows, {label}: running (log {work / f'{side}-{rows}.log'}) ...", flush=True)
                pipeline = pipeline_file(repo, args.stages, work / f"{side}-pipeline.yaml")
                result = run_filter(src, pipeline, rows_file, out, work / f"{side}-{rows}.log", args.workers)
                results[(rows, side)] = result
                print(
                    f"  {result['wall_s']:.0f} s, peak {result['peak_tree_bytes'] / 2**30:.2f} GiB; load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                if args.json:
                    args.json.write_text(json.dumps({f"{r}:{s}": v for (r, s), v in results.items()}, indent=2))
                subprocess.run(["rm", "-rf", str(out)], check=True)
    print(f"\n{os.cpu_count()} cores; load average now {os.getloadavg()[0]:.2f} (other jobs make every figure noisier)")
    show(results)


if __name__ == "__main__":
    main()
