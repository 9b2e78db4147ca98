"""The eval report (README.md with a score table and three plots) and `eval compare` over finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import AcecurateError
from ..io import atomic_write_text, read_parquet, save_figure
from .scores import paired_difference

SOLVED = 0.5  # a problem counts as solved by a run when at least half of its samples are correct


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _score_row(title: str, s: dict, domain: str, paper) -> list[str]:
    k = s["samples_per_problem"]
    tokens = s["tokens"]
    return [
        title,
        str(s["problems"]),
        f"avg@{k} **{pct(s['avg'])}**",
        "±" + pct(s["se"]) if s["se"] is not None else "-",
        pct(s["pass_at_k"]["1"]) if k > 1 else "-",
        pct(s["maj_at_k"]) if domain == "math" else "-",
        f"{pct(s['pass_at_k'][str(k)])} (pass@{k})",
        pct(s["truncated"]) + "%",
        f"{tokens['p50']:.0f}" if tokens["known"] else "unknown",
        "-" if paper is None else f"{paper:.1f}",
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def _plots(out: Path, results: dict, per_problem, samples_of: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = results["benchmarks"]
    names = list(benches)
    reference = (results.get("reference") or {}).get("scores", {})
    fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(names) + 1), 3.2))
    avgs = [100 * benches[b]["scores"]["avg"] for b in names]
    errors = [100 * (benches[b]["scores"]["se"] or 0) for b in names]
    ax.bar(names, avgs, yerr=errors, capsize=4, color="#4c72b0", label="measured (± standard error)")
    papers = [(i, reference[b]) for i, b in enumerate(names) if reference.get(b) is not None]
    if papers:
        ax.scatter([i for i, _ in papers], [v for _, v in papers], marker="_", s=600, color="black", zorder=3, label="paper")
    ax.set_ylabel("avg@k (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title(f"score per benchmark: {results['model']}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, out / "scores.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        part = per_problem[per_problem["benchmark"] == name]
        k = int(part["n"].max())
        ax.bar(range(k + 1), np.bincount(part["correct"], minlength=k + 1), color="#4c72b0")
        ax.set_xlabel(f"correct of {k}")
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("problems")
    fig.tight_layout()
    save_figure(fig, out / "pass_counts.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        samples = samples_of[name]
        known = samples[samples["tokens"].notna()]
        if known.empty:
            ax.text(0.5, 0.5, "token counts\nnot reported", ha="center", va="center", transform=ax.transAxes)
        else:
            cut = known["finish_reason"] == "length"
            bins = np.linspace(0, float(known["tokens"].max()) + 1, 30)
            ax.hist([known.loc[~cut, "tokens"], known.loc[cut, "tokens"]], bins=bins, stacked=True, color=["#4c72b0", "#c44e52"])
            ax.set_xlabel("response tokens (red: truncated)")
        ax.set_title(name, fontsize=9)
    axes[0][0].set_ylabel("samples")
    fig.tight_layout()
    save_figure(fig, out / "lengths.png")
    plt.close(fig)


def write_report(out: Path, results: dict, per_problem, samples_of: dict) -> None:
    """README.md with the score table, the per-difficulty table, the protocol and the plots."""
    benches = results["benchmarks"]
    reference = results.get("reference") or {}
    header = ["benchmark", "problems", "avg@k", "se", "pass@1", "maj@k", "pass@k", "truncated", "median tokens"]
    header.append(f"paper ({reference['model']})" if reference else "paper")
    rows = [_score_row(b["title"], b["scores"], b["domain"], reference.get("scores", {}).get(name)) for name, b in benches.items()]
    lines = [
        f"# Evaluation: {results['model']}",
        "",
        f"`{results['command']}`" if results["command"] else "",
        "",
        f"Backend {results['backend']}, revision {', '.join(sorted({str(r['revision']) for r in results['revisions']}))}; "
        f"{results['samples_generated']} samples generated, {results['samples_reused']} reused from the store; "
        f"{results['seconds']:.0f} s. Scores in percent; se is the standard error of avg@k over problems.",
        "",
        _table(header, rows),
    ]
    by_difficulty = [
        _score_row(f"{b['title']}: {level}", s, b["domain"], None)[:-1]
        for b in benches.values()
        for level, s in b["scores"].get("by_difficulty", {}).items()
    ]
    finished = [
        f"{b['title']} {100 * b['scores']['avg_finished']:.1f} ({b['scores']['problems_finished']} problems)"
        for b in benches.values()
        if b["scores"].get("avg_finished") is not None
    ]
    if finished:
        lines += ["", "Without truncated samples (each problem scored on its finished samples): " + "; ".join(finished) + "."]
    if by_difficulty:
        lines += ["", "### By difficulty", "", _table(header[:-1], by_difficulty)]
    notes = [note for b in benches.values() for note in b["notes"]]
    if not any(b["scores"]["tokens"]["known"] for b in benches.values()):
        notes.append(
            "the backend reported no per-sample token counts (an OpenAI-compatible server with n > 1: set sampler.options.supports_n=false)"
        )
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    sampling = results["sampling"]
    policy = results["grading"]["policy"]
    lines += [
        "",
        "## Protocol",
        "",
        f"- temperature {sampling['temperature']}, top-p {sampling['top_p']}, at most {sampling['max_tokens']:,} tokens, seed "
        f"{sampling['seed']}; no system prompt; {results['chat_template']}",
        f"- math prompt: `{results['math_prompt']!r}`",
        f"- code prompt: `{results['code_prompt']!r}`; with starter code: `{results['code_prompt_with_starter_code']!r}`",
        f"- math grading: {results['grading']['math']}; require_think_close "
        f"{'on (a sample without </think> has no answer)' if policy['require_think_close'] else 'off'}",
        f"- code grading: {results['grading']['code']}; {policy['time_limit_s']:g} s and {policy['memory_mb']} MiB per test"
        + (" (or the problem's own lower limit)" if policy["per_row_limits"] else ""),
        f"- {results['grading']['truncated']}; the grading policy: `{json.dumps(policy, sort_keys=True)}`",
        *[
            f"- {name}: {b['problems']} problems from {b['source']}, {b['samples']} samples each"
            + (f", contest dates {b['window'][0]} to {b['window'][1]}" if b["window"] else "")
            for name, b in benches.items()
        ],
        "",
        "## Plots",
        "",
        "![score per benchmark](scores.png)",
        "",
        "![pass counts per problem](pass_counts.png)",
        "",
        "![response lengths, truncated samples in red](lengths.png)",
        "",
        "Per-problem pass counts: `per_problem.parquet`. Every graded sample: `cache/samples.sqlite` (table `samples`).",
        "",
    ]
    _plots(out, results, per_problem, samples_of)
    atomic_write_text(out / "README.md", "\n".join(lines))


def load_run(directory: str | Path) -> tuple[dict, object]:
    directory = Path(directory)
    path = directory / "results.json"
    if not path.exists():
        raise AcecurateError(f"{directory}: no results.json here (not a finished `acecurate eval` run)")
    return json.loads(path.read_text()), read_parquet(directory / "per_problem.parquet")


def compare_runs(directories: list[str | Path]) -> dict:
    """Each run's scores side by side and every later run's difference to the first (paired over the problems both
    scored, with its standard error), and per benchmark the problems solved (at least half the samples correct) by
    one run and not the other."""
    if len(directories) < 2:
        raise AcecurateError("compare needs at least two eval run directories")
    runs = [load_run(d) for d in directories]
    names = list(dict.fromkeys(name for results, _ in runs for name in results["benchmarks"]))
    benchmarks = {}
    for name in names:
        entries = [results["benchmarks"].get(name) for results, _ in runs]
        rates = [
            frame[frame["benchmark"] == name].set_index("item_id")["pass_rate"] if entry else None
            for entry, (_, frame) in zip(entries, runs)
        ]
        base = rates[0]
        differences, solved = [], []
        for other in rates[1:]:
            if base is None or other is None:
                differences.append(None)
                solved.append(None)
                continue
            differences.append(paired_difference(base, other))
            shared = base.index.intersection(other.index)
            a, b = base.loc[shared], other.loc[shared]
            solved.append(
                {
                    "first_only": [(item, float(a[item]), float(b[item])) for item in shared if a[item] >= SOLVED > b[item]],
                    "other_only": [(item, float(a[item]), float(b[item])) for item in shared if b[item] >= SOLVED > a[item]],
                }
            )
        benchmarks[name] = {
            "title": next(e["title"] for e in entries if e),
            "runs": [
                {"avg": e["scores"]["avg"], "se": e["scores"]["se"], "k": e["scores"]["samples_per_problem"], "problems": e["problems"]}
                if e
                else None
                for e in entries
            ],
            "differences": differences,
            "solved": solved,
        }
    return {"runs": [{"directory": str(d), "model": r["model"]} for d, (r, _) in zip(directories, runs)], "benchmarks": benchmarks}
