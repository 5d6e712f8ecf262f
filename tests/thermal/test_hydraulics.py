"""twin.thermal.hydraulics: friction factor and Darcy-Weisbach against the ``fluids`` package and by hand
(Hagen-Poiseuille), pump curves and affinity laws, the loop network and the global gradient solve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fluids.friction import Churchill_1977, friction_factor, one_phase_dP

from twin.catalog import load_catalog
from twin.thermal import hydraulics
from twin.thermal.properties import coolant_properties


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


def _two_loops():
    """Two loops of 3 and 5 identical racks (80 kPa cold plates at 5 L/s), 80 mm headers, PG25-like fluid."""
    rack_loop = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    net = hydraulics.build_network(rack_loop, 2, np.array([20.0, 40.0]))
    c = dict(
        design_flow_m3_s=np.full(8, 0.005),
        dp_design_pa=np.full(8, 80e3),
        dp_exponent=np.full(8, 1.9),
        diameter_m=np.array([0.08, 0.08]),
        roughness_m=np.array([4.5e-5, 4.5e-5]),
        rho=np.array([1010.0, 1010.0]),
        mu=np.array([1.2e-3, 1.2e-3]),
    )
    h0, kp = hydraulics.pump_curve_constants(np.array([0.02, 0.03]), np.array([250e3, 250e3]), 1.25)
    kv = hydraulics.valve_open_k(c["design_flow_m3_s"], c["dp_design_pa"], 0.2)
    qd = c["design_flow_m3_s"]
    dp_set = hydraulics.commissioned_dp_setpoint_pa(
        rack_loop, 2, qd, qd, c["dp_design_pa"], c["dp_exponent"], kv
    )

    def solve(q_valve, *, dp=dp_set, n_pumps=(1, 1), pump=(h0, kp), **kw):
        return hydraulics.solve_loops(
            net,
            valve_flow_m3_s=np.asarray(q_valve, dtype=float),
            valve_open_k=kv,
            dp_setpoint_pa=np.asarray(dp, dtype=float),
            n_pumps=np.array(n_pumps),
            shutoff_head_pa=pump[0],
            curve_k=pump[1],
            **c,
            **kw,
        )

    return rack_loop, net, c, kv, dp_set, h0, kp, solve


def _check_network(net, sol, c, kv, dp_set):
    """Flow conservation at every node and every edge law at the solved flows and pressures."""
    q, p = sol.edge_flow_m3_s, sol.node_pressure_pa
    imbalance = np.zeros(net.n_nodes)
    np.add.at(imbalance, net.frm[net.frm >= 0], q[net.frm >= 0])
    np.add.at(imbalance, net.to[net.to >= 0], -q[net.to >= 0])
    assert np.max(np.abs(imbalance)) < 1e-15
    pf = np.where(net.frm >= 0, p[np.maximum(net.frm, 0)], 0.0)
    pt = np.where(net.to >= 0, p[np.maximum(net.to, 0)], 0.0)
    n = net.n_racks
    dp_pipe = hydraulics.pipe_dp_pa(
        q[: 2 * n],
        net.pipe_length_m[: 2 * n],
        c["diameter_m"][net.edge_loop[: 2 * n]],
        c["roughness_m"][net.edge_loop[: 2 * n]],
        c["rho"][net.edge_loop[: 2 * n]],
        c["mu"][net.edge_loop[: 2 * n]],
    )
    assert (pf - pt)[: 2 * n] == pytest.approx(dp_pipe, rel=1e-8, abs=1e-6)
    # each branch: cold plates + valve = tap differential; a valve in control takes at least its open drop
    rk = net.order
    branch = (pf - pt)[2 * n : 3 * n]
    assert branch == pytest.approx(sol.rack_dp_pa[rk] + sol.valve_dp_pa[rk], rel=1e-9)
    q_b = sol.rack_flow_m3_s[rk]
    assert np.all(sol.valve_dp_pa[rk] >= kv[rk] * q_b**2 * (1 - 1e-6))
    # the pumps' head is the discharge pressure; the index differential is the setpoint unless limited
    assert sol.pump_head_pa == pytest.approx(p[net.supply_node0], rel=1e-12)
    index = p[net.supply_node0 + net.n_per_loop] - p[net.supply_node0 + 2 * net.n_per_loop]
    assert index == pytest.approx(sol.index_dp_pa, rel=1e-9)
    assert np.all(sol.pump_limited | np.isclose(sol.index_dp_pa, dp_set, rtol=1e-9))
    assert np.bincount(net.rack_loop, weights=sol.rack_flow_m3_s) == pytest.approx(
        sol.loop_flow_m3_s, rel=1e-12
    )


def test_valves_hold_their_setpoints_and_the_pumps_the_index_differential():
    rack_loop, net, c, kv, dp_set, h0, kp, solve = _two_loops()
    qd = c["design_flow_m3_s"]
    # commissioned setpoint: cold plates / (1 - authority) = 80 / 0.8 = 100 kPa; fully open valve 20 kPa
    assert dp_set == pytest.approx([100e3, 100e3], rel=1e-12)
    assert kv * qd**2 == pytest.approx(20e3, rel=1e-12)
    # mixed demand: full, half, off; every valve in control gives each rack exactly what it asks for
    q_valve = qd * np.array([1.0, 0.5, 0.0, 1.0, 0.3, 0.7, 0.0, 1.0])
    sol = solve(q_valve)
    assert sol.converged and not sol.valve_saturated.any() and not sol.pump_limited.any()
    assert sol.rack_flow_m3_s == pytest.approx(q_valve, rel=1e-12)
    assert sol.rack_flow_m3_s[q_valve == 0] == pytest.approx(0.0, abs=0.0)  # shut valves pass nothing
    _check_network(net, sol, c, kv, dp_set)
    # the same answer from the Newton solve as from the closed form
    newton = solve(q_valve, closed_form=False)
    assert newton.edge_flow_m3_s == pytest.approx(sol.edge_flow_m3_s, rel=1e-10, abs=1e-14)
    assert newton.node_pressure_pa == pytest.approx(sol.node_pressure_pa, rel=1e-9, abs=1e-6)


def test_pump_head_by_hand():
    # one loop, 4 racks at 5 L/s on a 10 m, 100 mm header: H = dp_set + 2 sum of the segment drops, each segment
    # carrying the racks downstream of it (20, 15, 10, 5 L/s)
    net = hydraulics.build_network(np.zeros(4, np.int64), 1, np.array([10.0]))
    rho, mu, d, rough = 1000.0, 1e-3, 0.1, 4.5e-5
    qd = np.full(4, 0.005)
    h0, kp = hydraulics.pump_curve_constants(np.array([0.03]), np.array([250e3]), 1.25)
    sol = hydraulics.solve_loops(
        net,
        valve_flow_m3_s=qd,
        valve_open_k=hydraulics.valve_open_k(qd, 100e3, 0.2),
        dp_setpoint_pa=np.array([125e3]),
        n_pumps=np.array([1]),
        shutoff_head_pa=h0,
        curve_k=kp,
        design_flow_m3_s=qd,
        dp_design_pa=np.full(4, 100e3),
        dp_exponent=np.full(4, 2.0),
        diameter_m=np.array([d]),
        roughness_m=np.array([rough]),
        rho=np.array([rho]),
        mu=np.array([mu]),
    )
    drops = []
    for q in (0.02, 0.015, 0.01, 0.005):
        v = q / (math.pi * d**2 / 4)
        re = rho * v * d / mu
        f = Churchill_1977(re, rough / d)  # the fluids package's Churchill factor
        drops.append(f * 2.5 / d * rho * v**2 / 2)
    assert sol.pump_head_pa[0] == pytest.approx(125e3 + 2 * sum(drops), rel=1e-9)
    # the first rack sees the most differential: its valve throttles the surplus over the index rack
    assert sol.valve_dp_pa[0] == pytest.approx(25e3 + 2 * sum(drops[1:]), rel=1e-9)
    assert sol.valve_dp_pa[3] == pytest.approx(25e3, rel=1e-9)


def test_valves_saturate_where_the_differential_is_short():
    rack_loop, net, c, kv, dp_set, h0, kp, solve = _two_loops()
    qd = c["design_flow_m3_s"]
    # setpoint 20 % short: the index racks' valves open fully and pass less than their setpoint
    sol = solve(qd, dp=0.8 * dp_set)
    assert sol.converged and sol.valve_saturated.any() and not sol.pump_limited.any()
    sat = sol.valve_saturated
    assert np.all(sol.rack_flow_m3_s[sat] < qd[sat])
    assert np.all(sol.rack_flow_m3_s[~sat] == pytest.approx(qd[~sat], rel=1e-9))
    # a saturated branch is the fully open valve: plates + K_open Q^2 = the tap differential
    tap = sol.rack_dp_pa + sol.valve_dp_pa
    q = sol.rack_flow_m3_s
    assert sol.valve_dp_pa[sat] == pytest.approx(kv[sat] * q[sat] ** 2, rel=1e-8)
    assert tap[sat] == pytest.approx(hydraulics.branch_dp_pa(q[sat], qd[sat], 80e3, 1.9, kv[sat]), rel=1e-8)
    _check_network(net, sol, c, kv, 0.8 * dp_set)


def test_pump_limited_loop_runs_on_its_curve():
    rack_loop, net, c, kv, dp_set, h0, kp, solve = _two_loops()
    qd = c["design_flow_m3_s"]
    # loop 1 needs 204 kPa at 25 L/s (40 m of 80 mm header); its pumps are rated 15 L/s at 200 kPa (250 kPa
    # shut-off): two give 215 kPa at 12.5 L/s each and hold the setpoint, one gives 111 kPa at 25 L/s: it runs at
    # full speed on its curve and the valves furthest out open fully
    small = hydraulics.pump_curve_constants(np.array([0.02, 0.015]), np.array([250e3, 200e3]), 1.25)
    ok = solve(qd, n_pumps=(1, 2), pump=small)
    assert ok.converged and not ok.pump_limited.any() and not ok.valve_saturated.any()
    sol = solve(qd, n_pumps=(1, 1), pump=small)
    assert sol.converged and sol.pump_limited[1] and not sol.pump_limited[0]
    q = sol.loop_flow_m3_s
    assert hydraulics.pump_head_pa(q[1], 1.0, small[0][1], small[1][1]) == pytest.approx(
        sol.pump_head_pa[1], rel=1e-9
    )
    assert sol.index_dp_pa[1] < dp_set[1] and q[1] < 0.025
    assert sol.valve_saturated[rack_loop == 1].any() and not sol.valve_saturated[rack_loop == 0].any()
    _check_network(net, sol, c, kv, dp_set)


def test_valve_setpoint_follows_power_with_a_smooth_floor():
    qd, phi = 0.004, 0.2
    f = hydraulics.valve_setpoint_flow_m3_s
    assert float(f(0.0, 100e3, qd, phi)) == 0.0  # off: shut
    # (x^8 + phi^8)^(1/8): at full power 1 + 3e-7; at x = phi 2^(1/8) phi; at x = 0.5 (0.4^8 / 8) 0.008 % above
    assert float(f(100e3, 100e3, qd, phi)) == pytest.approx(qd * (1 + phi**8) ** 0.125, rel=1e-12)
    assert float(f(20e3, 100e3, qd, phi)) == pytest.approx(qd * phi * 2**0.125, rel=1e-12)
    assert float(f(50e3, 100e3, qd, phi)) == pytest.approx(0.5 * qd * (1 + 0.4**8) ** 0.125, rel=1e-12)
    assert float(f(1.0, 100e3, qd, phi)) == pytest.approx(
        phi * qd, rel=1e-12
    )  # a trickle of power: the floor
    # smooth: the slope changes continuously through the floor (no kink as max() would make)
    x = np.linspace(0.05, 0.6, 2201)
    q = f(x * 100e3, 100e3, qd, phi)
    slope = np.diff(q) / np.diff(x)
    assert np.max(np.abs(np.diff(slope))) < 0.01 * qd
    assert np.all(slope > 0)


def test_reynolds_by_hand():
    # Re = rho v D / mu = 4 rho Q / (pi D mu)
    rho, mu, q, d = 1020.0, 1.5e-3, 0.01, 0.1
    assert float(hydraulics.reynolds(q, d, rho, mu)) == pytest.approx(
        4 * rho * q / (math.pi * d * mu), rel=1e-12
    )
    assert float(hydraulics.reynolds(-q, d, rho, mu)) == float(hydraulics.reynolds(q, d, rho, mu))


def test_laminar_pipe_is_hagen_poiseuille():
    # Re ~ 640: dp = 128 mu L Q / (pi D^4), independent of roughness and density
    d, length, mu, rho, q = 0.01, 2.0, 1e-3, 1000.0, 5e-6
    assert float(hydraulics.reynolds(q, d, rho, mu)) < 2000
    dp = float(hydraulics.pipe_dp_pa(q, length, d, 4.5e-5, rho, mu))
    assert dp == pytest.approx(128 * mu * length * q / (math.pi * d**4), rel=1e-9)


@pytest.mark.parametrize("q", [2e-4, 5e-3, 0.05, 0.3])
def test_pipe_dp_against_fluids_churchill(q):
    # fluids.one_phase_dP with the same correlation, from the mass flow: identical to round-off in every regime
    rho, mu, d, length, rough = 1025.0, 1.8e-3, 0.15, 25.0, 4.5e-5
    ref = one_phase_dP(q * rho, rho, mu, d, roughness=rough, L=length, Method="Churchill_1977")
    assert float(hydraulics.pipe_dp_pa(q, length, d, rough, rho, mu)) == pytest.approx(ref, rel=1e-9)


def test_branch_dp_by_hand():
    # cold plates dp_d (Q/Q_d)^n plus valve K_v Q|Q|, odd in Q
    q, qd, dpd, n, kv = 0.006, 0.005, 80e3, 1.9, 1e9
    dp = float(hydraulics.branch_dp_pa(q, qd, dpd, n, kv))
    assert dp == pytest.approx(80e3 * 1.2**1.9 + 1e9 * 0.006**2, rel=1e-12)
    assert float(hydraulics.branch_dp_pa(-q, qd, dpd, n, kv)) == pytest.approx(-dp, rel=1e-12)
    assert float(hydraulics.branch_dp_pa(qd, qd, dpd, n)) == pytest.approx(dpd, rel=1e-12)


def test_pump_curve_and_affinity_laws_by_hand():
    # through the rated point (0.02 m3/s, 250 kPa) with a shutoff head 1.25 x rated
    h0, kp = hydraulics.pump_curve_constants(0.02, 250e3, 1.25)
    assert float(h0) == pytest.approx(312.5e3, rel=1e-12)
    assert float(kp) == pytest.approx(62.5e3 / 0.02**2, rel=1e-12)
    assert float(hydraulics.pump_head_pa(0.02, 1.0, h0, kp)) == pytest.approx(250e3, rel=1e-12)
    # affinity laws: at speed s the curve maps Q -> s Q, H -> s^2 H
    for s in (0.5, 0.8):
        h1 = float(hydraulics.pump_head_pa(0.013, 1.0, h0, kp))
        assert float(hydraulics.pump_head_pa(s * 0.013, s, h0, kp)) == pytest.approx(s**2 * h1, rel=1e-12)
    # speed_for_duty puts the curve through the duty point
    s = hydraulics.speed_for_duty(0.015, 180e3, h0, kp)
    assert float(hydraulics.pump_head_pa(0.015, s, h0, kp)) == pytest.approx(180e3, rel=1e-12)


def test_network_structure():
    # loops of 3 and 5 racks: nodes S_0..S_n and R_1..R_n per loop; edges 2 pipes + 1 branch per rack, 1 pump per loop
    rack_loop = np.array([0, 1, 0, 1, 1, 0, 1, 1])
    net = hydraulics.build_network(rack_loop, 2, np.array([30.0, 50.0]))
    assert net.n_nodes == (2 * 3 + 1) + (2 * 5 + 1)
    assert len(net.kind) == 3 * 8 + 2 and (net.kind == 2).sum() == 2
    assert list(net.n_per_loop) == [3, 5]
    # header segments: manifold length / racks, and every rack sits at a distinct tap 1..n of its loop
    assert np.allclose(net.pipe_length_m[:8][net.edge_loop[:8] == 0], 10.0)
    assert np.allclose(net.pipe_length_m[:8][net.edge_loop[:8] == 1], 10.0)
    assert sorted(net.pos[rack_loop == 1]) == [1, 2, 3, 4, 5]


# ---- pumps at part flow: efficiency curve, affinity laws, staging
def _curve():
    c = load_catalog().get("cdus", "coolit-chx2000").pump_efficiency_curve
    return tuple(c.flow_fraction), tuple(c.efficiency_ratio)


def test_catalog_efficiency_curve_is_the_euler_correlation():
    # the shipped points are the Euler-number correlation along the quadratic head curve (shut-off 1.25 x rated):
    # H / H_r = 1.25 - 0.25 x^2, Eu / Eu_r = (H / H_r) / x^2
    xf, yf = _curve()
    x = np.asarray(xf)
    ref = hydraulics.euler_efficiency_ratio((1.25 - 0.25 * x**2) / x**2)
    assert np.asarray(yf) == pytest.approx(ref, abs=6e-4)
    assert float(hydraulics.euler_efficiency_ratio(1.0)) == pytest.approx(1.0, rel=1e-12)  # the peak
    # by hand at x = 0.5: Eu ratio 4.75, X = log10 4.75 = 0.6767, Z1 = (X - a)/b, Z2 = (e^(cX) d X - a)/b
    a, b, c, d = -2.732094, 2.273014, 0.196344, 5.267518
    xl = math.log10(4.75)
    z1, z2, z3 = (xl - a) / b, (math.exp(c * xl) * d * xl - a) / b, -a / b
    y = (
        math.exp(-(z1**2) / 2)
        * (1 + math.erf(z2 / math.sqrt(2)))
        / (math.exp(-(z3**2) / 2) * (1 + math.erf(z3 / math.sqrt(2))))
    )
    assert float(hydraulics.euler_efficiency_ratio(4.75)) == pytest.approx(y, rel=1e-12)
    # every pump entry of the catalog states its curve
    cat = load_catalog()
    assert all(cat.get("cdus", n).pump_efficiency_curve is not None for n in cat.names("cdus"))
    assert all(cat.get("pumps", n).efficiency_curve is not None for n in cat.names("pumps"))


def test_efficiency_at_14_percent_flow_is_well_below_the_best_point():
    xf, yf = _curve()
    q_r, eta_b = 0.0354, 0.60
    best = float(hydraulics.pump_efficiency(q_r, 1.0, q_r, eta_b, xf, yf))
    assert best == pytest.approx(eta_b, rel=1e-12)
    at14 = float(hydraulics.pump_efficiency(0.14 * q_r, 1.0, q_r, eta_b, xf, yf))
    # the Euler correlation at x = 0.14: Eu ratio (1.25 - 0.25 0.14^2) / 0.14^2 = 63.5 -> eta / eta_BEP = 0.318
    assert at14 / eta_b == pytest.approx(float(hydraulics.euler_efficiency_ratio(1.2451 / 0.0196)), abs=3e-3)
    assert at14 < 0.35 * eta_b
    # affinity: the same flow at 14 % speed is the best point again
    assert float(hydraulics.pump_efficiency(0.14 * q_r, 0.14, q_r, eta_b, xf, yf)) == pytest.approx(eta_b)
    # below the first point the efficiency falls linearly to zero (shut-off: power without useful work)
    assert float(hydraulics.efficiency_ratio(0.025, xf, yf)) == pytest.approx(yf[0] / 2, rel=1e-12)
    assert float(hydraulics.efficiency_ratio(0.0, xf, yf)) == 0.0


def test_affinity_law_power_goes_with_speed_cubed_on_a_system_curve():
    # a system curve through the origin H = c Q^2 meets the pump curve at similar points: Q ~ s, H ~ s^2, same
    # efficiency, so P = H Q / eta ~ s^3
    xf, yf = _curve()
    h0, kp = hydraulics.pump_curve_constants(0.03, 200e3, 1.25)
    c_sys = 180e3 / 0.03**2  # system through (30 L/s, 180 kPa)
    s = np.array([1.0, 0.8, 0.6, 0.4])
    q = s * np.sqrt(h0 / (c_sys + kp))  # H0 s^2 - kp Q^2 = c Q^2
    duty = hydraulics.stage_pumps(
        c_sys * q**2, q, np.ones(4, np.int64), 0.03, h0, kp, 0.7, [(xf, yf)], np.zeros(4, np.int64)
    )
    assert duty.speed == pytest.approx(s, rel=1e-12)
    assert duty.efficiency == pytest.approx(duty.efficiency[0], rel=1e-12)
    assert duty.power_w / duty.power_w[0] == pytest.approx(s**3, rel=1e-10)


def test_pump_head_and_power_by_hand():
    # one pump rated 30 L/s at 200 kPa, 70 % best point; duty 12 L/s at 95 kPa:
    # s = sqrt((H + k Q^2) / H0), x = Q / (s Q_r), eta = 0.7 r(x), P = H Q / eta
    xf, yf = _curve()
    h0, kp = hydraulics.pump_curve_constants(0.03, 200e3, 1.25)
    assert (float(h0), float(kp)) == pytest.approx((250e3, 50e3 / 0.03**2), rel=1e-12)
    duty = hydraulics.stage_pumps(
        np.array([95e3]), np.array([0.012]), np.array([1]), 0.03, h0, kp, 0.7, [(xf, yf)], np.array([0])
    )
    s = math.sqrt((95e3 + 50e3 / 0.03**2 * 0.012**2) / 250e3)
    x = 0.012 / (s * 0.03)
    assert duty.speed[0] == pytest.approx(s, rel=1e-12) and s == pytest.approx(0.6419, abs=1e-4)
    eta = 0.7 * float(hydraulics.efficiency_ratio(x, xf, yf))
    assert duty.efficiency[0] == pytest.approx(eta, rel=1e-12)
    assert duty.power_w[0] == pytest.approx(95e3 * 0.012 / eta, rel=1e-12)


def test_staging_runs_fewer_pumps_at_part_load_for_less_power():
    # three pumps rated 35 L/s at 240 kPa, holding 115 kPa: at 20 L/s one pump is near its best point, three
    # would each run at 6.7 L/s far left of it
    xf, yf = _curve()
    h0, kp = hydraulics.pump_curve_constants(0.035, 240e3, 1.25)
    args = (0.035, h0, kp, 0.6, [(xf, yf)], np.array([0]))
    staged = hydraulics.stage_pumps(np.array([115e3]), np.array([0.02]), np.array([3]), *args)
    assert staged.n_running[0] == 1
    # all three by hand
    q3 = 0.02 / 3
    s3 = math.sqrt((115e3 + kp * q3**2) / h0)
    eta3 = 0.6 * float(hydraulics.efficiency_ratio(q3 / (s3 * 0.035), xf, yf))
    p3 = 115e3 * 0.02 / eta3
    assert staged.power_w[0] < 0.8 * p3
    # at full flow three pumps run (one alone could not reach the duty)
    full = hydraulics.stage_pumps(np.array([150e3]), np.array([0.095]), np.array([3]), *args)
    assert full.n_running[0] == 3 and full.speed[0] <= 1.0
    # minimum flow: a pump below 30 % of its rated flow is kept there by the bypass
    low = hydraulics.stage_pumps(
        np.array([115e3]), np.array([0.004]), np.array([3]), *args, min_flow_fraction=0.3
    )
    assert low.n_running[0] == 1
    assert low.flow_m3_s[0] == pytest.approx(0.3 * 0.035, rel=1e-12)
    assert low.bypass_m3_s[0] == pytest.approx(0.3 * 0.035 - 0.004, rel=1e-12)
    # power is continuous where the count changes (the least of the counts' powers)
    q = np.linspace(0.005, 0.1, 400)
    sweep = hydraulics.stage_pumps(np.full(400, 130e3), q, np.full(400, 3), *args)
    jumps = np.abs(np.diff(sweep.power_w))
    assert np.max(jumps) < 3 * np.median(jumps)
