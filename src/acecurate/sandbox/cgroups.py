"""A cgroup per sandbox: memory, tasks and a fair CPU share for everything one sandbox runs, however many processes.

cgroup v2 first (one directory with `memory.max`, `memory.swap.max`, `pids.max`, `cpu.weight`), else the v1
controllers of a hybrid machine (`memory.limit_in_bytes`, `pids.max`, `cpu.shares`, one directory per hierarchy, and
`cpuacct` where it has its own). Sandbox cgroups live under `acecurate-<pid>`, made beside or under this process's
own cgroup where we may write (root, or a delegated subtree); their OOM-kill counter (`memory.events` or
`memory.oom_control`) and CPU usage (`cpu.stat` or `cpuacct.usage`) are bound read-only into the sandbox, so the
runner can tell a memory kill from any other SIGKILL and count the CPU of every process a test starts. Where no
cgroup can be made, `cgroup_support()` says why and the executor falls back to per-process rlimits.

The memory of all sandboxes together is bounded by `memory_budget()` (ACECURATE_SANDBOX_MEMORY_MB, by default half
the memory this process may use, shared among the processes of one launch): `acecurate-<pid>` gets it as its own
memory limit, so the kernel holds the total, and `MemoryBudget` admits a sandbox only while the limits of the
running ones and its own fit in it, so the kernel never has to kill one sandbox for another's use.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import functools
import itertools
import os
import shlex
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AcecurateError

CONTROLLERS = ("memory", "pids", "cpu")
BUDGET_VARIABLE = "ACECURATE_SANDBOX_MEMORY_MB"
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupSupport:
    available: bool
    version: int | None = None  # 2 or 1
    reason: str = ""  # why not, when unavailable
    parents: dict = field(default_factory=dict)  # controller -> directory holding the sandbox cgroups (v2: one for all)


def _memory_limit_of_own_cgroup() -> int | None:
    """The memory limit this process lives under (its cgroup's, or the nearest ancestor's), when one is set."""
    limits = []
    own, mounts = _own_paths(), _mounts()
    v2 = next((m for m in mounts if m[2] == "cgroup2"), None)
    if v2 is not None and "" in own and (path := _inside(v2[0], v2[1], own[""])) is not None:
        for directory in (path, *path.parents):
            with contextlib.suppress(OSError, ValueError):
                limits.append(int((directory / "memory.max").read_text()))
            if directory == Path(v2[0]):
                break
    v1 = next((m for m in mounts if m[2] == "cgroup" and "memory" in m[3]), None)
    if v1 is not None and "memory" in own and (path := _inside(v1[0], v1[1], own["memory"])) is not None:
        with contextlib.suppress(OSError, ValueError, StopIteration):
            stat = (path / "memory.stat").read_text().split("\n")
            limits.append(int(next(line for line in stat if line.startswith("hierarchical_memory_limit ")).split()[1]))
    return min(limits) if limits else None


@functools.cache
def memory_budget() -> int:
    """Bytes that all of this process's sandboxes together may use: ACECURATE_SANDBOX_MEMORY_MB when set; else half
    the memory this process may use (the machine's, or its cgroup's limit if lower), divided among the processes a
    launcher started on this machine (LOCAL_WORLD_SIZE, as torchrun and accelerate set it)."""
    value = os.environ.get(BUDGET_VARIABLE, "").strip()
    if value:
        try:
            megabytes = int(value)
        except ValueError:
            megabytes = 0
        if megabytes <= 0:
            raise AcecurateError(f"{BUDGET_VARIABLE} must be a positive number of megabytes, got {value!r}")
        return megabytes << 20
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _memory_limit_of_own_cgroup()
    if limit is not None:
        total = min(total, limit)
    try:
        processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        processes = 1
    return total // 2 // processes


class MemoryBudget:
    """Admits sandboxes while the memory limits of those running, plus the next one's, fit in the budget; the next
    waits for room (its tests' time limits start only once it runs)."""

    def __init__(self):
        self._used = 0
        self._room = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, nbytes: int):
        budget = memory_budget()
        if nbytes > budget:
            raise AcecurateError(
                f"a sandbox's memory limit ({nbytes >> 20} MB) is larger than the memory budget of all sandboxes "
                f"({budget >> 20} MB): lower memory_mb or raise {BUDGET_VARIABLE}"
            )
        with self._room:
            self._room.wait_for(lambda: self._used + nbytes <= budget)
            self._used += nbytes
        try:
            yield
        finally:
            with self._room:
                self._used -= nbytes
                self._room.notify_all()


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root inside the hierarchy, fs type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            parts, fs = left.split(), right.split()
            if fs and fs[0] in ("cgroup", "cgroup2"):
                found.append((parts[4].replace("\\040", " "), parts[3], fs[0], set(fs[2].split(",")) if len(fs) > 2 else set()))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per hierarchy: {"": v2 path, "memory": v1 path, ...}."""
    paths = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _inside(mount: str, root: str, path: str) -> Path | None:
    if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
        return None  # our cgroup is outside what this mount shows
    return Path(mount) / path[len(root.rstrip("/")) :].lstrip("/")


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _read_small(path: str) -> bytes:
    """A small cgroup file, read without Python's file objects (read after every warm solution)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


