"""The data card: README.md in the run directory, with HF dataset-card front matter, the funnel (overall, per source,
per source and reason), example removed rows per reason with their evidence, what each stage reports, plots and the
verdict audit.

One writer, `render_card(run_dir)`, renders it from the run's files alone (`run.json`, each stage's `stats.json`,
`data/train.parquet`, `removed.parquet`, `audit/precision.json`), so `filter` (rerun or not) and `audit` write the same
card and neither loses the other's part.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml

from . import __version__
from .io import atomic_write_text, read_parquet, save_figure, write_json
from .text import plural

LICENSE_PLACEHOLDER = "Fill in: the licence of this dataset follows the licences of its sources (see the inputs above)."
RUN_FILE = "run.json"
EXAMPLES_PER_REASON = 3
KEPT = "kept"  # the audit stratum of kept rows


def _size_category(n: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return label
    return "1M<n<10M"


def write_run_record(run_dir: Path, pipeline, inputs: list[str], command: str, summary) -> None:
    """What the card needs beyond the stages' own files: the pipeline, the inputs, the command, the counts."""
    write_json(
        run_dir / RUN_FILE,
        {
            "name": pipeline.name,
            "domain": pipeline.domain,
            "pipeline_yaml": pipeline.raw_yaml,
            "inputs": list(inputs),
            "command": command,
            "rows_in": summary.rows_in,
            "rows_out": summary.rows_out,
            "sources": summary.sources,
            "warnings": summary.warnings,
            "stages": [f"{i:02d}-{s.name}" for i, s in enumerate(summary.stages)],
            "version": __version__,
        },
    )


