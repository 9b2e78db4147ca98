"""`acecurate train` on one machine, end to end: two short stages (math, then code) of a small local model with
transformers generation (no vLLM) and the real rewards (the math grader; code in the bubblewrap sandbox), each
stage's temperature chosen by the entropy pilot. Prints, per stage, the generation throughput (completion tokens/s),
each step's split into generation, reward grading and update, and the peak GPU memory.

On a GPU it trains there, in bf16 where the GPU supports it; on a CPU it trains there in float32. Without --model it
builds the tests' tiny random model (tests/tiny_model.py), which answers nothing right but exercises every part:

    python benchmarks/train_gpu_check.py                                   # CPU, tiny model
    python benchmarks/train_gpu_check.py --model /models/Qwen2.5-0.5B-Instruct --max-tokens 1024 --steps 3
    python benchmarks/train_gpu_check.py --model /models/DeepSeek-R1-Distill-Qwen-1.5B --require-think-close

Prompts: MATH train problems and Code Contests problems (stdin tests) from ../shared/data/raw, else examples/.
Needs `pip install -e '.[train]'` (torch first) and, for the code stage's rewards, bubblewrap with `acecurate sandbox
setup` done.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def sources() -> tuple[Path, Path]:
    if (SHARED / "raw" / "rllm_math_train.json").exists() and (SHARED / "raw" / "rllm_code_contests.json").exists():
        return SHARED / "raw" / "rllm_math_train.json", SHARED / "raw" / "rllm_code_contests.json"
    return REPO / "examples" / "math_sample.jsonl", REPO / "examples" / "code_sample.jsonl"


def curate(source: Path, domain: str, rows: int, out: Path) -> Path:
    """The first `rows` problems of `source`, deduplicated into a curated run directory (what `train` reads)."""
    from acecurate.io import read_records, write_jsonl
    from acecurate.pipeline import pipeline_from_dict, run_pipeline

    sample = out / f"{domain}-sample.jsonl"
    write_jsonl(sample, read_records(source)[:rows])
    curated = out / f"curated-{domain}"
    run_pipeline(
        pipeline_from_dict({"name": domain, "domain": domain, "stages": [{"dedup": {}}]}, "check"), [str(sample)], curated, write_card=False
    )
    return curated


def stage_report(directory: Path, completions_per_step: int) -> dict:
    lines = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    steps = [line for line in lines if "reward" in line]
    rollouts = [json.loads(line) for line in (directory / "rollouts.jsonl").read_text().splitlines()]
    schedule = json.loads((directory / "schedule.json").read_text())
    tokens = sum(r["tokens"] or 0 for r in rollouts)
    split = {part: [s[f"time/{part}"] for s in steps] for part in ("generation", "reward", "update")}
    return {
        "steps": len(steps),
        "completions": len(rollouts),
        "expected": len(steps) * completions_per_step,
        "tokens": tokens,
        "tokens_per_s": tokens / sum(split["generation"]) if sum(split["generation"]) else 0.0,
        "split": {part: statistics.mean(values) for part, values in split.items()},
        "pass_rate": statistics.mean(s["reward"] for s in steps),
        "entropy": statistics.mean(s["entropy"] for s in steps if "entropy" in s),
        "temperature": schedule["temperature"],
        "pilot": schedule["pilot"],
        "gpu_peak_gib": max((s.get("gpu_peak_gib", 0.0) for s in steps), default=0.0),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a local model directory (default: build the tests' tiny random model)")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per stage")
    parser.add_argument("--prompts-per-batch", type=int, default=4)
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64, help="max response tokens")
    parser.add_argument("--micro-batch", type=int, default=8, help="completions per forward/backward")
    parser.add_argument("--target-entropy", type=float, default=0.3)
    parser.add_argument("--require-think-close", action="store_true", help="for R1-style models that think in <think> tags")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="reward grading processes")
    parser.add_argument("--out", type=Path, help="keep the run here (default: a temporary directory)")
    args = parser.parse_args()

    import torch
    import transformers
    import trl

    from acecurate.train import load_recipe, run

    on_gpu = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if on_gpu else f"CPU ({os.cpu_count()} cores)"
    dtype = "bfloat16" if on_gpu and torch.cuda.is_bf16_supported() else "float32"
    print(f"device: {device}; dtype {dtype}; torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        model = args.model
        if model is None:
            sys.path.insert(0, str(REPO))  # the tests' model builder, for a check without a downloaded model
            from tests.tiny_model import build_tiny_model

            model = str(build_tiny_model(out / "tiny-model"))
            print(f"model: the tests' tiny random model ({model})")
        rows = 4 * args.prompts_per_batch * args.steps
        math_source, code_source = sources()
        math_dir, code_dir = curate(math_source, "math", rows, out), curate(code_source, "code", rows, out)
        stage = {
            "max_response_tokens": args.max_tokens,
            "rollouts": args.rollouts,
            "prompts_per_batch": args.prompts_per_batch,
            "steps": args.steps,
            "target_entropy": args.target_entropy,
            "entropy_pilot": {"prompts": args.prompts_per_batch, "max_tokens": min(args.max_tokens, 256)},
        }
        recipe_path = out / "recipe.yaml"
        recipe_path.write_text(
            yaml.safe_dump(
                {
                    "model": model,
                    "per_device_batch_size": args.micro_batch,
                    "reward_workers": args.workers,
                    "grading": {"require_think_close": args.require_think_close},
                    "save_steps": args.steps,
                    "generation": {"use_vllm": False, "vllm_importance_sampling_correction": False},
                    "stages": [
                        {"name": "math", "domain": "math", "learning_rate": 1e-6, **stage},
                        {"name": "code", "domain": "code", "learning_rate": 5e-6, **stage},
                    ],
                }
            )
        )
        started = time.perf_counter()
        run(load_recipe(recipe_path), math_dir, code_dir, out / "run")
        wall = time.perf_counter() - started
        per_step = args.prompts_per_batch * args.rollouts
        print(
            f"two stages of {args.steps} steps, {args.prompts_per_batch} prompts x {args.rollouts} rollouts, {args.max_tokens} tokens: {wall:.1f} s"
        )
        print(
            f"{'stage':6s} {'temp':>5s} {'entropy':>7s} {'pass':>5s} {'tokens/s':>9s} {'gen s':>7s} {'reward s':>8s} {'update s':>8s} {'GPU GiB':>8s}"
        )
        for name in ("00-math", "01-code"):
            r = stage_report(out / "run" / name, per_step)
            assert r["completions"] == r["expected"], f"{name}: {r['completions']} rewards logged, {r['expected']} expected"
            s = r["split"]
            print(
                f"{name[3:]:6s} {r['temperature']:5g} {r['entropy']:7.3f} {r['pass_rate']:5.2f} {r['tokens_per_s']:9.1f} "
                f"{s['generation']:7.2f} {s['reward']:8.2f} {s['update']:8.2f} {r['gpu_peak_gib']:8.2f}"
            )
            pilot = ", ".join(f"{m['temperature']:g} -> {m['entropy']:.3f}" for m in r["pilot"] if m["entropy"] is not None)
            print(f"       pilot entropy by temperature: {pilot}")
        print("gen/reward/update: mean seconds per step; GPU GiB: peak allocated (0 on a CPU)")


if __name__ == "__main__":
    main()
