"""``radix4 demo``: the main job on defaults, offline, in a few minutes.

1. Train the digits MLP briefly with the 4-bit recipe on the golden model.
2. Take one full training step (forward, dX and dW GEMMs of every layer)
   twice from the same state: on the golden model and on the Verilated RTL
   (or Icarus), recording every GEMM of both.
3. Print, per GEMM, bit-exactness, cycles and array utilisation; check that
   the two steps leave bit-identical weights; print test accuracy.

Exit status 0 iff everything was bit-exact.
"""

from __future__ import annotations

import copy
import sys
import time

import numpy as np

from model.backend import BackendWrapper

HELP = ("Train the digits MLP in 4-bit on the golden model, then stream one full "
        "training step through the RTL and check it bit for bit.")


def add_arguments(p):
    from scripts.argtypes import non_negative_int, positive_int
    p.add_argument("--sim", default="verilator", choices=("verilator", "icarus"),
                   help="simulator for the RTL step (default: verilator)")
    p.add_argument("--epochs", type=positive_int("--epochs"), default=3,
                   help="golden-model epochs first (default 3)")
    p.add_argument("--rows", type=int, default=8, help="array rows, 1..64 (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns, 1..64 (default 8)")
    p.add_argument("--seed", type=non_negative_int("--seed"), default=0)
    from scripts.argtypes import add_lanes_argument
    add_lanes_argument(p)
    from scripts.argtypes import add_pe_model_argument
    add_pe_model_argument(p)
    p.add_argument("--no-onchip", dest="onchip", action="store_false",
                   help="skip the on-chip quantization step (4bit-onchip on the tile with the unit)")
    p.add_argument("--trace", metavar="TRACE.npz",
                   help="also save the RTL step's GEMMs as a trace for `radix4 replay`")


def _say(msg=""):
    print(msg, flush=True)


class _Counting(BackendWrapper):
    """The recorder, keeping each GEMM's tile counters and answer as well."""

    def __init__(self, inner):
        super().__init__(inner)
        self.stats, self.outputs = [], []

    def gemm(self, a, b, fa, fb, *, name="gemm", **kw):
        out = self.inner.gemm(a, b, fa, fb, name=name, **kw)
        self.stats.append(dict(self.last_stats))
        self.outputs.append(np.array(out, copy=True))
        return out


def run(args) -> int:
    from scripts.argtypes import datapath_config, output_path, write_output
    from scripts.errors import CliError
    config = datapath_config(args, skip=("depth",))
    if args.trace:   # checked before training, not after it
        output_path("--trace", args.trace)
    from model.backend import GoldenBackend
    from model.tasks import make_task
    from model.trace import TraceRecorder
    from model.train import Trainer
    from sim.factory import make_backend

    t0 = time.perf_counter()
    task = make_task("digits-mlp", args.seed)
    trainer = Trainer(task.model, "4bit", backend=GoldenBackend(), seed=args.seed,
                      lr=task.lr, metric=task.metric)
    _say(f"[1/3] training {task.name} with the 4-bit recipe on the golden model "
         f"({args.epochs} epochs, {len(task.X_train)} images)")
    trainer.fit(task.X_train, task.y_train, epochs=args.epochs,
                batch_size=task.batch_size, progress=True)
    acc_before = trainer.evaluate(task.X_test, task.y_test)
    _say(f"      test accuracy after {args.epochs} epochs: {acc_before:.4f}")

    rng = np.random.default_rng([args.seed, 99])
    idx = rng.choice(len(task.X_train), task.batch_size, replace=False)
    xb, yb = task.X_train[idx], task.y_train[idx]

    golden = copy.deepcopy(trainer)
    golden.backend = TraceRecorder(GoldenBackend(config=config))
    golden.step(xb, yb)

    _say(f"[2/3] one training step ({task.batch_size} images) on the RTL: "
         f"{args.sim}, {args.rows}x{args.cols} array, {config.lanes} lane(s) per PE (first run builds the model, "
         f"cached afterwards)")
    t_build = time.perf_counter()
    with make_backend(args.sim, config) as rtl:
        _say(f"      simulator up in {time.perf_counter() - t_build:.1f} s")
        recorder = TraceRecorder(rtl)
        counted = _Counting(recorder)
        stats, outputs = counted.stats, counted.outputs
        hw_trainer = copy.deepcopy(trainer)
        hw_trainer.backend = counted
        t_step = time.perf_counter()
        hw_trainer.step(xb, yb)
        step_time = time.perf_counter() - t_step
        if args.trace:
            write_output("--trace", args.trace, recorder.save)

    _say(f"[3/3] per-GEMM results (golden model vs RTL)")
    _say(f"      {'GEMM':<10} {'M x K x N':>16} {'formats':>13} {'exact':>6} "
         f"{'cycles':>8} {'util':>6}")
    all_exact = True
    golden_records = list(golden.backend.records)
    rtl_records = list(recorder.records)
    if len(golden_records) != len(rtl_records):
        raise CliError("the golden and RTL steps ran different GEMMs")
    cycles = macs = pe_cycles = 0
    for g, r, st, out in zip(golden_records, rtl_records, stats, outputs):
        # Same GEMM with the same operands on both runs, and the RTL's answer
        # equal to the golden model's exact result.
        same = (g.name == r.name and g.a_format == r.a_format and g.b_format == r.b_format
                and np.array_equal(g.a, r.a) and np.array_equal(g.b, r.b)
                and np.array_equal(out, g.expected))
        all_exact &= bool(same)
        m, k, n = r.shape
        cycles += st["cycles"]
        pe_cycles += st["mac_pe_cycles"]
        macs += m * k * n
        _say(f"      {r.name:<10} {f'{m}x{k}x{n}':>16} {r.a_format + 'x' + r.b_format:>13} "
             f"{'yes' if same else 'NO':>6} {st['cycles']:>8} {st['utilisation']:>6.1%}")
    w_golden, w_rtl = golden.state(), hw_trainer.state()
    weights_equal = w_golden.keys() == w_rtl.keys() and all(
        np.array_equal(w_golden[k], w_rtl[k]) for k in w_golden)
    all_exact &= weights_equal
    # MACs issued over R*C*k per cycle (a k-lane PE does k MACs a beat).
    util = pe_cycles / (args.rows * args.cols * cycles) if cycles else 0.0
    _say(f"      {len(rtl_records)} GEMMs, {macs:,} MACs, {cycles:,} cycles, "
         f"array utilisation {util:.1%}, RTL step wall time {step_time:.2f} s")
    _say(f"      weights after the step identical on golden and RTL: "
         f"{'yes' if weights_equal else 'NO'}")
    if args.onchip:
        from scripts.demo_onchip import onchip_demo_step
        _say(f"[+] one step of 4bit-onchip from the same state ({args.sim}): every hidden "
             f"activation and gradient code from the quantization unit, the INT4 weights from "
             f"host SAWB, the input and the loss gradient quantized on the host")
        all_exact &= onchip_demo_step(trainer, xb, yb, args.sim, config, _say)
    trainer = hw_trainer
    trainer.backend = GoldenBackend()
    acc_after = trainer.evaluate(task.X_test, task.y_test)
    _say(f"bit_exact={'yes' if all_exact else 'NO'} gemms={len(rtl_records)} cycles={cycles} "
         f"utilisation={util:.4f} seconds={time.perf_counter() - t0:.1f}")
    _say(f"test_accuracy={acc_after:.4f}")
    return 0 if all_exact else 1


if __name__ == "__main__":
    from scripts.cli import main
    sys.exit(main(["demo", *sys.argv[1:]]))
