"""The `acecurate` command: thin typer commands, each parsing options and calling one library function.

Heavy libraries are imported inside the commands, so `acecurate --help` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import AcecurateError

# Plain help (click's layout): it wraps to any terminal, and a flag shows no value type (rich panels print
# `--help <bool>`); no shell-completion options.
HELP = {"no_args_is_help": True, "rich_markup_mode": None, "add_completion": False}
app = typer.Typer(
    help="Curate verified, difficulty-graded math and code RL datasets, and run staged GRPO on them.",
    pretty_exceptions_enable=False,
    **HELP,
)
benchmarks_app = typer.Typer(help="Benchmark fingerprints used by decontamination and the benchmarks of eval.", **HELP)
verify_app = typer.Typer(help="Grade one response and explain the verdict.", **HELP)
sandbox_app = typer.Typer(help="The code sandbox's judge environment.", **HELP)
eval_app = typer.Typer(help="Measure a model on the paper's benchmarks with the paper's protocol and graders, and compare runs.", **HELP)
app.add_typer(benchmarks_app, name="benchmarks")
app.add_typer(verify_app, name="verify")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(eval_app, name="eval")
# Off a terminal (CI, Slurm logs) nothing is cut: tables and messages are as wide as they need to be. Piped to a
# terminal (`| tee log`), output follows the terminal's width, which stderr still shows.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 100_000)
out = Console(width=None if sys.stdout.isatty() else console.width if sys.stderr.isatty() else 100_000)


def show(renderable) -> None:
    """Print a table; off a terminal without the padding that rich puts at the end of every line."""
    if out.is_terminal:
        out.print(renderable)
        return
    with out.capture() as captured:
        out.print(renderable)
    out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def friendly_errors(fn):
    """Print AcecurateError, and a file that cannot be read or written (a read-only or full disk, a missing
    permission), as one clear message and exit 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AcecurateError as exc:
            _error(str(exc))
        except OSError as exc:
            if exc.filename is None:
                raise
            _error(f"{exc.filename}: {exc.strerror or exc}")

    return wrapper


def _error(message: str):
    # escaped: messages hold brackets that are not markup, such as pip install 'acecurate[vllm]'
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2) from None


def table(title: str, columns: list[str], **options) -> Table:
    """A table whose cells wrap instead of being cut with an ellipsis."""
    result = Table(title=title, **options)
    for column in columns:
        justify = "right" if column in ("in", "kept", "removed", "s", "items", "tokens", "rows") else "left"
        result.add_column(column, justify=justify, overflow="fold")
    return result


@contextlib.contextmanager
def progress_display():
    """Bars on a terminal; plain progress lines every few seconds in a log."""
    from .progress import LineProgress, RichProgress

    if not console.is_terminal:
        yield LineProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bars:
        yield RichProgress(bars)


def listing(items: list[str]) -> str:
    """Items of a table cell, separated by commas: the cell wraps after a comma, never inside an item."""
    return ", ".join(items)


def fitted_table(title: str, columns: list[tuple[str, str]], rows: list[list[str]]) -> Table:
    """A table whose numbers and names are never split across lines: `number` columns are right-aligned and kept
    whole, `name` columns kept whole, `list` columns (comma-separated items without spaces) wrap after a comma, each at least as
    wide as its longest item. Where that does not fit the terminal, the lists follow the table, a line per row."""

    def widest(index: int, kind: str) -> int:
        items = [item for row in rows for item in (row[index].split(", ") if kind == "list" else [row[index]])]
        return max([len(item) + (kind == "list") for item in items] + [len(columns[index][0]), 1])

    def build() -> Table:
        result = Table(title=title, box=None, padding=(0, 1), pad_edge=False, header_style="bold underline", title_justify="left")
        for index, (name, kind) in enumerate(columns):
            result.add_column(
                name,
                justify="right" if kind == "number" else "left",
                overflow="fold",
                no_wrap=kind != "list",
                min_width=widest(index, kind),
            )
        for row in rows:
            result.add_row(*row)
        return result

    whole = build()
    # rich narrows every column, no-wrap ones too, when the table is wider than the terminal: render it once and
    # keep that layout only if every item came out on one line
    with out.capture() as captured:
        out.print(whole)
    lines = captured.get().splitlines()
    items = {item.rstrip(",") for row in rows for cell in row for item in cell.split(", ") if item}
    if all(any(item in line for line in lines) for item in items):
        return whole
    # Too narrow: the lists leave the table and follow it, one line per row, wrapped at their commas
    from rich.console import Group
    from rich.text import Text

    lists = [i for i, (_, kind) in enumerate(columns) if kind == "list"]
    narrow = fitted_table(
        title, [c for i, c in enumerate(columns) if i not in lists], [[v for i, v in enumerate(r) if i not in lists] for r in rows]
    )
    below = [Text(f"{row[0]} {columns[i][0]}: {row[i]}") for row in rows for i in lists if row[i] and row[i] != "-"]
    return Group(narrow, *below)


