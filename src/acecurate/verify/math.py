"""Math answer grading: boxed-only extraction from the answer part, exact arithmetic first, then math-verify, in worker
processes whose wall-clock limits are enforced from outside (a stuck worker is killed and replaced).

`grade` and `grade_many` are the single code path for curation verdicts and training rewards. Every verdict names the
rule that decided it (`Grade.rule`); the rules and the policy behind them are in the README's "Math grading" section.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from ..errors import AcecurateError
from ._math_worker import READY, answer_key, boxed_answers
from .responses import answer_part

STATUSES = ("correct", "wrong", "ambiguous", "no_answer", "unparseable_gold", "timeout", "error")
DEFAULT_TIMEOUT = 5.0
STARTUP_ALLOWANCE = 30.0  # seconds a new worker may take to start Python and warm math-verify up (not an item's time)
MAX_START_FAILURES = 3  # fresh workers in a row that fail to start: the environment is broken, not the items


@dataclass(frozen=True)
class Grade:
    correct: bool
    status: str
    extracted: str | None
    detail: str = ""
    rule: str = ""  # the rule that decided the verdict, e.g. exact_integer, math_verify, ambiguous_boxes
    require_think_close: bool = True  # the setting the verdict was given under


def extract_answers(response: str, require_think_close: bool = True) -> list[str]:
    """The distinct non-empty boxed answers of the answer part, in order (a repeated answer counts once). Never
    unanchored: text outside boxes is not read. Linear in the length of the response."""
    part = answer_part(response, require_think_close)
    return boxed_answers(part) if part is not None else []


def extract_answer(response: str, require_think_close: bool = True) -> str | None:
    """The final answer as one string (several distinct boxes joined by ", "); None when there is none."""
    answers = extract_answers(response, require_think_close)
    return ", ".join(answers) if answers else None


def _no_think_close(response: str) -> str:
    if "<think>" in response:
        return "the reasoning never closed (<think> without a later </think>): no final answer"
    return "no </think> and require_think_close is on: the response never left its reasoning"


class _Worker:
    """A grading process started with `python -m acecurate.verify._math_worker`: independent of the caller's main
    module (no `if __name__ == "__main__"` needed) and of the calling thread. It says READY once it has imported and
    warmed math-verify; until then it is `starting` and no item is sent to it, so start-up is never an item's time."""

    def __init__(self):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "acecurate.verify._math_worker", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")},
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.sender, self.conn = Connection(to_child_w, readable=False), Connection(from_child_r, writable=False)
        self.pending: deque = deque()  # indices sent and not yet answered, in order
        self.starting = True
        self.deadline = time.monotonic() + STARTUP_ALLOWANCE

    def send(self, batch, timeout: float) -> None:
        self.sender.send(batch)  # a READY worker is waiting in recv: this returns as it reads
        self.pending.extend(index for index, _, _ in batch)
        self.deadline = time.monotonic() + timeout

    def kill(self):
        self.process.kill()
        self.process.wait()
        self.sender.close()
        self.conn.close()


