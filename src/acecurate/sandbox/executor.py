"""Run untrusted solutions in bubblewrap and grade them test by test.

One sandbox per solution; inside it the runner forks a fresh child per test. Expected outputs never enter the
sandbox: the parent reads each test's raw result as it finishes, compares it here, and (with early stop) kills the
sandbox at the first failure.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import AcecurateError
from .asserts import assert_cases
from .compare import as_json_data, compare_stdout, compare_values, loads, parse_expected_value

VERDICTS = ("passed", "wrong_answer", "runtime_error", "time_limit", "memory_limit", "output_limit", "compile_error", "sandbox_error")
SANDBOX_UID_BASE = 100_000  # when started as root, each concurrent sandbox runs as its own unprivileged uid
SLOTS_PER_PROCESS = 32


def sandbox_uid(slot: int) -> int:
    """A uid for this process's `slot`: distinct across slots, and (by pid) across acecurate processes running at
    once, so one process's fork bomb cannot use up another's process limit."""
    return SANDBOX_UID_BASE + (os.getpid() % 50_000) * SLOTS_PER_PROCESS + slot % SLOTS_PER_PROCESS


@dataclass
class Limits:
    time_s: float = 4.0  # wall clock per test
    cpu_s: int = 4  # CPU seconds per test
    memory_mb: int = 1024  # address space per test process
    output_bytes: int = 8 << 20
    processes: int = 16  # processes of the sandbox's uid at once (fork bombs stop here)
    file_bytes: int = 16 << 20


@dataclass
class TestVerdict:
    index: int
    verdict: str
    time_s: float = 0.0
    max_rss_kb: int = 0
    exit_code: int | None = None
    signal: int | None = None
    stderr: str = ""
    difference: dict | None = None  # {"line", "expected", "got"} of the first difference


@dataclass
class SolutionResult:
    verdict: str  # passed only if every test passed
    tests: list[TestVerdict] = field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def max_time_s(self) -> float:
        return max((t.time_s for t in self.tests), default=0.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SolutionResult:
        return cls(**{**data, "tests": [TestVerdict(**t) for t in data.get("tests", [])]})


def find_bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise AcecurateError(
            "bubblewrap (bwrap) is not installed; it isolates untrusted code. Install it with: "
            "sudo apt-get install -y bubblewrap (Debian/Ubuntu) or sudo dnf install bubblewrap"
        )
    return path


def sandbox_python() -> str:
    """An interpreter the unprivileged sandbox user can read: the system Python, else ours."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AcecurateError("no python3 found for the sandbox")


_RUNNER_SOURCE = None


def _runner_source() -> str:
    global _RUNNER_SOURCE
    if _RUNNER_SOURCE is None:
        _RUNNER_SOURCE = resources.files("acecurate.sandbox").joinpath("runner.py").read_text()
    return _RUNNER_SOURCE


def _bind_args(python: str) -> list[str]:
    args = []
    real = Path(os.path.realpath(python))
    binds = ["/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime"]
    prefix = str(real.parent.parent)
    if not prefix.startswith("/usr"):
        binds.append(prefix)  # an interpreter outside /usr brings its own prefix, read-only
    for path in binds:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def bwrap_command(python: str) -> list[str]:
    return [
        find_bwrap(),
        *_bind_args(python),
        "--unshare-all",  # no network, new PID/IPC/UTS/user/cgroup namespaces
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--chdir",
        "/tmp",
        "--hostname",
        "sandbox",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "PYTHONHASHSEED",
        "0",
        python,
        "-I",
        "-S",
        "-c",
        _runner_source(),
    ]


