"""Precision and recall of each curation verdict, for the rules of this checkout and for the rules of main at commit
1c36253 (before issue 17), side by side in the same run, on two labelled sets:

- the audit set (../shared/data/audit): rows and pairs of ../shared/data/raw;
- the corpus of issue 17 (benchmarks/audit/: labels committed, rows materialised by benchmarks/audit/corpus.py), per
  source: development sources the rules were tuned on and held-out sources (s1K, the MATH test split, MBPP,
  LeetCodeDataset) that only check whether a rule generalises.

    python benchmarks/curation_accuracy.py [--baseline 1c36253] [--json results.json] [--no-corpus]

Every share comes with its Wilson 95% interval.

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
BASELINE = "1c36253"
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


def _pair_verdict(run, rows) -> dict:
    """`dedup` then `near-dedup` on the two rows alone: a duplicate when one is removed as a duplicate of the other, a
    variant when one records `variant_of` the other."""
    a, b = rows["id"].tolist()
    for name in ("dedup", "near-dedup"):
        result = run(name, rows)
        if len(result.removed):
            return {"verdict": "duplicate", "how": f"{name}: {result.removed['reason'].iat[0]}"}
        rows = result.kept
    if "variant_of" in rows and rows["variant_of"].isin([a, b]).any():
        return {"verdict": "variant", "how": ""}
    return {"verdict": "none", "how": ""}


def _pair_verdicts(run, frame, pairs):
    by_id = frame.set_index("audit_id")
    return [_pair_verdict(run, by_id.loc[[p["a_id"], p["b_id"]]].reset_index().drop(columns=["audit_id"])) for p in pairs]


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
# The corpus of issue 17 (benchmarks/audit): verdicts per source


CORPUS_LABELS = REPO / "benchmarks" / "audit" / "labels"


def _corpus_sources():
    sys.path.insert(0, str(REPO))
    from benchmarks.audit import corpus

    return corpus


def _corpus_frame(name: str, rows: list[dict]):
    """The canonical frame of a corpus source's rows, in order, with `corpus_index` naming each row."""
    import pandas as pd

    from acecurate.records import to_canonical

    frame = pd.DataFrame(to_canonical(rows, name))
    frame["corpus_index"] = [r["index"] for r in rows]
    return frame


def _prepared(run, frame, configs: set[str]):
    """The rows as the shipped pipeline's rule stages see them: cleaned prompts where the version has the stage."""
    if "clean-prompts" in configs:
        result = run("clean-prompts", frame)
        return result.kept, dict(zip(result.removed["id"], result.removed["reason"]))
    return frame.reset_index(drop=True), {}


def _corpus_rows(name: str, cache: dict, data: Path):
    """A source's frame: a corpus source, or `raw:<file stem>` for a dump of ../shared/data/raw."""
    if name not in cache:
        if name.startswith("raw:"):
            from acecurate.records import load_inputs

            frame = load_inputs([str(data / "raw" / f"{name[4:]}.json")]).frame
            frame["corpus_index"] = frame["source_row"] - 1
        else:
            frame = _corpus_frame(name, _corpus_sources().load_rows(name))
        cache[name] = frame.set_index("corpus_index", drop=False)
    return cache[name]


