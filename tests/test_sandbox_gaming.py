"""Reward hacking against the sandbox: every case of issue 11 (a wrong or slow program graded `passed`, or one response
breaking others), then attacks of our own. Each program is what a policy could write; each assertion is the verdict a
judge would give. Uses the real bubblewrap, cgroups where the machine has them, and the real judge environment."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from acecurate.sandbox import Limits, grade_many, run_solution
from acecurate.sandbox.cgroups import cgroup_support
from acecurate.sandbox.compare import LongInt, loads, values_equal
from acecurate.sandbox.executor import drive_runner
from acecurate.sandbox.judge_env import find_judge_env
from acecurate.verify.responses import grade_responses

from .conftest import FAST, FRAMED, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.usefixtures("sandbox_mode")]
needs_cgroups = pytest.mark.skipif(not cgroup_support().available, reason=f"per-sandbox limits need cgroups: {cgroup_support().reason}")


def program(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


def stdin_run(code, output="7", inputs=("7\n",), limits=FAST, **options):
    tests = {"format": "stdin", "cases": [{"input": i, "output": output} for i in inputs]}
    return run_solution(program(code), tests, limits, **options)


def printed(result) -> str:
    """What a stdin program printed on its first test (the tests expect '-', so the difference holds the output)."""
    return result.tests[0].difference["got"] if result.tests[0].difference else ""


# 1. The runner is in reach of the code ---------------------------------------------------------------------------


def test_1_stopping_the_runner_does_not_hide_a_slow_test():
    # SIGSTOP to the runner, 3 s of work against a 2 s limit, and a helper in its own session that sends SIGCONT after
    # closing its descriptors. The reported time must not matter: the test took too long.
    code = """
        import os, signal, time
        runner = os.getppid()
        if os.fork() == 0:
            os.setsid()
            os.closerange(0, 64)
            time.sleep(3.2)
            os.kill(runner, signal.SIGCONT)
            os._exit(0)
        os.kill(runner, signal.SIGSTOP)
        time.sleep(3)
        print(7)
    """
    result = stdin_run(code)
    assert result.verdict == "time_limit", result


def test_1_the_runner_cannot_be_traced_read_or_signalled():
    # Each probe prints 'blocked' when the door is shut: ptrace attach, /proc/<runner>/mem for writing, and the runner's
    # result pipe through /proc/<runner>/fd/1. Then SIGKILL and SIGSTOP to the runner: it must still report the test.
    code = """
        import ctypes, os, signal, sys, time
        libc = ctypes.CDLL(None, use_errno=True)
        runner = os.getppid()
        out = ["blocked" if libc.ptrace(16, runner, 0, 0) != 0 else "traced"]
        for path, flags in ((f"/proc/{runner}/mem", os.O_RDWR), (f"/proc/{runner}/fd/1", os.O_WRONLY)):
            try:
                os.close(os.open(path, flags))
                out.append("opened")
            except OSError:
                out.append("blocked")
        print(" ".join(out))
        sys.stdout.flush()
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(runner, sig)
            except OSError:
                pass
        time.sleep(0.3)
    """
    result = stdin_run(code, output="blocked blocked blocked")
    assert result.verdict == "passed", result


# 2. Inline assert suites carried the expected values into the sandbox ---------------------------------------------

REVERSE_LIST = {
    "format": "assert",
    "check": program(
        """
        def check(candidate):
            assert is_same_list(candidate(head=list_node([1, 2, 3])), list_node([3, 2, 1]))
            assert is_same_list(candidate(head=list_node([5])), list_node([5]))
            assert is_same_list(candidate(head=list_node([])), list_node([]))

        check(Solution().reverseList)
        """
    ),
}
REVERSE_LIST_OK = program(
    """
    class Solution:
        def reverseList(self, head):
            previous = None
            while head:
                head.next, previous, head = previous, head, head.next
            return previous
    """
)
TREE_LEAVES = {
    "format": "assert",
    "check": program(
        """
        def check(candidate):
            assert candidate(root=tree_node([1, None, 2, 2])) == [2]
            assert candidate(root=tree_node([3, 9, 20, None, None, 15, 7])) == [9, 15, 7]

        check(Solution().leaves)
        """
    ),
}
MIRROR_TREE = {
    "format": "assert",
    "check": program(
        """
        def check(candidate):
            assert is_same_tree(candidate(root=tree_node([4, 2, 7, 1, 3, 6, 9])), tree_node([4, 7, 2, 9, 6, 3, 1]))
            assert is_same_tree(candidate(root=tree_node([2, 1])), tree_node([2, None, 1]))
            assert is_same_tree(candidate(root=tree_node([])), tree_node([]))

        check(Solution().invertTree)
        """
    ),
}


def test_2_linked_list_and_tree_suites_become_data():
    assert run_solution(REVERSE_LIST_OK, REVERSE_LIST, FAST).verdict == "passed"
    leaves = "class Solution:\n    def leaves(self, root):\n        if not root:\n            return []\n"
    leaves += "        if not root.left and not root.right:\n            return [root.val]\n"
    leaves += "        return self.leaves(root.left) + self.leaves(root.right)\n"
    assert run_solution(leaves, TREE_LEAVES, FAST).verdict == "passed"
    invert = "class Solution:\n    def invertTree(self, root):\n        if root:\n"
    invert += "            root.left, root.right = self.invertTree(root.right), self.invertTree(root.left)\n        return root\n"
    assert run_solution(invert, MIRROR_TREE, FAST).verdict == "passed"
    # The identity is wrong for both: a judge says wrong_answer, not a crash.
    identity = (
        "class Solution:\n    def reverseList(self, head):\n        return head\n    def invertTree(self, root):\n        return root\n"
    )
    assert run_solution(identity, REVERSE_LIST, FAST).verdict == "wrong_answer"
    assert run_solution(identity, MIRROR_TREE, FAST).verdict == "wrong_answer"


@pytest.mark.parametrize(
    "name, code, tests",
    [
        (
            "a return value whose __eq__ is always True",
            "class Any:\n    def __eq__(self, other):\n        return True\nclass Solution:\n    def leaves(self, root):\n        return Any()\n",
            TREE_LEAVES,
        ),
        (
            "is_same_list redefined to always agree",
            "def is_same_list(a, b):\n    return True\nclass Solution:\n    def reverseList(self, head):\n        return head\n",
            REVERSE_LIST,
        ),
        (
            "is_same_tree redefined through builtins",
            "import builtins\nbuiltins.is_same_tree = lambda a, b: True\nis_same_tree = builtins.is_same_tree\n"
            "class Solution:\n    def invertTree(self, root):\n        return None\n",
            MIRROR_TREE,
        ),
        (
            "the completion marker read from the caller's frame",
            program(
                """
                import os, sys
                class Solution:
                    def reverseList(self, head):
                        frame = sys._getframe(1)
                        while frame is not None:
                            job = frame.f_locals.get("job")
                            if isinstance(job, dict) and "marker" in job:
                                os.write(3, ('{"asserts_passed": "%s"}' % job["marker"]).encode())
                                os._exit(0)
                            frame = frame.f_back
                        return head
                """
            ),
            REVERSE_LIST,
        ),
    ],
)
def test_2_inline_suite_tricks_fail(name, code, tests):
    result = run_solution(code, tests, FAST)
    assert result.verdict in ("wrong_answer", "runtime_error"), (name, result)


UNTRUSTED = {"format": "assert", "check": "def check(candidate):\n    assert abs(candidate(2) - 4) < 1e-9\n\ncheck(double)\n"}


def test_2_a_suite_that_is_not_data_is_refused_unless_allowed():
    refused = run_solution("def double(x):\n    return 2 * x\n", UNTRUSTED, FAST)
    assert refused.verdict == "untrusted_suite" and not refused.tests and not refused.passed
    allowed = run_solution("def double(x):\n    return 2 * x\n", UNTRUSTED, FAST, allow_inline_asserts=True)
    assert allowed.verdict == "passed"


# 3. Integers compared with a float tolerance ----------------------------------------------------------------------


def functional(fn_name, *pairs, compare=None):
    tests = {"format": "functional", "fn_name": fn_name, "cases": [{"input": i, "output": o} for i, o in pairs]}
    return {**tests, "compare": compare} if compare else tests


@pytest.mark.parametrize(
    "returned, expected, verdict",
    [
        ("1000000000.0", "1000000007", "wrong_answer"),  # within 1e-6 relative of the right integer
        ("1e18", str(10**18 + 1), "wrong_answer"),
        ("float(10**18 + 1)", str(10**18), "passed"),  # the float is exactly 10**18: equal, as a judge says
        ("5.0", "5", "passed"),
        ("5.000001", "5", "wrong_answer"),
        ("float('inf')", "Infinity", "passed"),
        ("float('-inf')", "Infinity", "wrong_answer"),
        ("1e308", "Infinity", "wrong_answer"),
        ("float('nan')", "NaN", "passed"),
        ("float('nan')", "0.5", "wrong_answer"),
        ("0.3333334", "0.333333", "passed"),  # the tolerance where the expected value is a float
        ("1", "1.0000001", "passed"),
        ("10 ** 400", "Infinity", "wrong_answer"),  # an integer is never inf, however large (Python agrees)
        ("10 ** 400", "1.5", "wrong_answer"),
        ("-10 ** 5000", "-Infinity", "wrong_answer"),
    ],
)
def test_3_integers_compare_exactly_and_floats_within_tolerance(returned, expected, verdict):
    result = run_solution(f"def f(x):\n    return {returned}\n", functional("f", ("1", expected)), FAST)
    assert result.verdict == verdict, (returned, expected, result)


def test_3_assert_suite_with_an_infinite_expected_value():
    tests = {
        "format": "assert",
        "check": "def check(candidate):\n    assert candidate(a=1) == float('inf')\n    assert candidate(a=2) == -inf\n\ncheck(f)\n",
    }
    assert run_solution("def f(a):\n    return float('inf') if a == 1 else -float('inf')\n", tests, FAST).verdict == "passed"
    assert run_solution("def f(a):\n    return 1e308\n", tests, FAST).verdict == "wrong_answer"
    big = {"format": "assert", "check": "def check(candidate):\n    assert candidate(a=1) == 1000000007\n\ncheck(f)\n"}
    assert run_solution("def f(a):\n    return 1000000000.0\n", big, FAST).verdict == "wrong_answer"


# 4. One response that breaks the batch ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, payload, verdict",
    [
        ("100,000 open brackets", "b'[' * 100000", "runtime_error"),
        ("a million-digit integer", "b'{\"value\": 1' + b'0' * 1000000 + b'}'", "wrong_answer"),
        ("not JSON", "b'\\xff\\xfe{'", "runtime_error"),
        ("a result without a value", "b'{\"index\": 999}'", "runtime_error"),
    ],
)
def test_4_hostile_results_are_that_tests_verdict(name, payload, verdict):
    # Framed as the harness frames an answer, with the nonce read from the harness's own frame: what reaches the
    # parent is the hostile payload itself.
    code = FRAMED + f"def f(x):\n    os.write(3, framed({payload}))\n    os._exit(0)\n"
    results = grade_many(
        [(code, functional("f", ("1", "5"))), ("def f(x):\n    return 5\n", functional("f", ("1", "5")))], workers=2, limits=FAST
    )
    assert results[0].verdict == verdict, (name, results[0])
    assert results[1].verdict == "passed", name


def test_4_huge_integers_stay_digit_strings():
    # The parent never converts a long digit string to an int (quadratic, and it holds the GIL): it compares digits.
    value = loads("1" + "0" * 100_000)
    assert isinstance(value, LongInt)
    assert values_equal(10**100_000, value) and not values_equal(10**100_000 + 1, value)
    assert values_equal(loads("1" + "0" * 100_000), value)


HOSTILE_EVENTS = [
    # (what a compromised runner writes after a correct hello and ready, the verdict of test 0)
    (
        '{"event": "result", "index": 999, "limit": null, "exit_code": 0, "signal": null, "time_s": 0.1, "cpu_s": 0.1, '
        '"max_rss_kb": 1, "oom_kills": 0, "stdout": 0, "stderr": 0, "result": 0}\n',
        "runtime_error",
    ),
    ("[" * 100_000 + "\n", "runtime_error"),
    ('{"event": "result"' + " " * 10_000_000, "runtime_error"),  # a line that never ends: capped, not buffered
    (
        '{"event": "result", "index": 0, "limit": null, "exit_code": 0, "signal": null, "time_s": 9.5, "cpu_s": 0.1, '
        '"max_rss_kb": 1, "oom_kills": 0, "stdout": 2, "stderr": 0, "result": 0}\n7\n',
        "time_limit",
    ),  # over the limit
    (
        '{"event": "result", "index": 0, "limit": null, "exit_code": 0, "signal": null, "time_s": 0.1, "cpu_s": 0.1, '
        '"max_rss_kb": 1, "oom_kills": 0, "stdout": 99999999999, "stderr": 0, "result": 0}\n',
        "output_limit",
    ),
    (
        '{"event": "result", "index": 0, "limit": null, "exit_code": 0, "signal": null, "time_s": "fast", "cpu_s": 0.1, '
        '"max_rss_kb": 1, "oom_kills": 0, "stdout": 2, "stderr": 0, "result": 0}\n7\n',
        "runtime_error",
    ),
]


@pytest.mark.parametrize("forged, verdict", HOSTILE_EVENTS)
def test_4_the_parent_validates_every_event(forged, verdict, tmp_path):
    # A stand-in for a runner taken over by the code under test: it reads the job, then writes what the attacker wants.
    # The parent's reader is the thing under test; it must turn all of it into that test's verdict.
    script = tmp_path / "runner.py"
    script.write_text(
        "import sys\nsys.stdin.buffer.read()\nw = sys.stdout.write\n"
        'w(\'{"event": "hello"}\\n{"event": "ready"}\\n\')\n'
        f"w({forged!r})\nsys.stdout.flush()\n"
    )
    tests = {"format": "stdin", "cases": [{"input": "", "output": "7"}, {"input": "", "output": "7"}]}
    result = drive_runner([sys.executable, str(script)], "print(7)", tests, FAST)
    assert result.tests[0].verdict == verdict, result
    assert result.verdict == verdict


# 5. Compile failures are compile_error, and only infrastructure faults are sandbox_error ---------------------------


@pytest.mark.parametrize(
    "name, code",
    [
        ("3,000-term sum", "print(" + "+".join(["1"] * 3000) + ")"),
        (
            "5,000-branch elif chain",
            "x = int(input())\nif x == 0:\n    print(0)\n" + "".join(f"elif x == {i}:\n    print({i})\n" for i in range(1, 5000)),
        ),
        ("null byte", "print(7)\0"),
        ("deeply nested brackets", "x = " + "(" * 300 + "1" + ")" * 300),
    ],
)
def test_5_every_compile_failure_is_compile_error(name, code):
    assert run_solution(code, {"format": "stdin", "cases": [{"input": "7\n", "output": "7"}]}, FAST).verdict == "compile_error", name


def test_5_a_response_cannot_stop_a_reward_batch():
    tests = json.dumps({"format": "stdin", "cases": [{"input": "7\n", "output": "7"}]})
    texts = ["</think>```python\nprint(" + "+".join(["1"] * 3000) + ")\n```", "</think>```python\nprint(input())\n```"]
    graded = grade_responses(["code", "code"], texts, [None, None], [tests, tests], math_grader=None, workers=2)
    assert [(v.status, v.correct) for v in graded] == [("compile_error", False), ("passed", True)]


# 6. Limits per sandbox, not per process ---------------------------------------------------------------------------


@needs_cgroups
def test_6_memory_is_limited_per_sandbox():
    # Four processes of 150 MB each: under a 256 MB per-process limit, far over a 256 MB sandbox.
    code = """
        import os, time
        for _ in range(4):
            if os.fork() == 0:
                block = bytearray(150 << 20)
                time.sleep(1.5)
                os._exit(0)
        time.sleep(0.5)
        print(7)
        try:
            while True:
                os.wait()
        except ChildProcessError:
            pass
    """
    result = stdin_run(code, limits=Limits(time_s=4, cpu_s=4, memory_mb=256))
    assert result.verdict == "memory_limit", result


@pytest.mark.parametrize("where", ["/tmp", "/dev/shm", "/", "/dev"])
def test_6_files_cannot_fill_host_memory(where):
    # 300 MB in 10 MB files (each under the file-size limit) where the sandbox can write, or could on main: the
    # unsized root and /dev.
    code = f"""
        import os
        block = b"x" * (10 << 20)
        try:
            for i in range(30):
                with open(os.path.join({where!r}, f"fill{{i}}"), "wb") as f:
                    f.write(block)
            print("wrote")
        except OSError:
            print("refused")
    """
    result = stdin_run(code, output="-", limits=Limits(time_s=6, cpu_s=6, memory_mb=1024))
    assert printed(result) == "refused", (where, result)


@needs_cgroups
@pytest.mark.slow
def test_6_cpu_hogs_do_not_push_neighbours_into_time_limit():
    # 30 spinning processes in their own sessions beside a correct program that needs a little CPU per test.
    hog = """
        import os, time
        for _ in range(30):
            if os.fork() == 0:
                os.setsid()
                while True:
                    pass
        time.sleep(30)
    """
    honest = "total = 0\nfor i in range(6_000_000):\n    total += i\nprint(7)\n"
    limits = Limits(time_s=2.5, cpu_s=3, processes=40)
    stdin = {"format": "stdin", "cases": [{"input": "", "output": "7"}] * 4}
    results = grade_many([(program(hog), stdin), (honest, stdin)], workers=2, limits=limits)
    assert results[0].verdict == "time_limit"
    assert results[1].verdict == "passed", results[1]


# 7. No zombie bubblewrap when we are PID 1 ----------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare(1) to be PID 1")
def test_7_no_zombies_when_running_as_pid_1():
    script = (
        "import os\nfrom acecurate.sandbox import Limits, run_solution\n"
        "tests = {'format': 'stdin', 'cases': [{'input': '', 'output': '7'}]}\n"
        "for code in ['print(7)', 'import time\\ntime.sleep(9)', 'print(8)', 'while True: pass', 'print(7)']:\n"
        "    run_solution(code, tests, Limits(time_s=0.5, cpu_s=1), early_stop=True)\n"
        "zombies = [p for p in os.listdir('/proc') if p.isdigit() and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0] == 'Z']\n"
        "print(os.getpid(), len(zombies))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["1", "0"], out


# Attacks of our own ---------------------------------------------------------------------------------------------


def test_own_lowering_the_runners_limits_cannot_break_the_batch():
    # prlimit on the runner (same uid) leaves it no file descriptors for the next test's pipes. On main the runner
    # then crashed between tests, and the solution got `sandbox_error`, which stops a reward batch or a stage.
    code = """
        import os, resource
        try:
            resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (3, 3))
        except OSError:
            pass
        print(input())
    """
    result = stdin_run(code, inputs=("7\n", "7\n"))
    assert [t.verdict for t in result.tests] == ["passed", "passed"], result


def test_own_no_new_user_namespace_to_regain_capabilities():
    code = """
        import subprocess
        done = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True)
        print("blocked" if done.returncode else "allowed")
    """
    assert printed(stdin_run(code, output="-")) == "blocked"


SYSCALLS = {  # name: (x86_64, aarch64) numbers and arguments that would succeed without the filter
    "io_uring_setup": ((425, 425), "1, ctypes.byref(ctypes.create_string_buffer(120))"),
    "keyctl": ((250, 219), "0, -3, 0"),  # KEYCTL_GET_KEYRING_ID of the session keyring
    "add_key": ((248, 217), 'b"user", b"k", b"v", 1, -3'),
    "bpf": ((321, 280), "0, 0, 0"),
    "userfaultfd": ((323, 282), "0"),
    "perf_event_open": ((298, 241), "0, 0, -1, -1, 0"),
    "unshare": ((272, 97), "0x10000000"),  # CLONE_NEWUSER
    "mount": ((165, 40), 'b"none", b"/tmp", b"tmpfs", 0, 0'),
}


@pytest.mark.parametrize("name", sorted(SYSCALLS))
def test_own_syscalls_a_solution_never_needs_are_refused(name):
    (x86, arm), args = SYSCALLS[name]
    code = f"""
        import ctypes, platform
        libc = ctypes.CDLL(None, use_errno=True)
        number = {x86} if platform.machine() == "x86_64" else {arm}
        result = libc.syscall(number, {args})
        print("blocked" if result == -1 and ctypes.get_errno() == 1 else f"allowed {{result}} {{ctypes.get_errno()}}")
    """
    assert printed(stdin_run(code, output="-")) == "blocked", name


def test_own_cpu_spread_over_processes_counts_in_full():
    # Five processes of 0.6 CPU seconds each: each under a 1 s CPU limit, 3 s in all. A judge counts every process.
    code = """
        import os, time
        def spin(seconds):
            end = time.process_time() + seconds
            while time.process_time() < end:
                pass
        for _ in range(4):
            if os.fork() == 0:
                spin(0.6)
                os._exit(0)
        spin(0.6)
        for _ in range(4):
            os.wait()
        print(7)
    """
    result = stdin_run(code, limits=Limits(time_s=8, cpu_s=1, memory_mb=512, processes=16))
    assert result.verdict == "time_limit", result


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("int subclass that prints and compares as the answer", "Fake(4)", "5"),
        ("float subclass", "FakeFloat(4.0)", "5.5"),
        ("str subclass", "FakeStr('no')", '"yes"'),
    ],
)
def test_own_rigged_subclasses_are_judged_by_their_value(name, value, expected):
    code = (
        program(
            """
        class Fake(int):
            __repr__ = __str__ = lambda self: "5"
            __eq__ = lambda self, other: True
        class FakeFloat(float):
            __repr__ = __str__ = lambda self: "5.5"
            __eq__ = lambda self, other: True
        class FakeStr(str):
            __repr__ = __str__ = lambda self: '"yes"'
            __eq__ = lambda self, other: True
        """
        )
        + f"def f(x):\n    return {value}\n"
    )
    assert run_solution(code, functional("f", ("1", expected)), FAST).verdict == "wrong_answer", name


@pytest.mark.parametrize(
    "name, body",
    [
        ("a cyclic list", "head.next.next.next = head\n        return head"),
        ("a Python list instead of a linked list", "return [3, 2, 1]"),
        ("a node whose val is rigged", "class Node:\n            val = property(lambda self: 1 / 0)\n        return Node()"),
    ],
)
def test_own_linked_list_answers_must_be_linked_lists(name, body):
    code = f"class Solution:\n    def reverseList(self, head):\n        {body}\n"
    assert run_solution(code, REVERSE_LIST, FAST).verdict == "runtime_error", name


@pytest.mark.parametrize(
    "returned, verdict",
    [
        ("[3, 1, 2, 2]", "passed"),  # any order
        ("[1, 1, 2, 3]", "wrong_answer"),  # same set, other multiplicities
        ("[1, 2, 3]", "wrong_answer"),  # a sub-multiset
        ("[1, 2, 2, 3, 3]", "wrong_answer"),
        ("[[2], 1, 2, 3]", "wrong_answer"),
    ],
)
def test_own_unordered_is_a_multiset_comparison(returned, verdict):
    tests = functional("f", ("1", "[1, 2, 2, 3]"), compare="unordered")
    assert run_solution(f"def f(x):\n    return {returned}\n", tests, FAST).verdict == verdict, returned


def test_own_unordered_stdin_lines():
    tests = {"format": "stdin", "compare": "unordered", "cases": [{"input": "", "output": "1 2\n3 4\n3 4\n"}]}
    assert run_solution("print('3 4')\nprint('1 2.0')\nprint('3 4')", tests, FAST).verdict == "wrong_answer"  # 2 is an integer
    assert run_solution("print('3 4')\nprint('1 2')\nprint('3 4')", tests, FAST).verdict == "passed"
    assert run_solution("print('3 4')\nprint('1 2')", tests, FAST).verdict == "wrong_answer"
    assert run_solution("print('1 2')\nprint('3 4')\nprint('1 2')", tests, FAST).verdict == "wrong_answer"
    exact = {**tests, "compare": "exact"}
    assert run_solution("print('3 4')\nprint('1 2')\nprint('3 4')", exact, FAST).verdict == "wrong_answer"


def test_own_a_solution_cannot_reach_its_neighbour_or_the_host():
    # kill(-1) and a sweep of every pid: in its own PID namespace (and, as root, its own uid) it reaches nothing else.
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        killer = "import os, signal\nfor pid in range(2, 1 << 16):\n    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nos.kill(-1, signal.SIGKILL)"
        slow_ok = "import time\ntime.sleep(1)\nprint(input())"
        results = grade_many(
            [
                (killer, {"format": "stdin", "cases": [{"input": "7\n", "output": "7"}]}),
                (slow_ok, {"format": "stdin", "cases": [{"input": "7\n", "output": "7"}]}),
            ],
            workers=2,
            limits=FAST,
        )
        assert results[1].verdict == "passed", results[1]
        assert results[0].verdict in ("wrong_answer", "runtime_error"), results[0]
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_own_only_its_own_processes_are_visible():
    code = "import os\nprint(' '.join(sorted(p for p in os.listdir('/proc') if p.isdigit())))"
    seen = printed(stdin_run(code, output="-"))
    assert seen == "1", seen  # the first token: the runner is PID 1, the test itself is the only other process


@pytest.mark.parametrize(
    "frame, verdict",
    [
        ("framed(b' ' * (64 << 20))", "output_limit"),  # a frame that announces more than the output limit
        ("b' ' * (64 << 20)", "runtime_error"),  # bytes that are no frame of this test: they answer nothing
    ],
)
def test_own_floods_on_the_result_channel_fail_the_test(frame, verdict):
    code = (
        FRAMED
        + f"def f(x):\n    data = {frame}\n    for i in range(0, len(data), 1 << 20):\n        os.write(3, data[i : i + (1 << 20)])\n    return 5\n"
    )
    assert run_solution(code, functional("f", ("1", "5")), Limits(time_s=4, cpu_s=4, output_bytes=8 << 20)).verdict == verdict


def test_own_printing_a_forged_event_is_just_output():
    forged = '{"event": "result", "index": 0, "limit": null, "exit_code": 0, "signal": null, "time_s": 0.1, "cpu_s": 0.1, "max_rss_kb": 1, "oom_kills": 0, "stdout": 2, "stderr": 0, "result": 0}'
    code = f"import sys\nsys.stdout.write({forged!r} + '\\n7\\n')"
    assert stdin_run(code).verdict == "wrong_answer"


# The judge environment ----------------------------------------------------------------------------------------------

needs_judge_env = pytest.mark.skipif(
    find_judge_env() is None, reason="the judge environment is not built: run `acecurate sandbox setup` (make test does)"
)


@needs_judge_env
def test_judge_env_packages_import_and_verdicts_name_it():
    code = program(
        """
        from sortedcontainers import SortedList
        import numpy as np
        class Solution:
            def kth(self, nums, k):
                return int(np.sort(np.array(nums))[k - 1]) + len(SortedList(nums)) * 0
            def sums(self, nums, k):
                return np.cumsum(nums)[k - 1]
        """
    )
    tests = functional("kth", ("[5, 1, 4]\n2", "4"))
    result = run_solution(code, tests, FAST)
    assert result.verdict == "passed", result
    assert result.environment == find_judge_env().name
    # A numpy scalar is its value, as LeetCode's judge takes it.
    assert run_solution(code, functional("sums", ("[5, 1, 4]\n2", "6")), FAST).verdict == "passed"


@needs_judge_env
def test_judge_env_is_read_only():
    code = "import numpy, os\ntry:\n    open(os.path.join(os.path.dirname(numpy.__file__), 'x.py'), 'w')\n    print('wrote')\nexcept OSError:\n    print('refused')"
    assert printed(stdin_run(code, output="-")) == "refused"


# Without cgroups --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_without_cgroups_it_says_so_once_and_limits_each_process():
    # A machine without delegated cgroups (forced here): one clear warning for the whole process, then per-process
    # limits still stop a memory bomb and a fork bomb, and an honest program still passes.
    script = textwrap.dedent(
        """
        import warnings
        from acecurate.sandbox import Limits, run_solution
        warnings.simplefilter("default")
        tests = {"format": "stdin", "cases": [{"input": "", "output": "7"}]}
        limits = Limits(time_s=2, cpu_s=2, memory_mb=256)
        bomb = "import os\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        pass"
        for code in ["x = bytearray(10**9)\\nprint(7)", bomb, "print(7)", "print(7)"]:
            print(run_solution(code, tests, limits).verdict)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ACECURATE_SANDBOX_CGROUPS": "off"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["memory_limit", "time_limit", "passed", "passed"], out
    assert out.stderr.count("no cgroup per sandbox (turned off by ACECURATE_SANDBOX_CGROUPS)") == 1, out.stderr