def _job(code: str, tests: dict, limits: Limits) -> tuple[dict, list]:
    """The job sent into the sandbox (inputs only) and the expected outputs kept here."""
    fmt = tests["format"]
    base = {
        "code": code,
        "limits": {
            "wall_s": limits.time_s,
            "cpu_s": int(limits.cpu_s),
            "memory_bytes": limits.memory_mb << 20,
            "output_bytes": limits.output_bytes,
            "processes": limits.processes,
            "file_bytes": limits.file_bytes,
        },
    }
    if fmt == "stdin":
        return {**base, "format": "stdin", "tests": [c["input"] for c in tests["cases"]]}, [c["output"] for c in tests["cases"]]
    if fmt == "functional":
        expected = [as_json_data(parse_expected_value(c["output"])) for c in tests["cases"]]
        calls = []
        for number, case in enumerate(tests["cases"]):
            try:  # one JSON value per argument, one argument per line
                calls.append({"args": [loads(line) for line in case["input"].split("\n") if line.strip()], "kwargs": {}})
            except ValueError as exc:
                raise AcecurateError(f"functional test {number}: an argument line is not JSON ({exc})") from None
        return {**base, "format": "functional", "fn_name": tests["fn_name"], "tests": calls}, expected
    if fmt == "assert":
        converted = assert_cases(tests["check"])
        if converted is not None:
            cases, fn_name = converted
            job = {**base, "format": "assert_cases", "fn_name": fn_name, "tests": [{"args": c.args, "kwargs": c.kwargs} for c in cases]}
            return job, [as_json_data(c.expected) for c in cases]
        # Not expressible as data: the check runs in place, and its completion is proven by a per-job marker.
        marker = secrets.token_hex(16)
        return {**base, "format": "assert_inline", "check": tests["check"], "marker": marker, "tests": [None]}, [marker]
    raise AcecurateError(f"unknown test format {fmt!r}")


