"""The execution cache: one SQLite file in the run directory holding every finished sandbox result with the record of
the grading policy it ran under (`verify.policy`: limits, inline asserts, and the versions of the code grader and the
judge environment), keyed by a hash of the code, the tests, that record and a caller's label (such as the attempt
number), so a stage killed half-way re-executes nothing that had finished, and a result is never reused under another
policy, other packages or other comparison rules."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path

from .executor import SolutionResult
from .placement import grade_many  # here or on a Ray cluster (ACECURATE_EXECUTOR)

SCHEMA = "CREATE TABLE IF NOT EXISTS executions (key TEXT PRIMARY KEY, result TEXT NOT NULL, policy TEXT)"


def execution_key(code: str, tests, label: str, policy_record: str) -> str:
    tests_text = tests if isinstance(tests, str) else json.dumps(tests, sort_keys=True)
    digest = hashlib.sha256()
    for part in (code, tests_text, policy_record, label):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


class ExecutionCache:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        if "policy" not in {row[1] for row in self._db.execute("PRAGMA table_info(executions)")}:
            self._db.execute("ALTER TABLE executions ADD COLUMN policy TEXT")  # a cache written before policies
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, SolutionResult]:
        found = {}
        with self._lock:
            for begin in range(0, len(keys), 500):
                chunk = keys[begin : begin + 500]
                rows = self._db.execute(f"SELECT key, result FROM executions WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                found.update((key, SolutionResult.from_dict(json.loads(text))) for key, text in rows)
        return found

    def put_many(self, items: list[tuple[str, SolutionResult]], policy_record: str) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO executions VALUES (?, ?, ?)", [(k, json.dumps(r.to_dict()), policy_record) for k, r in items]
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def grade_many_cached(
    jobs: list[tuple[str, object, str]],
    cache: ExecutionCache,
    *,
    workers: int,
    policy,
    progress=None,
    on_cached=None,
    chunk: int = 64,
    **options,
) -> list[SolutionResult]:
    """grade_many for (code, tests, label) jobs under `policy` (a verify.policy.GradingPolicy: its limits and inline
    asserts), reading finished results from `cache` and storing new ones, with the policy's record, every `chunk`
    jobs. A `sandbox_error` is never stored: it is an infrastructure fault, to be retried on the next run.
    `progress(n)` is called as jobs run, `on_cached(n)` once with the jobs found in the cache."""
    record = json.dumps({"policy": policy.to_dict(), "options": options}, sort_keys=True)
    keys = [execution_key(code, tests, label, record) for code, tests, label in jobs]
    results: dict[str, SolutionResult] = cache.get_many(list(dict.fromkeys(keys)))
    if results:
        found = sum(1 for key in keys if key in results)
        (on_cached or progress or (lambda n: None))(found)
    todo = [i for i, key in enumerate(keys) if key not in results]
    limits = policy.limits()
    for begin in range(0, len(todo), chunk):
        part = todo[begin : begin + chunk]
        fresh = grade_many(
            [(jobs[i][0], jobs[i][1]) for i in part],
            workers=workers,
            limits=limits,
            progress=progress,
            allow_inline_asserts=policy.allow_inline_asserts,
            **options,
        )
        cache.put_many([(keys[i], r) for i, r in zip(part, fresh) if r.verdict != "sandbox_error"], record)
        results.update((keys[i], r) for i, r in zip(part, fresh))
    return [results[key] for key in keys]
