"""The runner that executes inside the bubblewrap sandbox. Standard library only; started as `python3 -I -S -c SRC`.

It reads one job (code and test inputs, never expected outputs) from stdin, compiles the code once, then runs each
test in a fresh forked child with real pipes for stdin/stdout/stderr, resource limits, and its own session. It writes
one JSON line per event to its stdout: {"ready"} or {"compile_error"}, then {"start": i} and the test's raw result.
The parent compares outputs; nothing here knows what a correct answer is.
"""

import io
import json
import os
import resource
import select
import signal
import sys
import time
import traceback

# Taken before any solution code runs, so a solution that patches builtins, json or os cannot change how the harness
# serialises and reports its result.
_isinstance, _dumps, _write, _exit, _sorted, _repr = isinstance, json.dumps, os.write, os._exit, sorted, repr

PRELUDE = (
    "from typing import *\nfrom collections import *\nimport math, heapq, bisect, itertools, functools, collections, string, re, sys\n"
)


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def to_jsonable(value, depth=0):
    """JSON-safe copy of a return value; bool stays bool. Anything else (a rigged object) raises TypeError."""
    if depth > 100:
        raise TypeError("nested too deeply")
    if value is None or _isinstance(value, (bool, int, str)):
        return value
    if _isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if _isinstance(value, (list, tuple)):
        return [to_jsonable(v, depth + 1) for v in value]
    if _isinstance(value, (set, frozenset)):
        return _sorted((to_jsonable(v, depth + 1) for v in value), key=_repr)
    if _isinstance(value, dict):
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"return value of type {type(value).__name__} is not JSON data")


def child(job, code, test, result_fd):
    """Runs in the forked child: limits first, then the solution. Never returns."""
    limits = job["limits"]
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_bytes"], limits["file_bytes"]))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), line_buffering=True)
        import builtins

        builtins.exit = builtins.quit = sys.exit  # absent under -S; solutions call them
        namespace = {"__name__": "__main__", "__builtins__": builtins}
        fmt = job["format"]
        if fmt == "stdin":
            exec(code, namespace)
            sys.stdout.flush()
            _exit(0)
        exec(code, namespace)
        if fmt == "functional" or fmt == "assert_cases":
            fn_name = job["fn_name"]
            if "Solution" in namespace and isinstance(namespace["Solution"], type):
                fn = getattr(namespace["Solution"](), fn_name)
            else:
                fn = namespace[fn_name]
            if fmt == "functional":
                args = [json.loads(line) for line in test.split("\n") if line.strip()]
                value = fn(*args)
            else:
                value = fn(*test["args"], **test["kwargs"])
            payload = _dumps({"value": to_jsonable(value)})
        else:  # assert suite run in place: the check code calls the candidate itself
            exec(compile(job["check"], "<check>", "exec"), namespace)
            payload = _dumps({"asserts_passed": job["marker"]})
        sys.stdout.flush()
        _write(result_fd, payload.encode())
        _exit(0)
    except SystemExit as exc:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        code_ = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _exit(code_ if fmt == "stdin" else 3)  # exiting during a function call is not an answer
    except MemoryError:
        _write(2, b"MemoryError\n")
        _exit(1)
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
            sys.stdout.flush()
        except Exception:
            pass
        _exit(1)


def run_test(job, code, index, test):
    limits = job["limits"]
    stdin_data = (test if job["format"] == "stdin" else "").encode()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 1 << 16)  # the runner's own result channel is not reachable from the solution
        child(job, code, test, 3)
    for fd in (in_r, out_w, err_w, res_w):
        os.close(fd)
    outputs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
    caps = {out_r: limits["output_bytes"], err_r: 4096, res_r: limits["output_bytes"]}
    pending_in = memoryview(stdin_data)
    writers = [in_w] if pending_in else []
    if not pending_in:
        os.close(in_w)
    readers = list(outputs)
    exited = os.pidfd_open(pid)  # readable once the test's process exits, even if its children hold the pipes
    verdict = None
    deadline = started + limits["wall_s"]
    while readers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            verdict = "time_limit"
            break
        r, w, _ = select.select(readers + [exited], writers, [], remaining)
        if exited in r:
            r = select.select(readers, [], [], 0)[0]  # what is already written; leftover children are killed below
            readers = []
        if w:
            try:
                sent = os.write(in_w, pending_in[:65536])
                pending_in = pending_in[sent:]
            except (BrokenPipeError, OSError):
                pending_in = pending_in[:0]
            if not pending_in:
                os.close(in_w)
                writers = []
        for fd in r:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if fd in readers:
                    readers.remove(fd)
                continue
            if fd == err_r:
                room = caps[fd] - len(outputs[fd])
                outputs[fd] += chunk[: max(room, 0)]
                continue
            outputs[fd] += chunk
            if len(outputs[fd]) > caps[fd]:
                verdict = "output_limit"
                readers = []
                break
    try:
        os.killpg(pid, signal.SIGKILL)  # the test's whole session: background children die with it
    except ProcessLookupError:
        pass
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - started
    for fd in list(outputs) + writers + [exited]:
        try:
            os.close(fd)
        except OSError:
            pass
    return {
        "index": index,
        "limit": verdict,
        "exit_code": os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "time_s": round(elapsed, 4),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 4),
        "max_rss_kb": usage.ru_maxrss,
        "stdout": outputs[out_r][: limits["output_bytes"]].decode("utf-8", "replace"),
        "stderr": outputs[err_r].decode("utf-8", "replace"),
        "result": outputs[res_r].decode("utf-8", "replace"),
    }


def main():
    job = json.loads(sys.stdin.read())
    source = job["code"] if job["format"] == "stdin" else PRELUDE + job["code"]
    try:
        code = compile(source, "<solution>", "exec")
    except (SyntaxError, ValueError) as exc:
        emit({"compile_error": f"{type(exc).__name__}: {exc}"})
        return
    emit({"ready": True})
    for index, test in enumerate(job["tests"]):
        emit({"start": index})
        emit(run_test(job, code, index, test))


main()
