"""The development and held-out corpus of issue 17: public sources beyond ../shared/data/raw, each named by
repository, commit and path (see SOURCES.md), turned into the raw-dump layouts users feed `acecurate filter`.

    python benchmarks/audit/corpus.py [--mirror /work/.mirror] [--out benchmarks/audit/rows]

The rows themselves are not committed (they are other projects' data): this script materialises them from the
fetched snapshots (`git show COMMIT:PATH` in each bare mirror), and the committed labels (labels/*.jsonl) name each
row by source and index, with a hash of its problem text so that a changed row is noticed. A folder of materialised
rows can also be placed at ../shared/data/dev, where benchmarks/curation_accuracy.py and the tests look first.

Development sources tune the rules; held-out sources (DAPO-Math-17k, s1K, the MATH test split, MBPP,
LeetCodeDataset) are only used to check that a rule generalises.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROWS = HERE / "rows"
SHARED_ROWS = HERE.parents[2] / "shared" / "data" / "dev"


@dataclass(frozen=True)
class Source:
    name: str
    domain: str
    role: str  # "dev" or "heldout"
    repo: str
    commit: str
    path: str
    what: str
    convert: Callable[[bytes], list[dict]]
    sample: int | None = None  # rows kept (a seeded random sample) when the file has more


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def _options(options) -> str:
    return "\n".join(options) if isinstance(options, list) else str(options)


def _qwen_plain(data: bytes) -> list[dict]:
    return [{"problem": r["question"], "answer": str(r["answer"]).strip("$ ")} for r in _jsonl(data)]


def _aqua(data: bytes) -> list[dict]:
    # AQuA-RAT: question, lettered options, the letter. Mixes put the options into the problem text.
    return [{"problem": f"{r['question']}\n{_options(r['options'])}", "answer": r["correct"]} for r in _jsonl(data)]


def _sat(data: bytes) -> list[dict]:
    return [{"problem": f"{r['question']}\n{r['options']}", "answer": r["Answer"]} for r in _jsonl(data)]


def _mmlu(data: bytes) -> list[dict]:
    rows = []
    for r in _jsonl(data):
        options = " ".join(f"({'ABCD'[i]}) {c}" for i, c in enumerate(r["choices"]))
        rows.append({"problem": f"{r['question']}\n{options}", "answer": "ABCD"[r["answer"]], "subject": r["type"]})
    return rows


def _cn_middle(data: bytes) -> list[dict]:
    return [{"problem": r["question"], "answer": r["answer"]} for r in _jsonl(data)]


def _omni(data: bytes) -> list[dict]:
    return [{"problem": r["problem"], "answer": r["answer"], "source_name": r.get("source")} for r in _jsonl(data)]


def _deepmath(data: bytes) -> list[dict]:
    rows = []
    for line in data.decode(errors="ignore").splitlines():  # the vendored sample ends in a cut line
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows.append({"problem": r["prompt"], "answer": r["ground_truth"]})
    return rows


def _harp_proofs(data: bytes) -> list[dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inner = archive.read(next(n for n in archive.namelist() if n.endswith(".jsonl")))
    # Proof problems have no final answer; a mix gives them the first line of a solution, or nothing.
    return [{"problem": r["problem"], "answer": None, "contest": f"{r['year']} {r['contest']} #{r['number']}"} for r in _jsonl(inner)]


def _amc(data: bytes) -> list[dict]:
    return [{"problem": r["problem"], "answer": str(r["answer"])} for r in json.loads(data)]


def _kodcode(data: bytes) -> list[dict]:
    rows = []
    for line in data.decode(errors="ignore").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        cases = json.loads(r["test_cases"]) if r.get("test_cases") else []
        check = "\n".join(c.get("assert_code", "") for c in cases)
        names = re.findall(r"^def\s+(\w+)", r["prompt"], re.MULTILINE)
        rows.append({"problem": r["prompt"], "tests": {"format": "assert", "check": check, "fn_name": names[0] if names else None}})
    return rows


def _humaneval(data: bytes) -> list[dict]:
    rows = []
    for r in _jsonl(gzip.decompress(data)):
        check = f"{r['test']}\ncheck({r['entry_point']})"
        rows.append(
            {"id": r["task_id"], "problem": r["prompt"], "tests": {"format": "assert", "check": check, "fn_name": r["entry_point"]}}
        )
    return rows


def _deepseek_leetcode(data: bytes) -> list[dict]:
    from datetime import datetime, timezone

    rows = []
    for r in _jsonl(data):
        rows.append(
            {
                "id": r["task_id"],
                "problem": r["prompt"],  # the statement in a docstring, then the starter code
                "tests": {"format": "assert", "check": r["test"], "fn_name": None},
                "url": r["url"],
                "contest_date": datetime.fromtimestamp(r["start_time"], timezone.utc).date().isoformat(),
            }
        )
    return rows


def _leetcodedataset(data: bytes) -> list[dict]:
    rows = []
    for r in _jsonl(gzip.decompress(data)):
        rows.append(
            {
                "id": r["task_id"],
                "problem": r["query"],  # the training prompt: instruction, "### Question:", starter code, format
                "tests": {"format": "assert", "check": f"{r['test']}\ncheck({r['entry_point']})", "fn_name": r["entry_point"]},
                "completion": r["completion"],
                "contest_date": r["estimated_date"],
            }
        )
    return rows


def _mbpp(data: bytes) -> list[dict]:
    rows = []
    for r in _jsonl(data):
        # The prompt of the MBPP paper: the task, then the tests the code should pass.
        problem = f"{r['text']}\nYour code should pass these tests:\n\n" + "\n".join(r["test_list"])
        rows.append(
            {
                "id": f"mbpp/{r['task_id']}",
                "problem": problem,
                "tests": {"format": "assert", "check": "\n".join(r["test_list"]), "fn_name": None},
                "completion": r["code"],
            }
        )
    return rows


def _s1k(data: bytes) -> list[dict]:
    return [{"problem": r["problem"], "solution": r.get("solution")} for r in json.loads(data)]


def _math_test(data: bytes) -> list[dict]:
    return [{"problem": r["problem"], "solution": r["solution"], "level": r["level"], "type": r["type"]} for r in _jsonl(data)]


Q = ("QwenLM/Qwen2.5-Math", "a45202bd16f1ec06f433442dc1152d0074773465")
SOURCES = [
    Source(
        "omni_math",
        "math",
        "dev",
        "KbsdJames/omni-math-rule",
        "4793415ef37d31c9cdb4e5b82dbe172f76f8cf08",
        "evaluation/data/omni_math_rule/test.jsonl",
        "Omni-MATH (rule-gradable subset): olympiad problems",
        _omni,
        400,
    ),
    Source(
        "deepmath",
        "math",
        "dev",
        "Vision-CAIR/Freshness-Aware-PER",
        "dbb91df453bdb2f2d70e92cc23582cfac0d39b66",
        "data/math_deepmath_deal.jsonl",
        "DeepMath-103K (the first 1.5 MB, as vendored)",
        _deepmath,
        400,
    ),
    Source(
        "aqua", "math", "dev", *Q, "evaluation/data/aqua/test.jsonl", "AQuA-RAT test: multiple choice, options put into the text", _aqua
    ),
    Source("sat_math", "math", "dev", *Q, "evaluation/data/sat_math/test.jsonl", "SAT math: multiple choice", _sat),
    Source("mmlu_stem", "math", "dev", *Q, "evaluation/data/mmlu_stem/test.jsonl", "MMLU STEM: multiple choice", _mmlu, 150),
    Source(
        "college_math", "math", "dev", *Q, "evaluation/data/college_math/test.jsonl", "College Math: textbook exercises", _qwen_plain, 400
    ),
    Source("gaokao2023en", "math", "dev", *Q, "evaluation/data/gaokao2023en/test.jsonl", "Gaokao 2023 (English)", _qwen_plain),
    Source(
        "cn_middle_school", "math", "dev", *Q, "evaluation/data/cn_middle_school/test.jsonl", "Chinese middle-school problems", _cn_middle
    ),
    Source(
        "harp_proof",
        "math",
        "dev",
        "aadityasingh/HARP",
        "dac2734ff6443bcaf3bbdcb10f13cf21ae9729c2",
        "HARP_proof-based.jsonl.zip",
        "HARP proof-based problems (USAMO, USAJMO, ...)",
        _harp_proofs,
        150,
    ),
    Source(
        "amc",
        "math",
        "dev",
        "rllm-org/rllm",
        "d0ea3ef9ded8dbd8210621c10b1496b3b839c376",
        "rllm/data/raw/test/amc.json",
        "AMC 2022-2023 (rllm)",
        _amc,
    ),
    Source(
        "kodcode",
        "code",
        "dev",
        "Vision-CAIR/Freshness-Aware-PER",
        "dbb91df453bdb2f2d70e92cc23582cfac0d39b66",
        "data/code_KodCode_data.jsonl",
        "KodCode (the first 1.5 MB, as vendored)",
        _kodcode,
        400,
    ),
    Source(
        "humaneval",
        "code",
        "dev",
        "openai/human-eval",
        "6d43fb980f9fee3c892a914eda09951f772ad10d",
        "data/HumanEval.jsonl.gz",
        "HumanEval: signature and docstring as the statement",
        _humaneval,
    ),
    Source(
        "deepseek_leetcode",
        "code",
        "dev",
        "deepseek-ai/DeepSeek-Coder",
        "2f9fd85927c669dae3c0fbb2d607274023af243e",
        "Evaluation/LeetCode/data/20240121-Jul.jsonl",
        "LeetCode weekly contests 2023-07 to 2024-01 (starter code in the prompt)",
        _deepseek_leetcode,
    ),
    Source(
        "s1k",
        "math",
        "heldout",
        "ademcodesproducts/contamination-audit",
        "10f471be91301696271af41dc48da6c37e890db0",
        "data/s1k.json",
        "s1K",
        _s1k,
    ),
    Source(
        "math_test",
        "math",
        "heldout",
        "cmu-mind/RISE",
        "4a2806e53546f04586177b8396b59a19840c0240",
        "data/math/test.jsonl",
        "MATH test split (1,000 of its 5,000 problems)",
        _math_test,
    ),
    Source(
        "mbpp",
        "code",
        "heldout",
        "OckBench/OckBench",
        "b72752a0ba5989d3c212675ec60d3eedcd838628",
        "data/mbpp.jsonl",
        "MBPP (974), in the paper's prompt with its tests",
        _mbpp,
    ),
    Source(
        "leetcodedataset",
        "code",
        "heldout",
        "newfacade/LeetCodeDataset",
        "182cd19",
        "data/LeetCodeDataset-v0.3.1-test.jsonl.gz",
        "LeetCodeDataset v0.3.1 test (2024-2025), its training prompt",
        _leetcodedataset,
    ),
]
# DAPO-Math-17k (held out) has no snapshot to fetch: dapo.jsonl holds rows read from histmeisah/ROLL@becc6e8
# data/dapo_math_17k.jsonl at the character offsets its ids give.
SOURCE_BY_NAME = {s.name: s for s in SOURCES}


def _git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True, check=True).stdout


def read_source(source: Source, mirrors: Path) -> list[dict]:
    mirror = mirrors / source.repo.replace("/", "+") / "repo"
    rows = source.convert(_git(mirror, "show", f"{source.commit}:{source.path}"))
    for index, row in enumerate(rows):
        row["index"] = index
    if source.sample and len(rows) > source.sample:
        rows = sorted(random.Random(17).sample(rows, source.sample), key=lambda r: r["index"])
    return rows


def rows_dir() -> Path:
    """Where the materialised rows are: ../shared/data/dev if placed there, else benchmarks/audit/rows."""
    return SHARED_ROWS if SHARED_ROWS.is_dir() else ROWS


def load_rows(name: str) -> list[dict]:
    path = rows_dir() / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: run `python benchmarks/audit/corpus.py` to materialise the corpus")
    return _jsonl(path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=ROWS)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        if args.only and source.name not in args.only:
            continue
        rows = read_source(source, args.mirror)
        with open(args.out / f"{source.name}.jsonl", "w") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{source.name}: {len(rows)} rows ({source.role}, {source.domain})")


if __name__ == "__main__":
    main()
