"""Hydraulics of the technology cooling loops (TCS): pipes, rack branches with flow-control valves, CDU pumps.

Every loop is modelled as its CDU pumps feeding a supply header and a direct-return header of length
``manifold_length_m`` with its racks tapped at equal spacing; each rack is a branch between the headers: its cold
plates in series with a pressure-independent control valve (PICV).

Control, as in real TCS loops (variable-speed pumping on a differential-pressure setpoint at the hydraulically most
remote terminal, each terminal on its own flow-control valve: ASHRAE Handbook HVAC Systems and Equipment 2020
ch. 44 "Centrifugal pumps", variable-speed pumping; Rishel, Durkin & Kincaid, HVAC Pump Handbook, 2nd ed. 2006):
  * every rack's PICV holds the flow the rack asks for, its design flow per kW times its power with a smooth floor
    at a minimum flow (``valve_setpoint_flow_m3_s``), and shuts on a rack that is off (power 0), as long as the
    differential across the branch covers the cold plates plus the fully open valve,
    dp_plate(Q_set) + K_open Q_set^2 (``valve_open_k``: K_open from the valve authority at design flow);
    below that the valve is fully open ("saturated") and the branch is a fixed resistance: EPANET's flow-control
    valve (Rossman 2000, EPANET 2 Users Manual, s. 3.1 and the status checks of its solver);
  * the CDU pumps run on variable-frequency drives that hold the header differential at the index (last) tap at
    dp_set, so they deliver the sum of what the valves ask for at head H = dp_set + header losses; when every
    available pump at full speed cannot (``pump_limited``), the pumps run on their curve at full speed and the
    valves that lose their differential open fully.

Solution. Common case (every valve in control, the pumps holding dp_set): closed form. The rack flows are the valve
setpoints, the header flows their sums downstream of each tap, and the differential at each tap is dp_set plus the
header drops between the tap and the index (cumulative sums, no iteration). Loops where a valve saturates or the
pumps are limited are solved together by the global gradient algorithm (Todini & Pilati 1988, "A gradient
algorithm for the analysis of pipe networks", as in EPANET): Newton on edge flows Q and node pressures p with the
valves in control as fixed-flow links, saturated valves as resistances and the pumps on their curve; in dp control
the pumps' shut-off head theta = s^2 H_0 is one more unknown per loop with the controller's equation
p(S_n) - p(R_n) = dp_set. Eliminating Q gives the sparse system
``A W A^T p - (A W c) theta = A W h(Q) - A Q - A_f q_f`` (W = (dh/dQ)^-1), solved with scipy.sparse (SuperLU);
valve and pump statuses are then updated as EPANET does, until none changes.

Edge laws (pressure drop h, Pa, in the direction of flow):
  pipe     h = f(Re, eps/D) (L/D) rho v^2 / 2                 Darcy-Weisbach, f from Churchill (1977)
  branch   h = dp_design (Q/Q_design)^n + K_v Q|Q|            cold plates (catalog dP at design flow) + valve
  pump     h = -(s^2 H_0 - k_p (Q/N)^2)                        quadratic head curve of N parallel pumps at speed s

Pumps at part flow (``pump_efficiency``, ``stage_pumps``): efficiency eta = eta_BEP r(x) with
x = Q_pump / (s Q_BEP), the flow of the similar operating point at rated speed: by the affinity laws (Q ~ s,
H ~ s^2) similar points share their efficiency (Ulanicki, Kahler & Coulbeck 2008, "Modeling the efficiency and
power characteristics of a pump group", J. Water Resour. Plann. Manage. 134(1) 88-93), and r(x) is the catalog's
efficiency-vs-flow curve at rated speed, interpolated by PCHIP (Fritsch & Carlson 1980, C1 and shape-preserving);
the shipped curves are the Euler-number correlation (``euler_efficiency_ratio``) along each pump's head curve.
Power P = H Q / eta. Staging: of 1..N_available pumps, run the count that needs the least power while every
running pump can deliver the duty (speed <= maximum); a pump below its minimum flow is kept there by the CDU's
bypass, whose flow recirculates through the exchanger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from scipy.interpolate import PchipInterpolator
from scipy.sparse.linalg import spsolve


def reynolds(flow_m3_s, diameter_m, rho_kg_m3, mu_pa_s):
    """Reynolds number of pipe flow, Re = rho v D / mu with v = |Q| / (pi D^2 / 4).

    Parameters
    ----------
    flow_m3_s : float or numpy.ndarray
        Volume flow, m3/s (sign ignored).
    diameter_m : float or numpy.ndarray
        Inner diameter, m.
    rho_kg_m3 : float or numpy.ndarray
        Density, kg/m3.
    mu_pa_s : float or numpy.ndarray
        Dynamic viscosity, Pa s.

    Returns
    -------
    numpy.ndarray
        Re, dimensionless.
    """
    v = np.abs(flow_m3_s) / (np.pi * np.asarray(diameter_m) ** 2 / 4.0)
    return rho_kg_m3 * v * diameter_m / mu_pa_s


def friction_factor_churchill(re, rel_roughness):
    """Darcy friction factor for all regimes, Churchill (1977), Chem. Eng. 84(24) 91-92:

    f = 8 [ (8/Re)^12 + (A + B)^-1.5 ]^(1/12),  A = [2.457 ln(1 / ((7/Re)^0.9 + 0.27 eps/D))]^16,
    B = (37530/Re)^16. Laminar f = 64/Re; turbulent within ~1 % of Colebrook-White.

    Parameters
    ----------
    re : float or numpy.ndarray
        Reynolds number (floored at 1e-9).
    rel_roughness : float or numpy.ndarray
        Relative roughness eps / D.

    Returns
    -------
    numpy.ndarray
        Darcy friction factor f, dimensionless.
    """
    re = np.maximum(np.asarray(re, dtype=float), 1e-9)
    a = (2.457 * np.log(1.0 / ((7.0 / re) ** 0.9 + 0.27 * rel_roughness))) ** 16
    b = (37530.0 / re) ** 16
    return 8.0 * ((8.0 / re) ** 12 + (a + b) ** -1.5) ** (1.0 / 12.0)


def pipe_dp_pa(flow_m3_s, length_m, diameter_m, roughness_m, rho_kg_m3, mu_pa_s):
    """Darcy-Weisbach pressure drop dp = f (L/D) rho v |v| / 2, f from ``friction_factor_churchill``.

    Parameters
    ----------
    flow_m3_s : float or numpy.ndarray
        Volume flow, m3/s (signed).
    length_m, diameter_m, roughness_m : float or numpy.ndarray
        Pipe length, inner diameter and absolute roughness, m.
    rho_kg_m3 : float or numpy.ndarray
        Density, kg/m3.
    mu_pa_s : float or numpy.ndarray
        Dynamic viscosity, Pa s.

    Returns
    -------
    numpy.ndarray
        Pressure drop in the direction of the flow, Pa (odd in Q).
    """
    q = np.asarray(flow_m3_s, dtype=float)
    area = np.pi * np.asarray(diameter_m) ** 2 / 4.0
    v = q / area
    f = friction_factor_churchill(reynolds(q, diameter_m, rho_kg_m3, mu_pa_s), roughness_m / diameter_m)
    return f * length_m / diameter_m * rho_kg_m3 * v * np.abs(v) / 2.0


def branch_dp_pa(flow_m3_s, design_flow_m3_s, dp_design_pa, exponent, valve_k_pa_s2_m6=0.0):
    """Rack branch: cold plates dp = dp_design (|Q|/Q_design)^n (catalog), plus a valve K_v Q|Q|.

    Parameters
    ----------
    flow_m3_s : float or numpy.ndarray
        Branch flow, m3/s (signed).
    design_flow_m3_s : float or numpy.ndarray
        Design flow of the rack, m3/s.
    dp_design_pa : float or numpy.ndarray
        Cold-plate pressure drop at design flow, Pa.
    exponent : float or numpy.ndarray
        Flow exponent n of the cold plates (~1.8-2).
    valve_k_pa_s2_m6 : float or numpy.ndarray, default 0
        Valve coefficient K_v (e.g. a fully open flow-control valve, ``valve_open_k``), Pa s^2/m^6.

    Returns
    -------
    numpy.ndarray
        Pressure drop in the direction of the flow, Pa.
    """
    q = np.asarray(flow_m3_s, dtype=float)
    x = np.abs(q) / design_flow_m3_s
    return np.sign(q) * dp_design_pa * x**exponent + valve_k_pa_s2_m6 * q * np.abs(q)


def pump_head_pa(flow_per_pump_m3_s, speed, shutoff_head_pa, curve_k_pa_s2_m6):
    """Quadratic pump curve with the affinity laws: H = s^2 H_0 - k_p Q|Q|.

    Parameters
    ----------
    flow_per_pump_m3_s : float or numpy.ndarray
        Flow through one pump, m3/s.
    speed : float or numpy.ndarray
        Speed ratio s = n / n_rated.
    shutoff_head_pa : float or numpy.ndarray
        Head at zero flow and rated speed H_0, Pa.
    curve_k_pa_s2_m6 : float or numpy.ndarray
        Curve coefficient k_p, Pa s^2/m^6.

    Returns
    -------
    numpy.ndarray
        Pump head (differential pressure), Pa.
    """
    q = np.asarray(flow_per_pump_m3_s, dtype=float)
    return speed**2 * shutoff_head_pa - curve_k_pa_s2_m6 * q * np.abs(q)


def pump_curve_constants(rated_flow_m3_s, rated_head_pa, shutoff_ratio):
    """H_0 and k_p of the quadratic curve through (Q_rated, H_rated) with H(0) = shutoff_ratio H_rated.

    Parameters
    ----------
    rated_flow_m3_s : float or numpy.ndarray
        Rated flow of one pump, m3/s.
    rated_head_pa : float or numpy.ndarray
        Rated head, Pa.
    shutoff_ratio : float or numpy.ndarray
        Shutoff head over rated head (catalog ``pump_shutoff_head_ratio``, > 1).

    Returns
    -------
    shutoff_head_pa : numpy.ndarray
        H_0, Pa.
    curve_k_pa_s2_m6 : numpy.ndarray
        k_p = (H_0 - H_rated) / Q_rated^2, Pa s^2/m^6.
    """
    h0 = shutoff_ratio * np.asarray(rated_head_pa, dtype=float)
    kp = (h0 - rated_head_pa) / np.asarray(rated_flow_m3_s, dtype=float) ** 2
    return h0, kp


def speed_for_duty(flow_per_pump_m3_s, head_pa, shutoff_head_pa, curve_k_pa_s2_m6):
    """Speed ratio at which the pump curve passes through (Q, H): s = sqrt((H + k_p Q^2) / H_0).

    Parameters
    ----------
    flow_per_pump_m3_s : float or numpy.ndarray
        Flow through one pump, m3/s.
    head_pa : float or numpy.ndarray
        Head the pump must deliver, Pa.
    shutoff_head_pa, curve_k_pa_s2_m6 : float or numpy.ndarray
        Curve constants (``pump_curve_constants``), Pa and Pa s^2/m^6.

    Returns
    -------
    numpy.ndarray
        Speed ratio s = n / n_rated (0 where H + k_p Q^2 <= 0).
    """
    return np.sqrt(np.maximum(head_pa + curve_k_pa_s2_m6 * flow_per_pump_m3_s**2, 0.0) / shutoff_head_pa)


@dataclass
class LoopNetwork:
    """Sparse network of all TCS loops. Racks are ordered by loop (``order``); node 'R_0' of each loop is the
    pressure reference (p = 0, pump suction), so each loop is grounded on its own."""

    n_racks: int
    n_loops: int
    order: np.ndarray  # racks sorted by loop
    pos: np.ndarray  # (n_racks,) position 1..n_l of the rack along its loop's headers
    n_per_loop: np.ndarray  # racks per loop
    n_nodes: int
    frm: np.ndarray  # (n_edges,) from-node, -1 = reference
    to: np.ndarray
    kind: np.ndarray  # 0 pipe, 1 branch, 2 pump
    edge_loop: np.ndarray
    edge_rack: np.ndarray  # rack of a branch edge, -1 otherwise
    seg_racks_downstream: np.ndarray  # pipe edges: racks served downstream (for the initial guess)
    pipe_length_m: np.ndarray
    rack_edge: np.ndarray  # (n_racks,) edge index of each rack's branch
    pump_edge: np.ndarray  # (n_loops,) edge index of each loop's pump
    supply_node0: np.ndarray  # (n_loops,) node S_0 (pump discharge)
    rack_loop: np.ndarray  # (n_racks,) loop of each rack


def build_network(rack_loop: np.ndarray, n_loops: int, manifold_length_m: np.ndarray) -> LoopNetwork:
    """Build the node/edge arrays for every loop at once (no Python loop over racks).

    Parameters
    ----------
    rack_loop : numpy.ndarray of int, shape (n_racks,)
        Loop of each rack.
    n_loops : int
        Number of loops.
    manifold_length_m : numpy.ndarray, shape (n_loops,)
        Length of each loop's supply (and return) header, m; racks are tapped at equal spacing.

    Returns
    -------
    LoopNetwork
        Nodes S_0..S_n, R_1..R_n per loop; edges: supply pipes, return pipes, rack branches, one pump per loop.
    """
    rack_loop = np.asarray(rack_loop, dtype=np.int64)
    n_racks = len(rack_loop)
    order = np.argsort(rack_loop, kind="stable")
    n_l = np.bincount(rack_loop, minlength=n_loops)
    start = np.concatenate([[0], np.cumsum(n_l)[:-1]])
    sorted_loop = rack_loop[order]
    k_sorted = np.arange(n_racks) - start[sorted_loop] + 1  # 1..n_l
    pos = np.empty(n_racks, np.int64)
    pos[order] = k_sorted
    # nodes per loop: S_0..S_n (n+1) then R_1..R_n (n)
    nodes_per = 2 * n_l + 1
    base = np.concatenate([[0], np.cumsum(nodes_per)[:-1]])
    n_nodes = int(nodes_per.sum())
    lo = sorted_loop
    s_prev = base[lo] + k_sorted - 1
    s_k = base[lo] + k_sorted
    r_k = base[lo] + n_l[lo] + k_sorted
    r_prev = np.where(k_sorted == 1, -1, r_k - 1)
    seg_len = manifold_length_m[lo] / np.maximum(n_l[lo], 1)
    down = n_l[lo] - k_sorted + 1  # racks at or beyond tap k
    loops_with = np.flatnonzero(n_l > 0)
    # edge blocks: supply pipes, return pipes, branches, pumps
    frm = np.concatenate([s_prev, r_k, s_k, np.full(len(loops_with), -1)])
    to = np.concatenate([s_k, r_prev, r_k, base[loops_with]])
    kind = np.concatenate(
        [
            np.zeros(n_racks, np.int8),
            np.zeros(n_racks, np.int8),
            np.ones(n_racks, np.int8),
            np.full(len(loops_with), 2, np.int8),
        ]
    )
    edge_loop = np.concatenate([lo, lo, lo, loops_with])
    edge_rack = np.concatenate([np.full(2 * n_racks, -1), order, np.full(len(loops_with), -1)])
    seg_down = np.concatenate([down, down, np.ones(n_racks, np.int64), n_l[loops_with]])
    plen = np.concatenate([seg_len, seg_len, np.zeros(n_racks + len(loops_with))])
    rack_edge = np.empty(n_racks, np.int64)
    rack_edge[order] = 2 * n_racks + np.arange(n_racks)
    pump_edge = np.full(n_loops, -1, np.int64)
    pump_edge[loops_with] = 3 * n_racks + np.arange(len(loops_with))
    return LoopNetwork(
        n_racks=n_racks,
        n_loops=n_loops,
        order=order,
        pos=pos,
        n_per_loop=n_l,
        n_nodes=n_nodes,
        frm=frm,
        to=to,
        kind=kind,
        edge_loop=edge_loop,
        edge_rack=edge_rack,
        seg_racks_downstream=seg_down,
        pipe_length_m=plen,
        rack_edge=rack_edge,
        pump_edge=pump_edge,
        supply_node0=base,
        rack_loop=rack_loop,
    )


def _segment_flows(net: LoopNetwork, rack_flow: np.ndarray) -> np.ndarray:
    """Header flows that result from given rack flows (sorted order): segment k carries the racks at taps >= k."""
    qs = rack_flow[net.order]
    lo = net.edge_loop[2 * net.n_racks : 3 * net.n_racks]
    csum = np.cumsum(qs[::-1])[::-1]  # reverse cumulative sum, then cut at each loop's end
    end = np.cumsum(net.n_per_loop)  # exclusive end index of each loop in sorted order
    after = np.where(end[lo] < len(qs), np.concatenate([csum, [0.0]])[np.minimum(end[lo], len(qs))], 0.0)
    return csum - after


def _loop_cumsum(net: LoopNetwork, values_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sum within each loop (sorted order, inclusive) and each loop's total."""
    lo = net.edge_loop[2 * net.n_racks : 3 * net.n_racks]
    csum = np.cumsum(values_sorted)
    start = np.concatenate([[0], np.cumsum(net.n_per_loop)[:-1]])
    before = np.where(start[lo] > 0, csum[np.maximum(start[lo] - 1, 0)], 0.0)
    total = np.bincount(lo, weights=values_sorted, minlength=net.n_loops)
    return csum - before, total


