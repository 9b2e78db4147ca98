"""The `acecurate` command: thin typer commands, each parsing options and calling one library function.

Heavy libraries are imported inside the commands, so `acecurate --help` stays instant.
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import AcecurateError

app = typer.Typer(help="Curate verified, difficulty-graded math and code RL datasets, and run staged GRPO on them.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
benchmarks_app = typer.Typer(help="Benchmark fingerprints used by decontamination.", no_args_is_help=True)
verify_app = typer.Typer(help="Grade one response and explain the verdict.", no_args_is_help=True)
app.add_typer(benchmarks_app, name="benchmarks")
app.add_typer(verify_app, name="verify")
console = Console(stderr=True)
out = Console()


def friendly_errors(fn):
    """Print AcecurateError as one clear message and exit 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AcecurateError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=True)


def _print_summary(summary) -> None:
    table = Table(title=f"acecurate: {summary.run_dir}")
    for column, justify in [("stage", "left"), ("in", "right"), ("kept", "right"), ("removed", "right"),
                            ("top reasons", "left"), ("s", "right"), ("", "left")]:
        table.add_column(column, justify=justify)
    for s in summary.stages:
        top = ", ".join(f"{r}={c}" for r, c in sorted(s.reasons.items(), key=lambda kv: -kv[1])[:3])
        note = "skipped" if s.stats.get("skipped") else "cached" if s.cached else ""
        table.add_row(s.name, str(s.rows_in), str(s.kept), str(s.removed), top, f"{s.seconds:.1f}", note)
    out.print(table)
    for s in summary.stages:
        if s.stats.get("skipped"):
            out.print(f"[yellow]{s.name} skipped[/]: {s.stats['skipped']}")
    out.print(f"kept {summary.rows_out} of {summary.rows_in} rows -> {summary.train_path}")
    out.print(f"removed rows with reasons -> {summary.removed_path}")
    if summary.card_path:
        out.print(f"data card -> {summary.card_path}")


def _run(pipeline, inputs: list[str], out_dir: Path, mapping: Optional[str], workers: int):
    from .pipeline import run_pipeline
    from .records import parse_mapping

    command = "acecurate " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    with _progress() as progress:
        summary = run_pipeline(pipeline, inputs, out_dir, mapping=parse_mapping(mapping), workers=workers,
                               command=command, progress=progress)
    _print_summary(summary)


MapOption = typer.Option(None, "--map", help="Column mapping CANONICAL=RAW,..., e.g. problem=question,answer=final_answer")
WorkersOption = typer.Option(2, "--workers", "-w", help="Worker processes for grading and execution.")
SetOption = typer.Option([], "--set", help="Override a stage setting: STAGE.KEY=VALUE (YAML value). Repeatable.")


