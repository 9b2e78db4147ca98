"""Progress for long work: rich bars on a terminal, plain progress lines every few seconds elsewhere (CI, Slurm logs,
`| tee`), nothing when no one listens. Library code only calls `task(description, total)` and `advance(n)`."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Task:
    def __init__(self, advance):
        self._advance = advance

    def advance(self, n: int = 1) -> None:
        self._advance(n)


class NullProgress:
    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        yield Task(lambda n: None)


class RichProgress:
    """Bars on a terminal (rich.progress.Progress, started by the caller as a context manager)."""

    def __init__(self, progress):
        self.progress = progress

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        task_id = self.progress.add_task(description, total=total)
        try:
            yield Task(lambda n: self.progress.advance(task_id, n))
        finally:
            self.progress.remove_task(task_id)


class LineProgress:
    """One plain line per task every `interval` seconds, and one when it ends: readable in a log file."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0):
        self.stream, self.interval = stream, interval

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        started = last = time.monotonic()
        done = 0

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= self.interval:
                last = now
                self._write(_line(description, done, total, now - started))

        yield Task(advance)
        if time.monotonic() - started >= self.interval or done != total:
            self._write(_line(description, done, total, time.monotonic() - started) + " done")


def _line(description: str, done: int, total: int, elapsed: float) -> str:
    share = f" ({100 * done / total:.0f}%)" if total else ""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f", about {(total - done) / rate:.0f} s left" if rate > 0 and total > done else ""
    return f"[progress] {description}: {done}/{total}{share} in {elapsed:.0f} s{eta}"
