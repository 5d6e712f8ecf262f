"""Hand calculations and independent libraries for the thermal building blocks."""

from __future__ import annotations

import math

import CoolProp.CoolProp as CP
import numpy as np
import pytest
from fluids.friction import Churchill_1977, friction_factor

from twin.catalog import load_catalog
from twin.thermal import cdu, heat, hydraulics
from twin.thermal.heat_rejection import chiller_cop, dry_cooler_heat_w, dry_cooler_rating
from twin.thermal.properties import coolant_properties


def test_property_tables_match_coolprop_direct():
    for t in (20.3, 45.0, 57.7, 80.1):
        p = coolant_properties("PG25", t)
        for key, code in (("rho_kg_m3", "D"), ("cp_j_kg_k", "C"), ("mu_pa_s", "V")):
            ref = CP.PropsSI(code, "T", t + 273.15, "P", 3e5, "INCOMP::MPG[0.25]")
            assert float(p[key]) == pytest.approx(ref, rel=2e-4)
        w = coolant_properties("water", t)
        assert float(w["cp_j_kg_k"]) == pytest.approx(
            CP.PropsSI("C", "T", t + 273.15, "P", 3e5, "Water"), rel=1e-4
        )
    # PG25 holds less heat per kg than water (the reason flows per kW differ)
    assert coolant_properties("PG25", 45.0)["cp_j_kg_k"] < coolant_properties("water", 45.0)["cp_j_kg_k"]


@pytest.mark.parametrize("re", [500.0, 1500.0, 5e3, 2e4, 1e5, 1e6])
@pytest.mark.parametrize("ed", [1e-5, 2.25e-4, 1e-3])
def test_friction_factor_against_fluids(re, ed):
    f = float(hydraulics.friction_factor_churchill(re, ed))
    assert f == pytest.approx(Churchill_1977(re, ed), rel=1e-9)
    if re < 2000:
        assert f == pytest.approx(64.0 / re, rel=0.02)  # laminar Hagen-Poiseuille
    elif re > 1e4:
        assert f == pytest.approx(friction_factor(Re=re, eD=ed), rel=0.02)  # Colebrook (Clamond solution)


def test_darcy_weisbach_pipe_against_fluids_and_by_hand():
    # 200 mm header, 30 m, 0.18 m3/s of PG25 at 50 C
    props = coolant_properties("PG25", 50.0)
    rho, mu = float(props["rho_kg_m3"]), float(props["mu_pa_s"])
    q, d, length, rough = 0.18, 0.2, 30.0, 4.5e-5
    v = q / (math.pi * d**2 / 4)
    re = rho * v * d / mu
    dp_ref = friction_factor(Re=re, eD=rough / d) * length / d * rho * v**2 / 2  # fluids' Colebrook factor
    dp = float(hydraulics.pipe_dp_pa(q, length, d, rough, rho, mu))
    assert dp == pytest.approx(dp_ref, rel=0.02)
    assert float(hydraulics.pipe_dp_pa(-q, length, d, rough, rho, mu)) == pytest.approx(-dp)  # odd in Q


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


def test_dry_cooler_rating_point_and_affinity_law():
    dc = load_catalog().get("dry_coolers", "drycooler-1500")
    rat = dry_cooler_rating(dc, 4180.0)
    q = float(
        dry_cooler_heat_w(
            1.0,
            rat["ua_w_per_k"],
            rat["c_air_w_per_k"],
            dc.ua_airflow_exponent,
            rat["c_water_w_per_k"],
            dc.rating_water_in_c,
            dc.rating_ambient_c,
        )
    )
    assert q == pytest.approx(dc.capacity_kw * 1e3, rel=1e-9)
    # less air, less heat; hotter air, less heat
    q_half = float(
        dry_cooler_heat_w(
            0.5, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, 35.0
        )
    )
    q_hot = float(
        dry_cooler_heat_w(
            1.0, rat["ua_w_per_k"], rat["c_air_w_per_k"], 0.8, rat["c_water_w_per_k"], 56.0, 40.0
        )
    )
    assert q_half < q and q_hot < q


def test_chiller_cop_meets_rating_and_falls_with_lift():
    ch = load_catalog().get("chillers", "trim-chiller-2mw")
    assert float(chiller_cop(ch.rating_leaving_c, ch.rating_ambient_c, ch)) == pytest.approx(
        ch.cop_rated, rel=1e-12
    )
    # condensing held at max(T_amb, T_leaving) + approach: flat below the leaving water, falling above it
    cops = chiller_cop(45.0, np.array([30.0, 35.0, 40.0, 45.0, 50.0, 55.0]), ch)
    assert np.all(np.diff(cops[:4]) == 0) and np.all(np.diff(cops[3:]) < 0)


