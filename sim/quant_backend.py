"""RTL backend of the tile with the quantization unit (``hw.tile_quant``).

``QuantRtlBackend`` is an ``RtlBackend`` (raw GEMMs unchanged: route 0, the
INT32 stream bit for bit) whose simulation is the quant host
(``sim.quant_host``, ``sim.quant_server``), plus the unit's jobs, declared
and checked once by ``model.onchip_tile.QuantUnitJobs`` (as for the golden
``GoldenQuantTile``) and run here:

- ``forward_quant``  -> (codes, mask): one unit job per output tile;
- ``backward_quant`` -> ``BackwardOut``: the GEMM as one FP4 unit job with the
  activation's mask streamed in with the rows (``measure_only``: amax only;
  ``keep_int32``: route "both");
- ``requant``        -> ``BackwardOut``: stored INT32 rows through the unit.

Every check runs before anything is sent, so bad input (multiplier, shift,
sigma, mask shape, bias) raises ``ValueError`` with the simulator untouched.
``total_traffic`` counts the bits that crossed the host boundary by kind
(INT32 rows, code rows, masks, configurations).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hw.codec import Lanes, LayoutCodec, stream_lanes
from hw.quant_unit import output_layout as unit_output_layout
from hw.tile_quant import (ROUTE_BOTH, ROUTE_RAW, ROUTE_UNIT, default_quant_lanes, mask_layout,
                           qcfg_layout, qjob_layout, requant_layout)
from model import requant as rq
from model.backend import GemmOverflowError
from model.formats import FORMATS
from model.onchip_tile import BackwardOut, QuantUnitJobs, from_beats, to_beats

from .backends import RtlBackend, SimulationError
from .driver import batches, load_codec, parse_results, plan_gemm
from .quant_host import QuantHostConfig, build_quant_host

__all__ = ["QuantRtlBackend"]


@lru_cache(maxsize=None)
def _codecs(rows, cols, acc_width, depth):
    bit = Lanes(1)
    return {
        "cmd": LayoutCodec(qjob_layout(depth)),
        "qcfg": LayoutCodec(qcfg_layout(cols)),
        "mask": LayoutCodec(mask_layout(cols), {"mask": bit}),
        "rq": LayoutCodec(requant_layout(cols, acc_width), {**stream_lanes(
            requant_layout(cols, acc_width)), "mask": bit}),
        "qres": LayoutCodec(unit_output_layout(cols, acc_width), {"mask": bit}),
    }


class QuantRtlBackend(QuantUnitJobs, RtlBackend):
    """``RtlBackend`` of the tile with the unit; ``quant_lanes`` (a field of
    ``sim.quant_host.QuantHostConfig``, like the datapath's) sizes the unit."""

    _SERVER = "sim.quant_server"
    _host_config = QuantHostConfig
    _build_fn = staticmethod(build_quant_host)

    def __init__(self, sim="verilator", config=None, **kw):
        super().__init__(sim, config, **kw)
        self.rows, self.cols = self.cfg.rows, self.cfg.cols
        self.quant_lanes = default_quant_lanes(self.cols, self.cfg.quant_lanes)
        self.total_traffic = {"int32_rows": 0, "code_rows": 0, "mask_rows": 0, "qcfgs": 0}

    def _run_batch(self, plan, jobs):
        # raw GEMMs (the plain tile's path) ship INT32 rows too: count them
        out = super()._run_batch(plan, jobs)
        self.total_traffic["int32_rows"] += self.cfg.rows * sum(j.emit for j in jobs)
        return out

    # ---------------------------------------------------------------- jobs
    def _forward_job(self, part, *, mantissa, shift, bias, mode):
        m, _, n = part.shape
        C = self.cols
        nt = -(-n // C)
        bias_pad = np.zeros(nt * C, np.int64)
        if bias is not None:
            bias_pad[:n] = bias
        cfg = dict(mode=rq.MODES[mode], mantissa=mantissa, shift=shift, sigma=0, rounding=0,
                   seed=0, emit=1, bias_en=int(bias is not None), src=0, mask_en=0)
        plan = self._plan(part)
        # one unit job per tile: its cfg carries that tile's C biases
        cfgs = {t: {**cfg, "bias": bias_pad[nj * C:(nj + 1) * C]}
                for t, (_, nj) in enumerate(plan.tiles)}
        rows = self._run(plan, ROUTE_UNIT, cfgs, qlast_every_tile=True, mask_beats=None,
                         name=part.name)
        codes = from_beats(rows["code0"], m, n, self.rows, C).astype(np.uint8)
        if mode == "int4":
            codes = ((codes.astype(np.int16) ^ 8) - 8).astype(np.int8)
        return codes, from_beats(rows["mask"], m, n, self.rows, C).astype(bool)

    def _backward_job(self, part, *, mantissa, shift, sigma, mask, rounding, seed, keep_int32,
                      measure_only):
        m, _, n = part.shape
        plan = self._plan(part)
        cfg = self._bwd_cfg(mantissa, shift, sigma, rounding, seed, not measure_only, 0, mask)
        mask_beats = None if mask is None else to_beats(mask, self.rows, self.cols, False)
        rows = self._run(plan, ROUTE_BOTH if keep_int32 else ROUTE_UNIT, {0: cfg},
                         qlast_every_tile=False, mask_beats=mask_beats, name=part.name)
        out = self._bwd_out(rows, m, n, measure_only)
        out.acc = rows.get("acc") if keep_int32 else None
        return out

    def _requant_job(self, acc, *, mantissa, shift, sigma, mask, rounding, seed, name):
        m, n = acc.shape
        if m * n == 0:
            return BackwardOut(np.zeros((m, n), np.uint8), np.zeros((m, n), np.uint8), 0, None)
        R, C = self.rows, self.cols
        beats = to_beats(acc, R, C)
        mbeats = to_beats(np.ones((m, n), bool) if mask is None else mask, R, C, False)
        codecs = _codecs(R, C, self.acc_width, self.cfg.depth)
        cfg = self._bwd_cfg(mantissa, shift, sigma, rounding, seed, 1, 1, None)
        self.reset_last_stats()
        n_beats = len(beats)
        step = self.cfg.host_rows
        parts = []
        for i0 in range(0, n_beats, step):
            i1 = min(n_beats, i0 + step)
            last = np.zeros(i1 - i0, bool)
            last[-1] = i1 == n_beats
            rq_words = codecs["rq"].pack_words({
                "data": beats[i0:i1], "overflow": np.zeros((i1 - i0, C), np.uint8),
                "mask": mbeats[i0:i1].astype(np.uint8), "last": last}, n=i1 - i0)
            files = {"rq.hex": codecs["rq"].to_hex(rq_words)}
            if i0 == 0:
                files["qcfg.hex"] = self._qcfg_hex([cfg])
            self.total_traffic["int32_rows"] += i1 - i0
            self._qrun(files, n_cmd=0, n_load=0, n_qcfg=int(i0 == 0), n_mask=0,
                       n_rq=i1 - i0, n_res=0, n_qres=i1 - i0, n_beats=0, n_jobs=0)
            parts.append(self._read_qres(i1 - i0))
        rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._bwd_out(rows, m, n, False)

    # ---------------------------------------------------------------- helpers
    def _plan(self, part):
        return plan_gemm(part.a, part.b, part.a_format, part.b_format, self.rows, self.cols,
                         self.cfg.depth, self.cfg.lanes)

    def _bwd_cfg(self, mantissa, shift, sigma, rounding, seed, emit, src, mask):
        return dict(mode=rq.MODES["fp4"], mantissa=mantissa, shift=shift, sigma=sigma,
                    rounding=int(rounding == "stochastic"), seed=seed, emit=int(emit),
                    bias_en=0, bias=np.zeros(self.cols, np.int64), src=src,
                    mask_en=int(mask is not None))

    def _bwd_out(self, rows, m, n, measure_only):
        R, C = self.rows, self.cols
        amax = int(rows["amax"][-1])
        if measure_only:
            return BackwardOut(None, None, amax, None)
        return BackwardOut(from_beats(rows["code0"], m, n, R, C).astype(np.uint8),
                           from_beats(rows["code1"], m, n, R, C).astype(np.uint8), amax, None)

    def _qcfg_hex(self, cfgs: list) -> bytes:
        codec = _codecs(self.rows, self.cols, self.acc_width, self.cfg.depth)["qcfg"]
        fields = {k: np.array([c[k] for c in cfgs]) for k in cfgs[0]}
        self.total_traffic["qcfgs"] += len(cfgs)
        return codec.to_hex(codec.pack_words(fields, n=len(cfgs)))

    def _run(self, plan, route, cfgs, *, qlast_every_tile, mask_beats, name):
        """Run ``plan`` with its emitting jobs routed; ``cfgs``: tile -> unit config
        (issued with the tile's first job).  Returns the unit's rows (and the
        INT32 as ``acc`` when routed to both)."""
        R, C, depth = self.rows, self.cols, self.cfg.depth
        codecs = _codecs(R, C, self.acc_width, depth)
        self.reset_last_stats()
        if not plan.jobs:
            raise ValueError(f"GEMM {name!r}: K = 0 has no results for the unit to quantize")
        final_emit = max(i for i, j in enumerate(plan.jobs) if j.emit)
        to_raw, to_unit = route != ROUTE_UNIT, route != ROUTE_RAW
        emit_all = all(c["emit"] for c in cfgs.values())
        parts, raw, ovf_any = [], [], False
        mask_ptr = 0
        index = {id(j): i for i, j in enumerate(plan.jobs)}
        max_cmds = min(self.cfg.host_cmds, self.cfg.host_qcfgs)
        for jobs in batches(plan, self.batch_beats, max_cmds, self.cfg.host_rows):
            emitting = [j for j in jobs if j.emit]
            qlast = np.array([j.emit and (qlast_every_tile or index[id(j)] == final_emit)
                              for j in jobs])
            fields = {"k": np.array([j.k1 - j.k0 for j in jobs]),
                      "a_fmt": FORMATS[plan.a_fmt].hw_code, "b_fmt": FORMATS[plan.b_fmt].hw_code,
                      "accumulate": np.array([j.accumulate for j in jobs]),
                      "emit": np.array([j.emit for j in jobs]), "route": route, "qlast": qlast}
            files = {"cmd.hex": codecs["cmd"].to_hex(codecs["cmd"].pack_words(fields, n=len(jobs)))}
            blocks = [plan.a_words[plan.tiles[j.tile][0], j.k0:j.k1]
                      | plan.b_words[plan.tiles[j.tile][1], j.k0:j.k1] for j in jobs]
            files["load.hex"] = load_codec(R, C, plan.lanes).to_hex(np.concatenate(blocks))
            batch_cfgs = [cfgs[j.tile] for j in jobs if j.k0 == 0 and j.tile in cfgs]
            if batch_cfgs:
                files["qcfg.hex"] = self._qcfg_hex(batch_cfgs)
            n_rows = R * len(emitting)
            n_mask = 0
            if mask_beats is not None:
                n_mask = n_rows
                mw = codecs["mask"].pack_words(
                    {"mask": mask_beats[mask_ptr:mask_ptr + n_rows].astype(np.uint8)}, n=n_rows)
                files["mask.hex"] = codecs["mask"].to_hex(mw)
                mask_ptr += n_rows
                self.total_traffic["mask_rows"] += n_rows
            n_qres = n_rows if emit_all else int(qlast.any())
            n_res = n_rows if to_raw else 0
            n_beats = sum(j.k1 - j.k0 for j in jobs)
            self._qrun(files, n_cmd=len(jobs), n_load=n_beats, n_qcfg=len(batch_cfgs),
                       n_mask=n_mask, n_rq=0, n_res=n_res, n_qres=n_qres, n_beats=n_beats,
                       n_jobs=len(jobs))
            if n_res:
                data, ovf, _, _ = parse_results((self.run_dir / "res.hex").read_text(), n_res,
                                                C, self.acc_width, R)
                raw.append(data)
                ovf_any |= bool(ovf.any())
                self.total_traffic["int32_rows"] += n_res
            if n_qres:
                part = self._read_qres(n_qres)
                ovf_any |= bool(part["overflow"].any())
                parts.append(part)
        if ovf_any:
            raise GemmOverflowError(name, 1, self.acc_width)
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
        if raw:
            out["acc"] = from_beats(np.concatenate(raw), plan.m, plan.n, R, C)
        self.total_stats["gemms"] += 1
        return out

    def _read_qres(self, n):
        codec = _codecs(self.rows, self.cols, self.acc_width, self.cfg.depth)["qres"]
        try:
            words = codec.from_hex((self.run_dir / "qres.hex").read_text())
        except ValueError as e:
            raise SimulationError(f"malformed unit result file: {e}") from None
        if len(words) != n:
            raise SimulationError(f"expected {n} unit rows from the simulator, got {len(words)}")
        self.total_traffic["code_rows"] += n
        return codec.unpack_words(words)

    def _qrun(self, files, *, n_cmd, n_load, n_qcfg, n_mask, n_rq, n_res, n_qres, n_beats,
              n_jobs):
        for fname in ("res.hex", "qres.hex"):
            p = self.run_dir / fname
            if p.exists():
                p.unlink()
        for fname, text in files.items():
            (self.run_dir / fname).write_bytes(text)
        slack = 1000 / (1000 - max(self.gap_permille, self.stall_permille))
        # a row takes cols/lanes cycles in the unit
        slices = self.cols // self.quant_lanes
        max_cycles = int((n_beats + n_rq * slices + n_jobs * (2 * self.rows + self.cols + 16)
                          + n_jobs * self.rows * slices + 16 * n_qcfg) * 4 * slack) + 2000
        words = self._request(f"qrun {n_cmd} {n_load} {n_qcfg} {n_mask} {n_rq} {n_res} "
                              f"{n_qres} {self.gap_permille} {self.stall_permille} "
                              f"{self.seed} {max_cycles}")
        n = len(self.STATS)
        counters = dict(zip(self.STATS, map(int, words[:n])))
        if int(words[n]) or int(words[n + 1]):
            raise SimulationError("the tile flagged a malformed command or unit configuration "
                                  "(driver bug)")
        if counters["jobs_done"] != n_jobs or counters["mac_pe_cycles"] != \
                n_beats * self.rows * self.cols:
            raise SimulationError(f"tile counters disagree with the batch: {counters}")
        self.add_stats(counters)
        return words
