"""twin.thermal.heat: coolant rise, cold-plate resistance vs flow, junction temperature and GPU throttling, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from twin.thermal import heat
from twin.thermal.properties import coolant_properties


def test_one_rack_energy_balance_and_junction_by_hand():
    # 227 kW rack, 340.5 L/min of PG25: dT = P / (m cp)
    props = coolant_properties("PG25", 50.0)
    rho, cp = float(props["rho_kg_m3"]), float(props["cp_j_kg_k"])
    q = 340.5 / 60000
    m = q * rho
    dt = float(heat.coolant_rise_k(227e3, m, cp))
    assert dt == pytest.approx(227e3 / (m * cp), rel=1e-12)
    assert 9.5 < dt < 10.5  # OCP: 1.5 L/min/kW gives ~10 K
    # R V linear in V: R(V) V = R_d (1-f) V + R_d f V_d
    r_d, f = 0.012, 0.6
    for ratio in (0.5, 1.0, 2.0):
        r = float(heat.cold_plate_resistance_k_per_w(r_d, f, ratio * q, q))
        assert r * ratio * q == pytest.approx(r_d * (1 - f) * ratio * q + r_d * f * q, rel=1e-12)
    assert float(heat.junction_temp_c(60.0, 2300.0, 0.012)) == pytest.approx(60.0 + 27.6)


def test_die_and_throttle_functions():
    r_d, f, qd = 0.02, 0.6, 1e-3
    q = np.array([0.25e-3, 1e-3, 3e-3])
    g = heat.cold_plate_conductance_w_per_k(r_d, f, q, qd)
    assert g == pytest.approx(1.0 / heat.cold_plate_resistance_k_per_w(r_d, f, q, qd), rel=1e-12)
    assert heat.cold_plate_conductance_w_per_k(r_d, f, 0.0, qd) == 0.0
    assert heat.cold_plate_conductance_w_per_k(r_d, 0.0, 0.0, qd) == pytest.approx(1 / r_d)
    tj = np.array([80.0, 89.0, 90.0, 91.0, 95.0])
    p = heat.throttled_gpu_power_w(1400.0, 400.0, tj, 89.0, 2.0)
    assert p == pytest.approx([1400.0, 1400.0, 900.0, 400.0, 400.0])
    assert heat.throttled_gpu_power_w(300.0, 400.0, 95.0, 89.0, 2.0) == 300.0  # already below P_min
    slope = heat.throttled_gpu_power_slope_w_per_k(1400.0, 400.0, tj, 89.0, 2.0)
    assert slope == pytest.approx([0.0, 0.0, -500.0, 0.0, 0.0])
    # throttled die equilibrium: the root of T_j = T_c + P(T_j) / G in each of the three regimes
    t_c = np.array([40.0, 70.0, 85.0])
    g = np.array([50.0, 50.0, 50.0])
    t_eq = heat.throttled_junction_c(t_c, g, 1400.0, 400.0, 89.0, 2.0)
    p_eq = heat.throttled_gpu_power_w(1400.0, 400.0, t_eq, 89.0, 2.0)
    assert t_eq == pytest.approx(t_c + p_eq / g, abs=1e-9)
    assert p_eq[0] == 1400.0 and 400.0 < p_eq[1] < 1400.0 and p_eq[2] == 400.0


def test_gpu_power_and_rise_edge_cases_by_hand():
    # GB200-class rack: 132 kW, 12 kW of CPUs / switches / fans, 72 GPUs -> 1667 W per GPU
    assert float(heat.gpu_power_w(132e3, 12e3, 72)) == pytest.approx(120e3 / 72, rel=1e-12)
    assert float(heat.gpu_power_w(5e3, 12e3, 72)) == 0.0  # never negative
    rise = heat.coolant_rise_k(np.array([1e3, 0.0, 1e3]), np.array([0.1, 0.0, 0.0]), 4000.0)
    assert rise[0] == pytest.approx(2.5, rel=1e-12) and rise[1] == 0.0 and rise[2] == np.inf
    # throttle fraction: the share of the proportional band in use, clipped to 0..1
    s = heat.throttle_fraction(np.array([85.0, 88.0, 89.5, 95.0]), 87.0, 2.0)
    assert s == pytest.approx([0.0, 0.5, 1.0, 1.0])
