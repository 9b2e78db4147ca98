"""Attacks aimed at the warm sandbox (sandbox/executor.py, WarmSandbox): a solution that leaves something for the next solution of the
same sandbox, or tries to break the runner over many solutions. Each attack runs on the thread's warm sandbox, then a
probe does, and the probe's verdict must be what it is in a fresh sandbox. Where the clean-up is what protects the
next solution (not a recycle), the test also asserts the same sandbox took the probe."""

import json
import textwrap

import pytest

from acecurate.sandbox import Limits, executor, run_solution
from acecurate.sandbox.cgroups import cgroup_support
from acecurate.sandbox.executor import SandboxSettings, configure

from .conftest import needs_bwrap

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
