"""Issue 16, items 5, 7, 8, 10 and 11: the sandbox's limits hold and no test inherits another's work. A program that
stops reading its input holds the sandbox for its wall limit only; CPU of processes the kernel reaps counts; System V
IPC, POSIX message queues and directories deeper than PATH_MAX are gone before the next test; a correct program that
runs main() in a thread passes; all sandboxes of a process stay within one memory budget. Then attacks of our own.
Real bubblewrap, the real runner, cgroups where the machine has them."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from acecurate.sandbox import Limits, grade_many, run_solution
from acecurate.sandbox.cgroups import cgroup_support
from benchmarks.worst_case_grading import ECHO_AS_IT_READS, ECHO_LINES, KERNEL_REAPED_CPU

from .conftest import FAST, needs_bwrap, stdin_tests

pytestmark = [needs_bwrap, pytest.mark.usefixtures("sandbox_mode")]
needs_cgroups = pytest.mark.skipif(not cgroup_support().available, reason=f"needs cgroups: {cgroup_support().reason}")


def program(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


def stdin_run(code, inputs=("7\n",), output="7", limits=FAST):
    tests = {"format": "stdin", "cases": [{"input": i, "output": output} for i in inputs]}
    return run_solution(program(code), tests, limits)


# 5. The stdin write ----------------------------------------------------------------------------------------------


def test_5_a_program_that_reads_one_page_and_stops_holds_the_sandbox_for_its_wall_limit_only():
    # Before, the runner's blocking write of a 1 MB input hung until the parent's own deadline (27 s for a 2 s limit).
    started = time.monotonic()
    result = stdin_run("import os, time\nos.read(0, 4096)\ntime.sleep(60)", inputs=("x" * (1 << 20),))
    assert result.verdict == "time_limit", result
    assert time.monotonic() - started < FAST.time_s + 6


def test_5_a_program_that_answers_as_it_reads_is_not_deadlocked():
    # Before, the runner blocked writing the input while the program blocked writing its output: time_limit.
    tests = {"format": "stdin", "cases": [{"input": ECHO_LINES, "output": ECHO_LINES}]}
    result = run_solution(ECHO_AS_IT_READS, tests, Limits(time_s=10, cpu_s=10, memory_mb=512))
    assert result.verdict == "passed", result


# 7. CPU time of every process of a test ---------------------------------------------------------------------------


@needs_cgroups
def test_7_cpu_of_children_the_kernel_reaps_counts():
    # Three children of 0.8 CPU-seconds each, reaped by the kernel for a parent that ignores SIGCHLD, under cpu_s=1:
    # `passed` before (their CPU never reaches RUSAGE_CHILDREN); the sandbox cgroup counts them.
    result = run_solution(KERNEL_REAPED_CPU, stdin_tests(("", "7")), Limits(time_s=30, cpu_s=1, memory_mb=512))
    assert result.verdict == "time_limit" and result.tests[0].cpu_s >= 2.0, result


@needs_cgroups
def test_7_an_honest_program_is_charged_its_own_cpu_only():
    # The runner's own work (forking the test, emptying /tmp) is not the test's: a short program costs little.
    result = stdin_run("print(input())")
    assert result.verdict == "passed" and result.tests[0].cpu_s < 0.5, result


# 8. No state carried between tests -------------------------------------------------------------------------------

CARRIERS = {
    "System V shared memory": "libc.shmget(4242, 4096, 0o600) >= 0",
    "System V message queue": "libc.msgget(4242, 0o600) >= 0",
    "System V semaphore set": "libc.semget(4242, 1, 0o600) >= 0",
    "POSIX message queue": "libc.mq_open(b'/carry', os.O_RDONLY) >= 0",
}
CREATE = {
    "System V shared memory": "libc.shmget(4242, 4096, 0o1000 | 0o600)",
    "System V message queue": "libc.msgget(4242, 0o1000 | 0o600)",
    "System V semaphore set": "libc.semget(4242, 1, 0o1000 | 0o600)",
    "POSIX message queue": "libc.mq_open(b'/carry', os.O_CREAT | os.O_RDWR, 0o600, None)",
}


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
def test_8_ipc_objects_do_not_survive_into_the_next_test(carrier):
    # Each test looks for the object the previous one left, then leaves one: each must find nothing.
    code = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        found = {CARRIERS[carrier]}
        if {CREATE[carrier]} < 0:
            raise SystemExit("could not create it: errno " + str(ctypes.get_errno()))
        print("carried" if found else "clean")
    """
    result = stdin_run(code, inputs=("a\n", "b\n", "c\n"), output="clean")
    assert [t.verdict for t in result.tests] == ["passed"] * 3, (carrier, result)