def _print_summary(summary) -> None:
    from .text import plural

    rows = []
    for s in summary.stages:
        reasons = listing([f"{r}={c:,}" for r, c in sorted(s.reasons.items(), key=lambda kv: -kv[1])])
        seconds = "skipped" if s.skipped else "cached" if s.cached else f"{s.seconds:.1f}"
        rows.append([s.name, f"{s.rows_in:,}", f"{s.kept:,}", f"{s.removed:,}", reasons, seconds])
    columns = [("stage", "name"), ("in", "number"), ("kept", "number"), ("removed", "number"), ("reasons", "list"), ("s", "name")]
    show(fitted_table(f"acecurate: {summary.run_dir}", columns, rows))
    if len(summary.sources) > 1:
        rows = []
        for source, kept in summary.kept_per_source().items():
            removed = [s.per_source.get(source, {}).get("removed", 0) for s in summary.stages]
            by_stage = listing([f"{s.name}={n:,}" for s, n in zip(summary.stages, removed) if n])
            rows.append([source, f"{summary.sources[source]:,}", f"{kept[-1]:,}", by_stage or "-"])
        columns = [("source", "name"), ("in", "number"), ("kept", "number"), ("removed by", "list")]
        out.print()
        show(fitted_table("per source", columns, rows))
    out.print()
    for s in summary.stages:
        if s.skipped:
            out.print(f"[yellow]{s.name} skipped[/]: {escape(s.skipped)}")
    for warning in summary.warnings:
        out.print(f"[yellow]warning[/]: {escape(warning)}")
    out.print(f"kept {summary.rows_out:,} of {plural(summary.rows_in, 'row')} -> {summary.train_path}", highlight=False)
    out.print(f"removed rows with reasons -> {summary.removed_path}", highlight=False)
    if summary.card_path:
        out.print(f"data card -> {summary.card_path}", highlight=False)


def _run(pipeline, inputs: list[str], out_dir: Path, mapping: Optional[str], workers: int):
    from .pipeline import run_pipeline
    from .records import parse_mapping
    from .sampling.estimate import EstimateReady

    command = command_line()
    try:
        with progress_display() as progress:
            summary = run_pipeline(
                pipeline, inputs, out_dir, mapping=parse_mapping(mapping), workers=workers, command=command, progress=progress
            )
    except KeyboardInterrupt:
        interrupted(kept_work(out_dir))
    except EstimateReady as ready:
        _print_estimate(ready.estimate, out_dir)
        return
    _print_summary(summary)


def _print_estimate(estimate, out_dir: Path) -> None:
    """The cost projection of a sampling run (`--estimate`), one line per figure; the values wrap at 80 columns."""
    result = Table(title="cost estimate", box=None, padding=(0, 1), pad_edge=False, title_justify="left", show_header=False)
    result.add_column("", no_wrap=True)
    result.add_column("", overflow="fold")
    for what, value in estimate.rows():
        result.add_row(what, value)
    show(result)
    out.print(
        f"nothing else was sampled; the pilot's samples are kept in {out_dir / 'cache'} and reused by the same command without --estimate",
        highlight=False,
    )


def kept_work(run_dir: Path) -> str:
    """What an interrupted run leaves for the next one: its finished stages and its caches."""
    finished = sorted(p.parent.name for p in run_dir.glob("[0-9][0-9]-*/stats.json"))
    caches = [p.name for p in sorted((run_dir / "cache").glob("*.sqlite"))]
    said = f"finished stages kept in {run_dir}: {', '.join(finished)}" if finished else f"no stage of {run_dir} had finished"
    return said + (f"; samples and sandbox runs done so far kept in {run_dir / 'cache'} ({', '.join(caches)})" if caches else "")


def interrupted(kept: str):
    """Ctrl-C: say what was kept and how to resume, and exit 130 (the shell's code for SIGINT)."""
    console.print(f"[yellow]interrupted[/]: {escape(kept)}. Run the same command again to resume from there.")
    raise typer.Exit(130) from None


def command_line() -> str:
    """This command as the run records it (cards, eval.json), with secret option values hidden."""
    from .config import hide_secrets

    return "acecurate " + " ".join(shlex.quote(a) for a in hide_secrets(sys.argv[1:]))


def default_workers() -> int:
    return os.cpu_count() or 1


MapOption = typer.Option(
    None, "--map", metavar="CANONICAL=RAW,...", help="Column mapping CANONICAL=RAW,..., e.g. problem=question,answer=final_answer"
)
WorkersOption = typer.Option(
    None, "--workers", "-w", help="Worker processes for grading and execution (default: all cores).", show_default=False
)
EstimateHelp = (
    "Sample a pilot (1% of the prompts, at least 4; sampler.pilot_fraction), print the projected samples, tokens and "
    "GPU-hours, and stop. The pilot's samples are kept for the real run."
)
EstimateParameter = inspect.Parameter(
    "estimate", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(False, "--estimate", help=EstimateHelp)
)
SetOption = typer.Option([], "--set", metavar="KEY=VALUE", help="Override a stage setting: STAGE.KEY=VALUE (YAML value). Repeatable.")
InputsArgument = typer.Argument(
    ...,
    help="Raw dumps: jsonl, json, parquet or csv files (also .jsonl.gz, .json.gz, .jsonl.zst, ...), a folder or a quoted "
    "glob of shards, or a HF dataset id.",
)
OutOption = typer.Option(..., "--out", "-o", help="Run directory.")