def _funnel_plot(run: dict, stages: list[dict], path: Path) -> None:
    """Rows removed by each stage (a funnel drawn from 0 makes 8,449 -> 7,798 look flat); skipped stages say so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(stages) + 1.4))
    names = [s["stage"] for s in stages][::-1]
    removed = [0 if s.get("skipped") else s["removed"] for s in stages][::-1]
    ax.barh(range(len(names)), removed, color=["#c44e52" if r else "#cccccc" for r in removed])
    ax.set_yticks(range(len(names)), names)
    largest = max(removed + [1])
    for y, s in enumerate(stages[::-1]):
        label = "skipped" if s.get("skipped") else f"{s['removed']:,} ({100 * s['removed'] / max(s['rows_in'], 1):.1f}%)"
        ax.text(removed[y] + largest * 0.01, y, label, va="center", fontsize=8, color="#777777" if s.get("skipped") else "black")
    ax.set_xlim(0, largest * 1.3)
    ax.set_xlabel("rows removed")
    ax.set_title(f"{run['rows_in']:,} rows in, {run['rows_out']:,} kept: rows removed by each stage", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _lengths_plot(frame, path: Path) -> str:
    """Problem lengths up to the 99th percentile (a few very long problems would stretch the axis far past the rest);
    returns what the plot leaves out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = frame["problem"].str.len().to_numpy() if len(frame) else np.zeros(0)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    note = ""
    if len(lengths):
        cut = float(np.percentile(lengths, 99)) if len(lengths) >= 100 else float(lengths.max())
        shown = lengths[lengths <= cut]
        ax.hist(shown, bins=min(40, max(5, len(np.unique(shown)))), range=(0, max(cut, 1)), color="#55a868")
        ax.set_xlim(0, max(cut, 1))
        longer = int((lengths > cut).sum())
        if longer:
            note = f"{longer:,} problems longer than {cut:,.0f} characters are not drawn (the longest: {lengths.max():,})"
    ax.set_xlabel("problem length (characters)")
    ax.set_ylabel("rows")
    ax.set_title("length of the kept problems" + (" (to the 99th percentile)" if note else ""), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return note


def _table(header: list[str], rows: list[list], align: str = "") -> str:
    align = align or "---|" + "---:|" * (len(header) - 1)
    return "\n".join(["| " + " | ".join(header) + " |", "|" + align] + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def _cell(text, limit: int = 240) -> str:
    """Text that fits in one markdown table cell or list item: one line, no pipes or backticks, cut at `limit`."""
    flat = " ".join(str(text).split()).replace("|", "\\|").replace("`", "'")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _source_funnel(run: dict, stages: list[dict]) -> str:
    rows = [
        [source, f"{n:,}", *(f"{s['per_source'].get(source, {}).get('kept', 0):,}" for s in stages)] for source, n in run["sources"].items()
    ]
    return _table(["source", "input", *(s["stage"] for s in stages)], rows)


def _source_reasons(run: dict, stages: list[dict]) -> str:
    """Rows removed per source and reason: a rule that removes most of one source is worth a look."""
    sources = list(run["sources"])
    rows = []
    for s in stages:
        for reason in sorted(s["reasons"]):
            counts = [s["per_source"].get(src, {}).get("reasons", {}).get(reason, 0) for src in sources]
            rows.append([s["stage"], f"`{reason}`", *(f"{c:,}" if c else "" for c in counts), f"{sum(counts):,}"])
    if not rows:
        return "No row was removed."
    return _table(["stage", "reason", *sources, "all"], rows, "---|---|" + "---:|" * (len(sources) + 1))


EXAMPLE_COLUMNS = ["removed_by", "reason", "id", "source", "source_row", "problem", "evidence"]


def _examples(removed) -> str:
    """A few removed rows per stage and reason, with the evidence that decided them."""
    if removed is None or not len(removed):
        return "No row was removed."
    blocks = []
    for (stage, reason), group in removed.groupby(["removed_by", "reason"], sort=False):
        lines = [f"**{stage}: `{reason}`** ({plural(len(group), 'row')})", ""]
        for row in group.head(EXAMPLES_PER_REASON).to_dict("records"):
            lines.append(f"- `{_cell(row['id'], 60)}` ({row['source']}, row {row['source_row']}): {_cell(row['problem'], 200)}")
            lines.append(f"  - evidence: {_cell(row.get('evidence') or '-', 300)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _tests_distribution(frame) -> str:
    """How many tests the kept code problems have: one or two tests are easy to game."""
    from .suites import count_tests

    code = frame[frame["domain"] == "code"] if len(frame) else frame
    if not len(code):
        return ""
    counts = [count_tests(t) for t in code["tests"]]
    buckets = [("1", 1, 1), ("2", 2, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("11-20", 11, 20), ("21-100", 21, 100), ("over 100", 101, None)]
    rows = [[label, f"{sum(1 for c in counts if low <= c and (high is None or c <= high)):,}"] for label, low, high in buckets]
    if any(c == 0 for c in counts):
        rows.insert(0, ["0", f"{sum(1 for c in counts if c == 0):,}"])
    return "## Tests per code problem\n\n" + _table(["tests", "problems"], rows) + "\n\n"


def audit_table(rows: list[dict]) -> str:
    lines = [
        "| verdict | rows in the run | labelled | right | precision | 95% interval (Wilson) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        name = "kept rows (rightly kept)" if r["stratum"] == KEPT else f"`{r['stratum']}`"
        if r["labelled"]:
            shown = f"{r['precision']:.0%} | {r['ci95'][0]:.0%} - {r['ci95'][1]:.0%}"
        else:
            shown = "- | -"
        lines.append(f"| {name} | {r['rows'] if r['rows'] is not None else '-'} | {r['labelled']} | {r['right']} | {shown} |")
    return "\n".join(lines)


def _audit_section(run_dir: Path) -> str:
    path = run_dir / "audit" / "precision.json"
    if not path.exists():
        return (
            "Not audited yet: `acecurate audit <this run>` draws a sample of the verdicts per reason to label, and\n"
            "`acecurate audit <this run> --labels labels.jsonl` puts the precision of each verdict here."
        )
    return (
        "A stratified sample of this run's verdicts, labelled by reading them (`acecurate audit`; the rows are in "
        "`audit/sheet.jsonl`). Precision is the share of labelled verdicts that were right.\n\n" + audit_table(json.loads(path.read_text()))
    )


def _stage_reports(stages: list[dict]) -> str:
    blocks = []
    for s in stages:
        if s.get("report"):
            lines = "\n".join(f"- {label}: {text}" for label, text in s["report"].items())
            blocks.append(f"**{s['_dir']}**\n\n{lines}")
    return "\n\n".join(blocks) or "No stage reported anything beyond its counts."


def render_card(run_dir: str | Path) -> Path:
    """Write README.md (and its plots) from the run's files."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / RUN_FILE).read_text())
    stages = [{**json.loads((run_dir / d / "stats.json").read_text()), "_dir": d} for d in run["stages"]]
    # Only the columns the card shows: a dataset of 10^6 rows is not read whole to draw it.
    frame = read_parquet(run_dir / "data" / "train.parquet", columns=["domain", "problem", "tests"])
    removed_path = run_dir / "removed.parquet"
    removed = read_parquet(removed_path, columns=EXAMPLE_COLUMNS) if removed_path.exists() else None
    _funnel_plot(run, stages, run_dir / "funnel.png")
    length_note = _lengths_plot(frame, run_dir / "lengths.png")
    front = {
        "license": "other",
        "size_categories": [_size_category(run["rows_out"])],
        "task_categories": ["text-generation"],
        "tags": ["reinforcement-learning", "acecurate", run["domain"]],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.parquet"}]}],
    }
    funnel = "\n".join(
        f"| {i} | {s['stage']} | {s['rows_in']:,} | {s['kept']:,} | {s['removed']:,} | {s['seconds']} | "
        f"{'skipped: ' + _cell(s['skipped']) if s.get('skipped') else 'ran'} |"
        for i, s in enumerate(stages)
    )
    reasons = "\n".join(f"| {s['stage']} | `{reason}` | {count:,} |" for s in stages for reason, count in sorted(s["reasons"].items()))
    warnings = "\n".join(f"> **Warning:** {w}" for w in run["warnings"])
    text = (
        resources.files("acecurate")
        .joinpath("templates/card.md")
        .read_text()
        .format(
            front_matter=yaml.safe_dump(front, sort_keys=False).strip(),
            name=f"{run['name']} ({run_dir.name})",
            version=run.get("version", __version__),
            pipeline_name=run["name"],
            domain=run["domain"],
            rows_in=f"{run['rows_in']:,}",
            rows_out=f"{run['rows_out']:,}",
            kept_pct=100 * run["rows_out"] / max(run["rows_in"], 1),
            funnel_rows=funnel,
            source_funnel=_source_funnel(run, stages),
            source_reasons=_source_reasons(run, stages),
            warnings=(warnings + "\n") if warnings else "",
            reason_rows=reasons or "| - | - | 0 |",
            examples=_examples(removed),
            stage_reports=_stage_reports(stages),
            tests_distribution=_tests_distribution(frame),
            length_note=(length_note + ".\n") if length_note else "",
            command=run["command"] or "(library call)",
            inputs=", ".join(f"`{i}`" for i in run["inputs"]),
            pipeline_yaml=run["pipeline_yaml"].strip(),
            audit=_audit_section(run_dir),
            license=LICENSE_PLACEHOLDER,
        )
    )
    path = run_dir / "README.md"
    atomic_write_text(path, text)
    return path
