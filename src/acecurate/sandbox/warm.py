"""A warm sandbox per worker thread: one bubblewrap instance whose runner (the sandbox's PID 1, under the same
seccomp filter, cgroup, uid and read-only binds as a one-shot sandbox) takes solution after solution, and forks a
fresh child for each test of each, as it does within one solution (runner.py, "Warm mode").

Why a solution starts clean. Solution code only ever runs in a child forked for one test, never in the runner, so
whatever it changes in its process (sys.modules, builtins, os.environ, signal dispositions, itimers, threads,
rlimits, cwd, umask) dies with that child. After every test the runner kills and reaps every other process of the
sandbox and empties /tmp, /dev/shm, /dev/mqueue and the System V objects, as it always did; before each job it gives
the scratch roots back their first mode and drops their extended attributes. The runner's builtins are copied before
anything runs. The parent keeps every role it had: deadlines, the validation of every event, the comparison.

When a sandbox is recycled (closed, and the worker's next solution gets a fresh one):
- after RECYCLE_AFTER solutions (how it was chosen: see below);
- after any solution with a test that hit a limit (time, memory, output), or whose stream broke or timed out;
- when the runner says something is left (`clean` false), or the cgroup holds more processes than between jobs, or
  more unreclaimable memory (anonymous and tmpfs/IPC pages) or runner RSS than after its first job by HELD_GROWTH;
- when the solution's limits need another sandbox (memory, tasks or tmpfs size), or after a fork (a sandbox
  belongs to the process that started it).
A job the runner never acknowledged (its hello) is retried once on a fresh sandbox: nothing of the solution ran.

RECYCLE_AFTER: measured with benchmarks/code_execution.py --recycle (one warm sandbox, 2,000 LeetCode solutions):
the runner's RSS and the cgroup's held memory stay flat after the first jobs, and a fresh sandbox costs about 40 ms
of start-up, so 500 solutions per sandbox puts the start-up below 0.1 ms per solution while bounding what any slow
drift we did not see (allocator fragmentation from compiling hostile sources) could add up to.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import threading
import time
import weakref
from pathlib import Path

from .executor import (
    BETWEEN_TESTS_S,
    RESULT_GRACE_S,
    STDERR_BYTES,
    Limits,
    SolutionResult,
    _Channel,
    _converse,
    _Ended,
    _InfrastructureError,
    _Launch,
    _Malformed,
    _memory,
    _slots,
    _Stale,
    _start_sandbox,
    _Timeout,
    sandbox_uid,
)
from .judge_env import MOUNT_POINT

RECYCLE_AFTER = 500  # solutions per sandbox (module docstring)
HELD_GROWTH = 96 << 20  # bytes of memory a sandbox may hold beyond what it held after its first job
LIMIT_VERDICTS = frozenset({"time_limit", "memory_limit", "output_limit"})
STOP = b"S"


def frame(message: dict) -> bytes:
    body = marshal.dumps(message)
    return b"J" + len(body).to_bytes(8, "big") + body


def _close(launch: _Launch, slot: int, owner: int) -> None:
    if os.getpid() == owner:  # a forked copy of this process must not end its parent's sandbox
        launch.close()
        _slots.release(slot)


class WarmSandbox:
    """One started sandbox and its channel, for one thread of one process."""

    def __init__(self, python: str, limits: Limits, judge_env: Path | None, key: tuple):
        self.key, self.owner, self.solutions = key, os.getpid(), 0
        self.first_held: tuple[int, int] | None = None  # (runner RSS, cgroup held bytes) after the first job
        self.idle_tasks: int | None = None
        self.rss = 0  # the runner's RSS after the last job
        slot = _slots.acquire()
        try:
            self.launch = _start_sandbox(python, limits, judge_env, sandbox_uid(slot) if os.geteuid() == 0 else None)
        except BaseException:
            _slots.release(slot)
            raise
        self._finalizer = weakref.finalize(self, _close, self.launch, slot, self.owner)
        setup = {"isolated": True, "judge_env": MOUNT_POINT if judge_env else None}
        self.channel = _Channel(self.launch.process, frame(setup), keep_open=True)

    def close(self) -> None:
        self._finalizer()

    def run(self, job: dict, expected: list, limits: Limits, options: dict, environment: str) -> tuple[SolutionResult, bool]:
        """The solution's result, and whether this sandbox may take the next one. Raises _Stale."""
        self.channel.send(frame(job))
        result, state = _converse(self.channel, job, expected, limits, options, environment)
        self.solutions += 1
        if state == "broken":
            return result, False
        if state == "early":
            self.channel.send(STOP)
        done = self._done(limits)
        reusable = (
            done is not None
            and done["clean"]
            and self.solutions < RECYCLE_AFTER
            and not any(test.verdict in LIMIT_VERDICTS for test in result.tests)
            and self._holds_nothing(done["rss_kb"] << 10)
        )
        return result, reusable

    def _done(self, limits: Limits) -> dict | None:
        """The job's `done` event, after the results of tests that ran past a stop (read and dropped); None if the
        stream breaks or the runner takes too long."""
        deadline = time.monotonic() + BETWEEN_TESTS_S + RESULT_GRACE_S
        try:
            while True:
                event = self.channel.event(deadline)
                if event["event"] == "done":
                    return event
                size = event["stdout"] + event["stderr"] + event["result"] if event["event"] == "result" else -1
                if not 0 <= size <= 2 * limits.output_bytes + STDERR_BYTES:
                    return None
                self.channel.payload(size, deadline)
        except (_Timeout, _Ended, _Malformed):
            return None

    def _holds_nothing(self, rss: int) -> bool:
        """Whether the sandbox holds no more than after its first job: processes, memory."""
        self.rss = rss
        cgroup = self.launch.cgroup
        try:
            held = cgroup.held_bytes() if cgroup is not None else 0
            tasks = cgroup.tasks_now() if cgroup is not None else 0
        except (OSError, ValueError):
            return False
        if self.first_held is None:
            self.first_held, self.idle_tasks = (rss, held), tasks
            return True
        return tasks <= self.idle_tasks and rss - self.first_held[0] <= HELD_GROWTH and held - self.first_held[1] <= HELD_GROWTH