def corpus_verdicts(repo: Path, data: Path) -> dict:
    import pandas as pd

    _corpus_sources()
    out: dict = {"format": {}, "contam": {}, "near_dup": {}}
    cache: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {d: _stage_runner(repo, f"{d}.yaml", d, Path(tmp) / d) for d in ("math", "code")}
        stages = {d: _pipeline_stages(repo, f"{d}.yaml") for d in ("math", "code")}
        for kind in ("math", "code"):
            labels = read_jsonl(CORPUS_LABELS / f"{kind}_format.jsonl")
            for name in sorted({r["source"] for r in labels}):
                frame = _corpus_rows(name, cache, data)
                wanted = [r["index"] for r in labels if r["source"] == name]
                rows, cleaned_out = _prepared(runs[kind], frame.loc[wanted].reset_index(drop=True), stages[kind])
                result = runs[kind]("format-filter", rows)
                removed = {**cleaned_out, **dict(zip(result.removed["id"], result.removed["reason"]))}
                if kind == "math" and "answer-check" in stages[kind]:  # an unusable gold answer is its verdict
                    checked = runs[kind]("answer-check", result.kept)
                    removed.update(zip(checked.removed["id"], checked.removed["reason"]))
                unordered = {i for i, t in zip(result.kept["id"], result.kept["tests"]) if isinstance(t, str) and '"unordered"' in t}
                ids = dict(zip(frame["corpus_index"], frame["id"]))
                out["format"][name] = {str(i): {"reason": removed.get(ids[i]), "unordered": ids[i] in unordered} for i in wanted}
            pairs = read_jsonl(CORPUS_LABELS / f"{kind}_contam_pairs.jsonl")
            from acecurate.stages.decontaminate import DecontamConfig

            overrides = {}
            if kind == "code" and "windows" in {f.name for f in dataclasses.fields(DecontamConfig)}:
                overrides["windows"] = {n: None for n in LCB_WINDOWS}  # every item a target: the copies are old
            for name in sorted({p["source"] for p in pairs}):
                frame = _corpus_rows(name, cache, data)
                rows, _ = _prepared(runs[kind], frame.reset_index(drop=True), stages[kind])
                result = runs[kind]("decontaminate", rows, **overrides)
                index_of = dict(zip(frame["id"], frame["corpus_index"]))
                hits = {
                    str(index_of[i]): {"reason": r, "item": str(item)}
                    for i, r, item in zip(
                        result.removed["id"], result.removed["reason"], result.removed.get("benchmark_item", [None] * len(result.removed))
                    )
                }
                out["contam"][name] = hits
            pairs = read_jsonl(CORPUS_LABELS / f"{kind}_near_dup_pairs.jsonl")
            verdicts = []
            for pair in pairs:
                a = _corpus_rows(pair["a_source"], cache, data).loc[[pair["a_index"]]]
                b = _corpus_rows(pair["b_source"], cache, data).loc[[pair["b_index"]]]
                both = pd.concat([a, b]).reset_index(drop=True)
                rows, _ = _prepared(runs[kind], both, stages[kind])
                verdicts.append(
                    _pair_verdict(runs[kind], rows) if len(rows) == 2 else {"verdict": "none", "how": "a row removed by clean-prompts"}
                )
            out["near_dup"][kind] = verdicts
    return out


def _pipeline_stages(repo: Path, pipeline_file: str) -> set[str]:
    from acecurate.pipeline import load_pipeline

    return {s.stage for s in load_pipeline(repo / "pipelines" / pipeline_file).stages}


# ----------------------------------------------------------------------------------------------------------------------
# The corpus: scores per source


def _fine(labels: dict) -> bool:
    """A row no rule should remove: no format label set, a usable answer (math)."""
    return all(v is False for k, v in labels.items() if k not in ("answer_ok", "any_order")) and labels.get("answer_ok", True) is True


def score_corpus_format(kind: str, verdicts: dict) -> dict:
    """Per source and label: tp/fp/fn of the reasons mapped to that label, and the fine rows removed."""
    mapping = {**(MATH_LABEL if kind == "math" else CODE_LABEL), "too_brief": "incomplete", "empty_statement": "incomplete"}
    if kind == "math":
        mapping.update(dict.fromkeys(ANSWER_CHECK_REASONS, "answer_not_ok"))
    rows = read_jsonl(CORPUS_LABELS / f"{kind}_format.jsonl")
    table: dict = {}
    for source in sorted({r["source"] for r in rows}):
        mine = [r | {"id": str(r["index"])} for r in rows if r["source"] == source]
        cells = score_format(mine, verdicts[source], mapping)
        if kind == "code":
            cells.update(score_any_order(mine, verdicts[source]))
        fine = [r for r in mine if _fine(_labels(r))]
        removed = [r for r in fine if verdicts[source][r["id"]]["reason"]]
        cells["fine rows removed"] = {"share": [len(removed), len(fine)], "examples": [r["index"] for r in removed][:8]}
        table[source] = cells
    return table