def test_own_no_work_carries_over_between_tests():
    # A slow program that spreads its work over the tests through files: each test must start from nothing.
    code = """
        import os
        os.makedirs("/tmp/cache/deep", exist_ok=True)
        seen = sorted(os.listdir("/tmp/cache/deep")) + sorted(os.listdir("/dev/shm"))
        open(f"/tmp/cache/deep/{input()}", "w").close()
        open("/dev/shm/x", "w").close()
        os.chmod("/tmp/cache", 0o500)
        print(len(seen))
    """
    result = stdin_run(code, output="0", inputs=("a\n", "b\n", "c\n"))
    assert [t.verdict for t in result.tests] == ["passed"] * 3, result


@pytest.mark.parametrize(
    "name, attack, verdict",
    [
        (
            "the answer, then the process stops itself before exiting",
            "import os, signal, sys\nprint(7)\nsys.stdout.flush()\nos.kill(os.getpid(), signal.SIGSTOP)",
            "time_limit",
        ),
        (
            "a fresh interpreter exec'd to shed the CPU limit",
            "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'while True: pass'])",
            "time_limit",
        ),
        (
            "a child made a subreaper to hide a spinning descendant from the kill",
            "import ctypes, os, time\nctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\nif os.fork() == 0:\n    os.setsid()\n"
            "    while True:\n        pass\ntime.sleep(0.2)\nprint(7)",
            "passed",  # an honest answer; what matters is that the spinner is gone by the next test
        ),
        (
            "a fork bomb of processes in new sessions",
            "import os\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n    except OSError:\n        pass",
            "time_limit",
        ),
        (
            "its own process group killed after the answer",
            "import os, signal\nprint(7, flush=True)\nos.killpg(0, signal.SIGKILL)",
            "runtime_error",
        ),
    ],
)
def test_own_more_escapes_from_the_limits(name, attack, verdict):
    # Test 1 attacks; test 2 of the same sandbox counts the processes it can see besides itself, its runner and PID 1.
    census = "import os\nprint(sum(1 for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getppid(), os.getpid())))"
    code = "if input() == 'attack':\n" + textwrap.indent(attack, "    ") + "\nelse:\n" + textwrap.indent(census, "    ") + "\n"
    tests = {"format": "stdin", "cases": [{"input": "attack\n", "output": "7"}, {"input": "census\n", "output": "0"}]}
    result = run_solution(code, tests, Limits(time_s=2, cpu_s=1, memory_mb=512))
    assert [t.verdict for t in result.tests] == [verdict, "passed"], (name, result)
