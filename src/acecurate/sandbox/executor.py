"""Run untrusted solutions in bubblewrap and grade them test by test (see the package docstring for the design).

A sandbox per solution, or a warm one per worker (WarmSandbox); inside it the runner (PID 1 of the sandbox) forks a
fresh child per test of a stdin program, and one per solution of a function-call suite (runner.py). The parent here
starts the sandbox, puts it in its own cgroup, feeds it the job, reads each test's raw result as it finishes under its
own deadlines, validates it, compares it with the expected value (which never entered the sandbox), and (with early
stop) kills the sandbox at the first failure. Nothing a solution does can raise out of `run_solution` or make it
report `sandbox_error`.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import marshal
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import threading
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from ..config import setting
from ..errors import AcecurateError
from ..suites import MalformedTests, Suite, assert_cases, parse_tests, untrusted_reason
from .cgroups import MemoryBudget, SandboxCgroup, cgroup_support
from .compare import as_json_data, compare_stdout, compare_values, loads
from .judge_env import MOUNT_POINT, environment_id, find_judge_env, sandbox_python
from .runner import CPU_USAGE, HELPERS, MQUEUE, OOM_EVENTS, STDERR_BYTES, node_values
from .seccomp import seccomp_program

VERDICTS = (
    "passed",
    "wrong_answer",
    "runtime_error",
    "time_limit",
    "memory_limit",
    "output_limit",
    "compile_error",
    "sandbox_error",
    "malformed_tests",  # the suite cannot be read (suites.MalformedTests): the row's fault, nothing ran
    "untrusted_suite",  # an assert suite that cannot be data, not allowed to run in place: nothing ran
)
# The runner's interpreter: no site packages (-S), no user site (-s). Not -I/-E: they ignore PYTHONHASHSEED, and a
# fixed hash seed makes every run of a program iterate its sets and dicts of strings in the same order, so one
# program gets one verdict (the environment is ours anyway: bwrap --clearenv, or an explicit env outside it).
RUNNER_FLAGS = ("-s", "-S")
SANDBOX_UID_BASE = 100_000  # when started as root, each concurrent sandbox runs as its own unprivileged uid
SLOTS_PER_PROCESS = 32
HEADER_BYTES = 4096  # the longest event header line the parent reads
STARTUP_S = 60.0  # bubblewrap and the interpreter starting, on a loaded machine
COMPILE_S = 20.0  # compiling the solution in the runner
BETWEEN_TESTS_S = 20.0  # the runner killing and reaping a test's processes, emptying /tmp, starting the next
RESULT_GRACE_S = 5.0  # beyond the time limit, before the parent stops waiting for a result itself


def sandbox_uid(slot: int) -> int:
    """A uid for this process's `slot`: distinct across slots, and (by pid) across acecurate processes running at
    once, so one process's fork bomb cannot use up another's process limit."""
    return SANDBOX_UID_BASE + (os.getpid() % 50_000) * SLOTS_PER_PROCESS + slot % SLOTS_PER_PROCESS


@dataclass
class Limits:
    time_s: float = 4.0  # wall clock per test
    cpu_s: int = 4  # CPU seconds per test, summed over every process the test starts
    memory_mb: int = 1024  # the whole sandbox with cgroups (processes and their files in /tmp); per process without
    output_bytes: int = 8 << 20  # stdout, and the returned value, per test
    processes: int = 16  # processes (and threads) at once
    file_bytes: int = 16 << 20  # largest file a test may write
    tmpfs_mb: int = 64  # size of the sandbox's /tmp and /dev/shm each


@dataclass
class SandboxSettings:
    """How sandboxes are run (never what they decide: verdicts are the same either way). The `sandbox:` section of a
    pipeline or recipe, and `--set sandbox.reuse=false`."""

    reuse: bool = setting(
        True,
        "One warm sandbox per worker that takes solution after solution, each in fresh children (see WarmSandbox); "
        "false starts a sandbox per solution.",
    )


_settings = SandboxSettings()


def configure(settings: SandboxSettings) -> None:
    """The sandbox settings of this process (a pipeline or training run sets them once, from its config)."""
    global _settings
    _settings = settings


def configured() -> SandboxSettings:
    """This process's sandbox settings (what `configure` set, else the defaults)."""
    return _settings


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
    cpu_s: float = 0.0


@dataclass
class SolutionResult:
    verdict: str  # passed only if every test passed
    tests: list[TestVerdict] = field(default_factory=list)
    detail: str = ""
    environment: str = ""  # the judge environment that ran it (judge_env.environment_id)

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


