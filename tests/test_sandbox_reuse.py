"""Attacks aimed at reuse. The warm sandbox (sandbox/executor.py, WarmSandbox): a solution that leaves something for
the next solution of the same sandbox, or tries to break the runner over many solutions; each attack runs on the
thread's warm sandbox, then a probe does, and the probe's verdict must be what it is in a fresh sandbox (where the
clean-up is what protects the next solution, not a recycle, the test also asserts the same sandbox took the probe).
The child per solution of a function-call suite (sandbox/runner.py, run_test), in both modes: a solution that
forges answers for later tests, exits or leaves threads and timers between its tests, or patches the harness; each
test must still get its own verdict, and no wrong or slow answer may pass."""

import json
import textwrap

import pytest

from acecurate.sandbox import Limits, executor, run_solution
from acecurate.sandbox.cgroups import cgroup_support
from acecurate.sandbox.executor import SandboxSettings, configure

from .conftest import FRAMED, needs_bwrap

pytestmark = needs_bwrap

# One line of everything a solution could find left over: other processes, files, IPC objects, environment, module
# patches, signal dispositions, timers, rlimits, umask, the scratch roots' modes and extended attributes; then it
# sleeps past any timer a previous solution could have set, and needs memory a leftover would have taken.
PROBE = textwrap.dedent(
    """
    import math, os, resource, signal, sys, time
    others = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())]
    sysv = sum(len(open('/proc/sysvipc/' + k).read().splitlines()) - 1 for k in ('shm', 'msg', 'sem'))
    roots = [(r, sorted(os.listdir(r)), oct(os.stat(r).st_mode), os.listxattr(r), os.access(r, os.W_OK)) for r in ('/tmp', '/dev/shm', '/dev/mqueue')]
    mask = os.umask(0o22)
    state = [len(others), sysv, roots, os.environ.get('LEAK'), sorted(os.environ), math.sqrt(16), 'json' in sys.modules,
             signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL),
             resource.getrlimit(resource.RLIMIT_NOFILE), mask, os.getcwd()]
    time.sleep(0.4)
    room = bytearray(150 << 20)  # what the memory limit allows when nothing is left
    line = repr(state).replace(' ', '')
    print(line)
    print(line, file=sys.stderr)  # in full (a difference shows only the start of a line)
    """
)
LIMITS = Limits(time_s=4.0, cpu_s=4, memory_mb=256)
ONE = json.dumps({"format": "stdin", "cases": [{"input": "", "output": "7"}]})

ATTACKS = {
    "a process left running (double fork, new session)": """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    time.sleep(0.01)
                    open('/tmp/alive', 'w').write('x')
            os._exit(0)
        print(7)
    """,
    "files, deep folders and folders without permissions": """
        import os
        open('/tmp/answer', 'w').write('7')
        open('/dev/shm/answer', 'w').write('7')
        os.makedirs('/tmp/a/b/c/d')
        os.chmod('/tmp/a/b', 0)
        os.mkfifo('/tmp/fifo')
        os.symlink('/proc/self', '/tmp/link')
        print(7)
    """,
    "System V shared memory, queue and semaphores, and a POSIX message queue": """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.shmget(0, 1 << 20, 0o1600) >= 0
        assert libc.msgget(0, 0o1600) >= 0
        assert libc.semget(0, 4, 0o1600) >= 0
        libc.mq_open.restype = ctypes.c_int
        assert libc.mq_open(b'/leak', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0
        print(7)
    """,
    "a changed environment": """
        import os
        os.environ['LEAK'] = '1'
        os.putenv('PATH', '/tmp')
        os.environ['PATH'] = '/tmp'
        print(7)
    """,
    "patched modules, sys.modules and builtins": """
        import builtins, math, sys
        math.sqrt = lambda x: 5.0
        sys.modules['json'] = math
        builtins.print = lambda *a, **k: sys.stdout.write('7\\n')
        builtins.len = lambda x: 0
        print(7)
    """,
    "signal handlers and an ignored SIGTERM": """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, lambda *a: None)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        print(7)
    """,
    "a pending interval timer and alarm": """
        import signal
        signal.setitimer(signal.ITIMER_REAL, 0.2, 0.2)
        signal.setitimer(signal.ITIMER_PROF, 0.2, 0.2)
        signal.alarm(1)
        print(7)
    """,
    "a daemon thread that outlives the answer": """
        import threading, time
        def writer():
            while True:
                open('/tmp/thread', 'w').write('x')
                time.sleep(0.001)
        threading.Thread(target=writer, daemon=True).start()
        time.sleep(0.05)
        print(7)
    """,
    "rlimits, umask, cwd and the scratch roots' modes and attributes": """
        import os, resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (8, 8))
        os.umask(0o777)
        os.setxattr('/tmp', 'user.answer', b'7')
        os.setxattr('/dev/shm', 'user.answer', b'7')
        os.chmod('/tmp', 0o555)
        os.chmod('/dev/shm', 0)
        os.chdir('/')
        print(7)
    """,
}


