"""The Ray cluster that sampling (`sampler.backend: ray`) and code execution (`ACECURATE_EXECUTOR=ray`) run on.

Ray is an extra (`pip install 'acecurate[ray]'`) and is imported only here and in the modules that use it. The cluster
is the one Ray itself would find: an address given in the settings, else `RAY_ADDRESS`, else the cluster `ray start`
left on this machine, else a new local one. An explicit `host:port` is probed first, so an unreachable cluster is a
clear error within seconds, not Ray's minutes of reconnecting.
"""

from __future__ import annotations

import logging
import os
import socket

from .errors import AcecurateError, missing_extra

PROBE_TIMEOUT_S = 5.0


def _probe(address: str) -> None:
    """Fail fast when nothing listens at a `host:port` (or `ray://host:port`) address."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise AcecurateError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}): start one with `ray start --head`, "
            "or give the head node's address (RAY_ADDRESS=HOST:6379, or sampler.options.address)"
        ) from None


def connect_ray(address: str | None = None):
    """The `ray` module, connected to the cluster at `address` (else RAY_ADDRESS, else the one `ray start` left here,
    else a new local one). A process already connected (a test session, a Ray worker) keeps its connection."""
    try:
        import ray
    except ImportError:
        raise missing_extra("ray", "ray") from None
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _probe(address)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, ignore_reinit_error=True, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise AcecurateError(f"cannot connect to the Ray cluster at {address or 'auto'}: {exc}") from None
    return ray


def unwrap_ray_error(exc: BaseException, what: str) -> AcecurateError:
    """One clear message for an error that came back from a Ray task or actor: our own errors as they were raised
    there, a worker that died as such, anything else with its type and first line."""
    import ray.exceptions

    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    if isinstance(cause, AcecurateError):
        return AcecurateError(str(cause))
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.RayActorError, ray.exceptions.NodeDiedError)):
        return AcecurateError(f"{what}: a Ray worker died and its retries ran out ({type(exc).__name__}); rerun to resume")
    shown = cause if cause is not None else exc
    first = str(shown).strip().splitlines()[0] if str(shown).strip() else ""
    return AcecurateError(f"{what} failed on the Ray cluster: {type(shown).__name__}: {first[:500]}")