# ------------------------------------------------------------------------------------ flow-control valves
def valve_setpoint_flow_m3_s(rack_power_w, power_maxp_w, design_flow_m3_s, min_flow_fraction, smooth_p=8.0):
    """Flow a rack's flow-control valve holds: its design flow per kW times its power, floored at a minimum flow.

    Q_set = Q_d (x^p + phi^p)^(1/p),  x = P / P_maxp, phi = minimum flow / design flow; Q_set = 0 at P = 0 (valve
    shut on a rack that is off). The p-norm (p = 8) is a smooth maximum of x and phi: within 0.05 % of max(x, phi)
    for x >= 2 phi, 9 % above it at x = phi, and differentiable in P (a max() would put a kink in the facility
    power that Max-Q linearises).

    Parameters
    ----------
    rack_power_w : float or numpy.ndarray
        Rack IT power P, W (>= 0).
    power_maxp_w : float or numpy.ndarray
        Rack maximum (design) power P_maxp, W.
    design_flow_m3_s : float or numpy.ndarray
        Design flow Q_d at P_maxp, m3/s (design flow per kW x P_maxp).
    min_flow_fraction : float or numpy.ndarray
        Minimum flow of a powered rack over its design flow, phi (0..1).
    smooth_p : float, default 8
        Exponent p of the smooth maximum.

    Returns
    -------
    numpy.ndarray
        Q_set, m3/s.
    """
    x = np.asarray(rack_power_w, dtype=float) / power_maxp_w
    phi = np.asarray(min_flow_fraction, dtype=float)
    on = x > 0
    m = np.maximum(np.where(on, x, 1.0), phi)  # scale so the powers stay in (0, 1]
    frac = m * ((np.where(on, x, 1.0) / m) ** smooth_p + (phi / m) ** smooth_p) ** (1.0 / smooth_p)
    return np.where(on, design_flow_m3_s * frac, 0.0)


