"""Issue 16, items 1-4: no response can stall the caller or end a grading run. Whatever a response holds, the caller
does linear work on it (it only cuts the answer part); extraction and comparison run in a worker under the item's
limit; a timeout is a verdict, never a fault; a worker's start-up is never an item's time. Then attacks of our own on
the new worker protocol. Uses the real worker processes and math-verify."""

import gc
import itertools
import re
import threading
import time

import pytest

from acecurate.errors import AcecurateError
from acecurate.verify import math as math_grading
from acecurate.verify.math import MathGrader, extract_answer, extract_answers, vote_key
from acecurate.verify.responses import extract_code
from benchmarks.worst_case_grading import math_responses

LIMIT = 3.0
MARGIN = 6.0  # worker start (python, sympy, math-verify) and a kill on a loaded 2-core machine
SIZE = 32_000  # characters: a 30K-token response is about this long or longer


STUCK = "</think> \\boxed{" + "*".join(f"(x+{k})" for k in range(1, 400)) + "}"  # keeps sympy busy for minutes
# Against a bare "x" sympy answers a product at once (0.05-1.3 s), which races the limits below; against x+1 it works on.
STUCK_GOLD = "x+1"


@pytest.fixture(scope="module")
def grader():
    """One warm worker for the attacks below; each sets the limit it needs."""
    with MathGrader(workers=1, timeout=LIMIT) as shared:
        yield shared


def cpu_seconds(work) -> float:
    """The CPU time `work()` costs this process, without the garbage collector's pauses (a large test process has a
    large heap to scan): the cost of the algorithm, whatever else loads the machine."""
    gc.disable()
    try:
        started = time.process_time()
        work()
        return time.process_time() - started
    finally:
        gc.enable()


def test_1_the_callers_work_on_a_response_is_linear():
    # What the caller may still do to a response (extract answers for `verify`, vote keys of the extracted answer for
    # majority-check) takes well under a second at 32 KB for every family; before, these took 3 s to minutes.
    for name, response in math_responses(SIZE).items():
        assert cpu_seconds(lambda r=response: vote_key((extract_answer(r) or "")[:20_000])) < 1.0, name
        assert cpu_seconds(lambda r=response: extract_answers(r)) < 1.0, name


def test_1_a_batch_of_pathological_responses_grades_within_the_limit_and_the_caller_stays_free():
    # The trainer's other threads keep running while the batch grades (the caller holds the GIL for no regex pass),
    # and every response gets its verdict within the item limit: the slowest response costs the limit, not more.
    ticks, stop = [], threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    responses = math_responses(SIZE)
    del responses["sympy busy (a product of 400 factors)"]  # a timeout by design; its own tests are below
    pairs = [(response, "5") for response in responses.values()]
    with MathGrader(workers=2, timeout=LIMIT) as grader:
        grader.grade_many([("</think> \\boxed{5}", "5")])  # workers started and warm
        thread = threading.Thread(target=ticker)
        thread.start()
        started = time.monotonic()
        results = grader.grade_many(pairs)
        elapsed = time.monotonic() - started
        stop.set()
        thread.join()
    assert all(r.status in ("correct", "wrong", "ambiguous", "timeout") for r in results), results
    assert results[list(responses).index("boxes nested deep")].status == "correct"  # reads its innermost box
    assert elapsed < len(pairs) / 2 * (LIMIT + MARGIN), elapsed
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.5, max(gaps)


def test_2_timeouts_never_end_a_long_grading_run(monkeypatch):
    # Before, the grader raised after MAX_RESTARTS timeouts over its whole life, ending a training stage. Lowered here
    # so that the old grader raises within the test; now timeouts are verdicts and no count of them exists.
    monkeypatch.setattr(math_grading, "MAX_RESTARTS", 1, raising=False)
    with MathGrader(workers=1, timeout=0.5) as grader:
        for _ in range(2):
            assert grader.grade_many([(STUCK, "x^{399}")])[0].status == "timeout"
        assert grader.grade_many([("</think> \\boxed{4}", "4")])[0].correct


