"""cocotb side of the quant-tile RTL backend (runs inside the simulator).

Like ``sim.host_server``, over the socket in ``RADIX4_HOST_SOCKET``:

    qrun <n_cmd> <n_load> <n_qcfg> <n_mask> <n_rq> <n_res> <n_qres> <gap> <stall> <seed> <max_cycles>
    run <n_cmd> <n_load> <n_res> <gap> <stall> <seed> <max_cycles>     (raw GEMMs: no unit streams)
        -> ok <cycles> <busy_cycles> <mac_pe_cycles> <stall_cycles> <jobs_done> <cmd_error> <cfg_error>
        -> timeout <cycles waited>
    reset <cycles>  -> ok
"""

import cocotb

from sim.host_server import serve_requests

# The plain tile's ``run`` (raw GEMMs, no unit streams) and the full ``qrun``.
_REQUESTS = {"run": ("n_cmd", "n_load", "n_res"),
             "qrun": ("n_cmd", "n_load", "n_qcfg", "n_mask", "n_rq", "n_res", "n_qres")}


@cocotb.test()
async def serve(dut):
    await serve_requests(dut, _REQUESTS, status=("cmd_error", "cfg_error"))