@cache
def _runner_source() -> str:
    return resources.files("acecurate.sandbox").joinpath("runner.py").read_text()


@cache
def _bwrap_options() -> frozenset[str]:
    text = subprocess.run([find_bwrap(), "--help"], capture_output=True, text=True).stdout
    return frozenset(word for word in text.split() if word.startswith("--"))


_said: set[str] = set()
_said_lock = threading.Lock()


def _say_once(message: str) -> None:
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


@cache
def _missing_protections() -> tuple[str, ...]:
    """What this machine cannot give the sandbox, said once per process."""
    missing = []
    support = cgroup_support()
    if not support.available:
        missing.append(
            f"no cgroup per sandbox ({support.reason}): memory is limited per process (RLIMIT_AS) and processes per uid, "
            "files in /tmp count against no memory limit, and CPU hogs share the machine with other sandboxes"
        )
    options = _bwrap_options()
    for option, what in (("--disable-userns", "nested user namespaces"), ("--size", "the size of /tmp and /dev/shm")):
        if option not in options:
            missing.append(f"bubblewrap is too old for {option} ({what} are not limited); bubblewrap 0.8 has it")
    if seccomp_program() is None:
        missing.append("no seccomp filter for this architecture")
    if missing:
        _say_once("acecurate sandbox: " + "; ".join(missing))
    return tuple(missing)


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


class _Refused(Exception):
    """The suite is not run: its verdict (malformed_tests or untrusted_suite) and why."""

    def __init__(self, verdict: str, detail: str):
        super().__init__(detail)
        self.verdict, self.detail = verdict, detail


@functools.cache
def _helpers() -> dict:
    """The sandbox's own list_node/tree_node helpers (our code, not the solution's), to build expected structures."""
    namespace = {"deque": collections.deque}
    exec(compile(HELPERS, "<helpers>", "exec"), namespace)
    return namespace


def level_order(values: list) -> list:
    """LeetCode's level order of the tree that tree_node(values) builds, by the same walk the sandbox makes over a
    returned tree, so that equal trees give equal lists (children of missing nodes absent, trailing Nones dropped)."""
    return node_values(_helpers()["tree_node"](values), "tree")


def _job(code: str, suite: Suite, limits: Limits, allow_inline_asserts: bool, per_process_memory: bool) -> tuple[dict, list]:
    """The job sent into the sandbox (inputs only) and the expected outputs kept here. Raises _Refused."""
    base = {
        "code": code,
        "limits": {
            "wall_s": limits.time_s,
            "cpu_s": math.ceil(limits.cpu_s),
            "memory_bytes": (limits.memory_mb << 20) if per_process_memory else 0,
            "output_bytes": limits.output_bytes,
            "processes": limits.processes,
            "file_bytes": limits.file_bytes,
        },
    }
    if suite.format == "stdin":
        return {**base, "format": "stdin", "tests": suite.inputs()}, suite.outputs()
    if suite.format == "functional":
        expected = [as_json_data(value) for value in suite.expected_values]
        calls = [{"args": args, "kwargs": {}} for args in suite.calls]
        return {**base, "format": "functional", "fn_name": suite.fn_name, "tests": calls}, expected
    converted = _assert_job(suite.check)
    if converted is not None:
        fn_name, calls, expected = converted
        return {**base, "format": "assert_cases", "fn_name": fn_name, "tests": calls}, expected
    if not allow_inline_asserts:
        raise _Refused(
            "untrusted_suite",
            f"this assert suite cannot be turned into data ({untrusted_reason(suite.check)}), so its expected values would "
            "enter the sandbox, where the code under test can read or fake them. validate-tests removes such problems; "
            "allow_inline_asserts (keep_untrusted_suites in validate-tests) runs it anyway.",
        )
    # Run in place, its completion proven by a per-job marker: gameable, which is why it must be asked for.
    marker = secrets.token_hex(16)
    return {**base, "format": "assert_inline", "check": suite.check, "marker": marker, "tests": [None]}, [marker]