def test_2_workers_that_cannot_start_raise_a_clear_error(tmp_path, monkeypatch):
    # A broken environment (here a math_verify that fails to import) is a fault of ours, not a verdict: it must not be
    # scored 0 response after response. Before, each item got `error` and grading went on.
    (tmp_path / "math_verify.py").write_text("raise ImportError('math_verify is broken on this machine')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(AcecurateError, match="failed to start"), MathGrader(workers=1) as grader:
        grader.grade_many([("</think> \\boxed{4}", "4")] * 4)
    assert time.monotonic() - started < 60


def test_3_start_up_is_not_part_of_an_items_budget():
    # The same slow response is a timeout on a fresh worker and on a warm one. Before, the first item on a fresh
    # worker had the 30 s start-up allowance added to its limit, so it got a verdict there and a timeout elsewhere.
    slow = "</think> \\boxed{" + "*".join(f"(x+{k})" for k in range(1, 60)) + "}"  # seconds of sympy
    with MathGrader(workers=1, timeout=0.3) as grader:
        started = time.monotonic()
        fresh = grader.grade_many([(slow, "x^{59}")])[0]
        assert time.monotonic() - started < math_grading.STARTUP_ALLOWANCE
        warm = grader.grade_many([(slow, "x^{59}")])[0]
    assert (fresh.status, warm.status) == ("timeout", "timeout"), (fresh, warm)


def test_4_extract_code_is_linear_in_openers_without_a_newline():
    # 20,000 openers on one line: before, each one rescanned the rest of the line (seconds, in the caller).
    for response in ("</think>" + "```python" * 20_000, "</think>" + "```python\n" + "```python" * 20_000, "</think>" + "```\n" * 40_000):
        started = time.monotonic()
        extract_code(response)
        assert time.monotonic() - started < 0.5


def test_4_extract_code_finds_what_the_regular_expression_found():
    # The definition the one-pass scan replaces, on every string of these pieces up to 5 long.
    def by_regex(part):
        blocks = re.findall(r"```python[^\n]*\n(.*?)```", part, re.DOTALL) or re.findall(r"```\n(.*?)```", part, re.DOTALL)
        return blocks[-1] if blocks else None

    pieces = ["```", "python", "\n", "x", "`", "```python", "```\n"]
    for length in range(6):
        for combo in itertools.product(pieces, repeat=length):
            text = "".join(combo)
            assert extract_code(text, require_think_close=False) == by_regex(text), repr(text)


# --- Attacks of our own on the new code ---


def test_own_ten_thousand_distinct_boxes_are_ambiguous_within_the_limit(grader):
    response = "</think> " + " ".join(f"\\boxed{{{k}}}" for k in range(10_000))
    started = time.monotonic()
    result = grader.grade_many([(response, "7")])[0]
    assert result.status in ("ambiguous", "timeout") and not result.correct, result
    assert time.monotonic() - started < LIMIT + MARGIN + math_grading.STARTUP_ALLOWANCE


def test_own_a_truncated_box_and_a_megabyte_of_reasoning_cost_nothing(grader):
    # An unclosed box of 100 KB has no answer; a 1 MB response that never closed its reasoning is decided in the
    # caller without a worker, in one rfind.
    unclosed, unthought = grader.grade_many([("</think> \\boxed{" + "1" * 100_000, "1"), ("<think>" + "x" * 1_000_000, "1")])
    assert (unclosed.rule, unthought.rule) == ("no_box", "no_think_close")
    started = time.monotonic()
    assert extract_answers("</think> \\boxed{" + "{" * 100_000) == []
    assert time.monotonic() - started < 0.5


def test_own_a_batch_of_timeouts_keeps_its_order_and_the_grader_keeps_working():
    pairs = [(STUCK, STUCK_GOLD), ("</think> \\boxed{3}", "3"), (STUCK, STUCK_GOLD), ("</think> \\boxed{\\frac12}", "0.5")]
    with MathGrader(workers=2, timeout=0.5, batch_size=2) as two:
        results = two.grade_many(pairs)
        assert [r.status for r in results] == ["timeout", "correct", "timeout", "correct"], results
        assert two.grade_many([("</think> \\boxed{9}", "9")])[0].correct


def test_own_a_worker_killed_from_outside_costs_no_item_its_verdict(grader):
    # The OOM killer (or an operator) kills an idle worker between calls: the next batch is not charged for it.
    assert grader.grade_many([("</think> \\boxed{2}", "2")])[0].correct
    grader._pool[0].process.kill()
    grader._pool[0].process.wait()
    results = grader.grade_many([("</think> \\boxed{2}", "2"), ("</think> \\boxed{3}", "4")])
    assert [r.status for r in results] == ["correct", "wrong"], results


def test_own_a_worker_killed_during_an_item_fails_that_item_only(grader, monkeypatch):
    monkeypatch.setattr(grader, "timeout", 60)
    grader.grade_many([("</think> \\boxed{2}", "2")])
    threading.Timer(1.0, grader._pool[0].process.kill).start()
    results = grader.grade_many([(STUCK, STUCK_GOLD), ("</think> \\boxed{3}", "3")])
    assert (results[0].status, results[0].rule, results[1].status) == ("error", "worker_died", "correct"), results


def test_own_a_timed_out_item_does_not_take_its_batch_with_it(grader, monkeypatch):
    # The rest of a stuck item's batch is graded by the replacement worker, after its start-up, each under its own
    # limit: the items after a timeout are never timeouts of their own because the replacement was starting.
    monkeypatch.setattr(grader, "timeout", 0.5)
    pairs = [(STUCK, STUCK_GOLD)] + [(f"</think> \\boxed{{{k}}}", str(k)) for k in range(15)]
    results = grader.grade_many(pairs)
    assert results[0].status == "timeout" and all(r.correct for r in results[1:]), results


# --- Attacks after the merge with the grading policy (the worker protocol, big items, golds, truncation) ---


def test_attack_an_answer_that_is_the_handshake_word_is_only_an_answer(grader):
    # The worker says "ready" once; a response boxing that word must neither pass for a handshake nor upset the
    # protocol: it is graded, and the next item on the same worker is too.
    results = grader.grade_many([("</think> \\boxed{ready}", "5"), ("</think> \\boxed{5}", "5")])
    assert [r.status for r in results] == ["wrong", "correct"], results


def test_attack_lone_surrogates_and_nul_bytes_are_a_verdict(grader):
    # Text a tokenizer can decode to but no encoder takes: the pipe to the worker pickles it, and the worker reads it.
    results = grader.grade_many([("</think> \\boxed{\ud800\x00 5}", "5"), ("</think> \\boxed{\udfff}", "5"), ("</think> \\boxed{6}", "6")])
    assert results[0].status in ("wrong", "error") and results[1].status in ("wrong", "error"), results
    assert results[2].correct


def test_attack_an_eight_megabyte_response_costs_the_caller_one_pass(grader):
    # 8 MB of answer part before the box: the caller cuts it (two rfinds), the worker extracts within the limit.
    response = "</think> " + "so it goes " * 750_000 + "\\boxed{5}"
    started = time.process_time()
    result = grader.grade_many([(response, "5")])[0]
    assert result.status in ("correct", "timeout"), result
    assert time.process_time() - started < 1.0  # the caller's CPU: pickling 8 MB, no regex pass


def test_attack_a_pathological_gold_is_that_rows_verdict(grader):
    # Golds come from the dataset (the answer-check stage parses them in the worker too): a degenerate one is a verdict
    # within the limit, not a stall of the stage.
    golds = ["1" + "." * SIZE, "\\boxed{" * 4000 + "5" + "}" * 4000, "\\text{" + " " * SIZE + "x}", "7"]
    started = time.monotonic()
    results = grader.check_golds(golds)
    assert len(results) == 4 and results[3].status != "timeout", results
    assert time.monotonic() - started < len(golds) * (LIMIT + MARGIN)


def test_attack_a_truncated_pathological_response_never_reaches_a_worker():
    # Under the policy's rule "wrong", truncation is decided first, in the caller, at no cost; under "graded", the
    # same response is graded by a worker within its limit.
    from acecurate.verify.policy import TRUNCATED, GradingPolicy
    from acecurate.verify.responses import grade_responses

    response = math_responses(SIZE)["trailing periods, two boxes"]
    with MathGrader(workers=1, timeout=LIMIT) as grader:
        started = time.monotonic()
        (verdict,) = grade_responses(["math"], [response], ["1"], [None], grader, truncated=[True])
        assert verdict.status == TRUNCATED and time.monotonic() - started < 0.1
        assert not grader._pool  # no worker was ever started for it
        (graded,) = grade_responses(["math"], [response], ["1"], [None], grader, policy=GradingPolicy(truncated="graded"), truncated=[True])
    assert graded.status in ("correct", "wrong", "ambiguous", "timeout"), graded


def test_attack_a_whole_batch_of_stuck_items_in_one_call():
    # Every item of one call times out, each on a fresh replacement: all are verdicts, none raises, and each
    # replacement's start-up is charged to no item (the call costs items x (limit + start), not more).
    with MathGrader(workers=1, timeout=0.5, batch_size=16) as grader:
        started = time.monotonic()
        results = grader.grade_many([(STUCK, STUCK_GOLD)] * 4 + [("</think> \\boxed{1}", "1")])
        elapsed = time.monotonic() - started
    assert [r.status for r in results] == ["timeout"] * 4 + ["correct"], results
    assert elapsed < 5 * (0.5 + MARGIN + math_grading.STARTUP_ALLOWANCE)


def test_attack_the_exports_reward_holds_the_recorded_math_limit(monkeypatch):
    # The verl/OpenRLHF/TRL reward functions grade under the policy each row carries: a record's math_timeout_s
    # (0.3 s here) is the limit, not the grader's default 5 s, so the same slow response is a timeout there as in
    # `train` and `eval` under that policy.
    from acecurate import rewards
    from acecurate.verify.policy import GradingPolicy

    slow = "</think> \\boxed{" + "*".join(f"(x+{k})" for k in range(1, 60)) + "}"  # seconds of sympy
    monkeypatch.setenv("ACECURATE_REWARD_WORKERS", "1")
    monkeypatch.setattr(rewards, "_graders", {})
    try:
        (verdict,) = rewards.grade(["math"], [slow], ["x^{59}"], [GradingPolicy(math_timeout_s=0.3).to_json()])
    finally:
        for grader in rewards._graders.values():
            grader.close()
    assert verdict.status == "timeout", verdict