def clean_state() -> str:
    """The probe's line in a fresh sandbox."""
    result = run_solution(PROBE, ONE, LIMITS, reuse=False)
    assert result.verdict == "wrong_answer", result
    return result.tests[0].stderr.strip()


@pytest.fixture(scope="module")
def clean():
    return json.dumps({"format": "stdin", "cases": [{"input": "", "output": clean_state()}]})


@pytest.fixture
def warm_only():
    configure(SandboxSettings(reuse=True))
    executor.close_warm()
    yield
    executor.close_warm()
    configure(SandboxSettings())


def probe(clean: str):
    result = run_solution(PROBE, clean, LIMITS)
    assert result.verdict == "passed", (result.tests[0].stderr if result.tests else result.detail, json.loads(clean))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_nothing_an_attack_leaves_reaches_the_next_solution(name, clean, warm_only):
    run_solution("print(7)", ONE, LIMITS)
    sandbox = executor._warm.sandbox
    attack = run_solution(textwrap.dedent(ATTACKS[name]), ONE, LIMITS)
    assert attack.verdict == "passed", (name, attack)
    assert executor._warm.sandbox is sandbox, f"{name}: recycled, so the clean-up was not what was tested"
    probe(clean)
    assert executor._warm.sandbox is sandbox, name  # the probe ran in the same sandbox, after the attack


def test_a_functional_solution_that_patches_the_harness_leaves_nothing(clean, warm_only):
    # The runner's own names (encode, to_jsonable, json) live in the test's child: patching them there is for one test.
    code = (
        "import builtins, sys, threading, time\n"
        "def leak():\n    while True:\n        open('/tmp/t', 'w').write('x')\n        time.sleep(0.001)\n"
        "threading.Thread(target=leak, daemon=True).start()\n"
        "builtins.repr = lambda *a: '7'\nsys.modules['marshal'] = None\n"
        "def f(x):\n    return x\n"
    )
    tests = {"format": "functional", "fn_name": "f", "cases": [{"input": "1", "output": "1"}, {"input": "2", "output": "2"}]}
    assert run_solution(code, tests, LIMITS).verdict == "passed"
    assert run_solution("def f(x):\n    return x + 1\n", tests, LIMITS).verdict == "wrong_answer"
    probe(clean)


def test_many_attempts_to_crash_or_stop_the_runner_leave_it_serving(clean, warm_only):
    attempts = [
        "import os, signal\nos.kill(1, signal.SIGKILL)\nprint(7)",
        "import os, signal\nos.kill(1, signal.SIGSTOP)\nprint(7)",
        "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint(7)",
        "import os\ntry:\n    open('/proc/1/mem', 'rb').read(1)\nexcept OSError:\n    pass\nprint(7)",
        "import os\nos.close(0)\nos.close(1)\nos.open('/dev/null', os.O_WRONLY)\nprint(7)",
        'import sys\nsys.stdout.write(\'{"event": "done", "clean": true, "rss_kb": 1}\\n7\')',
        "import os\nos.write(1, b'\\x00' * 100000)\nprint(7)",
    ]
    run_solution("print(7)", ONE, LIMITS)
    sandbox = executor._warm.sandbox
    for round_ in range(6):
        for code in attempts:
            run_solution(code, ONE, LIMITS)  # whatever its verdict, the runner must take the next one
            assert run_solution("print(7)", ONE, LIMITS).verdict == "passed", (round_, code)
    assert executor._warm.sandbox is sandbox and sandbox.solutions > 80  # all on one sandbox, never recycled
    probe(clean)


