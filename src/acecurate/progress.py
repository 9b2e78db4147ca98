"""Progress for long work: rich bars on a terminal, plain progress lines every few seconds elsewhere (CI, Slurm logs,
`| tee`), nothing when no one listens. Library code only calls `task(description, total)`, `advance(n)` as work
finishes, and `cached(n)` for work a previous run already did: cached work leaves the total instead of counting as
done, so the time left is estimated from the work actually done in this run."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, TextIO


class Task:
    def __init__(self, advance, cached=None):
        self._advance, self._cached = advance, cached

    def advance(self, n: int = 1) -> None:
        self._advance(n)

    def cached(self, n: int) -> None:
        if n and self._cached is not None:
            self._cached(n)


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
        skipped = 0

        def cached(n: int) -> None:
            nonlocal skipped, total
            skipped, total = skipped + n, total - n
            self.progress.update(task_id, total=total, description=f"{description} ({skipped:,} cached)")

        try:
            yield Task(lambda n: self.progress.advance(task_id, n), cached)
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
        done = skipped = 0

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= self.interval:
                last = now
                self._write(_line(description, done, total, now - started, skipped))

        def cached(n: int) -> None:
            nonlocal skipped, total
            skipped, total = skipped + n, total - n

        yield Task(advance, cached)
        if time.monotonic() - started >= self.interval or done != total:
            self._write(_line(description, done, total, time.monotonic() - started, skipped) + " done")


def _line(description: str, done: int, total: int, elapsed: float, cached: int = 0) -> str:
    """One progress line; the rate, and so the time left, counts only this run's work (`cached` is not in `done`)."""
    share = f" ({100 * done / total:.0f}%)" if total else ""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = f", about {(total - done) / rate:.0f} s left" if rate > 0 and total > done else ""
    reused = f" ({cached:,} more cached)" if cached else ""
    return f"[progress] {description}: {done}/{total}{share}{reused} in {elapsed:.0f} s{eta}"
