"""The math grader beside plain math-verify, in one run: verdicts on labelled pairs, then throughput.

1. Verdicts on ../shared/data/verify/math_peer_pairs.json (405 pairs from peers' grader test suites and R1-style
   hand-built responses, each labelled): per source, accuracy, false positives (a wrong answer graded correct) and
   false negatives, for `grade_many` and for plain math-verify with default settings (`verify(parse(gold),
   parse(response))`). The hand-built pairs are R1-style responses and are graded with require_think_close on; the
   peers' suites test plain responses (no think tags), so theirs are graded with it off. A line gives the totals
   with it on for every pair. The GLM-V pairs use Python syntax that R1-style models do not write: reported, not a
   target.
2. Throughput of grade_many (2 workers, hard timeouts) against a serial loop over plain math_verify.verify, on 20,000
   pairs from a realistic mix: mostly integers, plus fractions, radicals, intervals and expressions, each after long
   reasoning text.

    python benchmarks/math_grading.py [--pairs 20000] [--peer-pairs PATH]
"""

import argparse
import json
import logging
import random
import time
from pathlib import Path

from acecurate.verify.math import grade_many

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REASONING = (
    "Let us think step by step. We first set up the equation from the statement, then simplify both sides, "
    "check the boundary cases and verify the result by substitution. "
) * 20
GOLDS = (
    [(str(n), str(n)) for n in range(1, 999, 7)]
    + [(str(n), f"{n}.0") for n in range(1, 50)]
    + [("\\frac{3}{4}", "0.75"), ("\\frac{1}{3}", "\\frac{2}{6}"), ("\\frac{5}{7}", "\\frac{5}{8}")]
    + [("2\\sqrt{3}", "\\sqrt{12}"), ("3\\sqrt{2}", "\\sqrt{18}"), ("\\sqrt{5}", "\\sqrt{6}")]
    + [("[0, 1)", "[0,1)"), ("(-\\infty, 2]", "(-\\infty,2]"), ("(1, 3)", "(1,4)")]
    + [("x^2 + 2x + 1", "(x+1)^2"), ("2\\pi", "2 \\pi"), ("\\frac{\\pi}{4}", "\\frac{\\pi}{3}")]
)


def make_pairs(n: int):
    rng = random.Random(0)
    integers = [g for g in GOLDS if g[0].isdigit() and g[1].isdigit()]
    mixed = [g for g in GOLDS if g not in integers]
    pairs = []
    for _ in range(n):
        gold, pred = rng.choice(integers) if rng.random() < 0.7 else rng.choice(mixed)
        if rng.random() < 0.3 and gold.isdigit():
            pred = str(int(gold) + 1)
        pairs.append((REASONING + f"</think> The answer is \\boxed{{{pred}}}.", gold))
    return pairs


def plain_math_verify(gold: str, response: str) -> bool:
    """math-verify as a peer uses it: default extraction and comparison settings on both sides."""
    from math_verify import parse, verify

    try:
        return bool(verify(parse(gold), parse(response)))
    except Exception:  # math-verify raises on some inputs; a peer would score those 0
        return False


def r1_style(source: str) -> bool:
    return source.startswith("adversarial")


def peer_table(path: Path) -> None:
    pairs = json.load(open(path))
    verdicts: dict[int, bool] = {}
    for on in (True, False):
        indices = [i for i, p in enumerate(pairs) if r1_style(p["source"]) == on]
        for i, g in zip(indices, grade_many([(pairs[i]["response"], pairs[i]["gold"]) for i in indices], require_think_close=on)):
            verdicts[i] = g.correct
    everywhere_on = [g.correct for g in grade_many([(p["response"], p["gold"]) for p in pairs], require_think_close=True)]
    plain = [plain_math_verify(p["gold"], p["response"]) for p in pairs]

    def counts(rows):
        return (
            sum(v == bool(p["expected"]) for p, v in rows),
            sum(v and not p["expected"] for p, v in rows),
            sum(p["expected"] and not v for p, v in rows),
        )

    sources = list(dict.fromkeys(p["source"] for p in pairs))
    print(f"{'source':<62} {'pairs':>5} | {'ours: acc  FP  FN':>18} | {'math-verify: acc  FP  FN':>25}")
    worse = []
    for source in sources:
        rows = [i for i, p in enumerate(pairs) if p["source"] == source]
        ours = counts([(pairs[i], verdicts[i]) for i in rows])
        theirs = counts([(pairs[i], plain[i]) for i in rows])
        if ours[1] > theirs[1]:
            worse.append(source)
        setting = "on" if r1_style(source) else "off"
        label = f"{source[:52]} [{setting}]" + (" *" if "GLM-V" in source else "")
        print(f"{label:<62} {len(rows):>5} | {ours[0]:>8} {ours[1]:>3} {ours[2]:>3} | {theirs[0]:>15} {theirs[1]:>3} {theirs[2]:>3}")
    for name, keep in (("all", lambda p: True), ("all but GLM-V", lambda p: "GLM-V" not in p["source"])):
        rows = [i for i, p in enumerate(pairs) if keep(p)]
        ours = counts([(pairs[i], verdicts[i]) for i in rows])
        theirs = counts([(pairs[i], plain[i]) for i in rows])
        print(
            f"{'total, ' + name:<62} {len(rows):>5} | {ours[0]:>8} {ours[1]:>3} {ours[2]:>3} | {theirs[0]:>15} {theirs[1]:>3} {theirs[2]:>3}"
        )
    on = counts(list(zip(pairs, everywhere_on)))
    print(f"{'total, require_think_close on for every pair':<62} {len(pairs):>5} | {on[0]:>8} {on[1]:>3} {on[2]:>3} |")
    print("[on]/[off]: require_think_close; *: Python/unicode syntax, informative only")
    print("sources where ours has more false positives than math-verify: " + (", ".join(worse) if worse else "none"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--peer-pairs", type=Path, default=DATA / "verify" / "math_peer_pairs.json")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if args.peer_pairs.exists():
        peer_table(args.peer_pairs)
    else:
        print(f"{args.peer_pairs} is absent: verdict table skipped")
    print()

    pairs = make_pairs(args.pairs)
    t = time.perf_counter()
    ours = grade_many(pairs, workers=2)
    ours_s = time.perf_counter() - t
    print(f"grade_many, 2 workers:       {len(pairs) / ours_s:>8,.0f} pairs/s ({ours_s:.1f} s, {sum(g.correct for g in ours):,} correct)")

    from math_verify import parse, verify

    t = time.perf_counter()
    plain = [verify(parse("\\boxed{" + gold + "}"), parse(response)) for response, gold in pairs]
    plain_s = time.perf_counter() - t
    print(f"plain math_verify, serial:   {len(pairs) / plain_s:>8,.0f} pairs/s ({plain_s:.1f} s, {sum(plain):,} correct)")
    agree = sum(int(a.correct) == int(b) for a, b in zip(ours, plain))
    print(f"speed-up {plain_s / ours_s:.1f}x; verdicts agree on {agree:,} of {len(pairs):,}")


if __name__ == "__main__":
    main()