@app.command(
    "filter",
    epilog="Example: acecurate filter dumps/numina.parquet dumps/deepscaler.json --pipeline pipelines/math.yaml --out curated/math",
)
@friendly_errors
def filter_command(
    inputs: List[str] = InputsArgument,
    pipeline: Path = typer.Option(..., "--pipeline", "-p", help="Pipeline YAML, e.g. pipelines/math.yaml."),
    out_dir: Path = OutOption,
    mapping: Optional[str] = MapOption,
    overrides: List[str] = SetOption,
    workers: Optional[int] = WorkersOption,
):
    """Run a curation pipeline end to end: every stage's kept and removed rows, the dataset and its card."""
    from .pipeline import load_pipeline

    _run(load_pipeline(pipeline, overrides), inputs, out_dir, mapping, workers or default_workers())


def _option_for(name: str, hint, fld) -> inspect.Parameter | None:
    """A typer option for one scalar config field (nested sections and dicts are set with --set)."""
    import dataclasses
    import types
    import typing

    args = (
        [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) in (typing.Union, types.UnionType) else [hint]
    )
    base = args[0] if len(args) == 1 else None
    if typing.get_origin(base) is list and typing.get_args(base) in ((str,),):
        annotation, default = List[str], []
    elif base in (str, int, float, bool):
        annotation, default = Optional[base], None
    else:
        return None
    if fld.default is not dataclasses.MISSING:
        shown = fld.default
    elif fld.default_factory is not dataclasses.MISSING:
        shown = fld.default_factory()
    else:
        shown = None
    flag = "--" + name.replace("_", "-")
    decls = [f"{flag}/--no-{name.replace('_', '-')}"] if base is bool else [flag]
    help_text = (fld.metadata.get("help") or name.replace("_", " ")) + f" (default: {shown})"
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=annotation,
        default=typer.Option(default, *decls, help=help_text, show_default=False),
    )


