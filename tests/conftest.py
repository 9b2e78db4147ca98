import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acecurate.sandbox import Limits

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TERMINAL_WIDTH", "200")  # typer renders --help at this width, so option names are not cut

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


# A result frame as the sandbox's harness writes it (runner.child), for attacks on the result channel: the nonce of the
# command that named the test, taken from the harness's frame as an attacker would, then the length and the bytes.
FRAMED = (
    "import os, sys\n"
    "def framed(payload, nonce=None):\n"
    "    frame = sys._getframe(1)\n"
    "    while nonce is None:\n"
    "        nonce = frame.f_locals.get('command', b'')[8:] or None\n"
    "        frame = frame.f_back\n"
    "    return nonce + len(payload).to_bytes(8, 'big') + payload\n"
)


@pytest.fixture(params=[pytest.param("fresh", marks=pytest.mark.slow), "warm"])
def sandbox_mode(request):
    """Runs a test twice: a sandbox per solution (reuse off) and a warm sandbox per worker (reuse on, sandbox/executor.py, WarmSandbox);
    the verdicts must be the same."""
    from acecurate.sandbox.executor import SandboxSettings, close_warm, configure

    configure(SandboxSettings(reuse=request.param == "warm"))
    yield request.param
    close_warm()
    configure(SandboxSettings())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is absent (a fresh clone has no ../shared); these tests use the real shared data")
    return SHARED


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Qwen2 model of tests/tiny_model.py, built once per session (deterministic, read only)."""
    pytest.importorskip("transformers", reason="needs acecurate[train] (torch, transformers)")
    from .tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory):
    """A real OpenAI-compatible server that no one here wrote: `transformers serve` on CPU, offline, serving an R1-style
    variant of the tiny model (its template opens `<think>`, so the server returns the reasoning apart, as
    `reasoning_content`). Started once per session; yields (base_url, model path)."""
    pytest.importorskip("fastapi", reason="needs transformers[serving] (make test installs it)")
    import httpx

    from .tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("served"), seed=1, thinking=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("serve-log") / "serve.log").open("w")
    command = [str(Path(sys.executable).with_name("transformers")), "serve", str(model), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--device", "cpu", "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited with {server.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("transformers serve did not start within 240 s")
            time.sleep(0.5)
        yield f"{url}/v1", str(model)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs, started once per session as a user's `ray start --head` would start one; yields
    its address, which other processes (a CLI run) join."""
    ray = pytest.importorskip("ray", reason="needs acecurate[ray] (make test installs it)")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def stdin_tests(*pairs) -> str:
    """A canonical stdin tests JSON from (input, output) pairs."""
    return json.dumps({"format": "stdin", "cases": [{"input": i, "output": o} for i, o in pairs]})


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def kill_when_stored(process: subprocess.Popen, db_path: Path, at_least: int, timeout: float = 120) -> int:
    """kill -9 `process` once its sample store holds `at_least` samples (or it ends, or `timeout` passes); returns
    how many samples the store held when the kill came."""
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path) as db:
                    stored = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0
            if stored >= at_least:
                break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return stored


# Tests that run code in the sandbox skip, with the install hint, where bubblewrap is missing.
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install -y bubblewrap)")
FAST = Limits(time_s=2.0, cpu_s=2, memory_mb=512)  # sandbox limits for tests that need no more