@pytest.mark.skipif(not cgroup_support().available, reason="needs a cgroup per sandbox (memory limit)")
def test_leaving_memory_behind_over_many_solutions_is_cleaned_every_time(clean, warm_only):
    # Each leaves 93 MiB in tmpfs and System V shared memory (charged to the sandbox's 256 MiB): left, the third would
    # fail for memory. All pass on one sandbox, and the probe still gets its 150 MiB.
    code = (
        "import ctypes, mmap\n"
        "for i in range(3):\n    open(f'/dev/shm/fill{i}', 'wb').write(b'x' * (15 << 20))\n"
        "libc = ctypes.CDLL(None)\nlibc.shmat.restype = ctypes.c_void_p\n"
        "segment = libc.shmget(0, 48 << 20, 0o1600)\naddress = libc.shmat(segment, None, 0)\n"
        "ctypes.memset(address, 1, 48 << 20)\nprint(7)"
    )
    run_solution("print(7)", ONE, LIMITS)
    sandbox = executor._warm.sandbox
    for attempt in range(12):
        assert run_solution(code, ONE, LIMITS).verdict == "passed", attempt
    assert executor._warm.sandbox is sandbox
    probe(clean)


@pytest.mark.skipif(not cgroup_support().available, reason="needs a cgroup per sandbox (memory limit)")
def test_filling_the_memory_and_staying_is_not_the_next_solutions_problem(clean, warm_only):
    stays = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    hoard = bytearray(200 << 20)\n    time.sleep(60)\n"
        "time.sleep(0.5)\nprint(7)"
    )
    fills = "hoard = []\nwhile True:\n    hoard.append(bytearray(16 << 20))"
    for code in (stays, fills):
        run_solution(code, ONE, LIMITS)
        probe(clean)
    run_solution(fills, ONE, LIMITS)
    assert executor._warm.sandbox is None or executor._warm.sandbox.solutions == 0  # a memory_limit recycles the sandbox
    probe(clean)


def test_reuse_is_set_through_the_one_config_schema():
    from acecurate.errors import ConfigError
    from acecurate.pipeline import pipeline_from_dict, single_stage_pipeline

    stages = [{"dedup": {}}]
    assert pipeline_from_dict({"name": "p", "domain": "code", "stages": stages}, "p.yaml").sandbox.reuse is True  # the default
    off = pipeline_from_dict({"name": "p", "domain": "code", "stages": stages, "sandbox": {"reuse": False}}, "p.yaml")
    assert off.sandbox.reuse is False
    flag = pipeline_from_dict({"name": "p", "domain": "code", "stages": stages}, "p.yaml", overrides={"sandbox": {"reuse": False}})
    assert flag.sandbox.reuse is False
    assert single_stage_pipeline("dedup", "code", {}, {"reuse": False}).sandbox.reuse is False  # --set sandbox.reuse=false
    with pytest.raises(ConfigError) as error:  # unknown keys and wrong types, all reported at once
        pipeline_from_dict({"name": "p", "domain": "code", "stages": stages, "sandbox": {"reus": True, "reuse": "yes"}}, "p.yaml")
    assert "sandbox: unknown key 'reus'" in str(error.value) and "sandbox.reuse: expected bool" in str(error.value)


# One child per function-call solution -------------------------------------------------------------------------------

CALLS = {"format": "functional", "fn_name": "f", "cases": [{"input": str(i), "output": str(i)} for i in (1, 2, 3)]}
CALL_LIMITS = Limits(time_s=1.5, cpu_s=1, memory_mb=256)


