"""UART-to-bus bridge of the board top: checksummed frames -> AXI shell.

Frames (bytes; ``body`` = op and payload; ``chk`` makes the body and chk
sum to 0 mod 256):

    request  0x5A body chk        reply  0xA5 body chk

===========  ======================  =========================================
op           request payload         reply payload
===========  ======================  =========================================
0x01 WRITE   addr, data (4, LE)      resp (AXI bresp: 0 OKAY, 2 SLVERR)
0x02 READ    addr                    data (4, LE), resp
0x03 BEAT    tdata (IN bytes), last  (none): the beat was taken by s_axis
0x04 ROW     (none)                  have (1 = a row was waiting), tdata (OUT
                                     bytes, zero if none), tlast
0xEE ERROR   --                      (none): bad checksum or unknown op; the
                                     request was dropped
===========  ======================  =========================================

A request that stops mid-frame for ``timeout`` cycles is dropped (the
parser resynchronises on the next 0x5A).  A BEAT waits for ``s_axis_tready``
(the host sends beats only for a started job, whose beats the shell always
takes); a ROW never waits.  ``OPS`` is the table the host driver
(``sim.uart_host``) encodes and decodes with.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi_lite import axil_members

__all__ = ["UartBridge", "SYNC_REQ", "SYNC_REPLY", "OPS", "OP_ERROR", "request_bytes",
           "reply_bytes"]

SYNC_REQ, SYNC_REPLY = 0x5A, 0xA5
OPS = {"write": 0x01, "read": 0x02, "beat": 0x03, "row": 0x04}
OP_ERROR = 0xEE


def request_bytes(op: str, in_bytes: int) -> int:
    return {"write": 5, "read": 1, "beat": in_bytes + 1, "row": 0}[op]


def reply_bytes(op: str, out_bytes: int) -> int:
    return {"write": 1, "read": 5, "beat": 0, "row": out_bytes + 2, "error": 0}[op]


def _master_members() -> dict:
    """The shell's AXI-Lite slave ports, seen from the master (flipped)."""
    return {f"m_axil_{n}": (Out if m.flow == In else In)(m.shape)
            for n, m in axil_members().items()}


