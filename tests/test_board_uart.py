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
from sim.uart_host import DeviceError, DeviceTimeout, SerialTransport, SimulatedLine, UartBackend

SMALL = DatapathConfig(rows=1, cols=2, acc_width=18, depth=2)


def test_gemm_through_the_serial_line_is_bit_exact():
    be = UartBackend(SimulatedLine(SMALL, divisor=4))
    assert (be.dev.rows, be.dev.cols, be.dev.depth) == (1, 2, 2)
    rng = np.random.default_rng(26)
    a, b = rng.integers(0, 16, size=(2, 3)), rng.integers(-8, 8, size=(3, 3))   # K > depth
    np.testing.assert_array_equal(be.gemm(a, b, "fp4", "int4"), gemm_exact(a, b, "fp4", "int4"))


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