@functools.lru_cache(maxsize=256)  # a batch of rollouts covers at most a few hundred problems
def _assert_job(check: str) -> tuple[str, list, list] | None:
    """An assert suite turned into data: (function name, the calls sent into the sandbox, the expected values kept
    here), or None when it cannot be data. Cached by the check's text, as many solutions of one problem (a batch of
    rollouts) share a suite: the jobs share these lists, which nothing changes. Raises MalformedTests (not cached)."""
    converted = assert_cases(check)
    if converted is None:
        return None
    cases, fn_name = converted
    calls = [{"args": c.args, "kwargs": c.kwargs, "builds": c.builds, "returns": c.returns} for c in cases]
    try:
        expected = [level_order(c.expected) if c.returns == "tree" else as_json_data(c.expected) for c in cases]
    except (TypeError, ValueError, RecursionError) as exc:  # values tree_node() cannot build
        raise MalformedTests(f"an expected tree cannot be built ({type(exc).__name__})") from None
    return fn_name, calls, expected


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
_memory = MemoryBudget()  # the sandboxes of this process together stay within cgroups.memory_budget()


class _InfrastructureError(Exception):
    """Our side failed (bubblewrap, cgroups, the runner before it touched the solution): sandbox_error."""


class _Launch:
    """A started runner: its process, and how to end it. `kill` ends the runner and everything it started without
    killing the outer bubblewrap, which then exits by itself and is reaped (no zombies when we are PID 1)."""

    def __init__(self, process: subprocess.Popen, pidfd: int | None = None, cgroup: SandboxCgroup | None = None):
        self.process, self.pidfd, self.cgroup = process, pidfd, cgroup

    def kill(self) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)  # the sandbox's PID 1: its namespace dies with it
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # bubblewrap itself stuck: the last resort
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        if self.cgroup is not None:
            self.cgroup.remove()


