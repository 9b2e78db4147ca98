"""Isolated code execution: bubblewrap, limits per sandbox, per-test verdicts, comparison in our process.

The verdicts are rewards, so the design assumes the code under test attacks the grader, not only the host.

Who trusts whom
- The parent (our process) trusts nothing it reads. It builds the job (code and inputs only: expected values never
  enter the sandbox, for every kind of suite), starts one sandbox per solution, and reads the runner's events through
  a capped, schema-checked channel with its own deadlines: a line over 4 KiB, a field of the wrong type, an index out
  of order, a payload larger than the limits, a missing result or an over-limit `time_s` all become that test's
  `runtime_error` / `output_limit` / `time_limit`; nothing a solution does raises out of `run_solution` or `grade_many`.
  Long integers are compared as digit strings, never converted. `sandbox_error` only reports our side failing
  before the runner touched the solution (bubblewrap, cgroups, the interpreter), so a program cannot produce it.
- The runner (runner.py) is out of the code's reach. It is the sandbox's PID 1 (`bwrap --as-pid-1`), and the kernel
  drops every signal sent to a namespace's init from inside the namespace unless init handles it (it handles none):
  SIGSTOP and SIGKILL to it do nothing. It makes itself non-dumpable (PR_SET_DUMPABLE 0) before reading the job, so
  no process of the sandbox can ptrace it or open its /proc memory and descriptors; the seccomp filter refuses
  ptrace, process_vm_* and prlimit on other processes as well. It measures each test (wall time from fork to exit,
  CPU of every process of the test from the sandbox cgroup's usage less its own, after it has killed and reaped them
  all with kill(-1), so children the kernel reaped count too; RUSAGE_CHILDREN without a cgroup; the cgroup's OOM-kill
  count) and reports raw outputs; it knows no answer.
- Tests run in fresh children of the runner with their own pipes, session and rlimits (CPU, file size, processes,
  and address space only where there is no cgroup): a child per test of a stdin program (its input written
  non-blocking as it reads, within the wall limit; its non-daemon threads joined before it exits, as python3 does),
  and a child per solution of a function-call suite, which runs the module once and calls each test in order on a
  new `Solution()`, as LeetCode's judge does. Each test keeps its own deadline, CPU and output limits; its answer is
  the frame that carries the nonce of the runner's command for it; a test that fails any of that, or raises, or
  whose child dies, ends the child, and the next test gets a fresh one.
- No child starts with another's work: after each child the runner empties /tmp, /dev/shm and /dev/mqueue (one
  directory descriptor at a time, so any depth) and removes the System V IPC objects of the sandbox's IPC namespace.

Warm sandboxes (executor.WarmSandbox, `SandboxSettings.reuse`, the default): one sandbox per worker thread takes solution after
solution; its runner forks children as above and never runs solution code itself, and the sandbox is recycled
after RECYCLE_AFTER solutions, a limit hit, or anything its runner or cgroup shows left over.

Limits per sandbox
- A cgroup per sandbox (cgroups.py; v2, or the v1 controllers of a hybrid machine) where this process may create
  one (root, or a delegated subtree): memory for everything the sandbox runs including its files in /tmp, tasks, an
  equal CPU share beside the other sandboxes. Without one, it says so once and falls back to per-process rlimits.
- All sandboxes of this process share one memory budget (cgroups.memory_budget, ACECURATE_SANDBOX_MEMORY_MB): a
  sandbox starts only when its memory limit fits beside the running ones', and their parent cgroup is limited to it.
- /tmp and /dev/shm are sized tmpfs; the sandbox's root and /dev are read-only; the judge environment is read-only.
- bubblewrap: no network, new PID/IPC/UTS/user/cgroup namespaces, no capabilities, a cleared environment, nested
  user namespaces disabled, and a seccomp filter (seccomp.py) for ptrace, io_uring, the keyring, mounts, namespaces,
  bpf, perf_event_open and userfaultfd. As root, each concurrent sandbox also runs as its own unprivileged uid.
- The outer bubblewrap is never killed: we kill the sandbox's PID 1 through a pidfd, bubblewrap reaps it and exits,
  and we reap bubblewrap (no zombies when we are PID 1 of a container).

Comparison (compare.py) follows the judge: exact integers, a float tolerance only for float expected values, inf and
NaN, and `"compare": "unordered"` in the tests JSON for problems that accept any order. Assert suites become data
(asserts.py), including LeetCode's linked lists and trees; a suite that cannot is refused (`untrusted_suite`) unless
the caller allows running it in place. A pinned judge environment (judge_env.py; `acecurate sandbox setup`) provides
numpy and sortedcontainers; each verdict records which environment ran it.
"""

from .executor import VERDICTS, Limits, SolutionResult, TestVerdict, find_bwrap, run_solution
from .placement import grade_many  # here or on a Ray cluster (ACECURATE_EXECUTOR)

__all__ = ["VERDICTS", "Limits", "SolutionResult", "TestVerdict", "find_bwrap", "grade_many", "run_solution"]