_local = threading.local()


def run_warm(
    python: str, limits: Limits, judge_env: Path | None, job: dict, expected: list, options: dict, environment: str
) -> SolutionResult:
    """One solution on this thread's warm sandbox (started, or replaced, as needed)."""
    key = (python, str(judge_env), limits.memory_mb, limits.processes, limits.tmpfs_mb)
    stale: Exception | None = None
    with _memory.reserve(limits.memory_mb << 20):
        for _ in range(2):
            sandbox = getattr(_local, "sandbox", None)
            if sandbox is not None and (sandbox.key != key or sandbox.owner != os.getpid()):
                sandbox.close()  # (does nothing in a forked copy of the process that started it)
                sandbox = _local.sandbox = None
            if sandbox is None:
                try:
                    sandbox = _local.sandbox = WarmSandbox(python, limits, judge_env, key)
                except _InfrastructureError as exc:
                    return SolutionResult("sandbox_error", detail=str(exc), environment=environment)
            try:
                result, reusable = sandbox.run(job, expected, limits, options, environment)
            except _Stale as exc:
                stale = exc
                reusable, result = False, None
            if not reusable:
                sandbox.close()
                _local.sandbox = None
            if result is not None:
                return result
    return SolutionResult("sandbox_error", detail=str(stale), environment=environment)


def close_warm() -> None:
    """End this thread's warm sandbox, if it has one."""
    sandbox = getattr(_local, "sandbox", None)
    _local.sandbox = None
    if sandbox is not None:
        with contextlib.suppress(Exception):
            sandbox.close()
