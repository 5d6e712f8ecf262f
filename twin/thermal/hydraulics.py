"""Hydraulics of the technology cooling loops (TCS): pipes, cold-plate branches, balancing valves, CDU pumps.

Every loop is modelled as a CDU pump feeding a supply header and a direct-return header of length
``manifold_length_m`` with its racks tapped at equal spacing; each rack is a branch (cold plates + balancing valve)
between the headers. All loops of the facility form one sparse network solved at once by the global gradient
algorithm (Todini & Pilati 1988, "A gradient algorithm for the analysis of pipe networks", as in EPANET): Newton
on edge flows Q and node pressures p, eliminating Q to give the sparse symmetric system
``(A G^-1 A^T) p = A G^-1 h(Q) - A Q - A_f q_f`` (G = dh/dQ diagonal), solved with scipy.sparse (SuperLU).

Edge laws (pressure drop h, Pa, in the direction of flow):
  pipe     h = f(Re, eps/D) (L/D) rho v^2 / 2                      Darcy-Weisbach, f from Churchill (1977)
  branch   h = dp_design (Q/Q_design)^n + K_v Q|Q|                 cold plates (catalog dP at design flow) + valve
  pump     h = -(s^2 H_0 - k_p (Q/N)^2)                             quadratic head curve of N parallel pumps at speed s
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
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
    """Rack branch: cold plates dp = dp_design (|Q|/Q_design)^n (catalog), plus balancing valve K_v Q|Q|.

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
        Balancing-valve coefficient K_v, Pa s^2/m^6.

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
    """Header flows that result from given rack flows: supply segment k carries the racks at taps >= k."""
    qs = rack_flow[net.order]
    lo = net.edge_loop[2 * net.n_racks : 3 * net.n_racks]
    # reverse cumulative sum within each loop
    csum = np.cumsum(qs[::-1])[::-1]
    n_l = net.n_per_loop
    end = np.cumsum(n_l)  # exclusive end index of each loop in sorted order
    after = np.where(end[lo] < len(qs), np.concatenate([csum, [0.0]])[np.minimum(end[lo], len(qs))], 0.0)
    return csum - after


def balancing_valves(
    net: LoopNetwork,
    design_flow_m3_s: np.ndarray,
    dp_design_pa: np.ndarray,
    diameter_m: np.ndarray,
    roughness_m: np.ndarray,
    rho: np.ndarray,
    mu: np.ndarray,
) -> np.ndarray:
    """Valve coefficients that give every rack its design flow when the loop runs at its total design flow.

    Proportional balancing: the index rack (least available differential) gets K_v = 0, every other rack
    throttles its surplus, dp_valve = (dp_avail - dp_rack) - min over the loop (dp_avail - dp_rack).

    Parameters
    ----------
    net : LoopNetwork
        Network of all loops (``build_network``).
    design_flow_m3_s : numpy.ndarray, shape (n_racks,)
        Design flow of each rack, m3/s.
    dp_design_pa : numpy.ndarray, shape (n_racks,)
        Cold-plate pressure drop of each rack at design flow, Pa.
    diameter_m, roughness_m : numpy.ndarray, shape (n_loops,)
        Header inner diameter and roughness of each loop, m.
    rho, mu : numpy.ndarray, shape (n_loops,)
        Coolant density (kg/m3) and viscosity (Pa s) of each loop.

    Returns
    -------
    numpy.ndarray, shape (n_racks,)
        K_v of each rack's balancing valve, Pa s^2/m^6 (>= 0).
    """
    n = net.n_racks
    seg_q = _segment_flows(net, design_flow_m3_s)
    lo = net.edge_loop[:n]
    dp_seg = pipe_dp_pa(seg_q, net.pipe_length_m[:n], diameter_m[lo], roughness_m[lo], rho[lo], mu[lo])
    # available differential at tap k relative to the pump: -(sum of supply + return drops up to k)
    lost = dp_seg * 2.0  # supply and return segments carry the same flow in a direct-return layout
    csum = np.cumsum(lost)
    start = np.concatenate([[0], np.cumsum(net.n_per_loop)[:-1]])
    before = np.where(start[lo] > 0, csum[np.maximum(start[lo] - 1, 0)], 0.0)
    loss_to_tap = csum - before  # sorted order
    order = net.order
    surplus = -loss_to_tap - dp_design_pa[order]
    min_surplus = np.full(net.n_loops, np.inf)
    np.minimum.at(min_surplus, lo, surplus)
    valve_dp = surplus - min_surplus[lo]
    k_sorted = valve_dp / design_flow_m3_s[order] ** 2
    k = np.empty(n)
    k[order] = k_sorted
    return k


