"""The board top through its serial line (issue 26): the UART bridge and the
AXI shell in the same RTL as the bitstream (hw.board.BoardCore, Amaranth
simulation behind a serial-line model), driven by the host driver a real
board uses (sim.uart_host); corrupt frames, silence and bad ports fail in one
line, never hang."""

from __future__ import annotations

import numpy as np
import pytest

from model.config import DatapathConfig
from model.gemm import gemm_exact
from sim.uart_host import (DeviceError, DeviceTimeout, SerialTransport, SimulatedLine, UartBackend,
                           request_frame)

SMALL = DatapathConfig(rows=1, cols=2, acc_width=18, depth=2)


def test_gemm_through_the_serial_line_is_bit_exact():
    be = UartBackend(SimulatedLine(SMALL, divisor=4))
    assert (be.dev.rows, be.dev.cols, be.dev.depth) == (1, 2, 2)
    rng = np.random.default_rng(26)
    a, b = rng.integers(0, 16, size=(2, 3)), rng.integers(-8, 8, size=(3, 3))   # K > depth
    np.testing.assert_array_equal(be.gemm(a, b, "fp4", "int4"), gemm_exact(a, b, "fp4", "int4"))
    assert be.dev.row() == (False, 0, False)     # every row was taken: ROW says none waits


def test_dot_product_board_through_the_serial_line():
    """A 2-lane board: the host takes the lanes and latency from CONFIG0/1 (it
    is not told), plans 2 K indices a beat, and the GEMM is bit-exact."""
    cfg = DatapathConfig(rows=1, cols=2, acc_width=18, depth=2, lanes=2)
    be = UartBackend(SimulatedLine(cfg, divisor=4))
    assert (be.dev.lanes, be.dev.pe_latency) == (2, cfg.pe_latency)
    rng = np.random.default_rng(27)
    a, b = rng.integers(-8, 8, size=(2, 5)), rng.integers(0, 16, size=(5, 3))   # K odd, > 2*depth
    np.testing.assert_array_equal(be.gemm(a, b, "int4", "fp4"), gemm_exact(a, b, "int4", "fp4"))


@pytest.mark.slow
def test_larger_gemm_through_the_serial_line():
    be = UartBackend(SimulatedLine(DatapathConfig(rows=2, cols=3, acc_width=24, depth=4),
                                   divisor=4))
    rng = np.random.default_rng(7)
    for af, bf in (("int4", "uint4"), ("uint4", "int4"), ("fp4", "uint4")):
        lo = -8 if af == "int4" else 0
        a = rng.integers(lo, lo + 16, size=(3, 6))
        b = rng.integers(0, 16, size=(6, 4)) if bf == "uint4" else rng.integers(-8, 8, (6, 4))
        np.testing.assert_array_equal(be.gemm(a, b, af, bf), gemm_exact(a, b, af, bf))


def test_corrupt_request_is_reported_and_the_board_recovers():
    line = SimulatedLine(SMALL, divisor=4)
    be = UartBackend(line)
    line.corrupt = {line.sent + 3}        # a bit flipped in the next request's payload
    with pytest.raises(DeviceError, match="corrupt frame"):
        be.dev.read("ID")
    assert be.dev.read("CONFIG0") & 0xFF == 1      # the next frame goes through


def test_request_cut_off_mid_frame_is_dropped_after_the_timeout():
    """A host that dies mid-request: the bridge drops the partial frame after
    its timeout (64 bit times here) and answers the next request normally."""
    line = SimulatedLine(SMALL, divisor=4)
    be = UartBackend(line)
    line.send(request_frame("write", bytes([0x24, 1]))[:4])     # sync, op, 2 of 5 payload bytes
    line.idle(4 * 10 * 4 + 2 * 64 * 4)                          # the 4 bytes, then the timeout
    assert not line.in_q                                        # no reply to a cut-off frame
    assert be.dev.read("CONFIG0") & 0xFF == 1
    assert be.dev.read("IRQ_ENABLE") == 0                       # the cut-off write did nothing


class _Silent:
    def send(self, data):
        pass

    def recv(self, n):
        raise DeviceTimeout("no answer from the board")


class _Garbled:
    """Answers every request with a reply whose checksum is wrong."""

    def send(self, data):
        pass

    def recv(self, n):
        return bytes([0xA5, 0x02])[:n] if n == 2 else bytes(n - 1) + b"\x01"


def test_silence_and_corrupt_replies_fail_in_one_line():
    with pytest.raises(DeviceTimeout):
        UartBackend(_Silent())
    with pytest.raises(DeviceError, match="checksum"):
        UartBackend(_Garbled())


def test_bad_device_path():
    pytest.importorskip("serial")
    with pytest.raises(DeviceError, match="cannot open /nonexistent/tty"):
        SerialTransport("/nonexistent/tty", 115200)


# ---- `radix4 gemm --device` on a pseudo-terminal -------------------------------
import os          # noqa: E402
import subprocess  # noqa: E402
import sys         # noqa: E402
import threading   # noqa: E402
import time        # noqa: E402


def _serve(master: int, line: SimulatedLine | None, stop: threading.Event, garble=False):
    """The far end of the pty: the simulated board (or silence, or garbage)."""
    os.set_blocking(master, False)
    while not stop.is_set():
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            data = b""
        except OSError:
            return
        if garble and data:
            os.write(master, b"\xa5\x02" + bytes(6))      # checksum wrong
        if line is not None:      # the board runs on, whether bytes came or not
            line.send(data)
            line.now += 200
            line.sim.run_until(line.now * 1e-6)
            if line.in_q:
                os.write(master, bytes(line.in_q))
                line.in_q.clear()
        elif not data:
            time.sleep(0.005)


def _gemm_cli(tmp_path, tty, *extra):
    rng = np.random.default_rng(5)
    a, b = rng.integers(-8, 8, size=(2, 3)), rng.integers(0, 16, size=(3, 2))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "gemm", "--a", str(tmp_path / "a.npy"),
         "--b", str(tmp_path / "b.npy"), "--a-format", "int4", "--b-format", "uint4",
         "--device", tty, "-o", str(tmp_path / "c.npy"), *extra],
        capture_output=True, text=True, timeout=600)
    return proc, gemm_exact(a, b, "int4", "uint4")


@pytest.mark.parametrize("flag", [["--lanes", "2"], ["--rows", "4"], ["--sim", "icarus"]])
def test_cli_gemm_device_refuses_what_the_board_decides(tmp_path, flag):
    """The board's datapath is the bitstream's: a datapath or simulator flag
    beside --device is refused in one line before the port is opened."""
    proc, _ = _gemm_cli(tmp_path, "/nonexistent/tty", *flag)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert flag[0] in proc.stderr and "cannot open" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("far_end", [pytest.param("board", marks=pytest.mark.slow),
                                     "silent", "garbage"])
def test_cli_gemm_device_on_a_pty(tmp_path, far_end):
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    stop = threading.Event()
    line = SimulatedLine(SMALL, divisor=4) if far_end == "board" else None
    t = threading.Thread(target=_serve, args=(master, line, stop, far_end == "garbage"),
                         daemon=True)
    t.start()
    try:
        t0 = time.monotonic()
        proc, want = _gemm_cli(tmp_path, tty, "--device-timeout",
                               "60" if far_end == "board" else "1")
        took = time.monotonic() - t0
    finally:
        stop.set()
        t.join(5)
        os.close(slave)
        os.close(master)
    if far_end == "board":
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), want)
        return
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert ("no answer" if far_end == "silent" else "checksum") in proc.stderr
    assert took < 30 and not (tmp_path / "c.npy").exists()
