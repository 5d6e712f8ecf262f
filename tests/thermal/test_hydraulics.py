"""twin.thermal.hydraulics: friction factor and Darcy-Weisbach against the ``fluids`` package and by hand
(Hagen-Poiseuille), pump curves and affinity laws, the loop network and the global gradient solve."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fluids.friction import Churchill_1977, friction_factor, one_phase_dP

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
