"""Conductor kernels (``twin.electrical.conductors``) against hand calculations: R(T), IEC 60287 R_ac, temperature,
mass."""

import math

import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.electrical.conductors import (
    ac_resistance_ohm,
    conductor_mass_kg,
    loop_factor,
    operating_temp_c,
    resistance_ohm,
)

CAT = load_catalog()


def test_conductor_resistance_hand_values():
    cu = CAT.get("materials", "copper")
    # 1 km of 100 mm2 annealed copper at 20 C: 1.7241e-8 * 1000 / 1e-4 = 0.17241 ohm
    r20 = resistance_ohm(1000.0, 100.0, cu.resistivity_20c_ohm_m, cu.temp_coeff_per_k, 20.0)
    assert r20 == pytest.approx(0.17241)
    r90 = resistance_ohm(1000.0, 100.0, cu.resistivity_20c_ohm_m, cu.temp_coeff_per_k, 90.0)
    assert r90 / r20 == pytest.approx(1 + 0.00393 * 70)
    al = CAT.get("materials", "aluminium")
    # catalog MV cable: 630 mm2 Al at 90 C ~ 0.0565 ohm/km (datasheets ~0.063 AC incl. skin effect)
    r = resistance_ohm(1000.0, 630.0, al.resistivity_20c_ohm_m, al.temp_coeff_per_k, 90.0)
    assert 0.05 < r < 0.065


def test_operating_temperature_and_mass():
    assert operating_temp_c(5000.0, 5000.0, 95.0, 40.0) == pytest.approx(95.0)
    assert operating_temp_c(2500.0, 5000.0, 95.0, 40.0) == pytest.approx(40.0 + 55.0 / 4)
    assert operating_temp_c(0.0, 5000.0, 95.0, 40.0) == pytest.approx(40.0)
    # 3 conductors x 3000 mm2 x 25 m x 8890 kg/m3 = 2000.25 kg per run
    assert conductor_mass_kg(25.0, 3000.0, 3, 8890.0) == pytest.approx(2000.25)
    assert conductor_mass_kg(25.0, 3000.0, 3, 8890.0, runs=2) == pytest.approx(4000.5)
    assert math.isclose(float(conductor_mass_kg(0.0, 1.0, 2, 1.0)), 0.0)


def test_ac_resistance_from_dc_by_hand():
    """IEC 60287-1-1 sec. 2.1: R_ac = R_dc (1 + y_s + y_p); the catalog gives k_ac = 1 + y_s + y_p."""
    cu = CAT.get("materials", "copper")
    # 1 km of 100 mm2 copper at 20 C: R_dc = 0.17241 ohm; with y_s + y_p = 0.2: R_ac = 1.2 x 0.17241 = 0.206892
    r_dc = resistance_ohm(1000.0, 100.0, cu.resistivity_20c_ohm_m, cu.temp_coeff_per_k, 20.0)
    assert ac_resistance_ohm(r_dc, 1.2) == pytest.approx(0.206892)
    assert ac_resistance_ohm(r_dc, 1.0) == r_dc  # DC: no skin effect
    # the catalog AC busway: 25 m at 90 C, by hand rho_90 = rho_20 (1 + alpha 70), R = rho L / A, x k_ac
    bw = next(
        CAT.get("conductors", n)
        for n in CAT.names("conductors")
        if CAT.get("conductors", n).system == "ac" and CAT.get("conductors", n).material == "copper"
    )
    mat = CAT.get("materials", bw.material)
    by_hand = (
        bw.ac_resistance_ratio
        * mat.resistivity_20c_ohm_m
        * (1 + mat.temp_coeff_per_k * 70.0)
        * 25.0
        / (bw.cross_section_mm2 * 1e-6)
    )
    r_dc_bw = resistance_ohm(
        25.0, bw.cross_section_mm2, mat.resistivity_20c_ohm_m, mat.temp_coeff_per_k, 90.0
    )
    assert 1.0 < bw.ac_resistance_ratio < 1.5
    assert float(ac_resistance_ohm(r_dc_bw, bw.ac_resistance_ratio)) == pytest.approx(by_hand, rel=1e-12)
    assert np.array_equal(ac_resistance_ohm(np.array([1.0, 2.0]), np.array([1.1, 1.0])), np.array([1.1, 2.0]))


def test_loop_factor_dc_out_and_back_ac_per_phase():
    assert list(loop_factor(np.array(["ac", "dc", "ac"]))) == [1.0, 2.0, 1.0]
    assert math.isclose(float(loop_factor("dc")), 2.0)