class MathGrader:
    """A pool of grading workers. Safe to share between threads: calls are serialised by a lock.

    A response costs the caller one pass of `answer_part` (two `rfind`s); everything else, extraction included,
    runs in a worker under the item's wall-clock limit. A timeout is that item's verdict: its worker is killed and
    replaced, however often, and its start-up does not count against any item. Only workers that keep failing to
    start (MAX_START_FAILURES in a row) raise: that is a broken environment, not a hard item."""

    def __init__(self, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, batch_size: int = 16):
        self.workers, self.timeout, self.batch_size = max(1, workers), timeout, batch_size
        self._start_failures = 0  # in a row
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
        todo = []
        for i, (response, gold) in enumerate(pairs):
            response, gold = response or "", (gold or "").strip()
            part = answer_part(response, require_think_close)
            if part is None and gold:
                results[i] = Grade(False, "no_answer", None, _no_think_close(response), "no_think_close", require_think_close)
            else:
                todo.append((i, gold, part or ""))
        if progress and len(pairs) - len(todo):
            progress(len(pairs) - len(todo))
        todo.sort(key=lambda item: item[1])  # equal golds together, so each worker's gold cache hits
        with self._lock:
            self._run(todo, results, progress, require_think_close)
        return results  # type: ignore[return-value]

    def check_golds(self, golds: list[str], progress=None) -> list[Grade]:
        """Parse each gold answer in a worker (with the same limits); status `correct` means it is usable."""
        todo = [(i, gold, None) for i, gold in enumerate(golds)]
        results: list[Grade | None] = [None] * len(golds)
        with self._lock:
            self._run(todo, results, progress, True)
        return results  # type: ignore[return-value]

    def _run(self, todo, results, progress, require_think_close: bool):
        queue = deque(todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size))
        items = {item[0]: item for item in todo}

        def record(index, status, rule, detail, extracted):
            results[index] = Grade(status == "correct", status, extracted, detail, rule, require_think_close)
            if progress:
                progress(1)

        while len(self._pool) < self.workers:
            self._pool.append(_Worker())
        while queue or any(w.pending for w in self._pool):
            for worker in list(self._pool):
                if queue and not worker.starting and not worker.pending:
                    batch = queue.popleft()
                    try:
                        worker.send(batch, self.timeout)
                    except OSError:  # it died while idle: no item's fault, the batch goes to another worker
                        queue.appendleft(batch)
                        self._replace(worker, started=True)
            active = [w for w in self._pool if w.starting or w.pending]
            wait([w.conn for w in active], timeout=max(0.0, min(w.deadline for w in active) - time.monotonic()))
            for worker in active:
                if worker.conn.poll():  # polled again here: an answer that came just at the deadline still counts
                    try:
                        message = worker.conn.recv()
                    except Exception:  # EOF or a cut-off message: the worker died
                        message = None
                    if message == READY and worker.starting:
                        worker.starting, self._start_failures = False, 0
                    elif worker.pending and type(message) is tuple and len(message) == 5 and message[0] == worker.pending[0]:
                        worker.pending.popleft()
                        record(*message)
                        worker.deadline = time.monotonic() + self.timeout
                    else:
                        self._lost(worker, queue, items, record, ("error", "worker_died", "worker died"))
                elif time.monotonic() >= worker.deadline:
                    verdict = ("timeout", "timeout", f"no verdict within {self.timeout:g} s; worker killed")
                    self._lost(worker, queue, items, record, verdict)

    def _lost(self, worker, queue, items, record, verdict):
        """A worker that died or overran. While starting, nothing was sent to it: a start failure. Otherwise the item
        at its head gets `verdict` (status, rule, detail) and the rest of its batch is queued again."""
        if worker.starting:
            self._replace(worker, started=False)
            return
        stuck = worker.pending.popleft()
        record(stuck, *verdict, None)
        rest = [items[i] for i in worker.pending]
        if rest:
            queue.appendleft(rest)
        self._replace(worker, started=True)

    def _replace(self, worker, started: bool):
        exit_code = worker.process.poll()
        worker.kill()
        self._pool.remove(worker)
        if not started:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                how = f"exited with code {exit_code}" if exit_code is not None else f"not ready within {STARTUP_ALLOWANCE:g} s"
                raise AcecurateError(
                    f"math grading workers failed to start {self._start_failures} times in a row (the last {how}); "
                    "the worker's error is printed above. Is math-verify installed? pip install -e . installs it."
                )
        self._pool.append(_Worker())


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


MAX_VOTE_READ = 1000  # characters of an answer that majority voting reads (in the caller: capped before it runs)


def vote_key(answer: str) -> str:
    """The key under which majority voting counts an extracted answer: spacing, `\\text{}`, `\\dfrac` and a final
    period do not make two answers different votes (digits apart stay apart: `4 4/9` is not `44/9`). An answer longer
    than MAX_VOTE_READ votes as its text with its spacing collapsed: no real answer is that long, and reading a
    degenerate one costs the caller milliseconds per sample."""
    if len(answer) > MAX_VOTE_READ:
        return " ".join(answer.split())
    return answer_key(answer)