def test_8_directories_deeper_than_path_max_do_not_survive():
    # 30 levels of 200-character names: a path of 6,000 characters, which no call can name whole. Before, the
    # clean-up skipped it silently and the next test found it.
    code = """
        import os
        os.chdir("/tmp")
        found = os.path.exists("/tmp/" + "d" * 200)
        for _ in range(30):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        open("work", "w").write("half done")
        os.chmod(".", 0o500)
        print("carried" if found else "clean")
    """
    result = stdin_run(code, inputs=("a\n", "b\n"), output="clean")
    assert [t.verdict for t in result.tests] == ["passed", "passed"], result


def test_8_thousands_of_levels_are_cleared_and_the_runner_survives():
    # 3,000 nested directories: before, the recursive clean-up died of RecursionError in the runner (the rest of the
    # tests were lost); now each test starts empty.
    code = """
        import os
        os.chdir("/tmp")
        found = os.listdir("/tmp")
        for _ in range(3000):
            os.mkdir("d")
            os.chdir("d")
        print("carried" if found else "clean")
    """
    result = stdin_run(code, inputs=("a\n", "b\n"), output="clean", limits=Limits(time_s=10, cpu_s=10, memory_mb=512))
    assert [t.verdict for t in result.tests] == ["passed", "passed"], result


# 10. Threads ----------------------------------------------------------------------------------------------------


def test_10_main_in_a_thread_with_a_big_stack_passes():
    # The competitive-programming idiom for deep recursion; python3 waits for the thread before it exits.
    code = """
        import sys, threading
        def main():
            def depth(n):
                return 0 if n == 0 else 1 + depth(n - 1)
            print(depth(int(input())))
        sys.setrecursionlimit(1 << 20)
        threading.stack_size(1 << 27)
        threading.Thread(target=main).start()
    """
    assert stdin_run(code, inputs=("50000\n",), output="50000").verdict == "passed"


def test_10_sys_exit_in_the_main_thread_still_waits_for_the_worker():
    code = """
        import sys, threading, time
        def main():
            time.sleep(0.3)
            print(input())
        threading.Thread(target=main).start()
        sys.exit(0)
    """
    assert stdin_run(code).verdict == "passed"


# 11. One memory budget for all sandboxes --------------------------------------------------------------------------

BUDGET_SCRIPT = """
import json, sys, time
from acecurate.sandbox import Limits, grade_many
code = "import time\\nstart = time.time()\\nx = bytearray(300 << 20)\\ntime.sleep(0.6)\\nprint(f'{start}:{time.time()}')"
tests = {"format": "stdin", "cases": [{"input": "", "output": "-"}]}
results = grade_many([(code, tests)] * 6, workers=6, limits=Limits(time_s=20, cpu_s=5, memory_mb=400))
print(json.dumps([r.tests[0].difference["got"] for r in results]))
"""