_held: list[int] = []  # descriptors of our parent cgroups, flocked (shared) for this process's lifetime


def _cores() -> int:
    """The weight of our parent cgroup, in processes: all our sandboxes together weigh as much as one process per
    core (so that grading is not starved by the machine's other processes), each sandbox an equal part of that."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _make_parent(base: Path) -> Path:
    """This process's parent cgroup under `base`, held with a shared flock so that other processes know it is alive
    (a pid cannot tell: another PID namespace may share the cgroup tree)."""
    parent = base / f"acecurate-{os.getpid()}"
    parent.mkdir(exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held.append(fd)
    return parent


def _sweep(base: Path) -> None:
    """Remove parent cgroups whose process died without cleaning up: nobody holds their lock any more. Their
    sandbox cgroups are empty by then (a sandbox dies with its process)."""
    for stale in base.glob("acecurate-*"):
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # alive
        finally:
            os.close(fd)  # (also drops the lock we may have taken)
        for child in stale.iterdir():
            if child.is_dir():
                with contextlib.suppress(OSError):
                    child.rmdir()
        with contextlib.suppress(OSError):
            stale.rmdir()


def _try_v2(mounts, own) -> CgroupSupport | str:
    v2 = next((m for m in mounts if m[2] == "cgroup2"), None)
    if v2 is None or "" not in own:
        return "no cgroup v2 hierarchy"
    mine = _inside(v2[0], v2[1], own[""])
    if mine is None:
        return "our cgroup is outside the mounted cgroup v2 tree"
    wanted = " ".join(f"+{c}" for c in CONTROLLERS)
    problems = []
    # Our own cgroup holds processes, so (unless it is the root) it cannot hand controllers to children; its parent can.
    for base in (mine, mine.parent):
        try:
            available = set((base / "cgroup.controllers").read_text().split())
            if not set(CONTROLLERS) <= available:
                problems.append(f"{base} offers only {sorted(available) or 'no controllers'}")
                continue
            if not set(CONTROLLERS) <= set((base / "cgroup.subtree_control").read_text().split()):
                _write(base / "cgroup.subtree_control", wanted)
            _sweep(base)
            parent = _make_parent(base)
            _write(parent / "cgroup.subtree_control", wanted)
            _write(parent / "cpu.weight", str(min(10_000, 100 * _cores())))
            _write(parent / "memory.max", str(memory_budget()))
            return CgroupSupport(True, 2, parents={"": parent})
        except OSError as exc:
            problems.append(f"{base}: {exc.strerror or exc}")
    return "cgroup v2: " + "; ".join(problems)


def _try_v1(mounts, own) -> CgroupSupport | str:
    parents = {}
    cpu_mount = next((m for m in mounts if m[2] == "cgroup" and "cpu" in m[3]), None)
    # cpuacct (CPU usage) is co-mounted with cpu on most machines; where it has its own hierarchy, it is used if it
    # can be (else the runner counts only the CPU of the processes it reaps).
    optional = () if cpu_mount is None or "cpuacct" in cpu_mount[3] else ("cpuacct",)
    for controller in CONTROLLERS + optional:
        mount = next((m for m in mounts if m[2] == "cgroup" and controller in m[3]), None)
        if mount is None or controller not in own:
            if controller in optional:
                continue
            return f"cgroup v1: no {controller} hierarchy"
        base = _inside(mount[0], mount[1], own[controller])
        if base is None:
            if controller in optional:
                continue
            return f"cgroup v1: our {controller} cgroup is not visible"
        try:
            _sweep(base)
            parents[controller] = _make_parent(base)
            if controller == "cpu":
                _write(parents[controller] / "cpu.shares", str(1024 * _cores()))
            if controller == "memory":
                _write(parents[controller] / "memory.limit_in_bytes", str(memory_budget()))
        except OSError as exc:
            if controller in optional:
                parents.pop(controller, None)
                continue
            return f"cgroup v1: cannot create a cgroup under {base} ({exc.strerror or exc})"
    return CgroupSupport(True, 1, parents=parents)


@functools.cache
def cgroup_support() -> CgroupSupport:
    """Whether this process can make a cgroup per sandbox, and where. Computed once. ACECURATE_SANDBOX_CGROUPS=off
    turns them off (per-process rlimits instead)."""
    if os.environ.get("ACECURATE_SANDBOX_CGROUPS", "").lower() in ("0", "off", "no", "false"):
        return CgroupSupport(False, reason="turned off by ACECURATE_SANDBOX_CGROUPS")
    mounts, own = _mounts(), _own_paths()
    reasons = []
    for attempt in (_try_v2, _try_v1):
        outcome = attempt(mounts, own)
        if isinstance(outcome, CgroupSupport):
            atexit.register(_remove_parents, outcome)
            return outcome
        reasons.append(outcome)
    return CgroupSupport(False, reason="; ".join(reasons))


class SandboxCgroup:
    """The cgroup(s) of one sandbox. `create` sets the limits; `enter_prefix` starts a process inside; `remove` deletes it after its
    processes are gone."""

    def __init__(self, support: CgroupSupport, memory_bytes: int, tasks: int):
        self.version = support.version
        name = f"s{os.getpid()}-{next(_counter)}"
        self.dirs = {controller: parent / name for controller, parent in support.parents.items()}
        self.memory_bytes, self.tasks = memory_bytes, tasks

    def _dir(self, controller: str) -> Path:
        return self.dirs[""] if self.version == 2 else self.dirs[controller]

    @property
    def oom_events(self) -> Path:
        """The file whose `oom_kill N` line counts the sandbox's memory kills."""
        return self._dir("memory") / ("memory.events" if self.version == 2 else "memory.oom_control")

    @property
    def cpu_usage(self) -> Path | None:
        """The file that counts the CPU time of all the sandbox's processes (`usage_usec N` first, or nanoseconds);
        None on a cgroup v1 machine without cpuacct."""
        if self.version == 2:
            return self.dirs[""] / "cpu.stat"
        directory = self.dirs.get("cpuacct", self.dirs["cpu"])
        return directory / "cpuacct.usage" if (directory.parent / "cpuacct.usage").exists() else None

    def create(self) -> None:
        for path in self.dirs.values():
            try:
                path.mkdir()
            except FileNotFoundError:  # our parent was swept in the instant between its mkdir and its lock
                path.parent.mkdir()
                if self.version == 2:
                    _write(path.parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))
                path.mkdir()
        memory, pids, cpu = self._dir("memory"), self._dir("pids"), self._dir("cpu")
        if self.version == 2:
            _write(memory / "memory.max", str(self.memory_bytes))
            if (memory / "memory.swap.max").exists():
                _write(memory / "memory.swap.max", "0")
            _write(cpu / "cpu.weight", "100")  # the default weight, written so each sandbox is an equal peer
        else:
            _write(memory / "memory.limit_in_bytes", str(self.memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                _write(memory / "memory.memsw.limit_in_bytes", str(self.memory_bytes))  # no swap beyond the limit
            _write(cpu / "cpu.shares", "1024")
        _write(pids / "pids.max", str(self.tasks))

    def tasks_now(self) -> int:
        """How many processes and threads the cgroup holds now."""
        return int(_read_small(f"{self._dir('pids')}/pids.current"))

    def held_bytes(self) -> int:
        """Memory the cgroup holds that the kernel cannot reclaim by itself: anonymous memory and tmpfs/IPC pages
        (page cache of the read-only binds is left out: the next solution's need reclaims it)."""
        anon = b"anon" if self.version == 2 else b"rss"
        held = 0
        for line in _read_small(f"{self._dir('memory')}/memory.stat").splitlines():
            name, _, value = line.partition(b" ")
            if name == anon or name == b"shmem":
                held += int(value)
        return held

    def enter_prefix(self) -> list[str]:
        """A command prefix that moves itself into the cgroup, then execs the rest, so all it starts is born inside.
        A process moving itself (pid 0, one thread) is cheap; moving another process into a new memory cgroup takes
        the cgroup's thread-group lock and costs milliseconds."""
        target = "cgroup.procs" if self.version == 2 else "tasks"
        moves = " && ".join(f"echo 0 > {shlex.quote(str(path / target))}" for path in self.dirs.values())
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh"]

    def remove(self) -> None:
        """Delete the cgroup; its processes have exited (the sandbox's init was reaped), but the kernel may take a
        moment to let go. What cannot be removed now is swept by the next acecurate process."""
        for path in self.dirs.values():
            for delay in (0, 0.005, 0.02, 0.1):
                time.sleep(delay)
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        break


def _remove_parents(support: CgroupSupport) -> None:
    for parent in support.parents.values():
        with contextlib.suppress(OSError):
            parent.rmdir()
