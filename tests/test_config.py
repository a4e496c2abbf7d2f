"""model.config.DatapathConfig: the one configuration, validated once."""

import dataclasses

import numpy as np
import pytest

from hw.accel import AcceleratorTile
from hw.array import SystolicArray
from hw.pe import ProcessingElement
from model.backend import GoldenBackend
from model.config import (ACC_WIDTH_MAX, ACC_WIDTH_MIN, DEPTH_MAX, DIM_MAX, PE_LATENCIES,
                          SUPPORTED_LANES, ConfigError, DatapathConfig)
from sim.host import HostConfig


def test_defaults_are_the_documented_ones():
    c = DatapathConfig()
    assert (c.rows, c.cols, c.acc_width, c.depth, c.pe_latency, c.lanes) == (8, 8, 32, 512, 3, 1)
    assert c.acc_range == (-(1 << 31), (1 << 31) - 1)
    assert (DIM_MAX, DEPTH_MAX, ACC_WIDTH_MIN, ACC_WIDTH_MAX) == (64, 1 << 16, 18, 64)
    assert PE_LATENCIES == (1, 2, 3) and SUPPORTED_LANES == (1, 2, 4, 8, 16)


@pytest.mark.parametrize("field,value,message", [
    ("rows", 0, "rows must be in 1..64, got 0"),
    ("cols", 65, "cols must be in 1..64, got 65"),
    ("rows", 2.0, "rows must be an integer in 1..64, got 2.0"),
    ("rows", True, "rows must be an integer in 1..64, got True"),
    ("acc_width", 17, "acc_width must be in 18..64, got 17"),
    ("acc_width", 65, "acc_width must be in 18..64, got 65"),
    ("depth", 3, "depth must be a power of two in 2..65536, got 3"),
    ("depth", 1, "depth must be a power of two in 2..65536, got 1"),
    ("depth", 1 << 17, "depth must be a power of two in 2..65536, got 131072"),
    ("pe_latency", 4, "pe_latency must be one of 1, 2, 3, got 4"),
    ("lanes", 3, "lanes must be one of 1, 2, 4, 8, 16 (the lane counts the RTL implements), got 3"),
    ("lanes", 0, "lanes must be one of 1, 2, 4, 8, 16"),
])
def test_each_field_is_refused_in_one_line_naming_it(field, value, message):
    with pytest.raises(ConfigError) as info:
        DatapathConfig(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_numpy_integers_become_ints_and_edges_are_accepted():
    c = DatapathConfig(rows=np.int64(64), cols=1, acc_width=np.int32(18), depth=2)
    assert type(c.rows) is int and type(c.acc_width) is int
    assert DatapathConfig(acc_width=64, depth=1 << 16).acc_range == (-(1 << 63), (1 << 63) - 1)


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DatapathConfig().rows = 4


def test_of_replaces_only_the_fields_given():
    base = DatapathConfig(rows=3, cols=5, acc_width=20)
    assert DatapathConfig.of(base) is base
    assert DatapathConfig.of(base, cols=None, depth=16) == DatapathConfig(3, 5, 20, 16)
    assert DatapathConfig.of(None, rows=2) == DatapathConfig(rows=2)
    with pytest.raises(TypeError):
        DatapathConfig.of({"rows": 2})


def test_a_subclass_gives_and_takes_its_datapath_fields():
    host = HostConfig.of(DatapathConfig(rows=2, cols=3, depth=8), host_beats=16)
    assert isinstance(host, HostConfig) and (host.rows, host.cols, host.depth) == (2, 3, 8)
    assert host.host_beats == 16
    assert host.datapath() == DatapathConfig(rows=2, cols=3, depth=8)
    with pytest.raises(ConfigError, match="cols must be in 1..64"):
        HostConfig(cols=0)


def test_every_user_takes_the_config_and_refuses_through_it():
    cfg = DatapathConfig(rows=2, cols=3, acc_width=20, depth=8, pe_latency=2)
    assert SystolicArray(config=cfg).config == cfg
    assert AcceleratorTile(config=cfg).array.config == cfg
    pe = ProcessingElement(config=cfg)
    assert (pe.acc_width, pe.latency, pe.lanes) == (20, 2, 1)
    assert GoldenBackend(config=cfg).acc_width == 20
    # The keyword forms build the same config, so they refuse the same way.
    for build in (lambda: SystolicArray(2, 0), lambda: AcceleratorTile(2, 2, depth=6),
                  lambda: ProcessingElement(16), lambda: GoldenBackend(acc_width=70),
                  lambda: SystolicArray(2, 2, lanes=3)):
        with pytest.raises(ConfigError):
            build()
