"""How the labelled format sample was drawn from the corpus (benchmarks/audit/corpus.py), and a reading view of it.

    python benchmarks/audit/sample.py math|code --flags old.json new.json > to_read.txt

For each source: every row a version of the rules removed (the flags files, from any checkout), every row a broad
keyword search finds for a format that should go (options, "prove", enumerated parts, yes/no, figures, short or
non-English text, interactive and special-judge phrases), and a seeded random sample of the rest, so that both
precision and recall can be measured. Capped per source; the cap takes a seeded random subset of the candidates.
Rows are printed without any verdict, to be labelled by reading.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from acecurate.text import ASY_BLOCK as DRAWING
from acecurate.text import last_boxed
from benchmarks.audit.corpus import SOURCES, load_rows, text_hash

KEYWORDS = {
    "math": re.compile(
        r"\([A-Ea-e]\)|(?:^|\s)[A-E][.)]\s|choices?\b|which of the following|\bprove\b|\bshow that\b|\bdemonstrate\b"
        r"|\(\s*(?:[a-d]|i{1,3}|[1-4])\s*\)|\bpart\b|true or false|\bwhether\b|\byes or no\b|\bis it (?:true|possible)\b"
        r"|\bfigure\b|\bdiagram\b|\bshown\b|\bpicture\b|\bgraph\b|\btrue\b|\bfalse\b",
        re.IGNORECASE | re.MULTILINE,
    ),
    "code": re.compile(
        r"\binteractive\b|\bflush\b|\bany of them\b|\bany order\b|\bprint any\b|\breturn any\b|\boutput any\b|\bimage\b"
        r"|\bshown (?:below|above|in)\b|\bmultiple (?:answers|solutions)\b|\bseveral (?:answers|solutions)\b|\bspecial judge\b",
        re.IGNORECASE,
    ),
}
CAP = {"aqua": 40, "sat_math": 32, "mmlu_stem": 30, "cn_middle_school": 30, "harp_proof": 30}


def candidates(name: str, domain: str, rows: list[dict], flagged: set[int], cap: int, random_rows: int) -> list[dict]:
    rng = random.Random(f"sample:{name}")
    keyed = {
        r["index"] for r in rows if KEYWORDS[domain].search(r["problem"]) or len(r["problem"].split()) < 8 or not r["problem"].isascii()
    }
    pool = sorted(flagged | keyed)
    if len(pool) > cap:
        pool = sorted(rng.sample(pool, cap))
    rest = [r["index"] for r in rows if r["index"] not in set(pool)]
    pool += rng.sample(rest, min(random_rows, len(rest)))
    by_index = {r["index"]: r for r in rows}
    return [by_index[i] for i in sorted(set(pool))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("domain", choices=["math", "code"])
    parser.add_argument("--flags", nargs="*", type=Path, default=[])
    parser.add_argument("--cap", type=int, default=70)
    parser.add_argument("--random", type=int, default=20)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--chars", type=int, default=900)
    parser.add_argument("--skip", type=Path, help="labels already made (jsonl): leave their rows out")
    args = parser.parse_args()
    flags: dict[str, set[int]] = {}
    for path in args.flags:
        for name, found in json.loads(path.read_text()).items():
            if not name.endswith(":unordered"):
                flags.setdefault(name, set()).update(int(i) for i in found)
    done = set()
    if args.skip and args.skip.exists():
        done = {(r["source"], r["index"]) for r in map(json.loads, args.skip.read_text().splitlines())}
    for source in SOURCES:
        if source.domain != args.domain or (args.only and source.name not in args.only):
            continue
        rows = load_rows(source.name)
        cap = CAP.get(source.name, args.cap)
        for row in candidates(
            source.name, args.domain, rows, flags.get(source.name, set()), cap, 10 if source.name in CAP else args.random
        ):
            if (source.name, row["index"]) in done:
                continue
            gold = row.get("answer") or (last_boxed(row["solution"]) if row.get("solution") else None)
            answer = f"\nANSWER: {gold!s}" if args.domain == "math" else ""
            shown = DRAWING.sub("[drawing]", row["problem"].strip())
            print(f"@@@@ {source.name} {row['index']} {text_hash(row['problem'])}\n{shown[: args.chars]}{answer}\n")


if __name__ == "__main__":
    main()