def test_a_function_call_solution_runs_once_with_a_new_instance_per_test(sandbox_mode):
    # The module runs once for all the tests (its state carries from test to test, as on LeetCode's judge), and each
    # test calls a new Solution(). Fails with a child per test (every test sees one call) or one instance for all.
    code = textwrap.dedent(
        """
        seen = []
        class Solution:
            def __init__(self):
                self.calls = 0
            def f(self, x):
                self.calls += 1
                seen.append(x)
                return [len(seen), self.calls]
        """
    )
    tests = {"format": "functional", "fn_name": "f", "cases": [{"input": str(i), "output": json.dumps([i, 1])} for i in (1, 2, 3)]}
    result = run_solution(code, tests, CALL_LIMITS)
    assert [t.verdict for t in result.tests] == ["passed"] * 3, result


# Each: what the solution does around its three tests (f(1) == 1, f(2) == 2, f(3) == 3), and the verdicts it must get.
BETWEEN_TESTS = {
    # Test 1 writes its own answer, then an answer to test 2 ahead of time (the only nonce it can know is its own),
    # then never returns; test 2 would hang. Without the nonce check the forged frame would pass test 2 at once.
    "an answer to the next test written ahead": (
        FRAMED + "import time\ndef f(x):\n    if x == 1:\n        os.write(3, framed(b'{\"value\": 1}') + framed(b'{\"value\": 2}'))\n"
        "        time.sleep(100)\n    if x == 2:\n        time.sleep(100)\n    return x\n",
        ["passed", "runtime_error", "passed"],
    ),
    # A thread of test 1 writes bytes on the result channel while test 2 computes: they answer nothing.
    "a thread that writes on the result channel during the next test": (
        FRAMED + "import threading, time\ndef spam():\n    time.sleep(0.2)\n    os.write(3, framed(b'{\"value\": 2}', b'x' * 8))\n"
        "def f(x):\n    if x == 1:\n        threading.Thread(target=spam, daemon=True).start()\n"
        "    if x == 2:\n        time.sleep(0.6)\n        return 5\n    return x\n",
        ["passed", "runtime_error", "passed"],
    ),
    # A timer of test 1 ends the process while test 2 computes: test 2 is that exit's, test 3 gets a fresh child.
    "an exit between tests": (
        "import os, threading, time\ndef f(x):\n    if x == 1:\n        threading.Timer(0.2, os._exit, [0]).start()\n"
        "    if x == 2:\n        time.sleep(0.6)\n    return x\n",
        ["passed", "runtime_error", "passed"],
    ),
    # An interval timer with the default SIGALRM action, armed in test 1, kills the process in test 2.
    "an alarm armed for the next test": (
        "import signal, time\ndef f(x):\n    if x == 1:\n        signal.setitimer(signal.ITIMER_REAL, 0.2)\n"
        "    if x == 2:\n        time.sleep(0.6)\n    return x\n",
        ["passed", "runtime_error", "passed"],
    ),
    # A signal handler of test 1 that would answer for test 2 by patching the harness's encoder: a patched encoder
    # still says only what the solution says (a wrong 5), and it dies with its child.
    "the harness's encoder patched by a signal handler": (
        "import signal, sys, time\nharness = sys.modules['__main__']\n"
        "def patch(*_):\n    harness.encode = lambda value: '{\"value\": 5}'\n"
        "def f(x):\n    if x == 1:\n        signal.signal(signal.SIGALRM, patch)\n        signal.setitimer(signal.ITIMER_REAL, 0.2)\n"
        "    if x == 2:\n        time.sleep(0.6)\n    return x\n",
        ["passed", "wrong_answer", "wrong_answer"],
    ),
    # Test 2 never returns: its deadline is its own, and test 3 gets a fresh child (the module run again).
    "a test that hangs": (
        "import time\ndef f(x):\n    if x == 2:\n        time.sleep(100)\n    return x\n",
        ["passed", "time_limit", "passed"],
    ),
    # Test 2 raises: that test's runtime_error; the next gets a fresh child.
    "a test that raises": ("def f(x):\n    if x == 2:\n        raise ValueError(x)\n    return x\n", ["passed", "runtime_error", "passed"]),
}


