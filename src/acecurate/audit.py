"""Verdict audits: how often is each curation verdict right on *your* data?

`draw_sheet(run_dir)` takes a stratified sample of a run: up to `per_reason` removed rows for every (stage, reason) and
`kept` kept rows spread over the sources, each with its evidence and the text it was compared with (the kept
duplicate, the benchmark item, the row it is a variant of). It writes a labelling sheet, `audit/sheet.jsonl`, and the
same rows as a static page, `audit/sheet.html`, where each verdict can be marked right or wrong and the labels
downloaded. `score_labels(run_dir, labels)` reads the labels back and reports precision per reason (the share of
labelled removals that were right; for kept rows, the share rightly kept) with a Wilson 95% interval, writes
`audit/precision.json` and puts the table on the data card.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .card import KEPT, RUN_FILE, render_card
from .errors import AcecurateError, InputError
from .io import atomic_write_text, read_parquet, read_records, write_json, write_jsonl
from .records import CANONICAL_COLUMNS
from .suites import MalformedTests, parse_tests

AUDIT_DIR = "audit"
RIGHT, WRONG, UNSURE = "right", "wrong", "unsure"
_LABEL_WORDS = {
    RIGHT: RIGHT, "correct": RIGHT, "yes": RIGHT, "true": RIGHT, "1": RIGHT, "ok": RIGHT,
    WRONG: WRONG, "incorrect": WRONG, "no": WRONG, "false": WRONG, "0": WRONG,
    UNSURE: UNSURE, "skip": UNSURE, "": UNSURE, "none": UNSURE,
}  # fmt: skip
# Columns that are the row itself or bookkeeping, not evidence.
_NOT_EVIDENCE = {*CANONICAL_COLUMNS, "removed_by", "reason", "evidence"}
# Evidence columns holding the text a row was compared with, and what to call it.
_RELATED = {"dup_problem": "the kept row it duplicates", "benchmark_text": "the benchmark item"}


def _stage_dirs(run_dir: Path) -> list[Path]:
    dirs = sorted(p for p in run_dir.iterdir() if p.is_dir() and p.name[:2].isdigit() and (p / "stats.json").exists())
    if not dirs:
        raise AcecurateError(f"{run_dir}: not a curated run directory (no stage folders such as 00-input-check/ with stats.json)")
    return dirs


def _input_rows(run_dir: Path):
    """Every input row, from the first stage's kept and removed rows, indexed by id (to show a variant's text)."""
    import pandas as pd

    first = _stage_dirs(run_dir)[0]
    parts = [
        pd.read_parquet(first / name, columns=["id", "problem"]) for name in ("kept.parquet", "removed.parquet") if (first / name).exists()
    ]
    rows = pd.concat(parts, ignore_index=True)
    return rows.drop_duplicates("id").set_index("id")


def _value(value):
    """A parquet cell as JSON data."""
    if isinstance(value, np.ndarray):
        return [_value(v) for v in value.tolist()]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _tests_summary(tests_json) -> str | None:
    if not isinstance(tests_json, str) or not tests_json:
        return None
    try:
        suite = parse_tests(tests_json)
    except MalformedTests as exc:
        return f"malformed tests: {exc}"
    extra = ", compared in any order" if suite.unordered else ""
    return f"{suite.count()} {suite.format} test(s){extra}"


def _item(sample_id: str, stratum: str, row: dict, inputs) -> dict:
    details = {k: _value(v) for k, v in row.items() if k not in _NOT_EVIDENCE and k not in _RELATED and _value(v) is not None}
    related = [{"title": title, "text": row[column]} for column, title in _RELATED.items() if isinstance(row.get(column), str)]
    variant = row.get("variant_of")
    if isinstance(variant, str) and variant in inputs.index:
        related.append({"title": f"the row it is a variant of ({variant})", "text": inputs.at[variant, "problem"]})
    return {
        "sample_id": sample_id,
        "stratum": stratum,
        "stage": row.get("removed_by"),
        "reason": row.get("reason"),
        "id": row["id"],
        "source": row.get("source"),
        "source_row": _value(row.get("source_row")),
        "problem": row["problem"],
        "answer": row.get("answer") if isinstance(row.get("answer"), str) else None,
        "tests": _tests_summary(row.get("tests")),
        "evidence": row.get("evidence"),
        "details": details,
        "related": related,
        "label": None,
        "note": "",
    }


@dataclass
class Sheet:
    items: list[dict]
    population: dict[str, int]  # rows per stratum in the run
    jsonl: Path
    html: Path


def draw_sheet(run_dir: str | Path, per_reason: int = 20, kept: int = 40, seed: int = 0) -> Sheet:
    """Sample removed rows per (stage, reason) and kept rows (spread over sources) into audit/sheet.jsonl and .html."""
    run_dir = Path(run_dir)
    removed_path, train_path = run_dir / "removed.parquet", run_dir / "data" / "train.parquet"
    for path in (removed_path, train_path):
        if not path.exists():
            raise AcecurateError(f"{run_dir}: not a finished run ({path.relative_to(run_dir)} is missing); run `acecurate filter` first")
    removed, dataset, inputs = read_parquet(removed_path), read_parquet(train_path), _input_rows(run_dir)
    rng = np.random.default_rng(seed)
    items, population = [], {}
    if len(removed):
        for (stage_name, reason), group in sorted(removed.groupby(["removed_by", "reason"], sort=False), key=lambda kv: kv[0]):
            stratum = f"{stage_name}: {reason}"
            population[stratum] = len(group)
            chosen = group.iloc[np.sort(rng.choice(len(group), size=min(per_reason, len(group)), replace=False))]
            items += [_item(f"{len(items) + k + 1:04d}", stratum, r, inputs) for k, r in enumerate(chosen.to_dict("records"))]
    population[KEPT] = len(dataset)
    if len(dataset):
        # Round-robin over sources in random order, so a small source is seen too.
        by_source = {s: list(rng.permutation(g.index)) for s, g in dataset.groupby("source")}
        picked = []
        while len(picked) < min(kept, len(dataset)):
            for source in list(by_source):
                if by_source[source] and len(picked) < kept:
                    picked.append(by_source[source].pop())
        chosen = dataset.loc[picked]
        items += [_item(f"{len(items) + k + 1:04d}", KEPT, r, inputs) for k, r in enumerate(chosen.to_dict("records"))]
    out = run_dir / AUDIT_DIR
    jsonl, html = out / "sheet.jsonl", out / "sheet.html"
    write_jsonl(jsonl, items)
    write_json(out / "population.json", population)
    atomic_write_text(html, render_html(items, population, run_dir.name))
    return Sheet(items, population, jsonl, html)


def render_html(items: list[dict], population: dict[str, int], title: str) -> str:
    """The sheet as one static page: the rows are JSON inside the page (every text is set with textContent, never
    parsed as HTML), labels are kept in the browser's local storage and downloaded as labels.jsonl."""
    data = json.dumps({"title": title, "population": population, "items": items}, ensure_ascii=False, default=str)
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    template = resources.files("acecurate").joinpath("templates/audit.html").read_text()
    return template.replace("{{TITLE}}", _html_escape(title)).replace("{{DATA}}", data)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% with z = 1.96); (nan, nan) without observations."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def read_labels(path: str | Path, sheet: list[dict]) -> dict[str, str]:
    """sample_id -> right / wrong / unsure, from a labels file (the downloaded labels.jsonl or the filled-in sheet)."""
    path = Path(path)
    if not path.exists():
        raise AcecurateError(f"--labels {path}: no such file")
    known = {item["sample_id"] for item in sheet}
    labels = {}
    for row, record in enumerate(read_records(path), start=1):
        if "sample_id" not in record:
            raise InputError(path, "expected an object with sample_id and label", row=row)
        sample_id = str(record["sample_id"])
        if sample_id not in known:
            raise InputError(path, f"sample_id {sample_id!r} is not in this run's sheet (was the sheet drawn again?)", row=row)
        word = str(record.get("label") if record.get("label") is not None else "").strip().lower()
        if word not in _LABEL_WORDS:
            raise InputError(path, f"label {record.get('label')!r}: use right, wrong or unsure", row=row, column="label")
        labels[sample_id] = _LABEL_WORDS[word]
    return labels