def score_corpus_contam(kind: str, verdicts: dict) -> dict:
    """Per source: copies removed (as contaminated, or as dated after the cutoff), removals whose labelled pair says copy or template (precision), unrelated pairs
    flagged with their item, and templates or I/II variants removed."""
    pairs = read_jsonl(CORPUS_LABELS / f"{kind}_contam_pairs.jsonl")
    table: dict = {}
    for source in sorted({p["source"] for p in pairs}):
        hits = verdicts[source]
        cell = {"copy recall": [0, 0], "removal precision": [0, 0], "unrelated flagged": [0, 0], "template or variant removed": [0, 0]}
        judged: dict[str, str] = {}
        for p in pairs:
            if p["source"] != source:
                continue
            hit = hits.get(str(p["index"]))
            flagged = bool(hit and hit["reason"].startswith("contaminated"))
            same_item = flagged and hit["item"] == str(p["item_id"])
            if p["label"] == "copy":  # a copy removed for its date (after the cutoff) does not reach training either
                cell["copy recall"][0] += bool(hit)
                cell["copy recall"][1] += 1
            elif p["label"] == "unrelated":
                cell["unrelated flagged"][0] += same_item
                cell["unrelated flagged"][1] += 1
            else:  # template (math), variant (code: an I/II pair)
                cell["template or variant removed"][0] += same_item
                cell["template or variant removed"][1] += 1
            if same_item:
                judged[str(p["index"])] = p["label"]
        for index, label in judged.items():
            ok = label == "copy" or (label == "template" and hits[index]["reason"].startswith("contaminated_template"))
            cell["removal precision"][0] += ok
            cell["removal precision"][1] += 1
        table[source] = cell
    return table


def score_corpus_pairs(kind: str, verdicts: list) -> dict:
    """Per source pair: duplicates merged (recall), merges that are duplicates (precision), variants merged, and
    paraphrases (the same task rewritten, which no rule is expected to catch) merged."""
    pairs = read_jsonl(CORPUS_LABELS / f"{kind}_near_dup_pairs.jsonl")
    table: dict = {}
    for pair, verdict in zip(pairs, verdicts):
        group = pair["a_source"] if pair["a_source"] == pair["b_source"] else f"{pair['a_source']} ~ {pair['b_source']}"
        cell = table.setdefault(group, {"tp": 0, "fp": 0, "fn": 0, "variants merged": [0, 0], "paraphrases merged": [0, 0]})
        merged = verdict["verdict"] == "duplicate"
        label = pair["label"]
        if label == "unsure":
            continue
        if label == "duplicate":
            cell["tp" if merged else "fn"] += 1
        elif label == "paraphrase":
            cell["paraphrases merged"][0] += merged
            cell["paraphrases merged"][1] += 1
        else:
            cell["fp"] += merged
            if label == "variant":
                cell["variants merged"][0] += merged
                cell["variants merged"][1] += 1
    return table


def score_corpus(v: dict) -> dict:
    return {
        "math format": score_corpus_format("math", v["format"]),
        "code format": score_corpus_format("code", v["format"]),
        "math contamination": score_corpus_contam("math", v["contam"]),
        "code contamination (every item a target)": score_corpus_contam("code", v["contam"]),
        "math near-dup": score_corpus_pairs("math", v["near_dup"]["math"]),
        "code near-dup": score_corpus_pairs("code", v["near_dup"]["code"]),
    }


def _role(source: str) -> str:
    corpus = _corpus_sources()
    names = [s.strip() for s in source.split("~")]
    roles = {corpus.SOURCE_BY_NAME[n].role if n in corpus.SOURCE_BY_NAME else "raw" for n in names}
    return "held-out" if "heldout" in roles else "dev" if "dev" in roles else "raw"


def _share(pair: list[int] | None) -> str:
    if pair is None:
        return "-"
    from acecurate.audit import wilson

    k, n = pair
    if not n:
        return "- (none)"
    low, high = wilson(k, n)
    return f"{k / n:.0%} ({k}/{n}; {low:.0%}-{high:.0%})"