def valve_open_k(design_flow_m3_s, dp_design_pa, authority):
    """Resistance K_open (Pa s^2/m^6) of a fully open flow-control valve from its authority at design flow.

    Valve authority beta = dp_valve,open / (dp_valve,open + dp_rest of the branch) at design flow (ASHRAE Handbook
    HVAC Systems and Equipment 2020 ch. 47 "Valves"; CIBSE Guide H), so
    dp_valve,open(Q_d) = beta / (1 - beta) dp_plate(Q_d) and K_open = dp_valve,open(Q_d) / Q_d^2.

    Parameters
    ----------
    design_flow_m3_s : float or numpy.ndarray
        Design flow of the rack Q_d, m3/s.
    dp_design_pa : float or numpy.ndarray
        Cold-plate pressure drop at design flow, Pa.
    authority : float or numpy.ndarray
        beta, 0 < beta < 1.

    Returns
    -------
    numpy.ndarray
        K_open, Pa s^2/m^6.
    """
    beta = np.asarray(authority, dtype=float)
    return beta / (1.0 - beta) * np.asarray(dp_design_pa, dtype=float) / np.asarray(design_flow_m3_s) ** 2


def commissioned_dp_setpoint_pa(
    rack_loop, n_loops, full_flow_m3_s, design_flow_m3_s, dp_design_pa, exponent, k_open
):
    """Differential-pressure setpoint at the index tap as commissioned: the largest branch differential the loop's
    racks need at full power, dp_plate(Q_full) + K_open Q_full^2 (cold plates plus the fully open valve; Q_full the
    valve setpoint at P_maxp, the design flow), so every rack can reach its full-power flow. A design figure,
    independent of the rack powers (smooth).

    Parameters
    ----------
    rack_loop : numpy.ndarray of int, shape (n_racks,)
        Loop of each rack.
    n_loops : int
        Number of loops.
    full_flow_m3_s : numpy.ndarray, shape (n_racks,)
        Valve setpoint at the rack's maximum power (``valve_setpoint_flow_m3_s`` at P_maxp), m3/s.
    design_flow_m3_s, dp_design_pa, exponent : numpy.ndarray, shape (n_racks,)
        Cold plates of each rack: design flow (m3/s), dp at design flow (Pa), flow exponent.
    k_open : numpy.ndarray, shape (n_racks,)
        Fully open valve resistance (``valve_open_k``), Pa s^2/m^6.

    Returns
    -------
    numpy.ndarray, shape (n_loops,)
        dp_set, Pa (0 for a loop without racks); dp_plate(Q_d) / (1 - beta) when Q_full = Q_d.
    """
    need = branch_dp_pa(full_flow_m3_s, design_flow_m3_s, dp_design_pa, exponent, k_open)
    out = np.zeros(n_loops)
    np.maximum.at(out, np.asarray(rack_loop, dtype=np.int64), need)
    return out


# ----------------------------------------------------------------------------------- pumps at part flow
_EU_A, _EU_B, _EU_C, _EU_D = -2.732094, 2.273014, 0.196344, 5.267518


def euler_efficiency_ratio(euler_ratio):
    """Efficiency over peak efficiency from the Euler-number correlation (EnergyPlus Engineering Reference 9.6,
    Fan:ComponentModel, eqs. 16.209-16.218; Modelica Buildings ``Fluid.Movers.BaseClasses.Euler.correlation`` for
    fans and pumps):

    eta / eta_p = exp(-Z1^2 / 2) (1 + sign(Z2) erf(|Z2| / sqrt 2)) / (exp(-Z3^2 / 2) (1 + erf(Z3 / sqrt 2))),
    Z1 = (X - a) / b, Z2 = (exp(c X) d X - a) / b, Z3 = -a / b, X = log10(Eu / Eu_p),
    a = -2.732094, b = 2.273014, c = 0.196344, d = 5.267518, with Eu / Eu_p = (H Q_p^2) / (H_p Q^2).

    Parameters
    ----------
    euler_ratio : float or numpy.ndarray
        Eu / Eu_p (> 0).

    Returns
    -------
    numpy.ndarray
        eta / eta_p (1 at the peak).
    """
    x = np.log10(np.asarray(euler_ratio, dtype=float))
    z1 = (x - _EU_A) / _EU_B
    z2 = (np.exp(_EU_C * x) * _EU_D * x - _EU_A) / _EU_B
    z3 = -_EU_A / _EU_B
    erf = np.vectorize(math.erf, otypes=[float])
    num = np.exp(-0.5 * z1**2) * (1.0 + np.sign(z2) * erf(np.abs(z2) / math.sqrt(2.0)))
    return num / (math.exp(-0.5 * z3**2) * (1.0 + math.erf(z3 / math.sqrt(2.0))))


