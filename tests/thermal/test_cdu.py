"""twin.thermal.cdu: counterflow eps-NTU against the textbook formulas and the LMTD method, the datasheet
rating and UA versus flow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.catalog import load_catalog
from twin.thermal import cdu
from twin.thermal.properties import coolant_properties


def test_eps_ntu_counterflow_by_hand():
    # balanced: eps = NTU / (1 + NTU)
    assert float(cdu.effectiveness_counterflow(2.0, 1.0)) == pytest.approx(2.0 / 3.0)
    # Cr = 0: eps = 1 - exp(-NTU)
    assert float(cdu.effectiveness_counterflow(1.5, 0.0)) == pytest.approx(1 - math.exp(-1.5))
    # NTU = 1, Cr = 0.5: (1 - 0.606531) / (1 - 0.5 * 0.606531) = 0.393469 / 0.696735 = 0.564733
    assert float(cdu.effectiveness_counterflow(1.0, 0.5)) == pytest.approx(0.564733, abs=1e-6)
    for ntu, cr in [(0.3, 0.2), (2.0, 0.7), (4.0, 0.999999), (3.0, 1.0)]:
        e = cdu.effectiveness_counterflow(ntu, cr)
        assert float(cdu.ntu_counterflow(e, cr)) == pytest.approx(ntu, rel=1e-5)


def test_cdu_rating_reproduces_the_datasheet_approach():
    # CHx2000: 2,000 kW at 5 K approach; balanced at its rated flow -> T_tcs,supply - T_fws,supply = 5 K
    c = load_catalog().get("cdus", "coolit-chx2000")
    props = coolant_properties("PG25", 50.0)
    ch = c.flow_lpm / 60000 * float(props["rho_kg_m3"] * props["cp_j_kg_k"])
    ua = float(cdu.rated_ua_w_per_k(c.capacity_kw * 1e3, c.approach_k))
    t_hot_in, eps = cdu.hot_inlet_for_duty_c(c.capacity_kw * 1e3, ua, ch, ch, 45.0)
    t_hot_out = float(t_hot_in) - c.capacity_kw * 1e3 / ch
    assert t_hot_out - 45.0 == pytest.approx(c.approach_k, rel=1e-9)
    q = float(cdu.hx_heat_w(ua, ch, ch, t_hot_in, 45.0))
    assert q == pytest.approx(c.capacity_kw * 1e3, rel=1e-12)


# ---- CDU UA scales with flow on both sides
def test_cdu_ua_follows_flow_by_hand():
    n = 0.7
    assert float(cdu.ua_at_flow_w_per_k(4e5, 1.0, 1.0, n)) == pytest.approx(4e5, rel=1e-14)
    assert float(cdu.ua_at_flow_w_per_k(4e5, 0.3, 1.0, n)) == pytest.approx(
        4e5 / (0.5 * 0.3**-n + 0.5), rel=1e-14
    )
    assert float(cdu.ua_at_flow_w_per_k(4e5, 0.0, 1.0, n)) == 0.0
    ua = cdu.ua_at_flow_w_per_k(4e5, np.linspace(0.2, 1.5, 9), 1.0, n)
    assert np.all(np.diff(ua) > 0)


@pytest.mark.parametrize(
    ("ua", "c_hot", "c_cold"), [(8e4, 1e5, 1.4e5), (3e5, 2e5, 1e5), (5e4, 9e4, 9e4 * 1.001)]
)
def test_eps_ntu_heat_equals_ua_times_lmtd(ua, c_hot, c_cold):
    # independent of eps-NTU: a counterflow exchanger carries Q = UA LMTD (Incropera & DeWitt eq. 11.15),
    # LMTD = (dT_1 - dT_2) / ln(dT_1 / dT_2) with dT_1 = T_h,in - T_c,out, dT_2 = T_h,out - T_c,in
    t_hi, t_ci = 60.0, 40.0
    q = float(cdu.hx_heat_w(ua, c_hot, c_cold, t_hi, t_ci))
    t_ho, t_co = t_hi - q / c_hot, t_ci + q / c_cold
    d1, d2 = t_hi - t_co, t_ho - t_ci
    assert q == pytest.approx(ua * (d1 - d2) / math.log(d1 / d2), rel=1e-7)
    # and the inverse: the hot inlet that carries this duty
    t_back, eps = cdu.hot_inlet_for_duty_c(q, ua, c_hot, c_cold, t_ci)
    assert float(t_back) == pytest.approx(t_hi, rel=1e-12)
    assert float(eps) == pytest.approx(q / (min(c_hot, c_cold) * (t_hi - t_ci)), rel=1e-12)


def test_no_flow_carries_no_heat():
    assert float(cdu.hx_heat_w(1e5, 0.0, 1e5, 60.0, 40.0)) == 0.0
    assert float(cdu.hx_heat_w(1e5, 1e5, 0.0, 60.0, 40.0)) == 0.0
    # a very large exchanger approaches eps = 1 for Cr < 1: the smaller stream reaches the other's inlet
    assert float(cdu.effectiveness_counterflow(50.0, 0.5)) == pytest.approx(1.0, abs=1e-9)