@app.command("filter")
@friendly_errors
def filter_command(
    inputs: List[str] = typer.Argument(..., help="Raw dumps: jsonl, json, parquet, csv files or a HF dataset id."),
    pipeline: Path = typer.Option(..., "--pipeline", "-p", help="Pipeline YAML, e.g. pipelines/math.yaml."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Run directory."),
    mapping: Optional[str] = MapOption,
    overrides: List[str] = SetOption,
    workers: int = WorkersOption,
):
    """Run a curation pipeline end to end: every stage's kept and removed rows, the dataset and its card."""
    from .pipeline import load_pipeline

    _run(load_pipeline(pipeline, overrides), inputs, out_dir, mapping, workers)


def _single(stage_name: str, inputs, out_dir, domain, mapping, workers, overrides, values: dict):
    from .pipeline import parse_overrides, single_stage_pipeline

    values = {k: v for k, v in values.items() if v is not None and v != []}
    values.update(parse_overrides([f"{stage_name}.{o}" if not o.startswith(stage_name + ".") else o for o in overrides]).get(stage_name, {}))
    _run(single_stage_pipeline(stage_name, domain, values), inputs, out_dir, mapping, workers)


DomainOption = typer.Option("math", "--domain", help="math or code.")


@app.command("dedup")
@friendly_errors
def dedup_command(inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
                  priority: List[str] = typer.Option([], "--priority", help="Source names, highest priority first."),
                  domain: str = DomainOption, mapping: Optional[str] = MapOption, overrides: List[str] = SetOption):
    """Exact dedup on normalised statements (and source URLs for code)."""
    _single("dedup", inputs, out_dir, domain, mapping, 1, overrides, {"source_priority": priority})


@app.command("near-dedup")
@friendly_errors
def near_dedup_command(inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
                       threshold: Optional[float] = typer.Option(None, help="Jaccard similarity threshold (default 0.8)."),
                       domain: str = DomainOption, mapping: Optional[str] = MapOption, overrides: List[str] = SetOption):
    """Near-duplicate removal: MinHash LSH candidates, verified by real Jaccard similarity to a kept row."""
    _single("near-dedup", inputs, out_dir, domain, mapping, 1, overrides, {"threshold": threshold})


@app.command("decontaminate")
@friendly_errors
def decontaminate_command(
    inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
    benchmark: List[str] = typer.Option([], "--benchmark", help="Extra benchmark file of your own. Repeatable."),
    only: List[str] = typer.Option([], "--only", help="Shipped benchmarks to use (default: all of the domain)."),
    n: Optional[int] = typer.Option(None, "--n", help="Word n-gram size (default 9 math, 14 code)."),
    match: Optional[str] = typer.Option(None, "--match", help="coverage (default) or any."),
    min_coverage: Optional[float] = typer.Option(None, help="Share of a benchmark item's n-grams that flags a row."),
    domain: str = DomainOption, mapping: Optional[str] = MapOption, overrides: List[str] = SetOption,
):
    """Remove rows that copy benchmark problems, and code problems dated after the cutoff."""
    _single("decontaminate", inputs, out_dir, domain, mapping, 1, overrides,
            {"benchmark_files": benchmark, "benchmarks": only, "n": n, "match": match, "min_coverage": min_coverage})


@app.command("format-filter")
@friendly_errors
def format_filter_command(inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
                          domain: str = DomainOption, mapping: Optional[str] = MapOption, overrides: List[str] = SetOption):
    """Rule filters: MCQ, proofs, multi-part, yes/no, figures, non-English, brevity; interactive, special judge, images."""
    _single("format-filter", inputs, out_dir, domain, mapping, 1, overrides, {})


@app.command("answer-check")
@friendly_errors
def answer_check_command(inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
                         mapping: Optional[str] = MapOption, workers: int = WorkersOption, overrides: List[str] = SetOption):
    """Remove math rows whose gold answer is empty, prose, or unparseable by the grader."""
    _single("answer-check", inputs, out_dir, "math", mapping, workers, overrides, {})


@app.command("stages")
def stages_command():
    """List the stages a pipeline YAML can use."""
    from .pipeline import STAGES, _load_stage_modules

    _load_stage_modules()
    table = Table(title="stages")
    table.add_column("stage")
    table.add_column("needs")
    table.add_column("what it does")
    for name, spec in sorted(STAGES.items()):
        table.add_row(name, ", ".join(spec.requires), spec.help)
    out.print(table)


@benchmarks_app.command("build")
@friendly_errors
def benchmarks_build(data_dir: Path = typer.Option(Path("../shared/data/benchmarks"), "--data", help="Folder of benchmark files."),
                     out_dir: Optional[Path] = typer.Option(None, "--out", help="Where to write fingerprints (default: the package).")):
    """Rebuild the shipped benchmark fingerprints from the benchmark files."""
    from .benchmarks import FINGERPRINT_DIR, build_shipped

    table = Table(title="benchmark fingerprints")
    table.add_column("benchmark")
    table.add_column("items", justify="right")
    table.add_column("file")
    for name, items, path in build_shipped(data_dir, out_dir or FINGERPRINT_DIR):
        table.add_row(name, str(items), str(path))
    out.print(table)


@benchmarks_app.command("list")
@friendly_errors
def benchmarks_list():
    """List the shipped benchmark fingerprints."""
    from .benchmarks import SHIPPED, load_fingerprint, shipped_names

    table = Table(title="shipped benchmark fingerprints")
    for column in ("benchmark", "domain", "items", "tokens", "description"):
        table.add_column(column)
    for source in SHIPPED:
        if source.name in shipped_names():
            fp = load_fingerprint(source.name)
            table.add_row(fp.name, fp.domain, str(len(fp.ids)), str(len(fp.corpus.hashes)), fp.description)
    out.print(table)


@verify_app.command("math")
@friendly_errors
def verify_math(gold: str = typer.Option(..., "--gold", help="Gold answer, e.g. '\\frac12'."),
                response: str = typer.Option(..., "--response", help="Model response (the last \\boxed{} after </think> is graded)."),
                timeout: float = typer.Option(5.0, help="Wall-clock limit in seconds.")):
    """Grade one math response and say why."""
    from .verify.math import extract_answer, grade

    result = grade(response, gold, timeout=timeout)
    table = Table(title="math verdict", show_header=False)
    table.add_row("verdict", f"[bold {'green' if result.correct else 'red'}]{result.status}[/]")
    table.add_row("gold", gold)
    table.add_row("extracted", str(extract_answer(response)))
    table.add_row("why", result.detail)
    out.print(table)
    raise typer.Exit(0 if result.correct else 1)


@verify_app.command("code")
@friendly_errors
def verify_code(solution: Path = typer.Option(..., "--solution", help="Python file with the solution."),
                tests: Path = typer.Option(..., "--tests", help="Tests: canonical JSON, a LiveCodeBench list, {input, output}, ..."),
                fn_name: Optional[str] = typer.Option(None, "--fn-name", help="Function name for functional tests."),
                time_limit: float = typer.Option(4.0, "--time-limit", help="Seconds per test."),
                early_stop: bool = typer.Option(False, "--early-stop", help="Stop at the first failing test.")):
    """Run one solution against its tests in the sandbox and print the per-test table."""
    import math

    from .errors import InputError
    from .records import canonical_tests
    from .sandbox import Limits, run_solution

    try:
        canonical = canonical_tests(tests.read_text(), fn_name=fn_name, starter_code=solution.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(tests, f"cannot read tests: {exc}") from None
    result = run_solution(solution.read_text(), canonical, Limits(time_s=time_limit, cpu_s=max(1, math.ceil(time_limit))),
                          early_stop=early_stop)
    table = Table(title=f"{solution.name}: {result.verdict}")
    for column in ("test", "verdict", "time (s)", "memory (MB)", "exit", "first difference / stderr"):
        table.add_column(column)
    for t in result.tests:
        why = (f"line {t.difference['line']}: expected {t.difference['expected']!r}, got {t.difference['got']!r}"
               if t.difference else t.stderr.strip().splitlines()[-1][:120] if t.stderr.strip() else "")
        exit_text = f"signal {t.signal}" if t.signal else str(t.exit_code)
        color = "green" if t.verdict == "passed" else "red"
        table.add_row(str(t.index), f"[{color}]{t.verdict}[/]", f"{t.time_s:.3f}", f"{t.max_rss_kb / 1024:.0f}", exit_text, why)
    out.print(table)
    if result.detail:
        out.print(result.detail)
    raise typer.Exit(0 if result.passed else 1)


@app.command("validate-tests")
@friendly_errors
def validate_tests_command(inputs: List[str] = typer.Argument(...), out_dir: Path = typer.Option(..., "--out", "-o"),
                           mapping: Optional[str] = MapOption, workers: int = WorkersOption, overrides: List[str] = SetOption):
    """Run reference solutions against their tests (twice) and drop problems whose tests cannot be trusted."""
    _single("validate-tests", inputs, out_dir, "code", mapping, workers, overrides, {})


@app.command("train")
@friendly_errors
def train_command(recipe: Path = typer.Option(..., "--recipe", "-r", help="Training recipe YAML, e.g. pipelines/acereason-7b.yaml."),
                  math_dir: Optional[Path] = typer.Option(None, "--math", help="Curated math run directory."),
                  code_dir: Optional[Path] = typer.Option(None, "--code", help="Curated code run directory."),
                  out_dir: Path = typer.Option(Path("runs/train"), "--out", "-o"),
                  overrides: List[str] = SetOption,
                  dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved plan and stop.")):
    """Staged GRPO (math, then code) over TRL from curated datasets; reruns resume."""
    from . import train

    loaded = train.load_recipe(recipe, overrides)
    plans = train.plan(loaded, math_dir, code_dir, out_dir)
    table = Table(title=f"training plan: {recipe.name} ({loaded.model})")
    for column in ("stage", "tokens", "G", "lr", "temp", "mask", "prompts", "steps", "rollouts", "easy", "batch"):
        table.add_column(column)
    for p in plans:
        s, args = p.stage, p.trl_args
        easy = f">{s.easy_filter.max_solved}/{s.easy_filter.out_of}" if s.easy_filter else "-"
        table.add_row(s.name, f"{s.max_response_tokens // 1024}K" if s.max_response_tokens >= 1024 else str(s.max_response_tokens), str(s.rollouts), f"{s.learning_rate:g}", f"{s.temperature:g}",
                      "on" if s.overlong_masking else "off", str(p.prompts_available), str(p.max_steps if p.max_steps is not None else "-"),
                      f"{p.estimated_rollouts:,}" if p.estimated_rollouts is not None else "-", easy,
                      f"{s.prompts_per_batch}x{s.rollouts}={args['per_device_train_batch_size']}x{args['gradient_accumulation_steps']}"
                      f"x{loaded.num_processes}")
    out.print(table)
    for p in plans:
        if p.stage.easy_filter:
            out.print(f"{p.stage.name}: easy-prompt filter uses the {p.easy_filter_source}")
    out.print("tokens: max response tokens; G: rollouts per prompt; mask: overlong masking; batch: prompts x rollouts = "
              "micro-batch x accumulation x processes")
    out.print("every stage: loss_type=dapo, beta=0, entropy_coef=0, num_iterations=1, steps_per_generation = accumulation "
              f"(one optimizer step per rollout batch); generation: {'vLLM ' + loaded.generation.vllm_mode if loaded.generation.use_vllm else 'transformers'}"
              + (f", vLLM importance-sampling correction on (cap {loaded.generation.vllm_importance_sampling_cap:g})"
                 if loaded.generation.use_vllm and loaded.generation.vllm_importance_sampling_correction else ""))
    if dry_run:
        return
    results = train.run(loaded, math_dir, code_dir, out_dir, console=out)
    summary = Table(title=f"training: {out_dir}")
    for column in ("stage", "steps", "prompts", "dropped", "resumed from", ""):
        summary.add_column(column)
    for r in results:
        summary.add_row(r["stage"], str(r["steps"]), str(r["prompts"]), json.dumps(r["dropped"]), str(r.get("resumed_from") or "-"),
                        "already finished" if r.get("skipped") else "")
    out.print(summary)


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":
    app()
