"""Pure loss / conductor models against their equations and the catalog tables."""

import math

import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.electrical.conductors import conductor_mass_kg, operating_temp_c, resistance_ohm
from twin.electrical.losses import (
    converter_input_w,
    curve_arrays,
    efficiency,
    transformer_loss_w,
    transformer_z_pu,
)

CAT = load_catalog()


def _curves():
    for section in ("ups", "power_shelves", "dcdc", "rectifiers"):
        for name in CAT.names(section):
            yield section, name, CAT.get(section, name).efficiency_curve


@pytest.mark.parametrize("section,name,curve", list(_curves()), ids=lambda x: x if isinstance(x, str) else "")
def test_efficiency_curves_reproduce_table_points(section, name, curve):
    x, eta = curve_arrays(curve)
    assert np.allclose(efficiency(x, x, eta), eta, rtol=0, atol=1e-15)
    # converter_input at a table point is P / eta exactly (one unit of rating 1 MW)
    p_out = x * 1e6
    assert np.allclose(converter_input_w(p_out, 1e6, x, eta), p_out / eta, rtol=1e-14)


def test_titanium_shelf_table():
    x, eta = curve_arrays(CAT.get("power_shelves", "vr-shelf-110kw").efficiency_curve)
    assert list(eta) == [0.90, 0.94, 0.96, 0.91] and list(x) == [0.10, 0.20, 0.50, 1.00]
    # halfway between 20 % and 50 %: linear interpolation 0.95
    assert efficiency(0.35, x, eta) == pytest.approx(0.95)


def test_light_load_keeps_fixed_loss():
    x, eta = np.array([0.1, 0.5, 1.0]), np.array([0.90, 0.96, 0.95])
    loss_x0 = 0.1 * 1000.0 * (1 / 0.90 - 1)
    assert converter_input_w(0.0, 1000.0, x, eta) == pytest.approx(loss_x0)
    assert converter_input_w(50.0, 1000.0, x, eta) == pytest.approx(50.0 + loss_x0)
    # continuous at the first table point
    assert converter_input_w(100.0, 1000.0, x, eta) == pytest.approx(100.0 + loss_x0)
    # n units share: 2 x 500 W units at 100 W total -> each at 10 %
    assert converter_input_w(100.0, 500.0, x, eta, units=2) == pytest.approx(100.0 / 0.90)


def test_transformer_loss_formula_and_impedance():
    t = CAT.get("transformers", "mv-lv-3mva-415")
    # hand calculation: 2 units sharing 3 MVA -> each at 50 %: 2 x (4.8 + 26 x 0.25) kW = 22.6 kW
    assert transformer_loss_w(3e6, 3e6, 4.8e3, 26e3, units=2) == pytest.approx(22.6e3)
    z = transformer_z_pu(t.rating_kva * 1e3, t.load_loss_kw * 1e3, t.impedance_percent, 1e6)
    # on its own base: r = Pk/Sn = 0.00867, |z| = 0.06
    assert z.real * 3.0 == pytest.approx(26.0 / 3000.0)
    assert abs(z) * 3.0 == pytest.approx(0.06)


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
