"""scripts/timing_seeds.py: the median over seeds and the critical-path summary
(on a hand-written nextpnr report; the tools themselves run in `make synth`)."""

from scripts.timing_seeds import critical_path_summary, median_fmax


def test_median_ignores_seeds_that_did_not_finish():
    assert median_fmax([120.0, None, 140.0, 130.0]) == 130.0
    assert median_fmax([150.0, 110.0]) == 130.0
    assert median_fmax([None, None]) is None


def _step(kind, delay, net=None, src="a", dst="b"):
    return {"type": kind, "delay": delay, "net": net,
            "from": {"cell": src, "port": "Q"}, "to": {"cell": dst, "port": "D"}}


def test_critical_path_summary_splits_logic_and_routing():
    report = {"critical_paths": [{"from": "clk", "to": "clk", "path": [
        _step("clk-to-q", 0.5, src="ff_a", dst="lut1"),
        _step("routing", 3.0, net="fanout_net", src="ff_a", dst="lut1"),
        _step("logic", 0.4, src="lut1", dst="lut2"),
        _step("routing", 1.0, net="short_net", src="lut1", dst="lut2"),
        _step("logic", 0.4, src="lut2", dst="ff_b"),
        _step("routing", 0.2, net="last", src="lut2", dst="ff_b"),
        _step("setup", 0.1, src="lut2", dst="ff_b"),
    ]}]}
    s = critical_path_summary(report, top_nets=2)
    assert s["from"] == "ff_a" and s["to"] == "ff_b"
    assert s["levels"] == 2
    assert abs(s["logic_ns"] - 1.4) < 1e-9 and abs(s["routing_ns"] - 4.2) < 1e-9
    assert s["longest_nets"] == [("fanout_net", 3.0), ("short_net", 1.0)]
    assert critical_path_summary({}) == {}