def score_labels(run_dir: str | Path, labels_path: str | Path) -> list[dict]:
    """Precision per stratum with its Wilson interval; written to audit/precision.json and onto the data card."""
    run_dir = Path(run_dir)
    sheet_path = run_dir / AUDIT_DIR / "sheet.jsonl"
    if not sheet_path.exists():
        raise AcecurateError(f"{run_dir}: no labelling sheet yet; draw one with `acecurate audit {run_dir}`")
    sheet = [json.loads(line) for line in sheet_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    population_path = run_dir / AUDIT_DIR / "population.json"
    population = json.loads(population_path.read_text()) if population_path.exists() else {}
    labels = read_labels(labels_path, sheet)
    rows = []
    for stratum in dict.fromkeys(item["stratum"] for item in sheet):
        members = [item["sample_id"] for item in sheet if item["stratum"] == stratum]
        right = sum(labels.get(s) == RIGHT for s in members)
        wrong = sum(labels.get(s) == WRONG for s in members)
        low, high = wilson(right, right + wrong)
        rows.append(
            {
                "stratum": stratum,
                "rows": population.get(stratum),
                "sampled": len(members),
                "labelled": right + wrong,
                "right": right,
                "precision": right / (right + wrong) if right + wrong else None,
                "ci95": [low, high] if right + wrong else None,
            }
        )
    write_json(run_dir / AUDIT_DIR / "precision.json", rows)
    if (run_dir / RUN_FILE).exists():
        render_card(run_dir)  # the card's one writer puts the precision table on it
    return rows