@lru_cache(maxsize=64)
def _pchip(flow_fraction: tuple[float, ...], ratio: tuple[float, ...]) -> PchipInterpolator:
    return PchipInterpolator(np.asarray(flow_fraction), np.asarray(ratio), extrapolate=False)


def efficiency_ratio(x, flow_fraction, ratio):
    """Efficiency over best-point efficiency at flow ratio x from a tabulated curve (catalog data).

    PCHIP through the points (Fritsch & Carlson 1980: C1, no overshoot); below the first point the efficiency
    falls linearly to 0 at zero flow (eta ~ Q: a pump at shut-off does no useful work but still draws power);
    beyond the last point it keeps the last value.

    Parameters
    ----------
    x : float or numpy.ndarray
        Q / (s Q_BEP), flow of the similar point at rated speed over the best-point flow.
    flow_fraction, ratio : sequence of float
        Curve points: x (strictly increasing, > 0) and eta / eta_BEP (0..1].

    Returns
    -------
    numpy.ndarray
        eta / eta_BEP.
    """
    xf, yf = tuple(float(v) for v in flow_fraction), tuple(float(v) for v in ratio)
    x = np.asarray(x, dtype=float)
    inner = _pchip(xf, yf)(np.clip(x, xf[0], xf[-1]))
    return np.where(x < xf[0], yf[0] * np.maximum(x, 0.0) / xf[0], np.where(x > xf[-1], yf[-1], inner))


def pump_efficiency(flow_per_pump_m3_s, speed, rated_flow_m3_s, efficiency_bep, flow_fraction, ratio):
    """Pump efficiency at part flow and speed: eta = eta_BEP r(Q / (s Q_BEP)) (affinity laws: similar points
    Q ~ s share their efficiency; Ulanicki et al. 2008), r from ``efficiency_ratio``; best point at the rated flow.

    Parameters
    ----------
    flow_per_pump_m3_s : float or numpy.ndarray
        Flow of one pump Q, m3/s.
    speed : float or numpy.ndarray
        Speed ratio s = n / n_rated (> 0).
    rated_flow_m3_s : float or numpy.ndarray
        Rated (best-efficiency) flow Q_BEP at rated speed, m3/s.
    efficiency_bep : float or numpy.ndarray
        Best-point efficiency eta_BEP (catalog ``efficiency`` / ``pump_efficiency``).
    flow_fraction, ratio : sequence of float
        The catalog curve (``efficiency_ratio``).

    Returns
    -------
    numpy.ndarray
        eta, 0..1.
    """
    s = np.asarray(speed, dtype=float)
    x = np.asarray(flow_per_pump_m3_s, dtype=float) / (np.where(s > 0, s, 1.0) * rated_flow_m3_s)
    return efficiency_bep * efficiency_ratio(x, flow_fraction, ratio)


@dataclass
class PumpDuty:
    """Operating point of the pumps of each loop or hall (``stage_pumps``)."""

    n_running: np.ndarray  # pumps running
    speed: np.ndarray  # speed ratio n / n_rated
    flow_m3_s: np.ndarray  # total pump flow (incl. bypass), m3/s
    bypass_m3_s: np.ndarray  # flow recirculated to keep each pump at its minimum flow, m3/s
    efficiency: np.ndarray  # of each running pump
    power_w: np.ndarray  # total, W


def stage_pumps(
    head_pa,
    flow_m3_s,
    n_available,
    rated_flow_m3_s,
    shutoff_head_pa,
    curve_k,
    efficiency_bep,
    curves: list[tuple[tuple[float, ...], tuple[float, ...]]],
    curve_id,
    min_flow_fraction=0.0,
    limited=None,
    max_speed: float = 1.0,
) -> PumpDuty:
    """Number of equal parallel pumps to run, their speed, efficiency and power for a duty (head, flow).

    For every count N = 1..N_available: each pump carries Q_N / N with Q_N = max(Q, phi Q_rated N) (the bypass
    keeps a pump at its minimum flow phi Q_rated), runs at the speed that puts its curve H = s^2 H_0 - k (Q/N)^2
    through the duty (``speed_for_duty``), at efficiency ``pump_efficiency``; P_N = H Q_N / eta. The count with the
    least power among those whose speed is within ``max_speed`` runs (the power is continuous in the duty: at a
    change of count both powers are equal). A limited duty (``limited``, the pumps cannot reach it) runs every
    available pump at full speed at the flow given. Vectorised over loops; a Python loop over the pump count only.

    Parameters
    ----------
    head_pa, flow_m3_s : numpy.ndarray
        Duty: head (Pa) and flow (m3/s) of each set of pumps.
    n_available : numpy.ndarray of int
        Pumps available (installed less failed).
    rated_flow_m3_s : numpy.ndarray
        Rated flow of one pump (its best-efficiency point), m3/s.
    shutoff_head_pa, curve_k : numpy.ndarray
        Curve constants of one pump (``pump_curve_constants``): H_0 (Pa) and k_p (Pa s^2/m^6).
    efficiency_bep : numpy.ndarray
        Best-point efficiency of one pump.
    curves : list of (flow_fraction, ratio)
        Efficiency-vs-flow curves (``efficiency_ratio``); ``curve_id`` picks one per set.
    curve_id : numpy.ndarray of int
        Index into ``curves`` of each set.
    min_flow_fraction : float or numpy.ndarray, default 0
        Minimum flow of one running pump over its rated flow.
    limited : numpy.ndarray of bool, optional
        Sets whose pumps run at full speed on their curve (flow below the duty's demand).
    max_speed : float, default 1.0
        Highest speed ratio.

    Returns
    -------
    PumpDuty
        Pumps running, speed, flow incl. bypass (m3/s), bypass (m3/s), efficiency, power (W).
    """
    h = np.asarray(head_pa, dtype=float)
    q = np.asarray(flow_m3_s, dtype=float)
    n_av = np.asarray(n_available, dtype=np.int64)
    n_sets = len(h)
    pumps = _pump_set(
        n_sets, rated_flow_m3_s, shutoff_head_pa, curve_k, efficiency_bep, min_flow_fraction, curve_id, curves
    )
    lim = np.zeros(n_sets, bool) if limited is None else np.asarray(limited, dtype=bool)
    run = (n_av > 0) & (h > 0)
    best = _best_pump_count(pumps, h, q, n_av, run & ~lim, max_speed)
    # limited (or no count can reach the duty): every available pump at full speed, at the flow the network gets
    full = run & ~np.isfinite(best["p"])
    if np.any(full):
        _run_full_speed(pumps, best, full, h, q, n_av, max_speed)
    return _pump_duty(best, run, q)


