"""Throughput of grade_many (2 workers, hard timeouts) against a serial loop over plain math_verify.verify, on 20,000
pairs from a realistic mix: mostly integers, plus fractions, radicals, intervals and expressions, each after long
reasoning text.

    python benchmarks/math_grading.py [--pairs 20000]
"""

import argparse
import logging
import random
import time

from acecurate.verify.math import grade_many

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=20_000)
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)

    t = time.perf_counter()
    ours = grade_many(pairs, workers=2)
    ours_s = time.perf_counter() - t
    print(f"grade_many, 2 workers:       {len(pairs) / ours_s:>8,.0f} pairs/s ({ours_s:.1f} s, {sum(g.correct for g in ours):,} correct)")

    from math_verify import parse, verify

    logging.disable(logging.WARNING)
    t = time.perf_counter()
    plain = [verify(parse("\\boxed{" + gold + "}"), parse(response)) for response, gold in pairs]
    plain_s = time.perf_counter() - t
    print(f"plain math_verify, serial:   {len(pairs) / plain_s:>8,.0f} pairs/s ({plain_s:.1f} s, {sum(plain):,} correct)")
    agree = sum(int(a.correct) == int(b) for a, b in zip(ours, plain))
    print(f"speed-up {plain_s / ours_s:.1f}x; verdicts agree on {agree:,} of {len(pairs):,}")


if __name__ == "__main__":
    main()