def _popen(command: list[str], user: int | None, pass_fds=(), prefix: list[str] | None = None) -> subprocess.Popen:
    options = {}
    if user is not None:
        setpriv = shutil.which("setpriv")
        if setpriv:
            # setpriv drops to the sandbox uid after exec; Popen(user=...) would have to fork our whole (large) process.
            command = [setpriv, f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
        else:
            options = {"user": user, "group": user, "extra_groups": []}
    return subprocess.Popen(
        [*(prefix or []), *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
        pass_fds=pass_fds,
        **options,
    )


def _read_info(fd: int, process: subprocess.Popen, deadline: float) -> dict:
    """bubblewrap's --info-fd JSON (the sandbox's PID 1 as a host pid), written before the sandbox runs anything."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise _InfrastructureError("bubblewrap did not start in time")
        chunk = os.read(fd, 4096)
        if not chunk:
            process.wait()
            raise _InfrastructureError(f"bubblewrap failed: {process.stderr.read().decode('utf-8', 'replace')[-500:]}")
        data += chunk
        with contextlib.suppress(ValueError):
            return json.loads(data)


def _sandbox_command(python: str, limits: Limits, judge_env: Path | None, cgroup, seccomp_fd: int | None, info_w: int, block_r: int):
    options = _bwrap_options()
    sized = ["--size", str(limits.tmpfs_mb << 20)] if "--size" in options else []
    args = [find_bwrap(), *_bind_args(python)]
    args += ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--as-pid-1", "--clearenv"]
    args += ["--disable-userns"] if "--disable-userns" in options else []
    args += ["--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev", *sized, "--tmpfs", "/dev/shm", *sized, "--tmpfs", "/tmp"]
    args += ["--mqueue", MQUEUE] if "--mqueue" in options else []  # so that the runner can empty it between tests
    if judge_env is not None:
        args += ["--ro-bind", str(judge_env), MOUNT_POINT]
    if cgroup is not None:
        args += ["--ro-bind", str(cgroup.oom_events), OOM_EVENTS]
        if cgroup.cpu_usage is not None:
            args += ["--ro-bind", str(cgroup.cpu_usage), CPU_USAGE]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--hostname", "sandbox"]
    environment = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    environment.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))
    for name, value in environment.items():
        args += ["--setenv", name, value]
    return [*args, "--info-fd", str(info_w), "--block-fd", str(block_r), python, *RUNNER_FLAGS, "-c", _runner_source()]


def _start_sandbox(python: str, limits: Limits, judge_env: Path | None, user: int | None) -> _Launch:
    """bubblewrap around the runner, born in the sandbox's cgroup; the sandbox's init is the runner itself
    (--as-pid-1), held on --block-fd until we hold a pidfd for it."""
    support = cgroup_support()
    # Tasks: bubblewrap outside the namespace, the runner, and the test's processes and threads.
    cgroup = SandboxCgroup(support, limits.memory_mb << 20, limits.processes + 2) if support.available else None
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    ours, theirs = [info_r, block_w], [info_w, block_r]  # theirs are only for bubblewrap: closed here once it has them
    try:
        try:
            seccomp_fd = None
            program = seccomp_program()
            if program is not None:
                seccomp_fd, seccomp_w = os.pipe()
                theirs.append(seccomp_fd)
                os.write(seccomp_w, program)  # a few hundred bytes: fits the pipe
                os.close(seccomp_w)
            if cgroup is not None:
                cgroup.create()
            command = _sandbox_command(python, limits, judge_env, cgroup, seccomp_fd, info_w, block_r)
            process = _popen(command, user, pass_fds=theirs, prefix=cgroup.enter_prefix() if cgroup is not None else None)
        except OSError as exc:
            if cgroup is not None:
                cgroup.remove()
            raise _InfrastructureError(f"could not start the sandbox: {exc}") from None
        finally:
            for fd in theirs:
                os.close(fd)
        launch = _Launch(process, cgroup=cgroup)
        try:
            child = _read_info(info_r, process, time.monotonic() + STARTUP_S)["child-pid"]
            launch.pidfd = os.pidfd_open(child)  # blocked on --block-fd, so alive: no pid reuse race
            os.write(block_w, b"1")
        except (_InfrastructureError, OSError, KeyError, TypeError) as exc:
            launch.close()
            raise _InfrastructureError(str(exc)) from None
        return launch
    finally:
        for fd in ours:
            os.close(fd)


# The parent's side of the protocol ----------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


class _Ended(Exception):
    pass


class _Malformed(Exception):
    pass


_NONE = type(None)
_RESULT_FIELDS = {  # field: exact types allowed (so bool is no int); numbers must be finite, and >= 0 but exit_code
    "index": {int},
    "limit": {str, _NONE},
    "exit_code": {int, _NONE},
    "signal": {int, _NONE},
    "time_s": {int, float},
    "cpu_s": {int, float},
    "max_rss_kb": {int},
    "oom_kills": {int},
    "stdout": {int},
    "stderr": {int},
    "result": {int},
}
_EVENT_FIELDS = {
    "hello": {"event"},
    "ready": {"event"},
    "compile_error": {"event", "message"},
    "result": {"event", *_RESULT_FIELDS},
    "done": {"event", "clean", "rss_kb"},  # a warm runner's end of one job
}


def _checked(event) -> dict:
    """The event if it has exactly the fields of its kind, with the right types and sane values."""
    if type(event) is not dict or _EVENT_FIELDS.get(event.get("event")) != event.keys():
        raise _Malformed(f"not an event: {str(event)[:100]}")
    if event["event"] == "compile_error" and type(event["message"]) is not str:
        raise _Malformed("compile_error without a message")
    if event["event"] == "done" and (type(event["clean"]) is not bool or type(event["rss_kb"]) is not int or event["rss_kb"] < 0):
        raise _Malformed("done without its fields")
    if event["event"] == "result":
        for key, kinds in _RESULT_FIELDS.items():
            value = event[key]
            kind = type(value)
            if kind not in kinds:
                raise _Malformed(f"{key} is {kind.__name__}")
            if (kind is float and not math.isfinite(value)) or (kind in (int, float) and value < 0 and key != "exit_code"):
                raise _Malformed(f"{key} is {value}")
        if event["limit"] not in (None, "time_limit", "output_limit"):
            raise _Malformed(f"limit {event['limit'][:40]!r}")
    return event


class _Channel:
    """The runner's stdout, read with deadlines and caps; the job written to its stdin as it reads; its stderr kept
    (capped) for the message of an infrastructure failure. A warm runner's channel keeps its stdin open (`keep_open`)
    for the frames `send` adds."""

    def __init__(self, process: subprocess.Popen, job: bytes, keep_open: bool = False):
        self.process = process
        self.out, self.err, self.inp = process.stdout.fileno(), process.stderr.fileno(), process.stdin.fileno()
        for fd in (self.out, self.err, self.inp):
            os.set_blocking(fd, False)
        self.poller = select.poll()
        self.poller.register(self.out, select.POLLIN)
        self.poller.register(self.err, select.POLLIN)
        self.pending = memoryview(b"")
        self.buffer = bytearray()
        self.stderr = bytearray()
        self.eof = False
        self.keep_open = keep_open
        self._input_done = True  # nothing to write now
        self._closed = False
        self.send(job)

    def send(self, data: bytes) -> None:
        if self._closed:
            return
        if data:
            self.pending = memoryview(bytes(self.pending) + data)
            if self._input_done:
                self._input_done = False
                self.poller.register(self.inp, select.POLLOUT)
        elif not self.keep_open:
            self._close_input()

    def _close_input(self) -> None:
        """All is written: stop waiting to write, and close the runner's stdin unless more is to come."""
        if not self._input_done:
            self._input_done = True
            with contextlib.suppress(KeyError):
                self.poller.unregister(self.inp)
        if not self.keep_open and not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def _read_out(self) -> bool:
        """Whatever the runner has written (64 KiB at a time: a larger read allocates that much every time)."""
        try:
            chunk = os.read(self.out, 1 << 16)
        except BlockingIOError:
            return False
        if chunk:
            self.buffer += chunk
        else:
            self.eof = True
        return True

    def _fill(self, deadline: float) -> None:
        if self._input_done and self._read_out():  # the common case: the event is already there
            return
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout
            for fd, _ in self.poller.poll(remaining * 1000):
                if fd == self.inp:
                    try:
                        self.pending = self.pending[os.write(self.inp, self.pending[: 1 << 20]) :]
                    except BlockingIOError:
                        pass
                    except OSError:  # the runner is gone or stopped reading: what it says next tells us why
                        self.pending = self.pending[:0]
                        self.keep_open = False
                    if not self.pending:
                        self._close_input()
                elif fd == self.err:
                    with contextlib.suppress(BlockingIOError):
                        chunk = os.read(self.err, 1 << 16)
                        if chunk:
                            self.stderr += chunk[: max(0, (64 << 10) - len(self.stderr))]
                        else:
                            self.poller.unregister(self.err)
            if self._read_out():
                return

    def event(self, deadline: float) -> dict:
        while True:
            end = self.buffer.find(b"\n", 0, HEADER_BYTES + 1)
            if end >= 0:
                line = self.buffer[:end].decode("utf-8", "replace")
                del self.buffer[: end + 1]
                try:
                    event = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise _Malformed(f"unreadable event ({type(exc).__name__})") from None
                return _checked(event)
            if len(self.buffer) > HEADER_BYTES:
                raise _Malformed(f"an event line longer than {HEADER_BYTES} bytes")
            if self.eof:
                raise _Ended
            self._fill(deadline)

    def payload(self, size: int, deadline: float) -> bytes:
        while len(self.buffer) < size:
            if self.eof:
                raise _Ended
            self._fill(deadline)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data


def _verdict_for(event: dict, payload: bytes, expected, fmt: str, limits: Limits, options: dict) -> TestVerdict:
    """One test's verdict from the runner's validated result header, trusting nothing the solution wrote."""
    stderr = payload[event["stdout"] : event["stdout"] + event["stderr"]].decode("utf-8", "replace")
    result = payload[event["stdout"] + event["stderr"] :]
    verdict = TestVerdict(
        event["index"], "passed", float(event["time_s"]), event["max_rss_kb"], event["exit_code"], event["signal"], stderr[-1000:],
        cpu_s=float(event["cpu_s"]),
    )  # fmt: skip
    failed = event["signal"] is not None or event["exit_code"] != 0
    memory_hit = event["oom_kills"] > 0 or (
        options["per_process_memory"] and ("MemoryError" in stderr or event["max_rss_kb"] * 1024 >= 0.95 * (limits.memory_mb << 20))
    )
    if (
        event["limit"] == "time_limit"
        or event["time_s"] > limits.time_s
        or event["cpu_s"] > limits.cpu_s
        or event["signal"] == signal.SIGXCPU
    ):
        verdict.verdict = "time_limit"
    elif event["limit"] == "output_limit":
        verdict.verdict = "output_limit"
    elif memory_hit and (failed or event["oom_kills"] > 0):
        verdict.verdict = "memory_limit"
    elif failed:
        verdict.verdict = "runtime_error"
    elif fmt == "stdin":
        stdout = payload[: event["stdout"]].decode("utf-8", "replace")
        difference = compare_stdout(expected, stdout, options["yes_no"], options["unordered"])
        if difference:
            verdict.verdict, verdict.difference = "wrong_answer", asdict(difference)
    elif fmt == "assert_inline":
        try:
            ok = loads(result).get("asserts_passed") == expected
        except (ValueError, AttributeError, RecursionError):
            ok = False
        if not ok:
            verdict.verdict = "runtime_error" if not result else "wrong_answer"
    else:
        try:
            got = loads(result)["value"]
        except (ValueError, KeyError, TypeError, RecursionError):
            verdict.verdict = "runtime_error"
            verdict.stderr = (verdict.stderr + "\nno return value (the call exited, or returned something that is not data)")[-1000:]
            return verdict
        difference = compare_values(expected, got, options["unordered"])
        if difference:
            verdict.verdict, verdict.difference = "wrong_answer", asdict(difference)
    return verdict


def _drive(launch: _Launch, job: dict, expected: list, limits: Limits, options: dict, environment: str) -> SolutionResult:
    """One solution in a sandbox of its own, ended with it."""
    channel = _Channel(launch.process, marshal.dumps(job))
    try:
        try:
            return _converse(channel, job, expected, limits, options, environment)[0]
        except _Stale as exc:
            launch.kill()
            return SolutionResult("sandbox_error", detail=str(exc), environment=environment)
    finally:
        launch.close()


class _Stale(Exception):
    """The runner did not take the job (it never said hello for it): our side's failure, nothing of the solution ran."""


def _converse(channel: _Channel, job: dict, expected: list, limits: Limits, options: dict, environment: str) -> tuple[SolutionResult, str]:
    """The parent's side of one job: every failure after the runner said hello is the solution's (compile_error before
    `ready`, that test's verdict after); only a failure before it is ours (_Stale). Also says where the stream stands:
    "complete" (every event of the job read), "early" (stopped at a failure with tests left) or "broken"."""
    results: list[TestVerdict] = []
    early_stop = options["early_stop"]

    def finish(verdict: str, detail: str = "") -> SolutionResult:
        return SolutionResult(verdict, results, detail, environment)

    try:
        hello = channel.event(time.monotonic() + STARTUP_S)
        if hello["event"] != "hello":
            raise _Malformed(f"{hello['event']} before hello")
    except (_Timeout, _Ended, _Malformed) as exc:
        raise _Stale(f"the sandbox did not start ({type(exc).__name__} {exc}): {_stderr_tail(channel)}") from None
    try:
        ready = channel.event(time.monotonic() + COMPILE_S)
    except _Timeout:
        return finish("compile_error", f"compiling took more than {COMPILE_S:g} s"), "broken"
    except (_Ended, _Malformed) as exc:
        return finish("compile_error", f"the runner died while compiling ({type(exc).__name__} {exc})"), "broken"
    if ready["event"] == "compile_error":
        return finish("compile_error", ready["message"]), "complete"
    if ready["event"] != "ready":
        return finish("compile_error", f"unexpected {ready['event']} while compiling"), "broken"
    state = "complete"
    for index in range(len(job["tests"])):
        verdict, readable = _one_test(channel, index, expected[index], job["format"], limits, options)
        results.append(verdict)
        if not readable:
            state = "broken"
            break
        if early_stop and verdict.verdict != "passed":
            state = "early" if index + 1 < len(job["tests"]) else "complete"
            break
    failed = next((r.verdict for r in results if r.verdict != "passed"), None)
    return finish(failed or "passed"), state


def _one_test(channel: _Channel, index: int, expected, fmt: str, limits: Limits, options: dict) -> tuple[TestVerdict, bool]:
    """Test `index`'s verdict, and whether the stream can still be read. A result that cannot be read makes this test
    fail and ends the run: nothing the stream holds escapes as an exception."""
    try:
        event = channel.event(time.monotonic() + BETWEEN_TESTS_S + limits.time_s + RESULT_GRACE_S)
        if event["event"] != "result" or event["index"] != index:
            raise _Malformed(f"expected the result of test {index}, got {event['event']} {event.get('index')}")
        caps = {"stdout": limits.output_bytes, "stderr": STDERR_BYTES, "result": limits.output_bytes}
        if any(event[name] > cap for name, cap in caps.items()):
            return TestVerdict(index, "output_limit", stderr="the result announced more bytes than the limits allow"), False
        payload = channel.payload(event["stdout"] + event["stderr"] + event["result"], time.monotonic() + RESULT_GRACE_S)
    except _Timeout:
        return TestVerdict(index, "time_limit", limits.time_s, stderr="no result within the time limit (measured by the parent)"), False
    except _Ended:
        return TestVerdict(index, "runtime_error", stderr="the sandbox's runner ended during this test"), False
    except Exception as exc:  # _Malformed, or anything else a hostile stream provokes
        return TestVerdict(index, "runtime_error", stderr=f"malformed result: {type(exc).__name__}: {str(exc)[:200]}"), False
    try:
        return _verdict_for(event, payload, expected, fmt, limits, options), True
    except Exception as exc:  # a result that breaks the comparison (too deep, ...) fails this test only
        return TestVerdict(
            index, "runtime_error", event["time_s"], stderr=f"cannot compare the result: {type(exc).__name__}: {str(exc)[:200]}"
        ), True


def _stderr_tail(channel: _Channel) -> str:
    with contextlib.suppress(OSError, ValueError):
        os.set_blocking(channel.err, False)
        with contextlib.suppress(BlockingIOError):
            channel.stderr += os.read(channel.err, 1 << 16)
    return channel.stderr.decode("utf-8", "replace")[-500:]


def _prepare(code: str, tests, limits: Limits, allow_inline_asserts: bool, per_process_memory: bool, **flags):
    """(job, expected, options) for one run; raises _Refused for a suite that cannot or may not run."""
    try:
        suite = parse_tests(tests)
        job, expected = _job(code, suite, limits, allow_inline_asserts, per_process_memory)
    except MalformedTests as exc:
        raise _Refused("malformed_tests", str(exc)) from None
    options = {
        "early_stop": flags["early_stop"],
        "yes_no": flags["yes_no_case_insensitive"],
        "unordered": suite.unordered,
        "per_process_memory": per_process_memory,
    }
    return job, expected, options


def run_solution(
    code: str,
    tests: dict | str,
    limits: Limits | None = None,
    *,
    early_stop: bool = False,
    yes_no_case_insensitive: bool = False,
    unsafe_no_sandbox: bool = False,
    allow_inline_asserts: bool = False,
    reuse: bool | None = None,
) -> SolutionResult:
    """Run one solution against its tests (a JSON text, its object, or a suites.Suite) in a sandbox and return
    per-test verdicts: this thread's warm sandbox with `reuse` (by default the configured `SandboxSettings.reuse`),
    else a fresh one.

    Nothing raises for a bad suite: one that cannot be read is the verdict `malformed_tests`, and an assert suite that
    cannot be data is `untrusted_suite` unless `allow_inline_asserts` (the detail says why; nothing ran).
    `unsafe_no_sandbox=True` runs the same runner without bubblewrap (still in a separate process): only for machines
    where bwrap cannot run, and never for untrusted code."""
    limits = limits or Limits()
    python = sandbox_python()
    cgroups = cgroup_support().available and not unsafe_no_sandbox
    judge_env = find_judge_env(python)
    environment = environment_id(python, judge_env)
    try:
        job, expected, options = _prepare(
            code, tests, limits, allow_inline_asserts, not cgroups, early_stop=early_stop, yes_no_case_insensitive=yes_no_case_insensitive
        )
    except _Refused as refused:
        return SolutionResult(refused.verdict, detail=refused.detail, environment=environment)
    job["isolated"] = not unsafe_no_sandbox
    if unsafe_no_sandbox:
        job["judge_env"] = str(judge_env) if judge_env else None
        return _drive(_Launch(_popen([python, *RUNNER_FLAGS, "-c", _runner_source()], None)), job, expected, limits, options, environment)
    _missing_protections()
    if judge_env is None:
        _say_once("acecurate sandbox: no judge environment (numpy, sortedcontainers); run `acecurate sandbox setup` once")
    job["judge_env"] = MOUNT_POINT if judge_env else None
    if _settings.reuse if reuse is None else reuse:
        return run_warm(python, limits, judge_env, job, expected, options, environment)
    with _memory.reserve(limits.memory_mb << 20):
        slot = _slots.acquire()
        try:
            try:
                launch = _start_sandbox(python, limits, judge_env, sandbox_uid(slot) if os.geteuid() == 0 else None)
            except _InfrastructureError as exc:
                return SolutionResult("sandbox_error", detail=str(exc), environment=environment)
            return _drive(launch, job, expected, limits, options, environment)
        finally:
            _slots.release(slot)


def drive_runner(command: list[str], code: str, tests: dict | str, limits: Limits | None = None, **flags) -> SolutionResult:
    """The parent's side of the protocol against any runner `command`, unsandboxed: for tests of the parent itself
    (a stand-in for a runner taken over by the code under test). Never for untrusted code."""
    limits = limits or Limits()
    try:
        job, expected, options = _prepare(
            code, tests, limits, False, True, early_stop=flags.get("early_stop", False), yes_no_case_insensitive=False
        )
    except _Refused as refused:
        return SolutionResult(refused.verdict, detail=refused.detail, environment="test-runner")
    job["isolated"] = False
    return _drive(_Launch(_popen(command, None)), job, expected, limits, options, "test-runner")


def grade_many(
    solutions, workers: int = 2, limits: Limits | None = None, *, early_stop: bool = False, retries: int = 2, progress=None, **options
) -> list[SolutionResult]:
    """Run many (code, tests) pairs, or (code, tests, limits) triples for a row with its own limits, `workers`
    sandboxes at a time, in input order. A `sandbox_error` is an infrastructure fault: it is retried, and reported as
    such (never scored as a failure) if it persists."""
    from concurrent.futures import ThreadPoolExecutor

    solutions = list(solutions)

    def one(item):
        code, tests, own = item if len(item) == 3 else (*item, None)
        for _ in range(retries + 1):
            result = run_solution(code, tests, own or limits, early_stop=early_stop, **options)
            if result.verdict != "sandbox_error":
                break
        if progress:
            progress(1)
        return result

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, solutions))


