"""The data card: README.md in the run directory, with HF dataset-card front matter, funnel table and plots."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from . import __version__
from .io import atomic_write_text, save_figure

LICENSE_PLACEHOLDER = "Fill in: the licence of this dataset follows the licences of its sources (see the inputs above)."


def _size_category(n: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return label
    return "1M<n<10M"


def _plots(summary, frame, run_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["input"] + [s.name for s in summary.stages]
    counts = [summary.rows_in] + [s.kept for s in summary.stages]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(range(len(names)), counts, color="#4c72b0")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel("rows")
    ax.set_title("rows remaining after each stage")
    for x, c in enumerate(counts):
        ax.text(x, c, str(c), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    save_figure(fig, run_dir / "funnel.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.2))
    lengths = frame["problem"].str.len() if len(frame) else []
    ax.hist(lengths, bins=40, color="#55a868")
    ax.set_xlabel("problem length (characters)")
    ax.set_ylabel("rows")
    ax.set_title("length of the kept problems")
    fig.tight_layout()
    save_figure(fig, run_dir / "lengths.png")
    plt.close(fig)


def _source_funnel(summary) -> str:
    names = [s.name for s in summary.stages]
    lines = ["| source | input | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for source, kept in summary.kept_per_source().items():
        lines.append(f"| {source} | {summary.sources[source]} | " + " | ".join(map(str, kept)) + " |")
    return "\n".join(lines)


def _stage_reports(summary) -> str:
    blocks = []
    for index, s in enumerate(summary.stages):
        if s.report:
            lines = "\n".join(f"- {label}: {text}" for label, text in s.report.items())
            blocks.append(f"**{index:02d}-{s.name}**\n\n{lines}")
    return "\n\n".join(blocks) or "No stage reported anything beyond its counts."


def write_card(summary, pipeline, inputs: list[str], command: str, frame) -> Path:
    run_dir = Path(summary.run_dir)
    _plots(summary, frame, run_dir)
    front = {
        "license": "other",
        "size_categories": [_size_category(summary.rows_out)],
        "task_categories": ["text-generation"],
        "tags": ["reinforcement-learning", "acecurate", pipeline.domain],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train.parquet"}]}],
    }
    funnel = "\n".join(
        f"| {i} | {s.name}{' (skipped: ' + s.skipped + ')' if s.skipped else ''} | "
        f"{s.rows_in} | {s.kept} | {s.removed} | {s.stats.get('seconds', s.seconds)} |"
        for i, s in enumerate(summary.stages)
    )
    reasons = "\n".join(f"| {s.name} | `{reason}` | {count} |" for s in summary.stages for reason, count in sorted(s.reasons.items()))
    warnings = "\n".join(f"> **Warning:** {w}" for w in summary.warnings)
    text = (
        resources.files("acecurate")
        .joinpath("templates/card.md")
        .read_text()
        .format(
            front_matter=yaml.safe_dump(front, sort_keys=False).strip(),
            name=f"{pipeline.name} ({run_dir.name})",
            version=__version__,
            pipeline_name=pipeline.name,
            domain=pipeline.domain,
            rows_in=summary.rows_in,
            rows_out=summary.rows_out,
            kept_pct=100 * summary.rows_out / max(summary.rows_in, 1),
            funnel_rows=funnel,
            source_funnel=_source_funnel(summary),
            warnings=(warnings + "\n") if warnings else "",
            reason_rows=reasons or "| - | - | 0 |",
            stage_reports=_stage_reports(summary),
            command=command or "(library call)",
            inputs=", ".join(f"`{i}`" for i in inputs),
            pipeline_yaml=pipeline.raw_yaml.strip(),
            license=LICENSE_PLACEHOLDER,
        )
    )
    path = run_dir / "README.md"
    atomic_write_text(path, text)
    return path
