"""The ECP5 PLL (``EHXPLLL``) of the board top: its dividers for a clock, and the instance.

The dividers follow the ECP5 sysCLOCK rules as Project Trellis' ``ecppll``
applies them, with the feedback taken from ``CLKOP`` (so the output is
``f_in * CLKFB_DIV / CLKI_DIV``):

- phase-detector input ``f_in / CLKI_DIV`` in 3.125..400 MHz;
- VCO ``f_out * CLKOP_DIV`` in 400..800 MHz;
- ``CLKI_DIV`` 1..128, ``CLKFB_DIV`` 1..80, ``CLKOP_DIV`` 1..128.

Only an exact output is accepted: the UART's baud divisor and the report's
clock are computed from the asked frequency, so a PLL that delivers another
one would make both wrong.  Among exact settings the one with its VCO
nearest 600 MHz (mid-range) is taken.  nextpnr-ecp5 derives the output
clock's constraint from these parameters and the input's ``FREQUENCY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

__all__ = ["PllError", "PllSetting", "pll_setting", "ehxplll"]

PFD_MHZ = (Fraction(3125, 1000), Fraction(400))
VCO_MHZ = (Fraction(400), Fraction(800))
CLKI_DIVS, CLKFB_DIVS, CLKOP_DIVS = range(1, 129), range(1, 81), range(1, 129)


class PllError(ValueError):
    """No exact ``EHXPLLL`` setting gives the asked output clock."""


@dataclass(frozen=True)
class PllSetting:
    clki_div: int
    clkfb_div: int
    clkop_div: int
    in_mhz: Fraction
    out_mhz: Fraction

    @property
    def vco_mhz(self) -> Fraction:
        return self.out_mhz * self.clkop_div


def pll_setting(in_mhz, out_mhz) -> PllSetting:
    """The ``EHXPLLL`` dividers that make exactly ``out_mhz`` from ``in_mhz``."""
    fin, fout = Fraction(str(in_mhz)), Fraction(str(out_mhz))
    best = None
    for clki in CLKI_DIVS:
        pfd = fin / clki
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        clkfb = fout / pfd
        if clkfb.denominator != 1 or clkfb.numerator not in CLKFB_DIVS:
            continue
        for clkop in CLKOP_DIVS:
            vco = fout * clkop
            if VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                key = abs(vco - 600)
                if best is None or key < best[0]:
                    best = (key, PllSetting(clki, int(clkfb), clkop, fin, fout))
    if best is None:
        raise PllError(f"the ECP5 PLL cannot make exactly {float(fout):g} MHz from "
                       f"{float(fin):g} MHz (phase detector 3.125..400 MHz, VCO 400..800 MHz, "
                       f"feedback divider 1..80)")
    return best[1]


def ehxplll(setting: PllSetting, clk_in, clk_out, locked):
    """The ``EHXPLLL`` instance: ``clk_in`` -> ``clk_out`` (fed back), ``locked``."""
    from amaranth.hdl import Const, Instance
    zero = Const(0, 1)
    return Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{float(setting.in_mhz):g}",
        a_FREQUENCY_PIN_CLKOP=f"{float(setting.out_mhz):g}",
        # Loop filter settings every ecppll output carries (Trellis' measured values).
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
        a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
        p_CLKI_DIV=setting.clki_div, p_CLKFB_DIV=setting.clkfb_div,
        p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=setting.clkop_div,
        # Zero phase: the coarse phase is half the output divider, rounded down.
        p_CLKOP_CPHASE=(setting.clkop_div - 1) // 2, p_CLKOP_FPHASE=0,
        p_FEEDBK_PATH="CLKOP",
        i_CLKI=clk_in, i_CLKFB=clk_out, o_CLKOP=clk_out, o_LOCK=locked,
        i_RST=zero, i_STDBY=zero, i_PHASESEL0=zero, i_PHASESEL1=zero, i_PHASEDIR=zero,
        i_PHASESTEP=zero, i_PHASELOADREG=zero, i_PLLWAKESYNC=zero, i_ENCLKOP=zero,
    )