@needs_cgroups
def test_11_all_sandboxes_of_a_process_stay_within_the_memory_budget():
    # A budget of 1,000 MB and sandboxes of 400 MB each: at most two at a time, however many workers ask. Before, all
    # six ran at once (2.4 GB), so a training node could be pushed out of memory by its reward workers.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ACECURATE_SANDBOX_MEMORY_MB": "1000"}
    out = subprocess.run([sys.executable, "-c", BUDGET_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    spans = [tuple(map(float, got.split(":"))) for got in json.loads(out.stdout.splitlines()[-1])]
    overlap = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert overlap <= 2, spans


def test_11_a_sandbox_larger_than_the_budget_is_refused_with_the_fix():
    script = (
        "from acecurate.sandbox import Limits, run_solution\n"
        "run_solution('print(1)', {'format': 'stdin', 'cases': [{'input': '', 'output': '1'}]}, Limits(memory_mb=2048))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ACECURATE_SANDBOX_MEMORY_MB": "1000"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "ACECURATE_SANDBOX_MEMORY_MB" in out.stderr, out.stderr[-2000:]


@needs_cgroups
def test_11_the_kernel_holds_the_budget_too():
    # The sandboxes' parent cgroup carries the budget as its own memory limit: even a reservation bug could not let
    # them together exceed it.
    from acecurate.sandbox.cgroups import memory_budget

    run_solution("print(1)", {"format": "stdin", "cases": [{"input": "", "output": "1"}]}, FAST)
    support = cgroup_support()
    parent = support.parents["" if support.version == 2 else "memory"]
    limit = (parent / ("memory.max" if support.version == 2 else "memory.limit_in_bytes")).read_text().strip()
    assert int(limit) <= memory_budget() and int(limit) > memory_budget() - (1 << 20), limit


def test_11_the_budget_must_be_a_number_of_megabytes():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ACECURATE_SANDBOX_MEMORY_MB": "lots"}
    script = "from acecurate.sandbox.cgroups import memory_budget\nmemory_budget()"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert "must be a positive number of megabytes" in out.stderr, out.stderr[-1000:]


# --- Attacks of our own on the new code ---


def census(attack: str, limits: Limits = FAST) -> list[str]:
    """Test 1 runs `attack`; test 2 of the same sandbox lists what it can still see: processes besides itself, its
    runner and PID 1, and anything in /tmp, /dev/shm and /dev/mqueue."""
    look = (
        "import os\n"
        "procs = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getppid(), os.getpid())]\n"
        "left = [d + '/' + n for d in ('/tmp', '/dev/shm', '/dev/mqueue') if os.path.isdir(d) for n in os.listdir(d)]\n"
        "print(len(procs), len(left))"
    )
    code = "if input() == 'attack':\n" + textwrap.indent(program(attack), "    ") + "else:\n" + textwrap.indent(look, "    ") + "\n"
    tests = {"format": "stdin", "cases": [{"input": "attack\n", "output": "-"}, {"input": "look\n", "output": "0 0"}]}
    result = run_solution(code, tests, limits)
    return [t.verdict for t in result.tests]


@pytest.mark.parametrize(
    "name, attack",
    [
        (
            "grandchildren the kernel reaps keep spinning after the answer",
            "import os, signal\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\nfor _ in range(4):\n"
            "    if os.fork() == 0:\n        os.setsid()\n        while True:\n            pass\nprint(7)",
        ),
        (
            "a non-daemon thread that never ends",
            "import threading\nthreading.Thread(target=lambda: [None for _ in iter(int, 1)]).start()\nprint(7)",
        ),
        (
            "a daemon thread left spinning (python3 kills it at exit)",
            "import threading\nthreading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()\nprint(7)",
        ),
        (
            "the thread machinery patched to raise",
            "import threading\nthreading._shutdown = None\nthreading.Thread(target=print, args=(7,)).start()",
        ),
        ("50,000 files in /tmp", "import os\nfor k in range(50_000):\n    open(f'/tmp/{k}', 'w').close()\nprint(7)"),
        (
            "a FIFO and a symlink to / in /tmp",
            "import os\nos.mkfifo('/tmp/fifo')\nos.symlink('/', '/tmp/root')\nos.symlink('/tmp', '/tmp/loop')\nprint(7)",
        ),
        (
            "a locked-down tree: no permissions anywhere",
            "import os\nos.makedirs('/tmp/a/b/c')\nopen('/tmp/a/b/c/f', 'w').close()\n"
            "for d in ('/tmp/a/b/c', '/tmp/a/b', '/tmp/a'):\n    os.chmod(d, 0)\nprint(7)",
        ),
        (
            "a message queue with no permissions, and shared memory left attached by a sleeper",
            "import ctypes, os, time\nlibc = ctypes.CDLL(None)\nlibc.mq_open(b'/q', os.O_CREAT | os.O_RDWR, 0, None)\n"
            "libc.shmat.restype = ctypes.c_void_p\nshm = libc.shmget(7, 1 << 20, 0o1000 | 0o600)\nlibc.shmat(shm, None, 0)\n"
            "if os.fork() == 0:\n    libc.shmat(shm, None, 0)\n    time.sleep(60)\nprint(7)",
        ),
    ],
)
def test_own_nothing_survives_into_the_next_test(name, attack):
    verdicts = census(attack)
    assert verdicts[1] == "passed", (name, verdicts)


def test_own_a_huge_input_the_program_never_reads_is_no_stall():
    started = time.monotonic()
    result = stdin_run("print(7)", inputs=("1 " * (4 << 20),))
    assert result.verdict == "passed" and time.monotonic() - started < 10, result


@needs_cgroups
def test_own_cpu_in_threads_and_in_exec_d_children_counts():
    # A non-daemon thread and a child exec'ing a fresh interpreter both burn CPU after the main thread is done.
    code = """
        import os, subprocess, sys, threading, time
        def burn():
            end = time.process_time() + 1.2
            while time.process_time() < end:
                pass
        threading.Thread(target=burn).start()
        subprocess.Popen([sys.executable, "-c", "import time\\nend = time.process_time() + 0.9\\nwhile time.process_time() < end: pass"])
        print(7)
    """
    result = stdin_run(code, limits=Limits(time_s=8, cpu_s=1, memory_mb=512))
    assert result.verdict == "time_limit", result


def test_own_concurrent_batches_share_one_budget():
    # Two grade_many calls from two threads of one process: the same budget admits them both, in turn.
    import threading

    tests = {"format": "stdin", "cases": [{"input": "", "output": "1"}]}
    outputs = []

    def batch():
        outputs.append([r.verdict for r in grade_many([("print(1)", tests)] * 3, workers=3, limits=FAST)])

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == [["passed"] * 3] * 2


def test_own_a_solution_cannot_raise_the_budget_from_inside():
    # The budget is read in our process; the sandbox's environment is cleared and its cgroup files are read-only.
    code = "import os\nprint(os.environ.get('ACECURATE_SANDBOX_MEMORY_MB', '-'), os.access('/run/acecurate/cpu_usage', os.W_OK))"
    result = stdin_run(code, output="- False")
    assert result.verdict == "passed", result


# --- Attacks after the merge with the grading policy (stdin, signals, threads, a row's own limit) ---


def test_attack_a_program_that_closes_its_input_at_once():
    # 8 MB pending and the reader gone: the runner's write meets EPIPE, which is the program's business, not a fault.
    started = time.monotonic()
    result = stdin_run("import os\nos.close(0)\nprint(7)", inputs=("y" * (8 << 20),))
    assert result.verdict == "passed" and time.monotonic() - started < 10, result


def test_attack_a_trickle_reader_is_held_to_its_rows_own_limit():
    # A program that reads one byte per 10 ms would take 100 s: on a code row whose own limit (1 s) is below the
    # policy's (10 s), grading through the grading policy holds the sandbox for the row's limit only.
    from acecurate.verify.policy import GradingPolicy
    from acecurate.verify.responses import grade_responses

    response = "</think>\n```python\nimport sys, time\nwhile sys.stdin.read(1):\n    time.sleep(0.01)\nprint(7)\n```"
    started = time.monotonic()
    (verdict,) = grade_responses(
        ["code"], [response], [None], [stdin_tests(("z" * 10_000, "7"))], None, policy=GradingPolicy(time_limit_s=10.0), time_limits=[1.0]
    )
    assert verdict.status == "time_limit" and time.monotonic() - started < 7, verdict


def test_attack_a_program_that_stops_itself_is_a_time_limit():
    # SIGSTOP: no CPU, no exit, no output; only the wall limit ends it.
    started = time.monotonic()
    result = stdin_run("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\nprint(7)")
    assert result.verdict == "time_limit" and time.monotonic() - started < FAST.time_s + 6, result


def test_attack_a_flood_of_stderr_while_its_input_is_written():
    # 8 MB to stderr as it reads 1 MB of input: stderr is drained and capped, so neither side blocks.
    code = "import sys\nfor line in sys.stdin:\n    sys.stderr.write('e' * 64)\nprint(7)"
    result = stdin_run(code, inputs=("1\n" * (1 << 19),), limits=Limits(time_s=10, cpu_s=10, memory_mb=512))
    assert result.verdict == "passed", result


def test_attack_a_dozen_threads_are_all_joined():
    # Every non-daemon thread is waited for (the last one to finish prints the answer), within the wall limit and
    # the task limit (16 processes and threads).
    code = """
        import threading, time
        done = []
        lock = threading.Lock()
        def work():
            time.sleep(0.05)
            with lock:
                done.append(1)
                if len(done) == 12:
                    print(input())
        for _ in range(12):
            threading.Thread(target=work).start()
    """
    result = stdin_run(code, limits=Limits(time_s=10, cpu_s=10, memory_mb=512))
    assert result.verdict == "passed", result


def test_attack_a_right_answer_from_a_thread_after_the_main_thread_failed_is_a_runtime_error():
    # python3 prints the traceback, waits for the thread (which prints the right answer) and exits 1: not a pass.
    code = """
        import threading, time
        def late():
            time.sleep(0.2)
            print(7)
        threading.Thread(target=late).start()
        raise ValueError("main failed")
    """
    result = stdin_run(code)
    assert result.verdict == "runtime_error", result