# Warm sandboxes ----------------------------------------------------------------------------------------------------
# A warm sandbox per worker thread: one bubblewrap instance whose runner (the sandbox's PID 1, under the same
# seccomp filter, cgroup, uid and read-only binds as a one-shot sandbox) takes solution after solution, and forks
# fresh children for each exactly as a one-shot sandbox does (runner.py: a child per stdin test, one per function-call
# solution), so the two modes give the same verdicts.
#
# Why a solution starts clean. Solution code only ever runs in a child forked for one test or one solution, never in
# the runner, so whatever it changes in its process (sys.modules, builtins, os.environ, signal dispositions, itimers,
# threads, rlimits, cwd, umask) dies with that child. After every child the runner kills and reaps every other process
# of the sandbox and empties /tmp, /dev/shm, /dev/mqueue and the System V objects, as it always did; before each job it gives
# the scratch roots back their first mode and drops their extended attributes. The runner's builtins are copied before
# anything runs. The parent keeps every role it had: deadlines, the validation of every event, the comparison.
#
# When a sandbox is recycled (closed, and the worker's next solution gets a fresh one):
# - after RECYCLE_AFTER solutions (how it was chosen: see below);
# - after any solution with a test that hit a limit (time, memory, output), or whose stream broke or timed out;
# - when the runner says something is left (`clean` false), or the cgroup holds more processes than between jobs, or
#   more unreclaimable memory (anonymous and tmpfs/IPC pages) or runner RSS than after its first job by HELD_GROWTH;
# - when the solution's limits need another sandbox (memory, tasks or tmpfs size), or after a fork (a sandbox
#   belongs to the process that started it).
# A job the runner never acknowledged (its hello) is retried once on a fresh sandbox: nothing of the solution ran.
#
# RECYCLE_AFTER: measured with benchmarks/code_execution.py --recycle 1000 (one warm sandbox, 1,000 LeetCode
# solutions, never recycled): the runner's RSS went from 13 to 14 MiB and the memory its cgroup holds from 7 to 8 MiB,
# flat after the first hundred, so no drift forces a number. A fresh sandbox costs one sandbox start (40 ms quiet,
# 157 ms on the loaded 2-core machine) against about 20 ms per warm solution there: 500 solutions per sandbox keeps
# that start under 2% of the time even loaded, while bounding what a slow drift we did not see (allocator
# fragmentation from compiling hostile sources) could add up to.

