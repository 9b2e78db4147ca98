"""`acecurate audit`: a stratified sheet of a real (small) run's verdicts, labels read back, precision with a Wilson
interval, and the card section."""

import json

import pytest
from typer.testing import CliRunner

from acecurate.audit import draw_sheet, read_labels, score_labels, wilson
from acecurate.cli import app
from acecurate.errors import AcecurateError, InputError
from acecurate.pipeline import load_pipeline, run_pipeline

from .conftest import REPO, write_jsonl

ROWS = [
    # kept
    {"id": "k1", "problem": "Let $a$ and $b$ be positive integers with $a + b = 20$ and $ab = 96$. Compute $a^2 + b^2$.", "answer": "208"},
    {"id": "k2", "problem": "What is the remainder when $2^{19}$ is divided by $7$?", "answer": "2"},
    # a variant of k2 (another exponent): kept, with variant_of
    {"id": "v1", "problem": "What is the remainder when $2^{2005}$ is divided by $7$?", "answer": "2"},
    # a near duplicate of k1 (a credit line appended): removed
    {
        "id": "d1",
        "problem": "Let $a$ and $b$ be positive integers with $a + b = 20$ and $ab = 96$. Compute $a^2 + b^2$. ~ credit",
        "answer": "208",
    },
    # multiple choice: removed
    {"id": "m1", "problem": "Which is prime? $\\textbf{(A)}\\ 91 \\qquad \\textbf{(B)}\\ 93 \\qquad \\textbf{(C)}\\ 97$", "answer": "97"},
    {"id": "m2", "problem": "Which is even? $\\textbf{(A)}\\ 91 \\qquad \\textbf{(B)}\\ 92 \\qquad \\textbf{(C)}\\ 97$", "answer": "92"},
    {"id": "m3", "problem": "Which is odd? $\\textbf{(A)}\\ 90 \\qquad \\textbf{(B)}\\ 92 \\qquad \\textbf{(C)}\\ 97$", "answer": "97"},
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    src = write_jsonl(tmp / "rows.jsonl", ROWS)
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    pipeline.stages = [s for s in pipeline.stages if s.stage in ("dedup", "near-dedup", "format-filter")]
    run_pipeline(pipeline, [str(src)], tmp / "run")
    return tmp / "run"


def test_sheet_samples_every_reason_and_the_kept_rows(run_dir):
    sheet = draw_sheet(run_dir, per_reason=2, kept=10, seed=1)
    assert sheet.population == {"format-filter: mcq": 3, "near-dedup: near_duplicate": 1, "kept": 3}
    strata = [item["stratum"] for item in sheet.items]
    assert strata.count("format-filter: mcq") == 2 and strata.count("near-dedup: near_duplicate") == 1 and strata.count("kept") == 3
    duplicate = next(i for i in sheet.items if i["reason"] == "near_duplicate")
    # the evidence and the text it was compared with travel with the row
    assert duplicate["id"] == "d1" and duplicate["related"][0]["text"] == ROWS[0]["problem"] and "Jaccard" in duplicate["evidence"]
    variant = next(i for i in sheet.items if i["id"] == "v1")
    assert variant["related"][0]["text"] == ROWS[1]["problem"]
    assert [json.loads(line)["sample_id"] for line in sheet.jsonl.read_text().splitlines()] == [i["sample_id"] for i in sheet.items]
    html = sheet.html.read_text()
    # the texts are data for the page, not markup: no raw "</" can close the script element early
    assert "Download labels.jsonl" in html and html.count("</script>") == 2
    # the same seed draws the same sheet
    assert [i["id"] for i in draw_sheet(run_dir, per_reason=2, kept=10, seed=1).items] == [i["id"] for i in sheet.items]


def test_labels_give_precision_on_the_card(run_dir, tmp_path):
    sheet = draw_sheet(run_dir, per_reason=5, kept=10, seed=0)
    verdict = {"d1": "right", "m1": "right", "m2": "wrong", "m3": "correct", "k1": "right", "k2": "yes", "v1": "unsure"}
    labels = write_jsonl(tmp_path / "labels.jsonl", [{"sample_id": i["sample_id"], "label": verdict[i["id"]]} for i in sheet.items])
    rows = {r["stratum"]: r for r in score_labels(run_dir, labels)}
    assert rows["format-filter: mcq"]["right"] == 2 and rows["format-filter: mcq"]["labelled"] == 3
    assert rows["format-filter: mcq"]["precision"] == pytest.approx(2 / 3)
    assert rows["kept"]["labelled"] == 2  # "unsure" is not scored
    card = (run_dir / "README.md").read_text()
    assert card.count("## Verdict audit") == 1 and "| `format-filter: mcq` | 3 | 3 | 2 | 67% |" in card
    # scoring again replaces the section instead of adding one
    score_labels(run_dir, labels)
    assert (run_dir / "README.md").read_text().count("## Verdict audit") == 1


def test_wilson_interval():
    low, high = wilson(18, 20)
    assert 0.68 < low < 0.70 and 0.97 < high < 0.98  # 90% of 20: roughly 69.9%-97.2%
    assert wilson(0, 0) != wilson(0, 0)  # nan without observations
    assert wilson(10, 10)[1] == 1.0 and wilson(0, 10)[0] == 0.0


def test_bad_labels_are_one_clear_error(run_dir, tmp_path):
    sheet = draw_sheet(run_dir, per_reason=5, kept=10).items
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sample_id": "0001", "label": "right"}\n{"sample_id": "9999", "label": "right"}\n')
    with pytest.raises(InputError, match=r"bad.jsonl, row 2: sample_id '9999' is not in this run's sheet"):
        read_labels(bad, sheet)
    bad.write_text('{"sample_id": "0001", "label": "maybe"}\n')
    with pytest.raises(InputError, match=r"row 1, column 'label': label 'maybe': use right, wrong or unsure"):
        read_labels(bad, sheet)
    with pytest.raises(AcecurateError, match="not a finished run"):
        draw_sheet(tmp_path)


def test_rerunning_an_unchanged_filter_keeps_the_audit_on_the_card(tmp_path):
    # Before: filter rewrote the card from its template and the audit's precision table was gone.
    src = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    pipeline = load_pipeline(REPO / "pipelines/math.yaml")
    pipeline.stages = [s for s in pipeline.stages if s.stage in ("dedup", "format-filter")]
    run_pipeline(pipeline, [str(src)], tmp_path / "run")
    items = draw_sheet(tmp_path / "run", per_reason=5, kept=10).items
    labels = write_jsonl(tmp_path / "l.jsonl", [{"sample_id": i["sample_id"], "label": "right"} for i in items])
    score_labels(tmp_path / "run", labels)
    card = (tmp_path / "run/README.md").read_text()
    assert "| kept rows (rightly kept) |" in card and card.index("## Verdict audit") < card.index("## License")
    run_pipeline(pipeline, [str(src)], tmp_path / "run")  # unchanged: every stage cached, the card rendered again
    assert (tmp_path / "run/README.md").read_text() == card


def test_audit_command(run_dir, tmp_path):
    runner = CliRunner()
    drawn = runner.invoke(app, ["audit", str(run_dir), "--per-reason", "5"])
    assert drawn.exit_code == 0, drawn.output
    assert "sheet.html" in drawn.output and "format-filter: mcq" in drawn.output
    items = [json.loads(line) for line in (run_dir / "audit/sheet.jsonl").read_text().splitlines()]
    labels = write_jsonl(tmp_path / "l.jsonl", [{"sample_id": i["sample_id"], "label": "right"} for i in items])
    scored = runner.invoke(app, ["audit", str(run_dir), "--labels", str(labels)])
    assert scored.exit_code == 0, scored.output
    assert "100%" in scored.output and "precision.json" in scored.output
    missing = runner.invoke(app, ["audit", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