@dataclass
class HydraulicSolution:
    """Flows and pump duty of every loop (``solve_loops``)."""

    rack_flow_m3_s: np.ndarray  # (n_racks,) m3/s
    rack_dp_pa: np.ndarray  # (n_racks,) cold-plate dp, Pa
    valve_dp_pa: np.ndarray  # (n_racks,) balancing-valve dp, Pa
    loop_flow_m3_s: np.ndarray  # (n_loops,) pump flow, m3/s
    pump_head_pa: np.ndarray  # (n_loops,) Pa
    pump_speed: np.ndarray  # (n_loops,) speed ratio n / n_rated
    pump_limited: np.ndarray  # (n_loops,) at maximum speed, below the flow setpoint
    iterations: int  # GGA iterations (both passes)
    converged: bool
    residual: float  # last max |dQ| / max setpoint


def solve_loops(
    net: LoopNetwork,
    *,
    flow_setpoint_m3_s: np.ndarray,
    n_pumps: np.ndarray,
    shutoff_head_pa: np.ndarray,
    curve_k: np.ndarray,
    design_flow_m3_s: np.ndarray,
    dp_design_pa: np.ndarray,
    dp_exponent: np.ndarray,
    valve_k: np.ndarray,
    diameter_m: np.ndarray,
    roughness_m: np.ndarray,
    rho: np.ndarray,
    mu: np.ndarray,
    max_speed: float = 1.0,
    tol: float = 1e-10,
    max_iter: int = 60,
) -> HydraulicSolution:
    """Flows in every loop with pumps speed-controlled to the flow setpoint (flow-per-kW control).

    Pass 1 treats each pump as a flow source at its setpoint and gives the head it must deliver; where that needs
    more than ``max_speed`` the loop is pump-limited and pass 2 solves it on the pump curve at full speed.
    Loops without a running pump or without racks carry no flow.

    Parameters
    ----------
    net : LoopNetwork
        Network of all loops (``build_network``).
    flow_setpoint_m3_s : numpy.ndarray, shape (n_loops,)
        Total pump flow setpoint of each loop, m3/s.
    n_pumps : numpy.ndarray of int, shape (n_loops,)
        Pumps running in parallel in each loop.
    shutoff_head_pa, curve_k : numpy.ndarray, shape (n_loops,)
        Pump curve H = s^2 H_0 - k_p Q^2 per pump (``pump_curve_constants``): H_0 in Pa, k_p in Pa s^2/m^6.
    design_flow_m3_s, dp_design_pa, dp_exponent : numpy.ndarray, shape (n_racks,)
        Cold plates of each rack: design flow (m3/s), dp at design flow (Pa), flow exponent.
    valve_k : numpy.ndarray, shape (n_racks,)
        Balancing-valve coefficients (``balancing_valves``), Pa s^2/m^6.
    diameter_m, roughness_m : numpy.ndarray, shape (n_loops,)
        Header inner diameter and roughness, m.
    rho, mu : numpy.ndarray, shape (n_loops,)
        Coolant density (kg/m3) and viscosity (Pa s).
    max_speed : float, default 1.0
        Maximum pump speed ratio.
    tol : float, default 1e-10
        Convergence on max |dQ| relative to the largest setpoint.
    max_iter : int, default 60
        Iterations per pass.

    Returns
    -------
    HydraulicSolution
        Rack flows and pressure drops, loop flows, pump head (Pa), speed and limits, solver statistics.
    """
    n_loops = net.n_loops
    active = (n_pumps > 0) & (net.n_per_loop > 0) & (flow_setpoint_m3_s > 0)
    laws = _EdgeLaws(
        net,
        n_pumps,
        shutoff_head_pa,
        curve_k,
        max_speed,
        design_flow_m3_s,
        dp_design_pa,
        dp_exponent,
        valve_k,
        diameter_m,
        roughness_m,
        rho,
        mu,
    )

    def gga(limited: np.ndarray) -> dict:
        # pass 1 holds every active loop at its flow setpoint; pass 2 puts pump-limited loops on the curve
        return _gga(net, active, limited, flow_setpoint_m3_s, design_flow_m3_s, laws, tol, max_iter)

    limited = np.zeros(n_loops, bool)
    sol = gga(limited)

    q_pump = np.where(active, flow_setpoint_m3_s, 0.0)
    head = sol["p"][net.supply_node0] * active
    speed = np.where(
        active, speed_for_duty(q_pump / np.maximum(n_pumps, 1), head, shutoff_head_pa, curve_k), 0.0
    )
    it = sol["iterations"]
    if np.any(speed > max_speed * (1 + 1e-12)):
        limited = speed > max_speed * (1 + 1e-12)
        sol = gga(limited)
        it += sol["iterations"]
        q_all = sol["q"]
        pe = net.pump_edge
        q_pump = np.where(active & (pe >= 0), q_all[np.maximum(pe, 0)], 0.0)
        head = sol["p"][net.supply_node0] * active
        speed = np.where(limited, max_speed, speed)
    q = sol["q"]
    rack_q = q[net.rack_edge]
    cold_plate = branch_dp_pa(rack_q, design_flow_m3_s, dp_design_pa, dp_exponent)
    return HydraulicSolution(
        rack_flow_m3_s=rack_q,
        rack_dp_pa=cold_plate,
        valve_dp_pa=valve_k * rack_q * np.abs(rack_q),
        loop_flow_m3_s=q_pump,
        pump_head_pa=head,
        pump_speed=speed,
        pump_limited=limited,
        iterations=it,
        converged=sol["converged"],
        residual=sol["residual"],
    )


