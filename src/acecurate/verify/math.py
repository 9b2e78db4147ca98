"""Math answer grading: boxed-only extraction, guards, exact fast paths and math-verify, in worker processes whose
wall-clock limits are enforced from outside (a stuck worker is killed and replaced).

`grade` and `grade_many` are the single code path for curation verdicts and training rewards.
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
from ..records import last_boxed

STATUSES = ("correct", "wrong", "no_answer", "unparseable_gold", "timeout", "error")
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


def extract_answer(response: str) -> str | None:
    """The last \\boxed{} (or \\fbox{}) after the last </think>; None when there is none. Never unanchored."""
    if "</think>" in response:
        response = response.rsplit("</think>", 1)[1]
    answer = last_boxed(response)
    if answer is not None and len(answer) > MAX_ANSWER_CHARS and (inner := last_boxed(answer)) is not None:
        answer = inner  # a whole response inside one box: its own last box is the answer
    return answer.strip() if answer is not None and answer.strip() else None


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
        self.deadline = time.monotonic() + timeout + (STARTUP_ALLOWANCE if self.process.returncode is None and not self.started else 0)
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

    def grade_many(self, pairs, progress=None) -> list[Grade]:
        """Grade (response, gold) pairs in input order. `progress(n)` is called as items finish."""
        pairs = list(pairs)
        results: list[Grade | None] = [None] * len(pairs)
        extracted: list[str | None] = [None] * len(pairs)
        todo = []
        for i, (response, gold) in enumerate(pairs):
            answer = extract_answer(response or "")
            extracted[i] = answer
            gold = (gold or "").strip()
            if not gold:
                results[i] = Grade(False, "unparseable_gold", answer, "empty gold answer")
            elif answer is None:
                results[i] = Grade(False, "no_answer", None, "no \\boxed{} after </think>")
            elif len(answer) > MAX_ANSWER_CHARS and not answer.lstrip("+-").isdigit():  # long integers are compared as text
                results[i] = Grade(False, "wrong", answer[:200], f"answer longer than {MAX_ANSWER_CHARS} characters")
            else:
                todo.append((i, gold, answer))
        if progress and len(pairs) - len(todo):
            progress(len(pairs) - len(todo))
        todo.sort(key=lambda item: item[1])  # equal golds together, so each worker's parse cache hits
        with self._lock:
            self._run(todo, results, extracted, progress)
        return results  # type: ignore[return-value]

    def check_golds(self, golds: list[str], progress=None) -> list[Grade]:
        """Parse each gold answer in a worker (with the same limits); status `correct` means it is usable."""
        todo = [(i, gold, None) for i, gold in enumerate(golds)]
        results: list[Grade | None] = [None] * len(golds)
        with self._lock:
            self._run(todo, results, list(golds), progress)
        return results  # type: ignore[return-value]

    def _run(self, todo, results, extracted, progress):
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
                        index, status, detail = worker.conn.recv()
                    except (EOFError, OSError):
                        self._replace(worker, busy, queue, results, extracted, by_index, "error", "worker died", progress)
                        continue
                    worker.pending.popleft()
                    results[index] = Grade(status == "correct", status, extracted[index], detail)
                    if progress:
                        progress(1)
                    worker.deadline = time.monotonic() + self.timeout
                    if not worker.pending:
                        busy.remove(worker)
                        idle.append(worker)
                elif time.monotonic() >= worker.deadline:
                    self._replace(
                        worker,
                        busy,
                        queue,
                        results,
                        extracted,
                        by_index,
                        "timeout",
                        f"no verdict within {self.timeout:g} s; worker killed",
                        progress,
                    )
        for worker in idle:
            if worker not in self._pool:
                self._pool.append(worker)

    def _replace(self, worker, busy, queue, results, extracted, by_index, status, detail, progress):
        """The item at the head of a stuck or dead worker gets `status`; the rest of its batch is queued again."""
        stuck = worker.pending.popleft()
        results[stuck] = Grade(False, status, extracted[stuck], detail)
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


def grade(response: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> Grade:
    """Grade one response against one gold answer, in a worker process with a hard wall-clock limit."""
    return shared_grader(timeout).grade_many([(response, gold)])[0]


def grade_many(pairs, workers: int = 2, timeout: float = DEFAULT_TIMEOUT, progress=None) -> list[Grade]:
    """Grade many (response, gold) pairs with `workers` processes, keeping input order."""
    with MathGrader(workers=workers, timeout=timeout) as grader:
        return grader.grade_many(pairs, progress=progress)


def vote_key(answer: str) -> str:
    """The key under which majority voting counts an extracted answer: spacing, `\\text{}`, `\\dfrac` and a final
    period do not make two answers different votes."""
    from ._math_worker import normalize_answer

    return normalize_answer(answer)
