"""Math answer grading: boxed-only extraction from the answer part, exact arithmetic first, then math-verify, in worker
processes whose wall-clock limits are enforced from outside (a stuck worker is killed and replaced).

`grade` and `grade_many` are the single code path for curation verdicts and training rewards. Every verdict names the
rule that decided it (`Grade.rule`); the rules and the policy behind them are in the README's "Math grading" section.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..errors import AcecurateError
from ..text import box_spans, boxed_contents, unbox
from ._math_worker import ANSWER_PHRASE, answer_key
from .responses import answer_part

STATUSES = ("correct", "wrong", "ambiguous", "no_answer", "unparseable_gold", "timeout", "error")
MAX_ANSWER_CHARS = 20000
DEFAULT_TIMEOUT = 5.0
STARTUP_ALLOWANCE = 30.0  # seconds a new worker may take to start Python and import math-verify
MAX_RESTARTS = 1000  # a grading run that kills more workers than this has a systemic fault, not hard items


@dataclass(frozen=True)
class Grade:
    correct: bool
    status: str
    extracted: str | None
    detail: str = ""
    rule: str = ""  # the rule that decided the verdict, e.g. exact_integer, math_verify, ambiguous_boxes
    require_think_close: bool = True  # the setting the verdict was given under


# Math that continues a box makes the box part of a larger expression: `\\boxed{12}\\sqrt{3}`, `4\\boxed{3}`, `2^\\boxed{3}`.
_CONTINUES_AFTER = re.compile(r"\s*(?:[\w^_({\[*/]|\\(?!(?:text|mbox|quad|qquad|end|right|hspace|pmod)(?![A-Za-z]))[A-Za-z])")
_CONTINUES_BEFORE = re.compile(r"(?:[\w}]|[\^_{(*/]\s*)$")


def _inner_answers(box: str) -> list[str]:
    """A box that holds boxes (a whole solution in a box): the inner boxes are its answers when each stands alone.
    The whole, with the inner frames taken off, is the answer when an inner box is part of a larger expression
    (`\\boxed{\\boxed{12}\\sqrt{3}}` is 12\\sqrt{3}, never 12) or when the text names its answer after the last one."""
    spans = box_spans(box)
    if ANSWER_PHRASE.search(box, spans[-1][1]):
        return [unbox(box)]  # "... the final answer is X" after the last inner box: the boxes were steps
    if all(not _CONTINUES_AFTER.match(box, end) and not _CONTINUES_BEFORE.search(box[:start]) for start, end, _ in spans):
        return [content for _, _, content in spans]
    return [unbox(box)]


def extract_answers(response: str, require_think_close: bool = True) -> list[str]:
    """The distinct non-empty boxed answers of the answer part, in order (a repeated answer counts once). Never
    unanchored: text outside boxes is not read."""
    part = answer_part(response, require_think_close)
    found: list[str] = []
    pending = boxed_contents(part) if part is not None else []
    while pending:
        box = pending.pop(0).strip()
        if "box" in box and box_spans(box):
            pending[:0] = _inner_answers(box)
        elif box:
            found.append(box)
    if len(found) < 2:
        return found
    distinct: dict[str, str] = {}
    for box in found:
        distinct.setdefault(answer_key(box), box)
    return list(distinct.values())


def extract_answer(response: str, require_think_close: bool = True) -> str | None:
    """The final answer as one string (several distinct boxes joined by ", "); None when there is none."""
    answers = extract_answers(response, require_think_close)
    return ", ".join(answers) if answers else None


def _no_answer_rule(response: str, require_think_close: bool) -> tuple[str, str]:
    part = answer_part(response, require_think_close)
    if part is None:
        if "<think>" in response:
            return "no_think_close", "the reasoning never closed (<think> without a later </think>): no final answer"
        return "no_think_close", "no </think> and require_think_close is on: the response never left its reasoning"
    if boxed_contents(part):
        return "empty_box", "every \\boxed{} in the answer part is empty"
    return "no_box", "no \\boxed{} in the answer part"


class _Worker:
    """A grading process started with `python -m acecurate.verify._math_worker`: independent of the caller's main
    module (no `if __name__ == "__main__"` needed) and of the calling thread."""

    def __init__(self):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "acecurate.verify._math_worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.sender, self.conn = Connection(to_child_w, readable=False), Connection(from_child_r, writable=False)
        self.pending: deque = deque()  # indices sent and not yet answered, in order
        self.deadline = 0.0

    def send(self, batch, timeout: float):
        self.pending.extend(index for index, _, _ in batch)
        # The first batch also waits for the interpreter start and the math-verify import.
        self.deadline = time.monotonic() + timeout + (STARTUP_ALLOWANCE if not self.started else 0)
        self.started = True
        self.sender.send(batch)

    started = False

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.sender.close()
        self.conn.close()


class MathGrader:
    """A pool of grading workers. Safe to share between threads: calls are serialised by a lock."""

    def __init__(self, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, batch_size: int = 16):
        self.workers, self.timeout, self.batch_size = max(1, workers), timeout, batch_size
        self._restarts = 0
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()

    def close(self):
        with self._lock:
            for worker in self._pool:
                worker.kill()
            self._pool = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def grade_many(self, pairs, progress=None, require_think_close: bool = True) -> list[Grade]:
        """Grade (response, gold) pairs in input order. `progress(n)` is called as items finish."""
        pairs = list(pairs)
        results: list[Grade | None] = [None] * len(pairs)
        extracted: list[str | None] = [None] * len(pairs)
        todo = []
        for i, (response, gold) in enumerate(pairs):
            response, gold = response or "", (gold or "").strip()
            answers = extract_answers(response, require_think_close)
            extracted[i] = ", ".join(answers)[:MAX_ANSWER_CHARS] if answers else None
            too_long = [
                a for a in answers if len(a) > MAX_ANSWER_CHARS and not a.lstrip("+-").isdigit()
            ]  # long integers are compared as text
            if not gold:
                results[i] = Grade(False, "unparseable_gold", extracted[i], "empty gold answer", "empty_gold", require_think_close)
            elif not answers:
                rule, detail = _no_answer_rule(response, require_think_close)
                results[i] = Grade(False, "no_answer", None, detail, rule, require_think_close)
            elif too_long:
                detail = f"answer longer than {MAX_ANSWER_CHARS} characters"
                results[i] = Grade(False, "wrong", too_long[0][:200], detail, "answer_too_long", require_think_close)
            else:
                todo.append((i, gold, tuple(answers)))
        if progress and len(pairs) - len(todo):
            progress(len(pairs) - len(todo))
        todo.sort(key=lambda item: item[1])  # equal golds together, so each worker's gold cache hits
        with self._lock:
            self._run(todo, results, extracted, progress, require_think_close)
        return results  # type: ignore[return-value]

    def check_golds(self, golds: list[str], progress=None) -> list[Grade]:
        """Parse each gold answer in a worker (with the same limits); status `correct` means it is usable."""
        todo = [(i, gold, None) for i, gold in enumerate(golds)]
        results: list[Grade | None] = [None] * len(golds)
        with self._lock:
            self._run(todo, results, list(golds), progress, True)
        return results  # type: ignore[return-value]

    def _run(self, todo, results, extracted, progress, require_think_close: bool):
        queue = deque(todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size))
        by_index = {i: (gold, answer) for i, gold, answer in todo}
        while len(self._pool) < self.workers:
            self._pool.append(_Worker())
        idle = list(self._pool)
        busy: list[_Worker] = []
        while queue or busy:
            while queue and idle:
                worker = idle.pop()
                worker.send(queue.popleft(), self.timeout)
                busy.append(worker)
            now = time.monotonic()
            ready = wait([w.conn for w in busy], timeout=max(0.0, min(w.deadline for w in busy) - now))
            for worker in list(busy):
                if worker.conn in ready:
                    try:
                        index, status, rule, detail = worker.conn.recv()
                    except (EOFError, OSError):
                        verdict = ("error", "worker_died", "worker died")
                        self._replace(worker, busy, queue, results, extracted, by_index, verdict, progress, require_think_close)
                        continue
                    worker.pending.popleft()
                    results[index] = Grade(status == "correct", status, extracted[index], detail, rule, require_think_close)
                    if progress:
                        progress(1)
                    worker.deadline = time.monotonic() + self.timeout
                    if not worker.pending:
                        busy.remove(worker)
                        idle.append(worker)
                elif time.monotonic() >= worker.deadline:
                    verdict = ("timeout", "timeout", f"no verdict within {self.timeout:g} s; worker killed")
                    self._replace(worker, busy, queue, results, extracted, by_index, verdict, progress, require_think_close)

    def _replace(self, worker, busy, queue, results, extracted, by_index, verdict, progress, require_think_close):
        """The item at the head of a stuck or dead worker gets `verdict` (status, rule, detail); the rest of its batch
        is queued again."""
        status, rule, detail = verdict
        stuck = worker.pending.popleft()
        results[stuck] = Grade(False, status, extracted[stuck], detail, rule, require_think_close)
        if progress:
            progress(1)
        rest = [(i, *by_index[i]) for i in worker.pending]
        if rest:
            queue.appendleft(rest)
        worker.kill()
        busy.remove(worker)
        self._pool.remove(worker)
        self._restarts += 1
        if self._restarts > MAX_RESTARTS:
            raise AcecurateError(f"math grading killed {self._restarts} workers; the last: {detail}")
        fresh = _Worker()
        self._pool.append(fresh)
        if queue:
            fresh.send(queue.popleft(), self.timeout)
            busy.append(fresh)


_shared: dict[float, MathGrader] = {}
_shared_lock = threading.Lock()


def shared_grader(timeout: float = DEFAULT_TIMEOUT) -> MathGrader:
    """One single-worker grader per timeout, kept for the life of the process (one-off `grade` calls reuse it)."""
    with _shared_lock:
        if timeout not in _shared:
            _shared[timeout] = MathGrader(workers=1, timeout=timeout)
        return _shared[timeout]


def grade(response: str, gold: str, timeout: float = DEFAULT_TIMEOUT, require_think_close: bool = True) -> Grade:
    """Grade one response against one gold answer, in a worker process with a hard wall-clock limit."""
    return shared_grader(timeout).grade_many([(response, gold)], require_think_close=require_think_close)[0]


def grade_many(pairs, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, progress=None, require_think_close: bool = True) -> list[Grade]:
    """Grade many (response, gold) pairs with `workers` processes, keeping input order."""
    with MathGrader(workers=workers, timeout=timeout) as grader:
        return grader.grade_many(pairs, progress=progress, require_think_close=require_think_close)


def vote_key(answer: str) -> str:
    """The key under which majority voting counts an extracted answer: spacing, `\\text{}`, `\\dfrac` and a final
    period do not make two answers different votes (digits apart stay apart: `4 4/9` is not `44/9`)."""
    return answer_key(answer)