def print_corpus_report(new: dict, old: dict | None, baseline: str) -> None:
    """One table per verdict: rows per source (dev or held-out) and measure, new beside the baseline."""
    for group in (
        "math format",
        "code format",
        "math near-dup",
        "code near-dup",
        "math contamination",
        "code contamination (every item a target)",
    ):
        print(f"\n#### Corpus: {group}\n")
        print(f"| source | role | measure | new | {baseline} |")
        print("|---|---|---|---|---|")
        for source, cells in new[group].items():
            old_cells = (old or {}).get(group, {}).get(source, {})
            for measure, cell in cells.items():
                old_cell = old_cells.get(measure)
                if isinstance(cell, dict) and "tp" in cell:
                    if not (cell["tp"] + cell["fp"] + cell["fn"]) and not (old_cell and old_cell["tp"] + old_cell["fp"] + old_cell["fn"]):
                        continue
                    label = measure if "reasons" not in cell else f"{measure} (`{'`, `'.join(cell['reasons'])}`)"
                    new_p, new_r = _pr(cell)
                    old_p, old_r = _pr(old_cell)
                    print(f"| {source} | {_role(source)} | {label}: precision | {new_p} | {old_p} |")
                    print(f"| {source} | {_role(source)} | {label}: recall | {new_r} | {old_r} |")
                elif isinstance(cell, dict) and "share" in cell:
                    print(
                        f"| {source} | {_role(source)} | {measure} | {_share(cell['share'])} | {_share(old_cell['share'] if old_cell else None)} |"
                    )
                elif isinstance(cell, list) and cell[1]:
                    print(f"| {source} | {_role(source)} | {measure} | {_share(cell)} | {_share(old_cell)} |")
            if group.endswith("near-dup"):
                new_p, new_r = _pr(cells)
                old_p, old_r = _pr(old_cells or None)
                print(f"| {source} | {_role(source)} | duplicates: precision | {new_p} | {old_p} |")
                print(f"| {source} | {_role(source)} | duplicates: recall | {new_r} | {old_r} |")


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
ANSWER_CHECK_REASONS = ("empty_answer", "descriptive_answer", "unparseable_gold", "gold_timeout", "gold_error")
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


def run_side(src: Path, repo: Path, audit: Path, data: Path, only: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, __file__, "--verdicts", "--repo", str(repo), "--audit", str(audit), "--data", str(data)]
    command += ["--only", only] if only else []
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"verdicts for {repo} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--audit", type=Path, default=DATA / "audit")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the rules before (default: main at 1c36253)")
    parser.add_argument("--no-baseline", action="store_true", help="score this checkout only")
    parser.add_argument("--json", type=Path, help="write both sides' verdicts and scores here")
    parser.add_argument("--only", choices=["audit", "corpus"], help="score one set (default: both)")
    parser.add_argument("--verdicts", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verdicts:
        out = {}
        if args.only != "corpus":
            out["audit"] = verdicts(args.repo, args.audit, args.data)
        if args.only != "audit":
            out["corpus"] = corpus_verdicts(args.repo, args.data)
        json.dump(out, sys.stdout)
        return
    sides = [("new", REPO)]
    tmp = tempfile.TemporaryDirectory()
    if not args.no_baseline:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        sides.append(("baseline", Path(tmp.name)))
    found = {name: run_side(repo / "src", repo, args.audit, args.data, args.only) for name, repo in sides}
    tmp.cleanup()
    scores = {
        name: {
            "audit": score(args.audit, v["audit"]) if "audit" in v else None,
            "corpus": score_corpus(v["corpus"]) if "corpus" in v else None,
        }
        for name, v in found.items()
    }
    old = scores.get("baseline")
    if args.only != "corpus":
        print(f"### The audit set ({args.audit})\n")
        print_report(scores["new"]["audit"], old and old["audit"], args.baseline)
    if args.only != "audit":
        print("\n### The corpus of issue 17 (benchmarks/audit)")
        print_corpus_report(scores["new"]["corpus"], old and old["corpus"], args.baseline)
    if args.json:
        args.json.write_text(json.dumps({name: {"verdicts": found[name], "scores": scores[name]} for name in found}, indent=1))


if __name__ == "__main__":
    main()