@pytest.mark.parametrize("name", list(BETWEEN_TESTS))
def test_what_a_solution_leaves_between_its_tests_fails_only_its_own_tests(name, sandbox_mode):
    code, verdicts = BETWEEN_TESTS[name]
    result = run_solution(code, CALLS, CALL_LIMITS)
    assert [t.verdict for t in result.tests] == verdicts, (name, result)
    assert run_solution("def f(x):\n    return x\n", CALLS, CALL_LIMITS).verdict == "passed", name  # the batch goes on


def test_the_cpu_limit_is_per_test_in_a_child_that_serves_many(sandbox_mode):
    # Five tests of 0.5 s of CPU each under a 1 s limit: 2.5 s in one process. Fails if the child's own CPU limit
    # covered all its tests (it would be killed in the third).
    code = "import time\ndef f(x):\n    end = time.process_time() + 0.5\n    while time.process_time() < end:\n        pass\n    return x\n"
    tests = {"format": "functional", "fn_name": "f", "cases": [{"input": str(i), "output": str(i)} for i in range(5)]}
    result = run_solution(code, tests, Limits(time_s=3, cpu_s=1, memory_mb=256))
    assert [t.verdict for t in result.tests] == ["passed"] * 5, result
    assert all(0.4 < t.cpu_s < 1 for t in result.tests), result


@pytest.mark.skipif(not cgroup_support().available, reason="needs a cgroup per sandbox (CPU of every process)")
def test_cpu_of_processes_a_test_starts_counts_for_that_test(sandbox_mode):
    # Test 2 starts two processes that spin 0.6 s of CPU each (1.2 s, over its 1 s limit, in under its 3 s wall limit
    # on two cores) and waits for them: measured by the runner from the cgroup, whatever the child reports.
    code = textwrap.dedent(
        """
        import os, time
        def f(x):
            if x == 2:
                pids = []
                for _ in range(2):
                    pid = os.fork()
                    if pid == 0:
                        end = time.process_time() + 0.6
                        while time.process_time() < end:
                            pass
                        os._exit(0)
                    pids.append(pid)
                for pid in pids:
                    os.waitpid(pid, 0)
            return x
        """
    )
    result = run_solution(code, CALLS, Limits(time_s=3, cpu_s=1, memory_mb=256))
    assert [t.verdict for t in result.tests] == ["passed", "time_limit", "passed"], result


@pytest.mark.parametrize("fmt", ["functional", "stdin"])
def test_a_first_test_slower_than_the_compile_deadline_still_gets_its_verdict(fmt, sandbox_mode, monkeypatch):
    # The runner sends `ready` with the first result (runner.emit, held), but never later than HOLD_S: with the
    # parent's deadline for `ready` cut to 0.5 s, a first test of 1.2 s must still pass (held until its result, the
    # parent would give up on `ready` and call the solution a compile_error).
    monkeypatch.setattr(executor, "COMPILE_S", 0.5)
    if fmt == "stdin":
        code, tests = "import time\ntime.sleep(1.2)\nprint(input())", {"format": "stdin", "cases": [{"input": "7\n", "output": "7\n"}] * 2}
    else:
        code, tests = "import time\ndef f(x):\n    if x == 1:\n        time.sleep(1.2)\n    return x\n", CALLS
    result = run_solution(code, tests, Limits(time_s=3, cpu_s=1, memory_mb=256))
    assert result.verdict == "passed", result


def test_a_batch_of_solutions_of_one_assert_suite_parses_it_once(sandbox_mode):
    # Rollouts of one problem share its suite: the parent turns the check into data once (executor._assert_job,
    # cached by the check's text), and each solution still gets its own verdicts from it.
    check = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 4\n\ncheck(Solution().double)\n"
    tests = {"format": "assert", "check": check}
    executor._assert_job.cache_clear()
    codes = [
        "class Solution:\n    def double(self, x):\n        return 2 * x\n",
        "class Solution:\n    def double(self, x):\n        return x + 1\n",
    ]
    verdicts = [[t.verdict for t in run_solution(code, tests, CALL_LIMITS).tests] for code in codes * 2]
    assert verdicts == [["passed", "passed"], ["passed", "wrong_answer"]] * 2
    assert executor._assert_job.cache_info().misses == 1
