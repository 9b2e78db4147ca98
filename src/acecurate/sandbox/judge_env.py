"""The judge environment: the third-party packages real solutions import (LeetCode's judge offers `sortedcontainers`
and `numpy`), pinned, installed once for the sandbox's interpreter into a directory of the user's cache, and mounted
read-only in every sandbox. `acecurate sandbox setup` (and `make test`) builds it; nothing downloads at grading time.
Each verdict names the environment that ran it, and the execution cache keys on it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import AcecurateError

MOUNT_POINT = "/opt/judge-env"  # where the sandbox sees it; the runner puts it on sys.path
_SORTEDCONTAINERS = "sortedcontainers==2.4.0"
_NUMPY = {(3, 10): "numpy==2.2.6"}  # the last numpy with wheels for 3.10; newer interpreters get the default
_NUMPY_DEFAULT = "numpy==2.3.5"


@functools.cache
def interpreter_version(python: str) -> tuple[int, int]:
    out = subprocess.run([python, "-I", "-S", "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AcecurateError(f"cannot run the sandbox interpreter {python}: {out.stderr.strip()[-300:]}")
    major, minor = out.stdout.split()
    return int(major), int(minor)


def judge_packages(version: tuple[int, int]) -> list[str]:
    return [_NUMPY.get(version, _NUMPY_DEFAULT), _SORTEDCONTAINERS]


def cache_root() -> Path:
    """$ACECURATE_CACHE, else the user's cache. As root the sandboxes run as other uids, which cannot enter /root:
    then /var/cache/acecurate."""
    if os.environ.get("ACECURATE_CACHE"):
        return Path(os.environ["ACECURATE_CACHE"])
    if os.geteuid() == 0:
        return Path("/var/cache/acecurate")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "acecurate"


def _check_reachable(path: Path) -> None:
    """As root, the sandbox's uid must be able to walk to the environment (bubblewrap mounts it as that uid)."""
    if os.geteuid() != 0:
        return
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise AcecurateError(
                f"the judge environment {path} is not reachable by the sandbox's unprivileged user ({folder} is not "
                "world-executable); set ACECURATE_CACHE to a folder others can read, and run `acecurate sandbox setup`"
            )


def judge_env_dir(python: str) -> Path:
    """Where the environment for `python` lives: named by interpreter and a hash of the pinned packages."""
    return cache_root() / _judge_env_name(python)


@functools.cache  # asked for every solution run
def _judge_env_name(python: str) -> str:
    version = interpreter_version(python)
    tag = f"cp{version[0]}{version[1]}"
    digest = hashlib.sha256(json.dumps([tag, platform.machine(), judge_packages(version)]).encode()).hexdigest()[:10]
    return f"judge-env-{tag}-{digest}"


def sandbox_python() -> str:
    """The interpreter of the sandbox, one the unprivileged sandbox user can read: the system Python, else ours."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AcecurateError("no python3 found for the sandbox")


def find_judge_env(python: str | None = None) -> Path | None:
    """The built environment for the sandbox's interpreter, or None if `acecurate sandbox setup` has not run."""
    path = judge_env_dir(python or sandbox_python())
    return path if (path / ".complete").is_file() else None


def environment_id(python: str | None = None, env: Path | None = None) -> str:
    """What each verdict records as the environment that ran it (`env`: find_judge_env's answer, when known)."""
    python = python or sandbox_python()
    env = env or find_judge_env(python)
    if env is not None:
        return env.name
    major, minor = interpreter_version(python)
    return f"cp{major}{minor}-no-judge-env"


def _platform_tags() -> list[str]:
    """manylinux tags this machine's C library accepts (the sandbox uses the host's /usr)."""
    machine = platform.machine()
    libc = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else None
    if not libc or not libc.startswith("glibc "):
        raise AcecurateError("the judge environment needs a glibc system (manylinux wheels)")
    minor = int(libc.split()[1].split(".")[1])
    return [f"manylinux_2_{m}_{machine}" for m in range(minor, 16, -1)] + [f"manylinux2014_{machine}"]


def _set_read_only(root: Path, writable: bool = False) -> None:
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755 if writable else 0o555)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644 if writable else 0o444)


def setup_judge_env(python: str | None = None, *, force: bool = False, echo=print) -> Path:
    """Install the pinned packages for the sandbox's interpreter (from PyPI, wheels only), compile them with that
    interpreter, and make the directory read-only. Does nothing if it is already built, unless `force`."""
    python = python or sandbox_python()
    target = judge_env_dir(python)
    _check_reachable(target.parent)
    if find_judge_env(python) is not None and not force:
        echo(f"judge environment ready: {target}")
        return target
    version = interpreter_version(python)
    packages = judge_packages(version)
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    for old in (staging, target):
        if old.exists():
            _set_read_only(old, writable=True)
            shutil.rmtree(old)
    staging.parent.mkdir(parents=True, exist_ok=True)
    _check_reachable(staging.parent)
    echo(f"installing {', '.join(packages)} for {python} (Python {version[0]}.{version[1]}) into {target}")
    platforms = [arg for tag in _platform_tags() for arg in ("--platform", tag)]
    command = [
        *[sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--no-compile"],
        *["--only-binary=:all:", "--target", str(staging), "--implementation", "cp", "--python-version", f"{version[0]}.{version[1]}"],
        *["--abi", f"cp{version[0]}{version[1]}", *platforms, *packages],
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise AcecurateError(f"pip could not install the judge environment ({' '.join(packages)}): {done.stderr.strip()[-800:]}")
    # Byte-code from the sandbox's own interpreter, so imports there do not recompile on every run.
    compiled = subprocess.run([python, "-I", "-m", "compileall", "-q", str(staging)], capture_output=True, text=True)
    if compiled.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise AcecurateError(f"{python} could not compile the judge environment: {compiled.stdout[-500:]}{compiled.stderr[-500:]}")
    (staging / ".complete").write_text(json.dumps({"packages": packages, "python": python, "version": list(version)}) + "\n")
    _set_read_only(staging)
    staging.rename(target)
    echo(f"judge environment ready: {target}")
    return target
