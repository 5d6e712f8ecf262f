"""Loss kernels (``twin.electrical.losses``) against their equations, hand calculations and the catalog tables."""

import numpy as np
import pytest

from twin.catalog import load_catalog
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