class _EdgeLaws:
    """Pressure drop h(Q) and its derivative G = dh/dQ of every edge (pipes, branches, pumps at ``s_max``),
    with the per-edge constants gathered once."""

    def __init__(self, net, n_pumps, h0, kp, s_max, qd, dpd, nexp, kv, dia, rough, rho, mu) -> None:
        n = net.n_racks
        e_loop = net.edge_loop
        lo_pipe = e_loop[: 2 * n]
        self.n = n
        self.d_p, self.r_p, self.rho_p, self.mu_p = dia[lo_pipe], rough[lo_pipe], rho[lo_pipe], mu[lo_pipe]
        self.len_p = net.pipe_length_m[: 2 * n]
        rk = net.order  # rack of branch edge i (sorted order)
        self.qd_b, self.dpd_b, self.n_b, self.kv_b = qd[rk], dpd[rk], nexp[rk], kv[rk]
        pl = e_loop[3 * n :]
        self.npump = np.maximum(n_pumps[pl], 1)
        self.h0_p, self.kp_p = h0[pl] * s_max**2, kp[pl]

    def heads(self, q: np.ndarray, q_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """h (Pa) and G (Pa s/m3) of every edge at the flows q (m3/s)."""
        n = self.n
        h = np.empty(len(q))
        g = np.empty(len(q))
        # pipes: friction factor frozen within the iteration (quasi-Newton), dh/dQ = 2 h / Q
        qp = q[: 2 * n]
        hp = pipe_dp_pa(qp, self.len_p, self.d_p, self.r_p, self.rho_p, self.mu_p)
        h[: 2 * n] = hp
        g[: 2 * n] = 2.0 * np.abs(hp) / np.maximum(np.abs(qp), 1e-12 * q_scale)
        qb = q[2 * n : 3 * n]
        xb = np.abs(qb) / self.qd_b
        hb_plate = self.dpd_b * xb**self.n_b
        kv_b = self.kv_b
        h[2 * n : 3 * n] = np.sign(qb) * hb_plate + kv_b * qb * np.abs(qb)
        g[2 * n : 3 * n] = self.n_b * hb_plate / np.maximum(np.abs(qb), 1e-12 * q_scale) + 2 * kv_b * np.abs(
            qb
        )
        qpm = q[3 * n :] / self.npump
        h[3 * n :] = -(self.h0_p - self.kp_p * qpm * np.abs(qpm))
        g[3 * n :] = 2 * self.kp_p * np.abs(qpm) / self.npump
        return h, g


def _initial_flows(
    net: LoopNetwork, active: np.ndarray, on: np.ndarray, q_set: np.ndarray, qd: np.ndarray
) -> np.ndarray:
    """Edge flows of the initial guess: the setpoint split in proportion to the racks' design flows."""
    n = net.n_racks
    q = np.zeros(len(net.kind))
    scale = np.zeros(net.n_loops)
    qd_loop = np.bincount(net.edge_loop[2 * n : 3 * n], weights=qd[net.order], minlength=net.n_loops)
    scale[active] = q_set[active] / qd_loop[active]
    rack_q0 = qd * scale[net.rack_loop]
    seg = _segment_flows(net, rack_q0)
    q[:n] = seg
    q[n : 2 * n] = seg
    q[net.rack_edge] = rack_q0
    pe = net.pump_edge
    has = pe >= 0
    q[pe[has]] = np.where(active[has], q_set[has], 0.0)
    q[~on] = 0.0
    return q


def _gga(
    net: LoopNetwork,
    active: np.ndarray,
    limited: np.ndarray,
    q_set: np.ndarray,
    qd: np.ndarray,
    laws: _EdgeLaws,
    tol: float,
    max_iter: int,
) -> dict:
    """Global gradient algorithm over the active loops; pumps of non-limited loops are fixed-flow edges.

    Each iteration solves the sparse symmetric system A_U W A_U^T p = A_U W h_U - A_U Q_U - A_F q_F
    (W = G^-1 of the unknown edges U, fixed-flow edges F) for the node pressures and updates Q_U.
    """
    e_loop = net.edge_loop
    on = active[e_loop]
    fixed = (net.kind == 2) & ~limited[e_loop]
    unknown = on & ~fixed
    q = _initial_flows(net, active, on, q_set, qd)
    # node pressures of inactive loops stay 0; keep them in the matrix with a unit diagonal
    node_on = np.zeros(net.n_nodes, bool)
    node_on[net.frm[on & (net.frm >= 0)]] = True
    node_on[net.to[on & (net.to >= 0)]] = True
    uf = np.flatnonzero(unknown)
    frm_u, to_u = net.frm[uf], net.to[uf]
    fixed_idx = np.flatnonzero(fixed & on)
    p = np.zeros(net.n_nodes)
    converged, resid, it = False, np.inf, 0
    q_scale = max(float(np.max(q_set[active])) if np.any(active) else 1.0, 1e-12)
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        h, g = laws.heads(q, q_scale)
        g = np.maximum(g, 1e-9 * np.max(g[unknown]) if np.any(unknown) else 1.0)
        w = 1.0 / g[uf]
        # assemble A_U W A_U^T (sparse, symmetric)
        mf, mt = frm_u >= 0, to_u >= 0
        both = mf & mt
        rows = np.concatenate([frm_u[mf], to_u[mt], frm_u[both], to_u[both], np.flatnonzero(~node_on)])
        cols = np.concatenate([frm_u[mf], to_u[mt], to_u[both], frm_u[both], np.flatnonzero(~node_on)])
        data = np.concatenate([w[mf], w[mt], -w[both], -w[both], np.ones(int((~node_on).sum()))])
        mat = sp.csc_matrix((data, (rows, cols)), shape=(net.n_nodes, net.n_nodes))
        # rhs = A_U W h_U - A_U Q_U - A_F q_F
        rhs = np.zeros(net.n_nodes)
        val = w * h[uf] - q[uf]
        np.add.at(rhs, frm_u[mf], val[mf])
        np.add.at(rhs, to_u[mt], -val[mt])
        ff, ft = net.frm[fixed_idx], net.to[fixed_idx]
        np.add.at(rhs, ff[ff >= 0], -q[fixed_idx][ff >= 0])
        np.add.at(rhs, ft[ft >= 0], q[fixed_idx][ft >= 0])
        p = spsolve(mat, rhs)
        pf = np.where(frm_u >= 0, p[np.maximum(frm_u, 0)], 0.0)
        pt = np.where(to_u >= 0, p[np.maximum(to_u, 0)], 0.0)
        dq = (pf - pt - h[uf]) * w
        q[uf] += dq
        resid = float(np.max(np.abs(dq))) / q_scale if len(dq) else 0.0
        if resid < tol:
            converged = True
            break
    return {"q": q, "p": p, "iterations": it, "converged": converged, "residual": resid}