@dataclass
class _PumpSet:
    """Constants of one pump of each set (``stage_pumps``), broadcast to one value per set."""

    q_r: np.ndarray  # rated flow, m3/s
    h0: np.ndarray  # shut-off head, Pa
    kp: np.ndarray  # curve constant, Pa s^2/m^6
    eta_b: np.ndarray  # best-point efficiency
    phi: np.ndarray  # minimum flow over rated flow
    cid: np.ndarray  # index into ``curves``
    curves: list[tuple[tuple[float, ...], tuple[float, ...]]]

    def efficiency(self, qn: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Efficiency of each set's pumps at flow per pump ``qn`` and speed ``s`` (each on its own curve)."""
        out = np.zeros(len(self.q_r))
        for c, (xf, yf) in enumerate(self.curves):  # a few distinct catalog curves
            sel = self.cid == c
            if np.any(sel):
                out[sel] = pump_efficiency(qn[sel], s[sel], self.q_r[sel], self.eta_b[sel], xf, yf)
        return out


def _pump_set(
    n_sets, rated_flow_m3_s, shutoff_head_pa, curve_k, efficiency_bep, min_flow_fraction, curve_id, curves
):
    """Broadcast the pump constants of ``stage_pumps`` to one value per set."""

    def per_set(value, dtype):
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n_sets,))

    return _PumpSet(
        q_r=per_set(rated_flow_m3_s, float),
        h0=per_set(shutoff_head_pa, float),
        kp=per_set(curve_k, float),
        eta_b=per_set(efficiency_bep, float),
        phi=per_set(min_flow_fraction, float),
        cid=per_set(curve_id, np.int64),
        curves=curves,
    )