RECYCLE_AFTER = 500  # solutions per sandbox (above)
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


_warm = threading.local()  # this thread's WarmSandbox, as `.sandbox`


def run_warm(
    python: str, limits: Limits, judge_env: Path | None, job: dict, expected: list, options: dict, environment: str
) -> SolutionResult:
    """One solution on this thread's warm sandbox (started, or replaced, as needed)."""
    key = (python, str(judge_env), limits.memory_mb, limits.processes, limits.tmpfs_mb)
    stale: Exception | None = None
    with _memory.reserve(limits.memory_mb << 20):
        for _ in range(2):
            sandbox = getattr(_warm, "sandbox", None)
            if sandbox is not None and (sandbox.key != key or sandbox.owner != os.getpid()):
                sandbox.close()  # (does nothing in a forked copy of the process that started it)
                sandbox = _warm.sandbox = None
            if sandbox is None:
                try:
                    sandbox = _warm.sandbox = WarmSandbox(python, limits, judge_env, key)
                except _InfrastructureError as exc:
                    return SolutionResult("sandbox_error", detail=str(exc), environment=environment)
            try:
                result, reusable = sandbox.run(job, expected, limits, options, environment)
            except _Stale as exc:
                stale = exc
                reusable, result = False, None
            if not reusable:
                sandbox.close()
                _warm.sandbox = None
            if result is not None:
                return result
    return SolutionResult("sandbox_error", detail=str(stale), environment=environment)


def close_warm() -> None:
    """End this thread's warm sandbox, if it has one."""
    sandbox = getattr(_warm, "sandbox", None)
    _warm.sandbox = None
    if sandbox is not None:
        with contextlib.suppress(Exception):
            sandbox.close()