class _SlotPool:
    """Distinct unprivileged uids for concurrent sandboxes, so one fork bomb cannot use up another's process limit."""

    def __init__(self):
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._next = 0

    def acquire(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
            self._next += 1
            return self._next - 1

    def release(self, slot: int) -> None:
        with self._lock:
            self._free.append(slot)


_slots = _SlotPool()


def _verdict_for(raw: dict, expected, fmt: str, limits: Limits, yes_no: bool) -> TestVerdict:
    verdict = TestVerdict(raw["index"], "passed", raw["time_s"], raw["max_rss_kb"], raw["exit_code"], raw["signal"], raw["stderr"][-1000:])
    memory_hit = "MemoryError" in raw["stderr"] or raw["max_rss_kb"] * 1024 >= 0.95 * (limits.memory_mb << 20)
    if (
        raw["limit"] == "time_limit"
        or raw["signal"] == signal.SIGXCPU
        or (raw["signal"] == signal.SIGKILL and raw["cpu_s"] >= limits.cpu_s)
    ):
        verdict.verdict = "time_limit"
    elif raw["limit"] == "output_limit":
        verdict.verdict = "output_limit"
    elif memory_hit and (raw["exit_code"] != 0 or raw["signal"] is not None):
        verdict.verdict = "memory_limit"
    elif raw["signal"] is not None or raw["exit_code"] != 0:
        verdict.verdict = "runtime_error"
    elif fmt == "stdin":
        difference = compare_stdout(expected, raw["stdout"], yes_no)
        if difference:
            verdict.verdict, verdict.difference = "wrong_answer", asdict(difference)
    elif fmt == "assert_inline":
        try:
            ok = loads(raw["result"]).get("asserts_passed") == expected
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            verdict.verdict = "runtime_error" if not raw["result"] else "wrong_answer"
    else:
        try:
            got = loads(raw["result"])["value"]
        except (ValueError, KeyError, TypeError):
            verdict.verdict = "runtime_error"
            verdict.stderr = (verdict.stderr + "\nno return value (the call exited, or returned something that is not data)")[-1000:]
            return verdict
        difference = compare_values(expected, got)
        if difference:
            verdict.verdict, verdict.difference = "wrong_answer", asdict(difference)
    return verdict


def run_solution(
    code: str,
    tests: dict | str,
    limits: Limits | None = None,
    *,
    early_stop: bool = False,
    yes_no_case_insensitive: bool = False,
    unsafe_no_sandbox: bool = False,
) -> SolutionResult:
    """Run one solution against its tests in a fresh sandbox and return per-test verdicts.

    `unsafe_no_sandbox=True` runs the same runner without bubblewrap (still in a separate process): only for machines
    where bwrap cannot run, and never for untrusted code."""
    limits = limits or Limits()
    tests = json.loads(tests) if isinstance(tests, str) else tests
    job, expected = _job(code, tests, limits)
    python = sandbox_python()
    slot = _slots.acquire()
    try:
        job["isolated"] = not unsafe_no_sandbox
        if unsafe_no_sandbox:
            command, user = [python, "-I", "-S", "-c", _runner_source()], None
        else:
            command = bwrap_command(python)
            user = sandbox_uid(slot) if os.geteuid() == 0 else None
        return _drive(command, user, job, expected, limits, early_stop, yes_no_case_insensitive)
    finally:
        _slots.release(slot)


def _drive(command, user, job, expected, limits: Limits, early_stop: bool, yes_no: bool) -> SolutionResult:
    options = {}
    if user is not None:
        setpriv = shutil.which("setpriv")
        if setpriv:
            # setpriv drops to the sandbox uid after exec; Popen(user=...) would have to fork our whole (large) process.
            command = [setpriv, f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        else:
            options = {"user": user, "group": user, "extra_groups": []}
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin"},
            **options,
        )
    except OSError as exc:
        return SolutionResult("sandbox_error", detail=f"could not start the sandbox: {exc}")
    overall = time.monotonic() + len(job["tests"]) * (limits.time_s + 1.0) + 10.0
    timer = threading.Timer(max(overall - time.monotonic(), 1.0), lambda: _kill(process))
    timer.start()
    results: list[TestVerdict] = []
    running = None
    try:
        process.stdin.write(marshal.dumps(job))
        process.stdin.close()
        for line in process.stdout:
            event = loads(line)
            if "compile_error" in event:
                _kill(process)
                return SolutionResult("compile_error", detail=event["compile_error"])
            if "start" in event:
                running = event["start"]
                continue
            if "index" in event:
                running = None
                verdict = _verdict_for(event, expected[event["index"]], job["format"], limits, yes_no)
                results.append(verdict)
                if early_stop and verdict.verdict != "passed":
                    _kill(process)
                    break
    except (BrokenPipeError, json.JSONDecodeError, ValueError) as exc:
        _kill(process)
        return SolutionResult("sandbox_error", results, f"sandbox protocol failure: {exc}")
    finally:
        timer.cancel()
        stderr = _finish(process)
    if running is not None:
        # The runner died while the solution's test was running: only the solution can have done that.
        results.append(TestVerdict(running, "runtime_error", stderr="the sandbox runner was killed during this test"))
    elif len(results) < len(job["tests"]) and not (early_stop and results and results[-1].verdict != "passed"):
        return SolutionResult("sandbox_error", results, f"sandbox ended early (exit {process.returncode}): {stderr[-500:]}")
    failed = next((r.verdict for r in results if r.verdict != "passed"), None)
    return SolutionResult(failed or "passed", results)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.kill()


def _finish(process: subprocess.Popen) -> str:
    _kill(process)
    try:
        stderr = process.stderr.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        stderr = ""
    process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()
    return stderr


def grade_many(
    solutions, workers: int = 2, limits: Limits | None = None, *, early_stop: bool = False, retries: int = 2, progress=None, **options
) -> list[SolutionResult]:
    """Run many (code, tests) pairs, `workers` sandboxes at a time, in input order. A `sandbox_error` is an
    infrastructure fault: it is retried, and reported as such (never scored as a failure) if it persists."""
    from concurrent.futures import ThreadPoolExecutor

    solutions = list(solutions)

    def one(pair):
        code, tests = pair
        for _ in range(retries + 1):
            result = run_solution(code, tests, limits, early_stop=early_stop, **options)
            if result.verdict != "sandbox_error":
                break
        if progress:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, solutions))