def _best_pump_count(pumps: _PumpSet, h, q, n_av, can_stage, max_speed) -> dict:
    """Least-power count of pumps per set among those within ``max_speed`` (power inf where none can)."""
    n_sets = len(h)
    best = dict(
        n=np.zeros(n_sets, np.int64),
        s=np.zeros(n_sets),
        q=np.zeros(n_sets),
        eta=np.zeros(n_sets),
        p=np.full(n_sets, np.inf),
    )
    for n in range(1, int(n_av.max(initial=0)) + 1):
        q_n = np.maximum(q, pumps.phi * pumps.q_r * n)
        qn = q_n / n
        s2 = (h + pumps.kp * qn**2) / pumps.h0
        ok = can_stage & (n <= n_av) & (s2 <= max_speed**2 * (1 + 1e-9))
        s = np.sqrt(np.maximum(s2, 0.0))
        eta = pumps.efficiency(qn, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(ok & (eta > 0), h * q_n / np.where(eta > 0, eta, 1.0), np.inf)
        better = p < best["p"] * (1 - 1e-12)
        for key, val in (("n", n), ("s", s), ("q", q_n), ("eta", eta), ("p", p)):
            best[key] = np.where(better, val, best[key])
    return best


def _run_full_speed(pumps: _PumpSet, best: dict, full, h, q, n_av, max_speed) -> None:
    """Every available pump of the sets ``full`` at full speed at the flow ``q`` (``best`` updated in place)."""
    n_sets = len(h)
    n_f = np.maximum(n_av, 1)
    s_f = np.full(n_sets, max_speed)
    eta_f = pumps.efficiency(q / n_f, s_f)
    best["n"] = np.where(full, n_av, best["n"])
    best["s"] = np.where(full, max_speed, best["s"])
    best["q"] = np.where(full, q, best["q"])
    best["eta"] = np.where(full, eta_f, best["eta"])
    with np.errstate(divide="ignore", invalid="ignore"):
        best["p"] = np.where(full, h * q / np.where(eta_f > 0, eta_f, 1.0), best["p"])


def _pump_duty(best: dict, run, q) -> PumpDuty:
    """The chosen operating point of each set; sets not running carry zeros."""
    p = np.where(run, best["p"], 0.0)
    return PumpDuty(
        n_running=np.where(run, best["n"], 0),
        speed=np.where(run, best["s"], 0.0),
        flow_m3_s=np.where(run, best["q"], 0.0),
        bypass_m3_s=np.where(run, best["q"] - q, 0.0),
        efficiency=np.where(run, best["eta"], 0.0),
        power_w=p,
    )


# ------------------------------------------------------------------------------------------ loop network
@dataclass
class HydraulicSolution:
    """Flows and pump duty of every loop (``solve_loops``)."""

    rack_flow_m3_s: np.ndarray  # (n_racks,) m3/s
    rack_dp_pa: np.ndarray  # (n_racks,) cold-plate dp, Pa
    valve_dp_pa: np.ndarray  # (n_racks,) flow-control valve dp, Pa
    valve_saturated: np.ndarray  # (n_racks,) valve fully open, flow below its setpoint
    loop_flow_m3_s: np.ndarray  # (n_loops,) flow through the racks (pump flow less bypass), m3/s
    pump_head_pa: np.ndarray  # (n_loops,) Pa
    index_dp_pa: np.ndarray  # (n_loops,) header differential at the index (last) tap, Pa
    pump_limited: np.ndarray  # (n_loops,) every available pump at maximum speed, below the valves' demand
    edge_flow_m3_s: np.ndarray  # (n_edges,) flow of every edge of ``net`` (pipes, branches, pumps), m3/s
    node_pressure_pa: np.ndarray  # (n_nodes,) gauge pressure of every node over the pump suction, Pa
    iterations: int  # Newton iterations of the loops not in the closed form (all status rounds)
    converged: bool
    residual: float  # last max |dQ| / flow scale of the Newton solve (0: closed form only)


def solve_loops(
    net: LoopNetwork,
    *,
    valve_flow_m3_s: np.ndarray,
    valve_open_k: np.ndarray,
    dp_setpoint_pa: np.ndarray,
    n_pumps: np.ndarray,
    shutoff_head_pa: np.ndarray,
    curve_k: np.ndarray,
    design_flow_m3_s: np.ndarray,
    dp_design_pa: np.ndarray,
    dp_exponent: np.ndarray,
    diameter_m: np.ndarray,
    roughness_m: np.ndarray,
    rho: np.ndarray,
    mu: np.ndarray,
    max_speed: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 60,
    closed_form: bool = True,
) -> HydraulicSolution:
    """Flows in every loop: flow-control valves at their setpoints, pumps holding dp_set at the index tap.

    Closed form where every valve stays in control and the pumps can hold the setpoint; the other loops by the
    global gradient algorithm with valve / pump status updates (module docstring). Loops without a running pump
    or without racks carry no flow.

    Parameters
    ----------
    net : LoopNetwork
        Network of all loops (``build_network``).
    valve_flow_m3_s : numpy.ndarray, shape (n_racks,)
        Flow each rack's valve holds (``valve_setpoint_flow_m3_s``; 0 = shut), m3/s.
    valve_open_k : numpy.ndarray, shape (n_racks,)
        Resistance of each fully open valve (``valve_open_k``), Pa s^2/m^6.
    dp_setpoint_pa : numpy.ndarray, shape (n_loops,)
        Header differential the pumps hold at the index tap, Pa.
    n_pumps : numpy.ndarray of int, shape (n_loops,)
        Pumps available in each loop (all may run).
    shutoff_head_pa, curve_k : numpy.ndarray, shape (n_loops,)
        Pump curve H = s^2 H_0 - k_p Q^2 per pump (``pump_curve_constants``): H_0 in Pa, k_p in Pa s^2/m^6.
    design_flow_m3_s, dp_design_pa, dp_exponent : numpy.ndarray, shape (n_racks,)
        Cold plates of each rack: design flow (m3/s), dp at design flow (Pa), flow exponent.
    diameter_m, roughness_m : numpy.ndarray, shape (n_loops,)
        Header inner diameter and roughness, m.
    rho, mu : numpy.ndarray, shape (n_loops,)
        Coolant density (kg/m3) and viscosity (Pa s).
    max_speed : float, default 1.0
        Maximum pump speed ratio.
    tol : float, default 1e-10
        Newton convergence on max |dQ| relative to the loop flow scale.
    max_iter : int, default 60
        Newton iterations per status round.
    closed_form : bool, default True
        Use the closed form where it holds; False solves every loop by the Newton method (same answer).

    Returns
    -------
    HydraulicSolution
        Rack flows, cold-plate and valve pressure drops, saturated valves, loop flows, pump head (Pa), index
        differential, pump-limited loops and solver statistics.
    """
    active = (n_pumps > 0) & (net.n_per_loop > 0)
    q_set = np.where(active[net.rack_loop], valve_flow_m3_s, 0.0)
    plates = (design_flow_m3_s, dp_design_pa, dp_exponent)  # cold plates of each rack
    pipes = (diameter_m, roughness_m, rho, mu)  # headers and coolant of each loop
    theta_max = shutoff_head_pa * max_speed**2  # shut-off head of one pump at maximum speed
    # ---- closed form: valves in control, pumps holding dp_set
    cf = _closed_form(net, active, q_set, dp_setpoint_pa, pipes)
    short, limited = _closed_form_violations(
        net, active, q_set, cf, valve_open_k, n_pumps, theta_max, curve_k, plates
    )
    hard = limited | (np.bincount(net.rack_loop, weights=short, minlength=net.n_loops) > 0)
    state = _closed_form_state(net, active, q_set, dp_setpoint_pa, cf, limited)
    if not closed_form:  # every active loop through the Newton solve (a check of the closed form)
        hard = active.copy()
    if np.any(hard):
        sol = _solve_hard(
            net,
            hard,
            limited,
            short,
            q_set,
            cf["seg"],
            valve_open_k,
            dp_setpoint_pa,
            n_pumps,
            theta_max,
            curve_k,
            *plates,
            *pipes,
            tol,
            max_iter,
        )
        _merge_hard(net, hard, sol, state)
    return _hydraulic_solution(net, active, state, plates)


def _closed_form(net: LoopNetwork, active, q_set, dp_setpoint_pa, pipes) -> dict:
    """Header flows and drops, tap differentials, pump head and loop flow with every valve at its setpoint."""
    diameter_m, roughness_m, rho, mu = pipes
    n = net.n_racks
    lo_s = net.edge_loop[2 * n : 3 * n]  # loop of each sorted rack
    seg = _segment_flows(net, q_set)
    dia, rough = diameter_m[lo_s], roughness_m[lo_s]
    h_seg = pipe_dp_pa(seg, net.pipe_length_m[:n], dia, rough, rho[lo_s], mu[lo_s])
    lost = 2.0 * h_seg  # supply and return segments carry the same flow at the same properties
    cum, total = _loop_cumsum(net, lost)
    tap_dp_s = dp_setpoint_pa[lo_s] + total[lo_s] - cum  # differential at each tap, sorted order
    tap_dp = np.empty(n)
    tap_dp[net.order] = tap_dp_s
    return {
        "seg": seg,
        "h_seg": h_seg,
        "tap_dp_s": tap_dp_s,
        "tap_dp": tap_dp,
        "head": np.where(active, dp_setpoint_pa + total, 0.0),
        "q_loop": np.bincount(net.rack_loop, weights=q_set, minlength=net.n_loops),
    }


def _closed_form_violations(
    net: LoopNetwork, active, q_set, cf: dict, valve_open_k, n_pumps, theta_max, curve_k, plates
):
    """Where the closed form fails: racks short of the differential their valve needs, pump-limited loops."""
    plate = branch_dp_pa(q_set, *plates)
    need = plate + valve_open_k * q_set**2
    short = (q_set > 0) & (cf["tap_dp"] < need * (1 - 1e-9))
    per_pump = cf["q_loop"] / np.maximum(n_pumps, 1)
    limited = active & (cf["head"] + curve_k * per_pump**2 > theta_max * (1 + 1e-9))
    return short, limited


def _closed_form_state(net: LoopNetwork, active, q_set, dp_setpoint_pa, cf: dict, limited) -> dict:
    """Solution of the closed form: rack flows, node pressures and edge flows (inactive loops at zero)."""
    n = net.n_racks
    order = net.order
    # node pressures over the pump suction: R_k = sum of the return drops up to tap k, S_k = R_k + dp_k
    p_node = np.zeros(net.n_nodes)
    p_r = _loop_cumsum(net, cf["h_seg"])[0]
    p_node[net.frm[n : 2 * n]] = p_r
    p_node[net.to[:n]] = p_r + cf["tap_dp_s"]
    p_node[net.supply_node0[net.n_per_loop > 0]] = cf["head"][net.n_per_loop > 0]
    seg = cf["seg"]
    q_edge = np.concatenate([seg, seg, q_set[order], cf["q_loop"][net.pump_edge >= 0]])
    on_edge = active[net.edge_loop]
    q_edge = np.where(on_edge, q_edge, 0.0)
    node_on = np.zeros(net.n_nodes, bool)
    node_on[net.to[on_edge & (net.to >= 0)]] = True
    return {
        "rack_q": q_set.copy(),
        "tap_dp": cf["tap_dp"],
        "saturated": np.zeros(n, bool),
        "head": cf["head"],
        "q_loop": cf["q_loop"],
        "index_dp": np.where(active, dp_setpoint_pa, 0.0),
        "limited": limited,
        "q_edge": q_edge,
        "p_node": np.where(node_on, p_node, 0.0),
        "iterations": 0,
        "converged": True,
        "residual": 0.0,
    }


def _merge_hard(net: LoopNetwork, hard, sol: dict, state: dict) -> None:
    """Take the loops ``hard`` from the Newton solution ``sol`` into ``state`` (in place)."""
    h_r = hard[net.rack_loop]
    state["rack_q"] = np.where(h_r, sol["rack_q"], state["rack_q"])
    state["tap_dp"] = np.where(h_r, sol["tap_dp"], state["tap_dp"])
    state["saturated"] = h_r & sol["open"]
    state["head"] = np.where(hard, sol["head"], state["head"])
    state["q_loop"] = np.where(hard, sol["q_pump"], state["q_loop"])
    state["index_dp"] = np.where(hard, sol["index_dp"], state["index_dp"])
    state["limited"] = hard & sol["limited"]
    e_hard = hard[net.edge_loop]
    state["q_edge"] = np.where(e_hard, sol["q_edge"], state["q_edge"])
    n_hard = np.zeros(net.n_nodes, bool)
    n_hard[net.to[e_hard & (net.to >= 0)]] = True
    state["p_node"] = np.where(n_hard, sol["p_node"], state["p_node"])
    state["iterations"], state["converged"], state["residual"] = (
        sol["iterations"],
        sol["converged"],
        sol["residual"],
    )


def _hydraulic_solution(net: LoopNetwork, active, state: dict, plates) -> HydraulicSolution:
    """Cold-plate and valve drops at the final rack flows, packed as a ``HydraulicSolution``."""
    rack_q = state["rack_q"]
    plate = branch_dp_pa(rack_q, *plates)
    return HydraulicSolution(
        rack_flow_m3_s=rack_q,
        rack_dp_pa=plate,
        valve_dp_pa=np.where(
            active[net.rack_loop], state["tap_dp"] - plate, 0.0
        ),  # a shut valve holds the whole tap dp
        valve_saturated=state["saturated"],
        loop_flow_m3_s=state["q_loop"],
        pump_head_pa=state["head"],
        index_dp_pa=state["index_dp"],
        pump_limited=state["limited"],
        edge_flow_m3_s=state["q_edge"],
        node_pressure_pa=state["p_node"],
        iterations=state["iterations"],
        converged=state["converged"],
        residual=state["residual"],
    )


def _solve_hard(
    net,
    hard,
    limited,
    short,
    q_set,
    seg,
    kv,
    dp_set,
    n_pumps,
    theta_max,
    kp,
    qd,
    dpd,
    nexp,
    dia,
    rough,
    rho,
    mu,
    tol,
    max_iter,
) -> dict:
    """Global gradient algorithm on the loops ``hard`` with valve and pump status rounds (EPANET-style).

    Unknowns: flows of pipes, saturated valves and pumps; node pressures; per loop the pumps' shut-off head
    theta (dp control: p(S_n) - p(R_n) = dp_set; limited: theta = s_max^2 H_0). Valves in control and shut valves
    are fixed-flow links. After each converged Newton solve: a valve in control without the differential it needs
    opens fully, an open valve that would pass more than its setpoint goes back to control, a dp-controlled loop
    whose pumps would exceed full speed becomes limited, a limited loop above its setpoint goes back to dp control.
    """
    c = _gga_constants(net, hard, q_set, kv, n_pumps, kp, qd, dpd, nexp, dia, rough, rho, mu)
    q, open_b, lim, node_on = _gga_initial_state(net, c, hard, limited, short, seg)
    p = np.zeros(net.n_nodes)
    theta = np.where(hard, theta_max, 0.0)
    total_it, converged, resid = 0, False, np.inf
    for _round in range(30):
        links = _gga_links(net, c, hard, open_b, lim)
        q[2 * c.n : 3 * c.n] = np.where(open_b, q[2 * c.n : 3 * c.n], np.where(hard[c.lo_s], c.qs_b, 0.0))
        p, theta, it, converged, resid = _gga_newton(
            net, c, links, q, p, theta, resid, node_on, hard, lim, theta_max, dp_set, tol, max_iter
        )
        total_it += it
        status = _gga_status(net, c, q, p, open_b, lim, hard, theta_max, dp_set, n_pumps, kp)
        if not (
            status["to_open"].any()
            or status["to_ctrl"].any()
            or status["to_lim"].any()
            or status["to_dp"].any()
        ):
            break
        open_b = (open_b | status["to_open"]) & ~status["to_ctrl"]
        lim = (lim | status["to_lim"]) & ~status["to_dp"]
    else:
        converged = False
    return _gga_result(c, q, p, status, open_b, lim, total_it, converged, resid)


@dataclass
class _GgaConstants:
    """Per-edge and per-loop constants of the Newton solve (``_solve_hard``); ``_b``: branches in sorted order."""

    n: int  # racks
    n_l: int  # loops
    n_e: int  # edges
    n_x: int  # unknowns: node pressures, then theta per loop
    order: np.ndarray  # sorted order of the racks
    lo_s: np.ndarray  # loop of each sorted rack
    on_e: np.ndarray  # edges of the hard loops
    plen: np.ndarray  # pipe lengths, m
    d_p: np.ndarray  # pipe diameter, m
    r_p: np.ndarray  # pipe roughness, m
    rho_p: np.ndarray  # coolant density in each pipe, kg/m3
    mu_p: np.ndarray  # coolant viscosity in each pipe, Pa s
    g_lam: np.ndarray  # laminar (Hagen-Poiseuille) slope: dh/dQ near zero flow
    qd_b: np.ndarray  # cold-plate design flow, m3/s
    dpd_b: np.ndarray  # cold-plate dp at design flow, Pa
    n_b: np.ndarray  # cold-plate flow exponent
    kv_b: np.ndarray  # open-valve resistance, Pa s^2/m^6
    qs_b: np.ndarray  # valve setpoint flow, m3/s
    pl: np.ndarray  # loop of each pump edge
    npump: np.ndarray  # pumps of each pump edge (at least 1)
    kp_p: np.ndarray  # pump curve constant of each pump edge
    loop_scale: np.ndarray  # flow scale of each loop, m3/s
    q_scale: float  # largest flow scale of the hard loops, m3/s
    base: np.ndarray  # node S_0 (pump discharge) of each loop
    s_idx: np.ndarray  # node S_n of each loop (index tap, supply side)
    r_idx: np.ndarray  # node R_n of each loop (index tap, return side)
    pe: np.ndarray  # pump edge of each loop (-1: none)
    has: np.ndarray  # loops with a pump edge


def _gga_constants(net, hard, q_set, kv, n_pumps, kp, qd, dpd, nexp, dia, rough, rho, mu) -> _GgaConstants:
    """Constants of the Newton solve, gathered per edge (pipes, branches in sorted order, pumps)."""
    n, n_l = net.n_racks, net.n_loops
    order, e_loop = net.order, net.edge_loop
    lo_s = e_loop[2 * n : 3 * n]
    lo_p = e_loop[: 2 * n]
    plen = net.pipe_length_m[: 2 * n]
    d_p, r_p, rho_p, mu_p = dia[lo_p], rough[lo_p], rho[lo_p], mu[lo_p]
    qs_b = q_set[order]
    pl = e_loop[3 * n :]
    loop_scale = np.maximum(np.bincount(lo_s, weights=qs_b, minlength=n_l), 1e-6)
    return _GgaConstants(
        n=n,
        n_l=n_l,
        n_e=len(net.kind),
        n_x=net.n_nodes + n_l,
        order=order,
        lo_s=lo_s,
        on_e=hard[e_loop],
        plen=plen,
        d_p=d_p,
        r_p=r_p,
        rho_p=rho_p,
        mu_p=mu_p,
        g_lam=128.0 * mu_p * plen / (np.pi * d_p**4),
        qd_b=qd[order],
        dpd_b=dpd[order],
        n_b=nexp[order],
        kv_b=kv[order],
        qs_b=qs_b,
        pl=pl,
        npump=np.maximum(n_pumps[pl], 1),
        kp_p=kp[pl],
        loop_scale=loop_scale,
        q_scale=float(np.max(loop_scale[hard])),
        base=net.supply_node0,
        s_idx=net.supply_node0 + net.n_per_loop,
        r_idx=net.supply_node0 + 2 * net.n_per_loop,
        pe=net.pump_edge,
        has=net.pump_edge >= 0,
    )


def _gga_initial_state(net, c: _GgaConstants, hard, limited, short, seg):
    """Starting flows (closed form), open valves, limited loops and the nodes of the hard loops."""
    n = c.n
    q = np.zeros(c.n_e)
    q[:n] = seg
    q[n : 2 * n] = seg
    q[2 * n : 3 * n] = c.qs_b
    q[c.pe[c.has]] = np.bincount(c.lo_s, weights=c.qs_b, minlength=c.n_l)[c.has]
    q[~c.on_e] = 0.0
    open_b = short[c.order].copy() & hard[c.lo_s]
    lim = limited.copy() & hard
    node_on = np.zeros(net.n_nodes, bool)
    node_on[net.frm[c.on_e & (net.frm >= 0)]] = True
    node_on[net.to[c.on_e & (net.to >= 0)]] = True
    return q, open_b, lim, node_on


@dataclass
class _GgaLinks:
    """Unknown-flow and fixed-flow links of one status round (``_gga_links``)."""

    uf: np.ndarray  # edges with unknown flow
    frm_u: np.ndarray  # their from-nodes (-1: none)
    to_u: np.ndarray  # their to-nodes (-1: none)
    fx: np.ndarray  # edges with fixed flow
    pump_u: np.ndarray  # unknown edges that are pumps
    pump_loop: np.ndarray  # loop of each of those pumps
    dp_loops: np.ndarray  # hard loops under dp control


def _gga_links(net, c: _GgaConstants, hard, open_b, lim) -> _GgaLinks:
    """Split the edges of the hard loops into unknown flows (pipes, open valves, pumps) and fixed flows."""
    n = c.n
    unknown = c.on_e.copy()
    unknown[2 * n : 3 * n] &= open_b
    fixed = c.on_e & ~unknown
    uf = np.flatnonzero(unknown)
    pump_u = uf >= 3 * n
    return _GgaLinks(
        uf=uf,
        frm_u=net.frm[uf],
        to_u=net.to[uf],
        fx=np.flatnonzero(fixed),
        pump_u=pump_u,
        pump_loop=net.edge_loop[uf[pump_u]],
        dp_loops=hard & ~lim,
    )


def _gga_newton(net, c, links, q, p, theta, resid, node_on, hard, lim, theta_max, dp_set, tol, max_iter):
    """Newton iterations of one status round (``q`` updated in place).

    Returns node pressures, theta, iterations, converged, last residual.
    """
    n_nodes = net.n_nodes
    uf, frm_u, to_u, pump_u = links.uf, links.frm_u, links.to_u, links.pump_u
    converged, it = False, 0
    for _k in range(max_iter):
        it += 1
        h, g = _gga_edge_heads(c, q)
        w = 1.0 / g[uf]
        mat = _gga_matrix(c, links, w, node_on, hard, lim, n_nodes)
        rhs = _gga_rhs(net, c, links, w, h, q, hard, lim, theta_max, dp_set)
        x = spsolve(mat, rhs)
        p, theta = x[:n_nodes], x[n_nodes:]
        pf = np.where(frm_u >= 0, p[np.maximum(frm_u, 0)], 0.0)
        pt = np.where(to_u >= 0, p[np.maximum(to_u, 0)], 0.0)
        drive = pf - pt - h[uf]
        drive[pump_u] += theta[links.pump_loop]
        dq = drive * w
        q[uf] += dq
        resid = float(np.max(np.abs(dq))) / c.q_scale if len(dq) else 0.0
        if resid < tol:
            converged = True
            break
    return p, theta, it, converged, resid


def _gga_edge_heads(c: _GgaConstants, q):
    """Head loss h of every edge at flows ``q`` and its slope g (pumps: the curve's flow term, theta apart)."""
    n = c.n
    h = np.zeros(c.n_e)
    g = np.ones(c.n_e)
    hp = pipe_dp_pa(q[: 2 * n], c.plen, c.d_p, c.r_p, c.rho_p, c.mu_p)
    h[: 2 * n] = hp
    g[: 2 * n] = np.maximum(2.0 * np.abs(hp) / np.maximum(np.abs(q[: 2 * n]), 1e-300), c.g_lam)
    qb = q[2 * n : 3 * n]
    xb = np.maximum(np.abs(qb), 1e-6 * c.qd_b) / c.qd_b
    plate = c.dpd_b * xb**c.n_b
    h[2 * n : 3 * n] = np.sign(qb) * c.dpd_b * (np.abs(qb) / c.qd_b) ** c.n_b + c.kv_b * qb * np.abs(qb)
    g[2 * n : 3 * n] = c.n_b * plate / (xb * c.qd_b) + 2 * c.kv_b * xb * c.qd_b
    qpm = q[3 * n :] / c.npump
    h[3 * n :] = c.kp_p * qpm * np.abs(qpm)  # theta enters separately
    g[3 * n :] = 2 * c.kp_p * np.maximum(np.abs(qpm), 1e-3 * c.loop_scale[c.pl] / c.npump) / c.npump
    return h, g


def _gga_matrix(c: _GgaConstants, links: _GgaLinks, w, node_on, hard, lim, n_nodes):
    """Sparse Newton matrix: node balances weighted by 1/g, pinned idle nodes and loops, theta's equations."""
    frm_u, to_u, pump_u = links.frm_u, links.to_u, links.pump_u
    mf, mt = frm_u >= 0, to_u >= 0
    both = mf & mt
    off_nodes = np.flatnonzero(~node_on)
    off_loops = np.flatnonzero(~hard)
    lim_loops = np.flatnonzero(hard & lim)
    dpl = np.flatnonzero(links.dp_loops)
    # pump columns: row S_0 (to-node of the pump) gets -w theta
    pu_rows = to_u[pump_u]
    rows = np.concatenate(
        [
            frm_u[mf],
            to_u[mt],
            frm_u[both],
            to_u[both],
            off_nodes,
            pu_rows,
            n_nodes + off_loops,
            n_nodes + lim_loops,
            n_nodes + dpl,
            n_nodes + dpl,
        ]
    )
    cols = np.concatenate(
        [
            frm_u[mf],
            to_u[mt],
            to_u[both],
            frm_u[both],
            off_nodes,
            n_nodes + links.pump_loop,
            n_nodes + off_loops,
            n_nodes + lim_loops,
            c.s_idx[dpl],
            c.r_idx[dpl],
        ]
    )
    data = np.concatenate(
        [
            w[mf],
            w[mt],
            -w[both],
            -w[both],
            np.ones(len(off_nodes)),
            -w[pump_u],
            np.ones(len(off_loops)),
            np.ones(len(lim_loops)),
            np.ones(len(dpl)),
            -np.ones(len(dpl)),
        ]
    )
    return sp.csc_matrix((data, (rows, cols)), shape=(c.n_x, c.n_x))


def _gga_rhs(net, c: _GgaConstants, links: _GgaLinks, w, h, q, hard, lim, theta_max, dp_set):
    """Right-hand side: flow imbalances of the nodes, theta of limited loops, dp_set of dp-controlled loops."""
    n_nodes = net.n_nodes
    uf, frm_u, to_u, fx = links.uf, links.frm_u, links.to_u, links.fx
    mf, mt = frm_u >= 0, to_u >= 0
    lim_loops = np.flatnonzero(hard & lim)
    dpl = np.flatnonzero(links.dp_loops)
    rhs = np.zeros(c.n_x)
    val = w * h[uf] - q[uf]
    np.add.at(rhs, frm_u[mf], val[mf])
    np.add.at(rhs, to_u[mt], -val[mt])
    ff, ft = net.frm[fx], net.to[fx]
    np.add.at(rhs, ff[ff >= 0], -q[fx][ff >= 0])
    np.add.at(rhs, ft[ft >= 0], q[fx][ft >= 0])
    rhs[n_nodes + lim_loops] = theta_max[lim_loops]
    rhs[n_nodes + dpl] = dp_set[dpl]
    return rhs


def _gga_status(net, c: _GgaConstants, q, p, open_b, lim, hard, theta_max, dp_set, n_pumps, kp) -> dict:
    """Status changes after a Newton solve (valves to open / back to control, loops to limited / dp control)."""
    n = c.n
    s_node = net.frm[2 * n : 3 * n]  # S_k of each sorted branch
    r_node = net.to[2 * n : 3 * n]
    tap_dp_s = p[s_node] - p[r_node]
    need = c.dpd_b * (c.qs_b / c.qd_b) ** c.n_b + c.kv_b * c.qs_b**2
    qb = q[2 * n : 3 * n]
    in_hard = hard[c.lo_s] & (c.qs_b > 0)
    q_pump = np.zeros(c.n_l)
    q_pump[c.has] = q[c.pe[c.has]]
    head = np.where(hard, p[c.base], 0.0)
    per = q_pump / np.maximum(n_pumps, 1)
    need_s2 = head + kp * per**2
    index_dp = np.where(hard, p[c.s_idx] - p[c.r_idx], 0.0)
    return {
        "tap_dp_s": tap_dp_s,
        "q_pump": q_pump,
        "head": head,
        "index_dp": index_dp,
        "to_open": in_hard & ~open_b & (tap_dp_s < need * (1 - 1e-9)),
        "to_ctrl": in_hard & open_b & (qb > c.qs_b * (1 + 1e-9)),
        "to_lim": hard & ~lim & (need_s2 > theta_max * (1 + 1e-9)),
        "to_dp": hard & lim & (index_dp > dp_set * (1 + 1e-9)),
    }


def _gga_result(c: _GgaConstants, q, p, status: dict, open_b, lim, total_it, converged, resid) -> dict:
    """The Newton solution with rack arrays back in model order."""
    n, order = c.n, c.order
    rack_q = np.zeros(n)
    rack_q[order] = q[2 * n : 3 * n]
    tap = np.zeros(n)
    tap[order] = status["tap_dp_s"]
    op = np.zeros(n, bool)
    op[order] = open_b
    return {
        "q_edge": q,
        "p_node": p,
        "rack_q": rack_q,
        "tap_dp": tap,
        "open": op,
        "head": status["head"],
        "q_pump": status["q_pump"],
        "index_dp": status["index_dp"],
        "limited": lim,
        "iterations": total_it,
        "converged": converged,
        "residual": resid,
    }