def _stage_command(spec):
    """`acecurate <stage>`: one stage alone on any dataset, with the stage's scalar settings as options and --set for the rest."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(spec.config_cls)
    fields = [f for f in dataclasses.fields(spec.config_cls)]
    setting_params = [p for f in fields if (p := _option_for(f.name, hints[f.name], f)) is not None]
    if "sampler" in hints:  # a stage that samples a model can say what it would cost first
        setting_params.append(EstimateParameter)
    common = [
        inspect.Parameter("inputs", inspect.Parameter.KEYWORD_ONLY, annotation=List[str], default=InputsArgument),
        inspect.Parameter("out_dir", inspect.Parameter.KEYWORD_ONLY, annotation=Path, default=OutOption),
        inspect.Parameter(
            "domain",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Optional[str],
            default=typer.Option(None, "--domain", help="math or code (default: from the rows: code rows have tests)."),
        ),
        inspect.Parameter("mapping", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str], default=MapOption),
        inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[int], default=WorkersOption),
        inspect.Parameter(
            "overrides",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=List[str],
            default=typer.Option(
                [],
                "--set",
                metavar="KEY=VALUE",
                help="Any setting, nested ones too: KEY=VALUE (YAML value), e.g. sampler.model=PATH. Repeatable.",
            ),
        ),
    ]

    @friendly_errors
    def command(**kwargs):
        from .config import parse_overrides
        from .pipeline import single_stage_pipeline

        values = {f.name: kwargs[f.name] for f in fields if f.name in kwargs and kwargs[f.name] not in (None, [])}
        sets = [o if o.startswith((spec.name + ".", "sandbox.")) else f"{spec.name}.{o}" for o in kwargs["overrides"]]
        if kwargs.get("estimate"):
            sets.append(f"{spec.name}.sampler.estimate=true")
        parsed = parse_overrides(sets)
        values.update(parsed.get(spec.name, {}))
        pipeline = single_stage_pipeline(spec.name, kwargs["domain"] or "auto", values, parsed.get("sandbox"))
        _run(pipeline, kwargs["inputs"], kwargs["out_dir"], kwargs["mapping"], kwargs["workers"] or default_workers())

    command.__signature__ = inspect.Signature(common + setting_params)
    command.__annotations__ = {p.name: p.annotation for p in common + setting_params}
    command.__doc__ = spec.help
    command.__name__ = spec.name.replace("-", "_") + "_command"
    return command


def _register_stage_commands() -> None:
    from .stages import STAGES

    for spec in STAGES:
        app.command(spec.name, help=spec.help, epilog=f"Example: {spec.example}" if spec.example else None)(_stage_command(spec))


_register_stage_commands()


def stages_markdown() -> str:
    """The stage table of the README, made from `STAGES` (tests/test_readme.py fails when the README's copy drifts)."""
    from .stages import STAGES

    def names(items) -> str:
        return ", ".join(f"`{i}`" for i in items) or "-"

    lines = ["| stage | what it does | adds to kept rows (rewrites) | evidence on removed rows |", "|---|---|---|---|"]
    for spec in STAGES:
        adds = names(spec.adds) + (f" ({names(spec.modifies)})" if spec.modifies else "")
        lines.append(f"| `{spec.name}` | {spec.help} | {adds} | {names(('reason', 'evidence', *spec.evidence))} |")
    return "\n".join(lines)


@app.command("stages", epilog="Example: acecurate stages")
def stages_command(markdown: bool = typer.Option(False, "--markdown", help="The README's stage table, in markdown.")):
    """List the stages a pipeline YAML can use, in the order of the stage list: what each does, needs, adds,
    rewrites and leaves as evidence on the rows it removes."""
    from rich.padding import Padding
    from rich.text import Text

    from .stages import STAGES

    if markdown:
        out.print(stages_markdown(), markup=False, highlight=False, soft_wrap=True)
        return
    for spec in STAGES:
        out.print(Text(spec.name, style="bold"))
        lines = [
            spec.help,
            f"needs: {', '.join(spec.requires) or '-'}",
            f"adds to kept rows: {', '.join(spec.adds) or '-'}",
            f"rewrites: {', '.join(spec.modifies) or '-'}",
            f"evidence on removed rows: {', '.join(('reason', 'evidence', *spec.evidence))}",
        ]
        out.print(Padding(Text("\n".join(lines)), (0, 0, 1, 2)))


@app.command("export", epilog="Example: acecurate export curated/math --format verl --out exports/math-verl")
@friendly_errors
def export_command(
    run_dir: Path = typer.Argument(..., help="A curated run directory (it holds data/train.parquet)."),
    format: str = typer.Option(..., "--format", "-f", help="verl, openrlhf, trl or jsonl."),
    out_dir: Path = OutOption,
):
    """Write a curated dataset in a trainer's own schema."""
    from .export import export

    written = export(run_dir, format, out_dir)
    result = table(f"export: {run_dir} -> {format}", ["file", "rows"])
    for path, rows in written.files:
        result.add_row(str(path), str(rows))
    out.print(result)
    for line in written.usage:
        out.print(line, soft_wrap=True, highlight=False, markup=False)


@app.command("audit", epilog="Example: acecurate audit curated/math, then acecurate audit curated/math --labels labels.jsonl")
@friendly_errors
def audit_command(
    run_dir: Path = typer.Argument(..., help="A curated run directory."),
    labels: Optional[Path] = typer.Option(
        None, "--labels", help="Labels for the drawn sheet (labels.jsonl from the page, or the filled-in sheet)."
    ),
    per_reason: int = typer.Option(20, "--per-reason", help="Removed rows drawn for each stage and reason."),
    kept: int = typer.Option(40, "--kept", help="Kept rows drawn, spread over the sources."),
    seed: int = typer.Option(0, "--seed"),
):
    """Draw a labelling sheet of a run's verdicts (per reason, with evidence); with --labels, precision per reason onto the card."""
    from .audit import KEPT, draw_sheet, score_labels

    if labels is None:
        sheet = draw_sheet(run_dir, per_reason=per_reason, kept=kept, seed=seed)
        result = table(f"audit sheet: {run_dir}", ["verdict", "rows", "sampled"])
        for stratum, rows in sheet.population.items():
            result.add_row(stratum, str(rows), str(sum(item["stratum"] == stratum for item in sheet.items)))
        out.print(result)
        out.print(f"open {sheet.html} to read and label the verdicts (or fill `label` in {sheet.jsonl})", soft_wrap=True)
        out.print(f"then: acecurate audit {run_dir} --labels labels.jsonl", soft_wrap=True)
        return
    rows = score_labels(run_dir, labels)
    result = table(f"verdict precision: {run_dir}", ["verdict", "rows", "labelled", "right", "precision", "95% interval"])
    for r in rows:
        shown = (f"{r['precision']:.0%}", f"{r['ci95'][0]:.0%} - {r['ci95'][1]:.0%}") if r["labelled"] else ("-", "-")
        name = "kept (rightly kept)" if r["stratum"] == KEPT else r["stratum"]
        result.add_row(name, str(r["rows"]), str(r["labelled"]), str(r["right"]), *shown)
    out.print(result)
    out.print(f"precision written to {run_dir / 'audit' / 'precision.json'} and the data card {run_dir / 'README.md'}", soft_wrap=True)


@benchmarks_app.command("build", epilog="Example: acecurate benchmarks build --data ../shared/data/benchmarks")
@friendly_errors
def benchmarks_build(
    data_dir: Path = typer.Option(Path("../shared/data/benchmarks"), "--data", help="Folder of benchmark files."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Where to write fingerprints (default: the package)."),
):
    """Rebuild the shipped benchmark fingerprints from the benchmark files."""
    from .benchmarks import FINGERPRINT_DIR, build_shipped

    result = table("benchmark fingerprints", ["benchmark", "items", "file"])
    for name, items, path in build_shipped(data_dir, out_dir or FINGERPRINT_DIR):
        result.add_row(name, str(items), str(path))
    out.print(result)


@benchmarks_app.command("list", epilog="Example: acecurate benchmarks list")
@friendly_errors
def benchmarks_list():
    """List the registered benchmarks: the fingerprint decontamination matches (items, tokens) and whether eval reads them."""
    from .benchmarks import REGISTRY, load_fingerprint, shipped_names

    shipped = set(shipped_names())
    result = table("benchmarks", ["benchmark", "domain", "items", "tokens", "decontamination fingerprint", "eval"])
    for spec in REGISTRY.values():
        fp = load_fingerprint(spec.name) if spec.name in shipped else None
        result.add_row(
            spec.name,
            spec.domain,
            str(len(fp.ids)) if fp else "-",
            str(len(fp.corpus.hashes)) if fp else "-",
            fp.description if fp else "none shipped (--benchmark-files FILE)",
            f"{spec.eval.hub_id}, avg@{spec.eval.samples}" if spec.eval else "-",
        )
    out.print(result)


PolicyOption = typer.Option(
    None,
    "--policy",
    help="A grading policy record (JSON, as rollouts.jsonl, stats.json or an export records it); the options below override it.",
)


def _policy(path: Optional[Path], **given):
    """The grading policy of a `verify` command: a recorded one (or the defaults), with the options given."""
    import json
    from dataclasses import replace

    from .errors import InputError
    from .verify.policy import GradingPolicy

    policy = GradingPolicy()
    if path is not None:
        try:
            record = json.loads(path.read_text())
            policy = GradingPolicy.from_dict(record.get("policy", record) if isinstance(record, dict) else record)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise InputError(path, f"not a grading policy record: {exc}") from None
        stale = policy.stale_fields(record.get("policy", record))
        if stale:
            out.print(f"[yellow]note[/]: the record was made by other graders than these ({', '.join(stale)} differ)")
    return replace(policy, **{k: v for k, v in given.items() if v is not None})


@verify_app.command("math", epilog="Example: acecurate verify math --gold '\\frac12' --response '... </think> so \\boxed{0.5}'")
@friendly_errors
def verify_math(
    gold: str = typer.Option(..., "--gold", help="Gold answer, e.g. '\\frac12'."),
    response: str = typer.Option(..., "--response", help="Model response (its boxed answers after </think> are graded)."),
    timeout: Optional[float] = typer.Option(None, help="Wall-clock limit in seconds (the policy's math_timeout_s; default 5)."),
    require_think_close: Optional[bool] = typer.Option(
        None,
        "--require-think-close/--no-require-think-close",
        help="On (default): a response without </think> has no final answer (R1-style). Off: one with neither tag is graded whole.",
    ),
    truncated: bool = typer.Option(
        False, "--truncated", help="The response was cut at the token limit (the policy's truncation rule applies)."
    ),
    policy_file: Optional[Path] = PolicyOption,
):
    """Grade one math response under the grading policy and say which rule decided."""
    from .verify.math import MathGrader
    from .verify.responses import grade_responses

    policy = _policy(policy_file, math_timeout_s=timeout, require_think_close=require_think_close)
    with MathGrader(workers=1, timeout=policy.math_timeout_s) as grader:
        result = grade_responses(["math"], [response], [gold], [None], grader, 1, policy, truncated=[truncated])[0]
        why = (
            grader.grade_many([(response, gold)], require_think_close=policy.require_think_close)[0].detail
            if result.rule != "truncated"
            else ""
        )
    verdict = table("math verdict", ["", ""], show_header=False)
    verdict.add_row("verdict", f"[bold {'green' if result.correct else 'red'}]{result.status}[/]")
    verdict.add_row("gold", gold)
    verdict.add_row("extracted", str(result.extracted))
    verdict.add_row("rule", result.rule)
    verdict.add_row("why", why or f"cut at the token limit: truncated completions are {policy.truncated}")
    verdict.add_row("policy", policy.summary())
    out.print(verdict)
    raise typer.Exit(0 if result.correct else 1)


@verify_app.command("code", epilog="Example: acecurate verify code --solution sol.py --tests tests.json --time-limit 2")
@friendly_errors
def verify_code(
    solution: Path = typer.Option(..., "--solution", help="Python file with the solution."),
    tests: Path = typer.Option(..., "--tests", help="Tests: canonical JSON, a LiveCodeBench list, {input, output}, ..."),
    fn_name: Optional[str] = typer.Option(None, "--fn-name", help="Function name for functional tests."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Seconds per test (the policy's time_limit_s; default 4)."),
    row_time_limit: Optional[float] = typer.Option(None, "--row-time-limit", help="The row's own time_limit_s (applies where lower)."),
    allow_inline_asserts: Optional[bool] = typer.Option(
        None, "--allow-inline-asserts/--no-inline-asserts", help="Run an assert suite that cannot be data in place."
    ),
    early_stop: bool = typer.Option(False, "--early-stop", help="Stop at the first failing test."),
    policy_file: Optional[Path] = PolicyOption,
):
    """Run one solution against its tests in the sandbox, under the grading policy, and print the per-test table."""
    from .errors import InputError
    from .records import canonical_tests
    from .sandbox import run_solution

    policy = _policy(policy_file, time_limit_s=time_limit, allow_inline_asserts=allow_inline_asserts)
    try:
        code = solution.read_text()
        canonical = canonical_tests(tests.read_text(), fn_name=fn_name, starter_code=code)
    except (OSError, ValueError) as exc:
        raise InputError(tests, f"cannot read tests: {exc}") from None
    limits = policy.limits(row_time_limit)
    result = run_solution(code, canonical, limits, early_stop=early_stop, allow_inline_asserts=policy.allow_inline_asserts)
    per_test = table(
        f"{solution.name}: {result.verdict}", ["test", "verdict", "time (s)", "memory (MB)", "exit", "first difference / stderr"]
    )
    for t in result.tests:
        why = (
            f"line {t.difference['line']}: expected {t.difference['expected']!r}, got {t.difference['got']!r}"
            if t.difference
            else t.stderr.strip().splitlines()[-1][:120]
            if t.stderr.strip()
            else ""
        )
        exit_text = f"signal {t.signal}" if t.signal else str(t.exit_code)
        color = "green" if t.verdict == "passed" else "red"
        per_test.add_row(str(t.index), f"[{color}]{t.verdict}[/]", f"{t.time_s:.3f}", f"{t.max_rss_kb / 1024:.0f}", exit_text, why)
    out.print(per_test)
    if result.detail:
        out.print(result.detail)
    out.print(f"policy: {policy.summary()}; this run: {limits.time_s:g} s per test; judge environment: {result.environment}")
    raise typer.Exit(0 if result.passed else 1)


@sandbox_app.command("setup", epilog="Example: acecurate sandbox setup")
@friendly_errors
def sandbox_setup(force: bool = typer.Option(False, "--force", help="Rebuild even if it is already built.")):
    """Build the judge environment once: pinned numpy and sortedcontainers for the sandbox's Python, from PyPI,
    into a read-only directory of the user's cache that every sandbox mounts."""
    from .sandbox.judge_env import setup_judge_env

    setup_judge_env(force=force, echo=out.print)


@app.command(
    "train",
    epilog="Example: acecurate train --recipe pipelines/acereason-7b.yaml --math curated/math --code curated/code --out runs/ace7b --dry-run",
)
@friendly_errors
def train_command(
    recipe: Path = typer.Option(..., "--recipe", "-r", help="Training recipe YAML, e.g. pipelines/acereason-7b.yaml."),
    math_dir: Optional[Path] = typer.Option(None, "--math", help="Curated math run directory."),
    code_dir: Optional[Path] = typer.Option(None, "--code", help="Curated code run directory."),
    out_dir: Path = typer.Option(Path("runs/train"), "--out", "-o"),
    overrides: List[str] = SetOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved plan and stop."),
):
    """Staged GRPO (math, then code) over TRL from curated datasets; reruns resume."""
    from . import train
    from .text import plural

    loaded = train.load_recipe(recipe, overrides)
    plans = train.plan(loaded, math_dir, code_dir, out_dir)
    plan_table = table(
        f"training plan: {recipe.name} ({loaded.model})",
        ["stage", "tokens", "G", "lr", "temp", "mask", "prompts", "steps", "rollouts", "easy", "batch"],
    )
    for p in plans:
        s, args = p.stage, p.trl_args
        easy = f">{s.easy_filter.max_solved}/{s.easy_filter.out_of}" if s.easy_filter else "-"
        plan_table.add_row(
            s.name,
            f"{s.max_response_tokens // 1024}K" if s.max_response_tokens >= 1024 else str(s.max_response_tokens),
            str(s.rollouts),
            f"{s.learning_rate:g}",
            f"{s.temperature:g}" if s.temperature is not None else "auto",
            "on" if s.overlong_masking else "off",
            str(p.prompts_available),
            str(p.max_steps if p.max_steps is not None else "-"),
            f"{p.estimated_rollouts:,}" if p.estimated_rollouts is not None else "-",
            easy,
            f"{s.prompts_per_batch}x{s.rollouts}={args['per_device_train_batch_size']}x{args['gradient_accumulation_steps']}"
            f"x{loaded.num_processes}",
        )
    out.print(plan_table)
    for p in plans:
        if p.stage.easy_filter:
            verb = "has" if p.easy_filter_source.startswith("no ") else "uses"
            out.print(f"{p.stage.name}: the easy-prompt filter {verb} {p.easy_filter_source}")
    rules: dict[tuple, list[str]] = {}  # stages that choose their temperature the same way, said once
    for s in (p.stage for p in plans if p.stage.target_entropy is not None):
        rules.setdefault((s.target_entropy, tuple(sorted(s.entropy_pilot.temperatures)), s.entropy_pilot.prompts), []).append(s.name)
    for (target, temperatures, prompts), names in rules.items():
        out.print(
            f"{', '.join(names)}: temperature chosen at run time: of {', '.join(f'{t:g}' for t in temperatures)}, the one whose "
            f"token entropy on {prompts} pilot prompts is closest to {target:g}"
        )
    refiltered = [p.stage.name for p in plans if p.stage.drop_solved_each_epoch]
    if refiltered:
        out.print(f"{', '.join(refiltered)}: after each epoch, prompts that every rollout of that epoch solved are dropped")
    unverified = train.unverified_tests(train.load_curated(code_dir, "code"))
    if unverified:
        out.print(
            f"code: {plural(unverified, 'prompt')} of {code_dir} have tests that no reference solution or sampled model has "
            + (
                "passed (tests_verified: false); they are trained on (recipe.include_unverified_tests is on)"
                if loaded.include_unverified_tests
                else "passed (tests_verified: false) and are left out, as in the paper; --set recipe.include_unverified_tests=true "
                "trains on them too"
            )
        )
    out.print(
        "tokens: max response tokens; G: rollouts per prompt; mask: overlong masking; batch: prompts x rollouts = "
        "micro-batch x accumulation x processes"
    )
    out.print(
        "every stage: loss_type=dapo, beta=0, entropy_coef=0, num_iterations=1, steps_per_generation = accumulation "
        f"(one optimizer step per rollout batch); generation: {'vLLM ' + loaded.generation.vllm_mode if loaded.generation.use_vllm else 'transformers'}"
        + (
            f", vLLM importance-sampling correction on (cap {loaded.generation.vllm_importance_sampling_cap:g})"
            if loaded.generation.use_vllm and loaded.generation.vllm_importance_sampling_correction
            else ""
        )
        + f"; rewards: {loaded.grading.summary()}"
    )
    if loaded.eval is not None:
        e = loaded.eval
        out.print(
            f"after each stage: eval on {', '.join(e.benchmarks + e.bench_files)} "
            f"({f'{e.samples} samples' if e.samples else 'the paper samples'} per problem, at most {e.sampler.max_tokens:,} tokens, "
            f"backend {e.sampler.backend}) -> NN-stage/eval/, logged in NN-stage/metrics.jsonl",
            soft_wrap=True,
        )
    if dry_run:
        return
    try:
        results = train.run(loaded, math_dir, code_dir, out_dir, console=out)
    except KeyboardInterrupt:
        interrupted(f"finished stages and the last checkpoint of the current one are kept in {out_dir}")
    summary = table(f"training: {out_dir}", ["stage", "steps", "prompts", "dropped", "resumed from", ""])
    for r in results:
        summary.add_row(
            r["stage"],
            str(r["steps"]),
            str(r["prompts"]),
            json.dumps(r["dropped"]),
            str(r.get("resumed_from") or "-"),
            "already finished" if r.get("skipped") else "",
        )
    out.print(summary)


def _percent_with_se(score: dict | None) -> str:
    if score is None:
        return "-"
    se = f" ± {100 * score['se']:.1f}" if score.get("se") is not None else ""
    return f"{100 * score['avg']:.1f}{se} (avg@{score.get('samples_per_problem', score.get('k'))})"


def _print_eval(results: dict, out_dir: Path) -> None:
    reference = results.get("reference") or {}
    columns = ["benchmark", "problems", "score", "pass@k", "maj@k", "truncated", "median tokens"]
    result = table(f"acecurate eval: {results['model']}", columns + ([f"paper ({reference['model']})"] if reference else []))
    for name, bench in results["benchmarks"].items():
        groups = [(name, bench["scores"]), *((f"  {level}", s) for level, s in bench["scores"].get("by_difficulty", {}).items())]
        for label, s in groups:
            k = s["samples_per_problem"]
            row = [
                label,
                str(s["problems"]),
                _percent_with_se(s),
                f"{100 * s['pass_at_k'][str(k)]:.1f} (pass@{k})",
                f"{100 * s['maj_at_k']:.1f}" if "maj_at_k" in s else "-",
                f"{100 * s['truncated']:.1f}%",
                f"{s['tokens']['p50']:.0f}" if s["tokens"]["known"] else "-",
            ]
            if reference:
                paper = reference["scores"].get(name) if label == name else None
                row.append(f"{paper:.1f}" if paper is not None else "-")
            result.add_row(*row)
    out.print(result)
    for bench in results["benchmarks"].values():
        for note in bench["notes"]:
            out.print(f"[yellow]note[/]: {escape(note)}", soft_wrap=True)
    out.print(f"{results['samples_generated']} samples generated, {results['samples_reused']} reused from the store")
    out.print(f"report -> {out_dir / 'README.md'}; per problem -> {out_dir / 'per_problem.parquet'}", soft_wrap=True)


@eval_app.callback(
    invoke_without_command=True,
    epilog="Examples: acecurate eval --model deepseek-ai/DeepSeek-R1-Distill-Qwen-7B --bench aime24,lcb-v5 --out runs/eval/r1-7b; "
    "acecurate eval --model M --backend openai --set sampler.options.base_url=http://host:8000/v1 --bench aime25 --out runs/eval/m; "
    "acecurate eval compare runs/eval/r1-7b runs/eval/ace7b",
)
@friendly_errors
def eval_command(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="A hub id, a local path (a train stage's final/), or the name an OpenAI-compatible server serves."
    ),
    bench: Optional[str] = typer.Option(
        None, "--bench", "-b", help="Benchmarks, comma-separated (acecurate eval list). Default: aime24,aime25,lcb-v5,lcb-v6."
    ),
    bench_files: List[str] = typer.Option(
        [], "--bench-file", help="A benchmark from a file: [NAME=]FILE (any format filter reads, or LiveCodeBench's). Repeatable."
    ),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (rerunning resumes)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="vllm (default), openai or transformers."),
    samples: Optional[int] = typer.Option(
        None, "--samples", "-k", help="Samples per problem for every benchmark (default: the paper's, 64 for AIME, 8 for LiveCodeBench)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N problems of each benchmark."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Folder with benchmark files (aime24.jsonl, livecodebench.jsonl, ...), read before the hub."
    ),
    reference: Optional[str] = typer.Option(
        None, "--reference", help="Show the paper's numbers of this model (default: recognised from --model)."
    ),
    overrides: List[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="Any setting: KEY=VALUE, e.g. sampler.max_tokens=16384, sampler.options.base_url=URL. Repeatable.",
    ),
    workers: Optional[int] = WorkersOption,
    estimate: bool = typer.Option(False, "--estimate", help=EstimateHelp),
):
    """Evaluate a model: avg@k with its standard error, pass@k, maj@k, truncation, lengths; results.json, per_problem.parquet, README.md."""
    from .eval import eval_config, run_eval
    from .sampling.estimate import EstimateReady

    given = [model, bench, bench_files, out_dir, backend, samples, limit, data_dir, reference, overrides, workers, estimate or None]
    if ctx.invoked_subcommand is not None:
        if any(v not in (None, []) for v in given):
            raise AcecurateError(f"the options of `acecurate eval` go with --model, not with `eval {ctx.invoked_subcommand}`")
        return
    if not model or out_dir is None:
        raise AcecurateError("give --model and --out (for example: acecurate eval --model PATH --bench aime24 --out runs/eval/NAME)")
    sampler = {"model": model, **({"backend": backend} if backend else {}), **({"estimate": True} if estimate else {})}
    values: dict = {"sampler": sampler, "bench_files": list(bench_files)}
    if bench is not None:
        values["benchmarks"] = [b.strip() for b in bench.split(",") if b.strip()]
    values.update({k: v for k, v in (("samples", samples), ("limit", limit), ("reference", reference)) if v is not None})
    if data_dir is not None:
        values["data_dir"] = str(data_dir)
    config = eval_config(values, overrides, "acecurate eval")
    command = command_line()
    try:
        with progress_display() as progress:
            results = run_eval(config, out_dir, workers=workers or default_workers(), progress=progress, command=command)
    except KeyboardInterrupt:
        interrupted(f"every sample graded so far is kept in {out_dir / 'cache' / 'samples.sqlite'}")
    except EstimateReady as ready:
        _print_estimate(ready.estimate, out_dir)
        return
    _print_eval(results, out_dir)


@eval_app.command("compare", epilog="Example: acecurate eval compare runs/eval/r1-distill-7b runs/eval/ace7b")
@friendly_errors
def eval_compare(
    runs: List[Path] = typer.Argument(..., help="Finished eval run directories; the first is the baseline."),
    show: int = typer.Option(20, "--show", help="Problems listed per benchmark in the solved-by-one view."),
):
    """Runs side by side, each later run's difference to the first (with its standard error), and problems solved by one only."""
    from .eval.report import SOLVED, compare_runs

    comparison = compare_runs(runs)
    labels = [Path(r["directory"]).name for r in comparison["runs"]]
    columns = ["benchmark", *labels]
    for label in labels[1:]:
        columns += [f"{label} - {labels[0]}", "se", "beyond se"]
    result = table("acecurate eval compare (percent; se of the paired difference over shared problems)", columns)
    for bench in comparison["benchmarks"].values():
        row = [bench["title"], *(_percent_with_se(r) for r in bench["runs"])]
        for d in bench["differences"]:
            if d is None or d["difference"] is None:
                row += ["-", "-", "-"]
                continue
            shared = "" if not (d["only_in_a"] or d["only_in_b"]) else f" ({d['shared_problems']} shared problems)"
            row += [
                f"{100 * d['difference']:+.1f}{shared}",
                f"{100 * d['se']:.1f}" if d["se"] is not None else "-",
                "yes" if d["beyond_se"] else "no",
            ]
        result.add_row(*row)
    out.print(result)
    for bench in comparison["benchmarks"].values():
        for label, solved in zip(labels[1:], bench["solved"]):
            if solved is None:
                continue
            for who, items in ((f"{labels[0]} only", solved["first_only"]), (f"{label} only", solved["other_only"])):
                shown = ", ".join(f"{item} ({100 * a:.0f}% -> {100 * b:.0f}%)" for item, a, b in items[:show])
                more = f", and {len(items) - show} more" if len(items) > show else ""
                out.print(
                    escape(f"{bench['title']}: solved by {who} ({len(items)}): {shown or '-'}{more}"), soft_wrap=True, highlight=False
                )
    out.print(f"solved: at least {SOLVED:.0%} of a problem's samples correct; rates are {labels[0]} -> the other run", soft_wrap=True)


@eval_app.command("list", epilog="Example: acecurate eval list")
def eval_list():
    """The registered benchmarks: source, grader, date window and the paper's samples per problem."""
    from .eval.loading import evaluable

    result = table("benchmarks for acecurate eval", ["benchmark", "title", "grader", "samples", "hub", "local file (--data-dir)", "window"])
    for spec in evaluable().values():
        result.add_row(
            spec.name,
            spec.title,
            spec.domain,
            str(spec.eval.samples),
            spec.eval.hub_id,
            " or ".join(spec.eval.local),
            " to ".join(spec.window) if spec.window else "-",
        )
    out.print(result)


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":
    app()
