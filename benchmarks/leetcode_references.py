"""Grade every reference solution of rllm LeetCode against its own tests in the sandbox, then mutate each passing
reference (one constant or one operator) and check that the tests catch it.

    python benchmarks/leetcode_references.py [--limit N] [--workers 2]
"""

import argparse
import ast
import json
import time
from collections import Counter
from pathlib import Path

from acecurate.records import load_inputs
from acecurate.sandbox import Limits, grade_many
from acecurate.suites import untrusted_reason

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SWAPS = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Mult: ast.FloorDiv,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}


class _Mutator(ast.NodeTransformer):
    """Changes the k-th mutable site: an integer constant (n -> n+1) or a binary/compare operator."""

    def __init__(self, target: int):
        self.target, self.seen = target, 0

    def _hit(self) -> bool:
        self.seen += 1
        return self.seen - 1 == self.target

    def visit_Constant(self, node):
        if type(node.value) is int and self._hit():
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if type(node.op) in SWAPS and self._hit():
            node.op = SWAPS[type(node.op)]()
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) == 1 and type(node.ops[0]) in SWAPS and self._hit():
            node.ops = [SWAPS[type(node.ops[0])]()]
        return node


def mutate(code: str, seed: int) -> str | None:
    tree = ast.parse(code)
    counter = _Mutator(-1)
    counter.visit(ast.parse(code))
    if counter.seen == 0:
        return None
    return ast.unparse(_Mutator(seed % counter.seen).visit(tree))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    frame = load_inputs([str(DATA / "raw/rllm_leetcode.json")]).frame
    rows = frame.head(args.limit) if args.limit else frame
    jobs = [(sols[0], tests) for sols, tests in zip(rows["solutions"], rows["tests"])]
    not_data = [i for i, (_, t) in enumerate(jobs) if untrusted_reason(json.loads(t)["check"])]
    print(
        f"{len(jobs)} problems; {len(jobs) - len(not_data)} assert suites run as data, {len(not_data)} are not data "
        "(validate-tests removes those as untrusted_suite; here they run in place)"
    )
    limits = Limits(time_s=6.0, cpu_s=6)
    started = time.perf_counter()
    results = grade_many(jobs, workers=args.workers, limits=limits, allow_inline_asserts=True)
    seconds = time.perf_counter() - started
    tests_run = sum(len(r.tests) for r in results)
    verdicts = Counter(r.verdict for r in results)
    print(
        f"references: {verdicts['passed']} of {len(results)} pass ({100 * verdicts['passed'] / len(results):.1f}%); "
        f"by verdict: {dict(verdicts)}; {tests_run} tests in {seconds:.1f} s; environment {results[0].environment}"
    )
    for row, r in enumerate(results):
        if not r.passed:
            failing = next((t for t in r.tests if t.verdict != "passed"), None)
            why = r.detail[:100]
            if failing is not None:
                why = f"test {failing.index}: " + (
                    f"expected {failing.difference['expected']}, got {failing.difference['got']}"
                    if failing.difference
                    else (failing.stderr.strip().splitlines() or [""])[-1][:100]
                )
            print(f"  row {row + 1} ({rows['id'].iat[row]}): {r.verdict}: {why}")

    mutants = []
    for i, ((code, tests), r) in enumerate(zip(jobs, results)):
        if r.passed:
            mutated = mutate(code, seed=i)
            if mutated is not None and mutated.strip() != code.strip():
                mutants.append((mutated, tests))
    killed_results = grade_many(mutants, workers=args.workers, limits=limits, early_stop=True)
    killed = sum(not r.passed for r in killed_results)
    print(
        f"mutants: {killed} of {len(mutants)} fail their tests ({100 * killed / max(len(mutants), 1):.1f}%); "
        f"by verdict: {dict(Counter(r.verdict for r in killed_results))}"
    )


if __name__ == "__main__":
    main()
