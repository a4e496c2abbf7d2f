"""A scheduler address that is not a Dask scheduler: one line, exit 2, bounded time (issue 24).

Real listeners on localhost: one accepts and never answers, one answers
with garbage (an 8-byte length of ~3 EiB that Dask once tried to allocate),
one closes at once.  ``radix4 gemm --scheduler`` and ``radix4 regress
--scheduler`` must refuse each within the connect timeout, which the tests
shorten through ``RADIX4_DASK_CONNECT_TIMEOUT``.
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from sim.dask_session import DaskSetupError, probe_scheduler

TIMEOUT = 2.0
# Startup of the CLI (imports) plus the probe's timeout, with room for a loaded machine.
BOUND = 60.0


class Listener:
    """A TCP listener on 127.0.0.1 that treats every connection with ``answer``."""

    def __init__(self, answer):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answer = answer
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.answer(conn)

    @property
    def address(self):
        return f"tcp://127.0.0.1:{self.port}"

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def silent(conn):
    pass


def garbage(conn):
    conn.sendall(struct.pack("<Q", 3 << 60) + b"\xde\xad\xbe\xef" * 4)


def closes(conn):
    conn.close()


def short_garbage(conn):
    conn.sendall(struct.pack("<Q", 12) + b"not msgpack!")


ANSWERS = {"silent": silent, "garbage": garbage, "closes": closes, "short": short_garbage}


@pytest.fixture(params=sorted(ANSWERS))
def listener(request):
    lst = Listener(ANSWERS[request.param])
    yield lst
    lst.close()


def test_probe_refuses_within_its_timeout(listener):
    t0 = time.monotonic()
    with pytest.raises(DaskSetupError, match="Dask scheduler at tcp://127.0.0.1"):
        probe_scheduler(listener.address, TIMEOUT)
    assert time.monotonic() - t0 < TIMEOUT + 1.0


def test_probe_refuses_a_closed_port():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(DaskSetupError, match="cannot reach"):
        probe_scheduler(f"tcp://127.0.0.1:{port}", TIMEOUT)


def test_probe_accepts_a_dask_handshake():
    """The frame a real scheduler sends (captured from distributed's
    dask-scheduler): 8-byte total length, frame count and lengths, msgpack."""
    body = (struct.pack("<QQ", 1, 42) + b"\x83\xabcompression\xc0\xa6python\x93\x03\x0b\x07"
            b"\xafpickle-protocol\x05")
    lst = Listener(lambda c: c.sendall(struct.pack("<Q", len(body)) + body))
    try:
        probe_scheduler(lst.address, TIMEOUT)
    finally:
        lst.close()


def radix4(*args, cwd):
    env = {**os.environ, "RADIX4_DASK_CONNECT_TIMEOUT": str(TIMEOUT)}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "scripts.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=BOUND)
    return proc, time.monotonic() - t0


def assert_one_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "Dask scheduler" in lines[0]


def test_gemm_refuses_a_silent_or_garbage_scheduler(listener, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "A.npy", rng.integers(-8, 8, (4, 8)))
    np.save(tmp_path / "B.npy", rng.integers(-8, 8, (8, 4)))
    proc, _ = radix4("gemm", "--a", "A.npy", "--b", "B.npy", "--a-format", "int4",
                     "--b-format", "int4", "--sim", "icarus", "--scheduler", listener.address,
                     "-o", "C.npy", cwd=tmp_path)
    assert_one_line(proc)
    assert not (tmp_path / "C.npy").exists()


@pytest.mark.slow  # waits out the connect timeout (~5 s); the gemm variant stays in make test
def test_regress_refuses_a_silent_scheduler(tmp_path):
    lst = Listener(silent)
    try:
        proc, _ = radix4("regress", "--seeds", "1", "--sim", "icarus", "--scheduler",
                         lst.address, cwd=tmp_path)
    finally:
        lst.close()
    assert_one_line(proc)
