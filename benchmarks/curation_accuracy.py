"""Precision and recall of each curation verdict on the labelled audit set (../shared/data/audit), for the rules of this
checkout and for the rules of main at commit 48b086d (before issue 12), side by side in the same run.

    python benchmarks/curation_accuracy.py [--baseline 48b086d] [--json results.json]

Two versions of the package cannot share one process, so each side runs in its own: `--verdicts` mode imports the
`acecurate` found on PYTHONPATH, takes each stage's settings from that version's shipped pipelines
(pipelines/math.yaml, pipelines/code.yaml), runs the stages on the audit units and prints one verdict per unit as JSON.
The baseline's sources come from `git archive` into a temporary directory, never into the repository. The parent scores
both sides against the labels.

How each verdict is made:
- format rules: `format-filter` on the labelled rows (read from ../raw by source file and row index);
- near duplicates: `dedup` then `near-dedup` on each labelled pair alone (the pair is a duplicate when one row is removed
  as a duplicate of the other, a variant when one records `variant_of` the other);
- contamination: `decontaminate` over the whole raw dump the train row comes from (so that how common a phrase is comes
  from real data), then the train row's verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
BASELINE = "48b086d"
MATH_RAW = ("rllm_math_train.json", "deepscaler_aime_1983_2023.json")
CODE_RAW = ("rllm_leetcode.json", "rllm_livecodebench_train.json", "rllm_codeforces.json", "rllm_code_contests.json")
LCB_WINDOWS = {"livecodebench_v5": ("2024-08-01", "2025-02-01"), "livecodebench_v6": ("2025-02-01", "2025-05-01")}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def raw_id(source_file: str, index: int) -> str:
    """acecurate 0.1's id of a row without an id of its own (the audit set names rows by it)."""
    source = Path(source_file).stem
    return f"{source}/" + hashlib.sha1(f"{source}:{index}".encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------------------
# Verdicts (runs with PYTHONPATH pointing at one version's src/)


def _stage_runner(repo: Path, pipeline_file: str, domain: str, workdir: Path):
    """run(name, frame) -> StageResult with the settings the version's shipped pipeline gives that stage."""
    from acecurate.pipeline import load_pipeline
    from acecurate.stage import RunContext
    from acecurate.stages import STAGE_BY_NAME

    configs = {s.stage: s.config for s in load_pipeline(repo / "pipelines" / pipeline_file).stages}

    def run(name: str, frame, **overrides):
        ctx = RunContext(workdir, workdir / name, domain, 2)
        (workdir / name).mkdir(parents=True, exist_ok=True)
        return STAGE_BY_NAME[name](frame.reset_index(drop=True), dataclasses.replace(configs[name], **overrides), ctx)

    return run


def _raw_frame(files, data: Path):
    from acecurate.records import load_inputs

    frame = load_inputs([str(data / "raw" / f) for f in files]).frame
    frame["audit_id"] = [raw_id(f"{s}.json", r - 1) for s, r in zip(frame["source"], frame["source_row"])]
    return frame


def _format_verdicts(run, frame, rows):
    by_id = frame.set_index("audit_id")
    chosen = by_id.loc[[raw_id(r["source_file"], r["index"]) for r in rows]].reset_index()
    result = run("format-filter", chosen.drop(columns=["audit_id"]))
    removed = dict(zip(result.removed["id"], result.removed["reason"]))
    unordered = {i for i, t in zip(result.kept["id"], result.kept["tests"]) if isinstance(t, str) and '"unordered"' in t}
    return {
        r["id"]: {"reason": removed.get(row_id), "unordered": row_id in unordered}
        for r, row_id in zip(rows, chosen["id"])  # the audit's ids are 0.1's; rows are matched by file and index
    }


def _pair_verdicts(run, frame, pairs):
    by_id = frame.set_index("audit_id")
    out = []
    for pair in pairs:
        rows = by_id.loc[[pair["a_id"], pair["b_id"]]].reset_index().drop(columns=["audit_id"])
        a, b = rows["id"].tolist()
        verdict, how = "none", ""
        for name in ("dedup", "near-dedup"):
            result = run(name, rows)
            if len(result.removed):
                verdict, how = "duplicate", f"{name}: {result.removed['reason'].iat[0]}"
                break
            rows = result.kept
        if verdict == "none" and "variant_of" in rows and rows["variant_of"].isin([a, b]).any():
            verdict = "variant"
        out.append({"verdict": verdict, "how": how})
    return out


def _contam_verdicts(run, frame, pairs, **overrides):
    result = run("decontaminate", frame.drop(columns=["audit_id"]), **overrides)
    removed = result.removed.assign(audit_id=frame.set_index("id").loc[result.removed["id"], "audit_id"].to_numpy())
    by_id = {r["audit_id"]: r for r in removed.to_dict("records")}
    out = []
    for pair in pairs:
        hit = by_id.get(pair["train_id"])
        out.append({"reason": hit["reason"], "item": str(hit.get("benchmark_item"))} if hit else {"reason": None, "item": None})
    return out


def verdicts(repo: Path, audit: Path, data: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        math_run = _stage_runner(repo, "math.yaml", "math", tmp / "math")
        code_run = _stage_runner(repo, "code.yaml", "code", tmp / "code")
        math_frame, code_frame = _raw_frame(MATH_RAW, data), _raw_frame(CODE_RAW, data)
        from acecurate.stages.decontaminate import DecontamConfig

        out = {
            "math_format": _format_verdicts(math_run, math_frame, read_jsonl(audit / "math_format.jsonl")),
            "code_format": _format_verdicts(code_run, code_frame, read_jsonl(audit / "code_format.jsonl")),
            "math_near_dup": _pair_verdicts(math_run, math_frame, read_jsonl(audit / "math_near_dup_pairs.jsonl")),
            "code_near_dup": _pair_verdicts(code_run, code_frame, read_jsonl(audit / "code_near_dup_pairs.jsonl")),
            "math_contam": _contam_verdicts(math_run, math_frame, read_jsonl(audit / "math_contam_pairs.jsonl")),
            "code_contam": _contam_verdicts(code_run, code_frame, read_jsonl(audit / "code_contam_pairs.jsonl")),
        }
        if "windows" in {f.name for f in dataclasses.fields(DecontamConfig)}:
            # The audit's code copies all predate the evaluation windows: with every item a target, are they found?
            out["code_contam_every_item"] = _contam_verdicts(
                code_run, code_frame, read_jsonl(audit / "code_contam_pairs.jsonl"), windows={n: None for n in LCB_WINDOWS}
            )
        return out


# ----------------------------------------------------------------------------------------------------------------------
# Scoring


MATH_LABEL = {
    "mcq": "mcq",
    "proof": "proof",
    "multi_part": "multi_part",
    "yes_no": "binary",
    "true_false": "binary",
    "figure_reference": "needs_missing_figure",
    "non_english": "non_english",
    "answer_too_long": "answer_not_ok",
    "missing_answer": "answer_not_ok",
}
CODE_LABEL = {"special_judge": "special_judge", "interactive": "interactive", "image_statement": "needs_image"}


def _labels(row: dict) -> dict:
    labels = dict(row["labels"])
    if "answer_ok" in labels:
        ok = labels.pop("answer_ok")
        labels["answer_not_ok"] = (not ok) if isinstance(ok, bool) else ok
    return labels


def score_format(rows, verdicts, reason_to_label) -> dict:
    """Per reason: precision (removed rows whose label says so) and recall (labelled rows removed for it, or for
    another reason that the labels also support)."""
    table = {}
    label_names = sorted(set(reason_to_label.values()))
    for label in label_names:
        reasons = [r for r, lab in reason_to_label.items() if lab == label]
        tp = fp = fn = 0
        for row in rows:
            labels = _labels(row)
            truth = labels.get(label)
            if truth == "unsure":
                continue
            predicted = verdicts[row["id"]]["reason"]
            if predicted in reasons:
                tp, fp = tp + bool(truth), fp + (not truth)
            elif truth:
                other = reason_to_label.get(predicted)
                fn += not (other and labels.get(other) is True)
                tp += bool(other and labels.get(other) is True)
        table[label] = {"reasons": reasons, "tp": tp, "fp": fp, "fn": fn}
    return table


def score_any_order(rows, verdicts) -> dict:
    tp = fp = fn = 0
    for row in rows:
        truth = row["labels"].get("any_order")
        if truth == "unsure" or verdicts[row["id"]]["reason"]:
            continue  # the mark matters for kept rows only
        predicted = verdicts[row["id"]]["unordered"]
        tp, fp, fn = tp + (predicted and truth), fp + (predicted and not truth), fn + (truth and not predicted)
    return {"any_order": {"reasons": ['tests "compare": "unordered"'], "tp": tp, "fp": fp, "fn": fn}}


def score_pairs(pairs, verdicts) -> dict:
    tp = fp = fn = 0
    variants = {"variant": 0, "duplicate": 0, "none": 0}
    for pair, verdict in zip(pairs, verdicts):
        if pair["label"] == "unsure":
            continue
        is_dup = verdict["verdict"] == "duplicate"
        truth = pair["label"] == "duplicate"
        tp, fp, fn = tp + (is_dup and truth), fp + (is_dup and not truth), fn + (truth and not is_dup)
        if pair["label"] == "variant":
            variants[verdict["verdict"]] += 1
    return {"near_duplicate": {"reasons": ["exact_duplicate", "near_duplicate"], "tp": tp, "fp": fp, "fn": fn}, "variants": variants}


def score_contam(pairs, verdicts, windows: dict | None = None) -> dict:
    """Copies caught (removed as contaminated, copy or template), unrelated pairs flagged with that item, and how
    templates are called. For code, a copy of an item outside every evaluation window should stay."""
    out = {"copy": [0, 0], "copy_called_copy": [0, 0], "unrelated_flagged": [0, 0], "template": {}, "out_of_window_copy_removed": [0, 0]}
    for pair, verdict in zip(pairs, verdicts):
        reason = verdict["reason"] or ""
        flagged = reason.startswith("contaminated")
        same_item = flagged and verdict["item"] == str(pair.get("item_id", pair.get("item_title")))
        label = pair["label"]
        if label == "copy":
            in_window = windows is None or any(lo <= pair["item_contest_date"][:10] < hi for lo, hi in windows.values())
            if in_window:
                out["copy"][0] += flagged
                out["copy"][1] += 1
                out["copy_called_copy"][0] += reason.startswith("contaminated:")
                out["copy_called_copy"][1] += 1
            else:
                out["out_of_window_copy_removed"][0] += flagged
                out["out_of_window_copy_removed"][1] += 1
        elif label == "unrelated":
            out["unrelated_flagged"][0] += same_item
            out["unrelated_flagged"][1] += 1
        elif label == "template":
            kind = reason.split(":")[0] if flagged else "kept"
            out["template"][kind] = out["template"].get(kind, 0) + 1
    return out


def score(audit: Path, v: dict) -> dict:
    return {
        "math format": score_format(read_jsonl(audit / "math_format.jsonl"), v["math_format"], MATH_LABEL),
        "code format": {
            **score_format(read_jsonl(audit / "code_format.jsonl"), v["code_format"], CODE_LABEL),
            **score_any_order(read_jsonl(audit / "code_format.jsonl"), v["code_format"]),
        },
        "math near-dup": score_pairs(read_jsonl(audit / "math_near_dup_pairs.jsonl"), v["math_near_dup"]),
        "code near-dup": score_pairs(read_jsonl(audit / "code_near_dup_pairs.jsonl"), v["code_near_dup"]),
        "math contamination": score_contam(read_jsonl(audit / "math_contam_pairs.jsonl"), v["math_contam"]),
        "code contamination": score_contam(read_jsonl(audit / "code_contam_pairs.jsonl"), v["code_contam"], LCB_WINDOWS),
        "code contamination, every item a target": score_contam(read_jsonl(audit / "code_contam_pairs.jsonl"), v["code_contam_every_item"])
        if "code_contam_every_item" in v
        else score_contam([], []),
    }


def _pr(cell: dict | None) -> tuple[str, str]:
    if cell is None:
        return "-", "-"
    from acecurate.audit import wilson

    def share(k: int, n: int, none: str) -> str:
        if not n:
            return none
        low, high = wilson(k, n)
        return f"{k / n:.0%} ({k}/{n}; {low:.0%}-{high:.0%})"

    tp, fp, fn = cell["tp"], cell["fp"], cell["fn"]
    return share(tp, tp + fp, "- (0 removed)"), share(tp, tp + fn, "- (0 labelled)")


def _ratio(pair: list[int] | None) -> str:
    if pair is None:
        return "-"
    return f"{pair[0] / pair[1]:.0%} ({pair[0]}/{pair[1]})" if pair[1] else "- (none)"


CONTAMINATION_MEASURES = (
    ("copy", "copies (of items in an evaluation window) caught"),
    ("copy_called_copy", "copies called copy (not template)"),
    ("unrelated_flagged", "unrelated pairs flagged"),
    ("out_of_window_copy_removed", "copies of items outside the evaluation window removed"),
)


def print_report(new: dict, old: dict | None, baseline: str = BASELINE) -> None:
    """Markdown tables: precision and recall per reason (with Wilson 95% intervals), and the contamination measures,
    new beside the baseline."""
    print(f"| verdict | reason | precision (new) | recall (new) | precision ({baseline}) | recall ({baseline}) |")
    print("|---|---|---|---|---|---|")
    for group in ("math near-dup", "code near-dup", "math format", "code format"):
        for label, cell in new[group].items():
            if label == "variants":
                continue
            old_cell = old[group].get(label) if old else None
            print(f"| {group} | {label} (`{'`, `'.join(cell['reasons'])}`) | {' | '.join(_pr(cell))} | {' | '.join(_pr(old_cell))} |")
    print()
    for group in ("math near-dup", "code near-dup"):
        print(
            f"{group}: labelled variants called variant / duplicate / nothing: new {new[group]['variants']}, old {old[group]['variants'] if old else '-'}"
        )
    print()
    print(f"| contamination | measure | new | {baseline} |")
    print("|---|---|---|---|")
    for group in ("math contamination", "code contamination", "code contamination, every item a target"):
        for key, text in CONTAMINATION_MEASURES:
            if new[group][key][1]:
                print(f"| {group} | {text} | {_ratio(new[group][key])} | {_ratio(old[group][key] if old else None)} |")
        if new[group]["template"]:
            print(f"| {group} | templates called | {new[group]['template']} | {old[group]['template'] if old else '-'} |")


def run_side(src: Path, repo: Path, audit: Path, data: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, __file__, "--verdicts", "--repo", str(repo), "--audit", str(audit), "--data", str(data)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"verdicts for {repo} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--audit", type=Path, default=DATA / "audit")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of today's rules (default: main at 48b086d)")
    parser.add_argument("--no-baseline", action="store_true", help="score this checkout only")
    parser.add_argument("--json", type=Path, help="write both sides' verdicts and scores here")
    parser.add_argument("--verdicts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verdicts:
        json.dump(verdicts(args.repo, args.audit, args.data), sys.stdout)
        return
    new_verdicts = run_side(REPO / "src", REPO, args.audit, args.data)
    new = score(args.audit, new_verdicts)
    old_verdicts = old = None
    if not args.no_baseline:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            old_verdicts = run_side(Path(tmp) / "src", Path(tmp), args.audit, args.data)
            old = score(args.audit, old_verdicts)
    print_report(new, old, args.baseline)
    if args.json:
        sides = {"new": {"verdicts": new_verdicts, "scores": new}, "baseline": {"verdicts": old_verdicts, "scores": old}}
        args.json.write_text(json.dumps(sides, indent=1))


if __name__ == "__main__":
    main()
