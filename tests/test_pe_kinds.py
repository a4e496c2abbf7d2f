"""PE kinds (hw.pe_kinds): DatapathConfig(pe=...) asks the PE class for its
latencies and accumulator, and ``radix4 verilog --pe`` builds the block-scaled
PE and array (issue 25 item 3)."""

import pytest

import hw.pe_kinds as kinds
from model.config import ConfigError, DatapathConfig, default_pe_latency, pe_latencies
from scripts.cli import main


def test_each_kind_validates_against_its_class():
    for name, cls in kinds.PE_KINDS.items():
        if cls is None:
            continue
        for lanes in (1, 2, 8):
            cfg = DatapathConfig(pe=name, lanes=lanes)
            assert cfg.pe_latency == cls.default_latency(lanes)
            assert pe_latencies(lanes, name) == tuple(cls.latencies(lanes))
            assert cfg.acc_width == cls.acc_shape.width
            cell = kinds.pe_class_for(name, lanes).from_config(cfg)
            assert (cell.latency, cell.lanes) == (cfg.pe_latency, lanes)
    # radix-4 keeps its own rule, and its default accumulator.
    assert DatapathConfig().acc_width == 32 and DatapathConfig(lanes=8).pe_latency == 5
    assert default_pe_latency(8) == default_pe_latency(8, "radix4") == 5


@pytest.mark.parametrize("fields,msg", [
    ({"pe": "nvfp4", "acc_width": 32}, "acc_width must be 64 for the nvfp4 PE, got 32"),
    ({"pe": "mxfp4", "lanes": 8, "pe_latency": 3},
     "pe_latency must be one of 4, 5, 6 for 8 lanes of the mxfp4 PE, got 3"),
    ({"pe": "fp4x"}, "pe must be a PE kind"),
])
def test_refusals_name_the_field(fields, msg):
    with pytest.raises(ConfigError, match=msg):
        DatapathConfig(**fields)


def test_of_follows_the_kind():
    cfg = DatapathConfig(lanes=8)
    nv = DatapathConfig.of(cfg, pe="nvfp4")
    assert (nv.acc_width, nv.pe_latency) == (64, 7)
    assert DatapathConfig.of(nv, pe="radix4").acc_width == 32


def test_verilog_block_pe_and_refusals(tmp_path, capsys):
    out = tmp_path / "pe.v"
    assert main(["verilog", "--top", "pe", "--pe", "mxfp4", "--lanes", "2", "-o", str(out)]) == 0
    text = out.read_text()
    assert "acc_width=64 pe_latency=4 lanes=2 pe=mxfp4" in text.splitlines()[0]
    assert "a_scale" in text and "b_scale" in text and "a_fmt" not in text
    for argv, msg in [
        (["--top", "axi", "--pe", "nvfp4"], "--pe: the axi top has no such parameter"),
        (["--top", "pe", "--pe", "nvfp4", "--acc-width", "32"],
         "--acc-width must be 64 for the nvfp4 PE, got 32"),
    ]:
        capsys.readouterr()
        assert main(["verilog", *argv, "-o", str(tmp_path / "x.v")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
