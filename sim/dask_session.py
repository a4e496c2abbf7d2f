"""A Dask client for radix4: an embedded ``LocalCluster`` or an existing scheduler.

``DaskSession(workers=N)`` starts a local cluster of N worker *processes*
(one thread each: every worker drives one simulator at a time) and
``DaskSession(scheduler="tcp://host:8786")`` connects to a running one
(``dask-scheduler`` + ``dask-worker``, docs/scale-out.md).  ``close()`` (or
``with``) closes the client and, if the session started it, the cluster with
all its worker processes -- on success, on error and on Ctrl-C alike.

Errors a user can cause are ``DaskSetupError`` (a ``ValueError``: the CLI
prints one line and exits 2): a malformed scheduler address, a scheduler
that cannot be reached, a worker count below 1, a cluster without workers.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import time
import warnings

__all__ = ["DaskSession", "DaskSetupError", "default_workers", "probe_scheduler",
           "CONNECT_TIMEOUT"]

# Seconds to reach a scheduler (Dask's default is 30 s of retries).
CONNECT_TIMEOUT = float(os.environ.get("RADIX4_DASK_CONNECT_TIMEOUT", "10"))
# Seconds to wait for at least one worker on an existing scheduler.
WORKER_TIMEOUT = float(os.environ.get("RADIX4_DASK_WORKER_TIMEOUT", "60"))

_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://[^\s/:]+(:\d+)?/?$")
# A Dask scheduler greets every new connection with a small handshake frame
# (msgpack: compression, python version, pickle protocol); anything longer is
# not a scheduler.
_HANDSHAKE_MAX = 1 << 16


class DaskSetupError(ValueError):
    """The cluster cannot be set up from what the user gave (one line, exit 2)."""


def default_workers() -> int:
    """Workers of an embedded cluster when ``--workers`` has no number: the cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # not Linux
        return max(1, os.cpu_count() or 1)


class DaskSession:
    """A ``distributed.Client`` plus, for ``workers=N``, the ``LocalCluster`` it owns."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, *,
                 env: dict | None = None, quiet: bool = True):
        if (workers is None) == (scheduler is None):
            raise DaskSetupError("give either a number of workers or a scheduler address")
        self.cluster = None
        self.client = None
        self.scheduler = scheduler
        self.quiet = quiet
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise DaskSetupError(f"--workers must be a positive integer, got {workers!r}")
        if scheduler is not None and not _ADDRESS.match(scheduler):
            raise DaskSetupError(f"--scheduler must look like tcp://HOST:PORT, got {scheduler!r}")
        from distributed import Client, LocalCluster   # imported late: slow to import

        level = logging.CRITICAL if quiet else logging.WARNING
        try:
            if workers is not None:
                # Processes, one thread each: a worker runs one shard (one
                # simulator request) at a time, and the GIL is not shared.
                with warnings.catch_warnings():
                    # The scheduler's HTTP routes fall back from port 8787 to a
                    # free one when another cluster holds it; nothing to report.
                    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
                    self.cluster = LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=level, env=dict(env or {}))
                self.client = Client(self.cluster)
            else:
                if quiet:
                    for name in ("distributed", "distributed.client", "distributed.comm"):
                        logging.getLogger(name).setLevel(level)
                probe_scheduler(scheduler, CONNECT_TIMEOUT)
                try:
                    self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as exc:
                    raise DaskSetupError(f"cannot reach the Dask scheduler at {scheduler} "
                                         f"within {CONNECT_TIMEOUT:g} s ({_first_line(exc)})"
                                         ) from None
                try:
                    self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
                except (OSError, TimeoutError):
                    raise DaskSetupError(f"the Dask scheduler at {scheduler} has no workers "
                                         f"(waited {WORKER_TIMEOUT:g} s)") from None
        except BaseException:
            self.close()
            raise

    @property
    def label(self) -> str:
        if self.cluster is not None:
            return f"local Dask cluster of {len(self.workers())} workers"
        return f"Dask scheduler {self.scheduler} ({len(self.workers())} workers)"

    def workers(self) -> dict:
        """``{address: info}`` of the workers connected now."""
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])

    def close(self):
        """Close the client, then the cluster we started (its workers end with it)."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None:
                client.close(timeout=30)
        except Exception:
            pass
        finally:
            if cluster is not None:
                if self.quiet:   # another cluster's close may have restored INFO logging
                    for name in ("distributed", "distributed.scheduler", "distributed.nanny",
                                 "distributed.core"):
                        logging.getLogger(name).setLevel(logging.CRITICAL)
                try:
                    cluster.close(timeout=60)
                except Exception:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def probe_scheduler(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Check, within ``timeout`` seconds in all, that a Dask scheduler answers at
    ``tcp://HOST:PORT``: it must send its handshake frame unasked.  A listener
    that accepts and stays silent, or answers with anything else, is refused
    here (``DaskSetupError``) instead of hanging ``Client`` or letting it size
    a buffer from garbage (issue 24)."""
    match = re.match(r"^tcp://([^\s/:]+):(\d+)/?$", address)
    if not match:
        return                      # other transports: left to Dask
    host, port = match.group(1), int(match.group(2))
    deadline = time.monotonic() + timeout
    where = f"the Dask scheduler at {address}"

    def left() -> float:
        rest = deadline - time.monotonic()
        if rest <= 0:
            raise DaskSetupError(f"{where} did not answer within {timeout:g} s "
                                 f"(is it a Dask scheduler?)")
        return rest

    def read(sock, n: int) -> bytes:
        data = b""
        while len(data) < n:
            sock.settimeout(left())
            try:
                chunk = sock.recv(n - len(data))
            except socket.timeout:
                left()
                continue
            if not chunk:
                raise DaskSetupError(f"{where} closed the connection without a handshake "
                                     f"(is it a Dask scheduler?)")
            data += chunk
        return data

    try:
        with socket.create_connection((host, port), timeout=left()) as sock:
            size = struct.unpack("<Q", read(sock, 8))[0]
            if not 0 < size <= _HANDSHAKE_MAX or b"pickle-protocol" not in read(sock, size):
                raise DaskSetupError(f"{where} answered with something that is not a Dask "
                                     f"handshake")
    except DaskSetupError:
        raise
    except (OSError, ValueError) as exc:
        raise DaskSetupError(f"cannot reach {where} within {timeout:g} s "
                             f"({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