def test_network_parallel_racks_split_and_conserve_mass():
    # two loops, 3 and 5 racks, identical branches: balanced valves give every rack its design flow
    rack_loop = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    net = hydraulics.build_network(rack_loop, 2, np.array([20.0, 40.0]))
    qd = np.full(8, 0.005)
    dpd = np.full(8, 80e3)
    nexp = np.full(8, 1.9)
    dia, rough = np.array([0.08, 0.08]), np.array([4.5e-5, 4.5e-5])
    rho, mu = np.array([1010.0, 1010.0]), np.array([1.2e-3, 1.2e-3])
    kv = hydraulics.balancing_valves(net, qd, dpd, dia, rough, rho, mu)
    assert np.all(kv >= 0)
    # the index rack (last on each loop) has no valve throttling
    assert kv[5] == 0 and kv[7] == 0
    h0, kp = hydraulics.pump_curve_constants(
        np.array([0.02, 0.03]), np.array([250e3, 250e3]), np.array([1.25, 1.25])
    )
    q_set = np.array([0.015, 0.025])
    sol = hydraulics.solve_loops(
        net,
        flow_setpoint_m3_s=q_set,
        n_pumps=np.array([1, 1]),
        shutoff_head_pa=h0,
        curve_k=kp,
        design_flow_m3_s=qd,
        dp_design_pa=dpd,
        dp_exponent=nexp,
        valve_k=kv,
        diameter_m=dia,
        roughness_m=rough,
        rho=rho,
        mu=mu,
    )
    assert sol.converged
    assert np.allclose(sol.rack_flow_m3_s, 0.005, rtol=1e-8)
    assert np.bincount(rack_loop, weights=sol.rack_flow_m3_s) == pytest.approx(q_set, rel=1e-12)
    # without valves the near racks take more than the far ones (header losses)
    sol2 = hydraulics.solve_loops(
        net,
        flow_setpoint_m3_s=q_set,
        n_pumps=np.array([1, 1]),
        shutoff_head_pa=h0,
        curve_k=kp,
        design_flow_m3_s=qd,
        dp_design_pa=dpd,
        dp_exponent=nexp,
        valve_k=np.zeros(8),
        diameter_m=dia,
        roughness_m=rough,
        rho=rho,
        mu=mu,
    )
    loop1 = np.flatnonzero(rack_loop == 1)
    assert np.all(np.diff(sol2.rack_flow_m3_s[loop1]) < 0)
    assert np.bincount(rack_loop, weights=sol2.rack_flow_m3_s) == pytest.approx(q_set, rel=1e-10)
    # pump duty lies on its curve
    head = hydraulics.pump_head_pa(q_set, sol.pump_speed, h0, kp)
    assert head == pytest.approx(sol.pump_head_pa, rel=1e-9)


def test_pump_limited_loop_runs_on_its_curve():
    net = hydraulics.build_network(np.zeros(4, np.int64), 1, np.array([10.0]))
    qd, dpd, nexp = np.full(4, 0.005), np.full(4, 200e3), np.full(4, 2.0)
    dia, rough, rho, mu = np.array([0.1]), np.array([4.5e-5]), np.array([1000.0]), np.array([1e-3])
    kv = hydraulics.balancing_valves(net, qd, dpd, dia, rough, rho, mu)
    h0, kp = hydraulics.pump_curve_constants(np.array([0.02]), np.array([150e3]), np.array([1.25]))
    sol = hydraulics.solve_loops(
        net,
        flow_setpoint_m3_s=np.array([0.02]),
        n_pumps=np.array([1]),
        shutoff_head_pa=h0,
        curve_k=kp,
        design_flow_m3_s=qd,
        dp_design_pa=dpd,
        dp_exponent=nexp,
        valve_k=kv,
        diameter_m=dia,
        roughness_m=rough,
        rho=rho,
        mu=mu,
    )
    assert sol.converged and sol.pump_limited[0] and sol.pump_speed[0] == 1.0
    assert sol.loop_flow_m3_s[0] < 0.02
    assert float(hydraulics.pump_head_pa(sol.loop_flow_m3_s, 1.0, h0, kp)[0]) == pytest.approx(
        sol.pump_head_pa[0], rel=1e-8
    )