class UartBridge(wiring.Component):
    def __init__(self, in_bytes: int, out_bytes: int, timeout: int = 1 << 20):
        self.in_bytes, self.out_bytes, self.timeout = in_bytes, out_bytes, timeout
        self.req_max = max(request_bytes(o, in_bytes) for o in OPS)
        self.rep_max = 1 + max(reply_bytes(o, out_bytes) for o in OPS)
        super().__init__({
            "rx_data": In(8), "rx_valid": In(1),
            "tx_data": Out(8), "tx_valid": Out(1), "tx_ready": In(1),
            **_master_members(),
            "axis_tdata": Out(8 * in_bytes), "axis_tvalid": Out(1), "axis_tready": In(1),
            "axis_tlast": Out(1),
            "res_tdata": In(8 * out_bytes), "res_tvalid": In(1), "res_tready": Out(1),
            "res_tlast": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        buf = Signal(8 * self.req_max)
        count = Signal(range(self.req_max + 1))
        need = Signal(range(self.req_max + 1))
        op = Signal(8)
        total = Signal(8)
        idle = Signal(range(self.timeout + 1))
        out = Signal(8 * self.rep_max)      # reply body (op first), LSB byte first
        out_len = Signal(range(self.rep_max + 1))
        sent = Signal(range(self.rep_max + 2))
        out_sum = Signal(8)
        byte = self.rx_data
        IB, OB = self.in_bytes, self.out_bytes

        def reply(body_bytes: list, length: int):
            """Start sending ``0xA5 body chk``; ``body_bytes`` are Values of 8 bits."""
            return [out.eq(Cat(*body_bytes)), out_len.eq(length), sent.eq(0), out_sum.eq(0)]

        with m.FSM():
            with m.State("SYNC"):
                with m.If(self.rx_valid & (byte == SYNC_REQ)):
                    m.d.sync += idle.eq(0)
                    m.next = "OP"
            for state in ("OP", "PAYLOAD", "CHK"):
                with m.State(state):
                    with m.If(self.rx_valid):
                        m.d.sync += idle.eq(0)
                    with m.Elif(idle == self.timeout):
                        m.next = "SYNC"
                    with m.Else():
                        m.d.sync += idle.eq(idle + 1)
                    if state == "OP":
                        with m.If(self.rx_valid):
                            m.d.sync += [op.eq(byte), total.eq(byte), count.eq(0)]
                            with m.Switch(byte):
                                for name, code in OPS.items():
                                    with m.Case(code):
                                        n = request_bytes(name, IB)
                                        m.d.sync += need.eq(n)
                                        m.next = "PAYLOAD" if n else "CHK"
                                with m.Default():
                                    m.d.sync += need.eq(0)
                                    m.next = "CHK"
                    elif state == "PAYLOAD":
                        with m.If(self.rx_valid):
                            m.d.sync += [buf.word_select(count, 8).eq(byte),
                                         count.eq(count + 1), total.eq(total + byte)]
                            with m.If(count + 1 == need):
                                m.next = "CHK"
                    else:
                        with m.If(self.rx_valid):
                            known = Cat(*[op == c for c in OPS.values()]).any()
                            with m.If(known & ((total + byte)[:8] == 0)):
                                m.next = "EXEC"
                            with m.Else():
                                m.d.sync += reply([Const(OP_ERROR, 8)], 1)
                                m.next = "SEND"
            with m.State("EXEC"):
                with m.Switch(op):
                    with m.Case(OPS["write"]):
                        m.next = "W_ADDR"
                    with m.Case(OPS["read"]):
                        m.next = "R_ADDR"
                    with m.Case(OPS["beat"]):
                        m.next = "BEAT"
                    with m.Case(OPS["row"]):
                        m.next = "ROW"
            # ---- AXI-Lite write: AW and W together, then B --------------------
            aw_done = Signal()
            w_done = Signal()
            with m.State("W_ADDR"):
                m.d.comb += [self.m_axil_awvalid.eq(~aw_done), self.m_axil_wvalid.eq(~w_done),
                             self.m_axil_awaddr.eq(buf[:8]), self.m_axil_wdata.eq(buf[8:40]),
                             self.m_axil_wstrb.eq(0xF)]
                a_ok = aw_done | self.m_axil_awready
                w_ok = w_done | self.m_axil_wready
                m.d.sync += [aw_done.eq(a_ok), w_done.eq(w_ok)]
                with m.If(a_ok & w_ok):
                    m.next = "W_RESP"
            with m.State("W_RESP"):
                m.d.comb += self.m_axil_bready.eq(1)
                with m.If(self.m_axil_bvalid):
                    m.d.sync += [aw_done.eq(0), w_done.eq(0),
                                 *reply([Const(OPS["write"], 8),
                                         Cat(self.m_axil_bresp, Const(0, 6))], 2)]
                    m.next = "SEND"
            # ---- AXI-Lite read -------------------------------------------------
            with m.State("R_ADDR"):
                m.d.comb += [self.m_axil_arvalid.eq(1), self.m_axil_araddr.eq(buf[:8])]
                with m.If(self.m_axil_arready):
                    m.next = "R_DATA"
            with m.State("R_DATA"):
                m.d.comb += self.m_axil_rready.eq(1)
                with m.If(self.m_axil_rvalid):
                    d = self.m_axil_rdata
                    m.d.sync += reply([Const(OPS["read"], 8), d[0:8], d[8:16], d[16:24], d[24:32],
                                       Cat(self.m_axil_rresp, Const(0, 6))], 6)
                    m.next = "SEND"
            # ---- streams -------------------------------------------------------
            with m.State("BEAT"):
                m.d.comb += [self.axis_tvalid.eq(1), self.axis_tdata.eq(buf[:8 * IB]),
                             self.axis_tlast.eq(buf[8 * IB])]
                with m.If(self.axis_tready):
                    m.d.sync += reply([Const(OPS["beat"], 8)], 1)
                    m.next = "SEND"
            with m.State("ROW"):
                m.d.comb += self.res_tready.eq(1)
                have = self.res_tvalid
                data = [(self.res_tdata[8 * i:8 * i + 8] & have.replicate(8)) for i in range(OB)]
                m.d.sync += reply([Const(OPS["row"], 8), Cat(have, Const(0, 7)), *data,
                                   Cat(self.res_tlast & have, Const(0, 7))], OB + 3)
                m.next = "SEND"
            # ---- reply: 0xA5, body, checksum -------------------------------------
            with m.State("SEND"):
                idx = Signal.like(sent)
                m.d.comb += [self.tx_valid.eq(1), idx.eq(sent - 1)]
                with m.If(sent == 0):
                    m.d.comb += self.tx_data.eq(SYNC_REPLY)
                with m.Elif(sent <= out_len):
                    m.d.comb += self.tx_data.eq(out.word_select(idx, 8))
                with m.Else():
                    m.d.comb += self.tx_data.eq((~out_sum + 1)[:8])
                with m.If(self.tx_ready):
                    m.d.sync += sent.eq(sent + 1)
                    with m.If((sent != 0) & (sent <= out_len)):
                        m.d.sync += out_sum.eq(out_sum + out.word_select(idx, 8))
                    with m.If(sent == out_len + 1):
                        m.next = "SYNC"
        return m
