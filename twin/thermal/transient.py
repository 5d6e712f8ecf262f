"""Transients of one hall: lumped thermal capacitances of GPU dies, racks and TCS coolant volumes (stiff ODE, BDF).

States (per rack r in loop l; per loop a return volume and a supply volume):
  C_d dT_j/dt    = P_gpu(T_j, t) - G(m_r) (T_j - T_r)                                 (hottest GPU die, per GPU)
  C_r dT_r/dt    = lf [P_other + n_gpu G (T_j - T_r)] - m_r c_p (T_r - T_sup,l)     C_r = tau_r m_r,design c_p
  C_ret dT_ret/dt = sum_r m_r c_p (T_r - T_ret) + W_pump(t)                      (pump work into the coolant)
  C_sup dT_sup/dt = m_l c_p (T_ret - T_sup) - Q_cdu,   Q_cdu = eps C_min (T_ret - T_fws)   (quasi-static eps-NTU)
with tau_r the rack time constant and C_d = tau_d / R_design the die + cold-plate heat capacity per GPU (catalog
``thermal_time_constant_s`` and ``die_time_constant_s``, ~2 s, Modelica Buildings PartialRack); G = 1/R(V) the
cold-plate conductance (``heat``, R V linear in V) with a floor (``cold_plate_conductance_w_per_k``). The share
1 - lf of the rack heat goes to the air side and is removed at once. At steady state T_j = T_out + P_gpu R(V) as in
the steady solver (hottest GPU at the outlet).

Coolant volumes (``loop_volume_m3``): each rack's own coolant is its C_r (tau_r Q_design: 2 s of design flow in the
cold plates and rack manifold); the supply volume is the supply header plus half the CDUs' secondary volume, the
return volume the return header plus the other half. Headers are pipes of the loop's ``manifold_length_m`` and
``manifold_diameter_m`` (pi D^2 L / 4 each), the CDUs' volume is catalog ``secondary_volume_l`` per unit.

CDU heat transfer follows the loop flow at every instant: UA = n_hx UA_r / (0.5 x_h^-n + 0.5 x_c^-n) with
x_h = Q_loop(t) / (n_hx Q_rated) (``cdu.ua_at_flow_w_per_k``), so a coasting loop keeps exchanging heat while its
coolant still moves; the facility-water side x_c and the running exchangers n_hx are those of the steady state
before, then after, the event.

Cold plate at low flow: R(V) = R_d [(1 - f) + f V_d / V] lets the convective part grow without bound as V -> 0, but
the film of laminar flow cannot thin below its fully developed value (Nu_D = 3.66 at uniform wall temperature,
Incropera & DeWitt, Fundamentals of Heat and Mass Transfer, Table 8.1): below the flow ratio
x_min = ``COLD_PLATE_MIN_FLOW_RATIO`` the resistance is held at R(x_min V_d), a conduction floor
G_min = 1 / (R_d [(1 - f) + f / x_min]) (42 % of the design conductance at f = 0.6). x_min = Nu_fd / Nu_d with Nu_d
the design film: Hausen's mean Nusselt number of the laminar thermal entry at uniform wall temperature,
Nu = 3.66 + 0.0668 Gz / (1 + 0.04 Gz^(2/3)) (Hausen 1943, in Incropera & DeWitt ch. 8), is 12.1 at
Gz = Re Pr D_h / L = 400, the upper end for GPU microchannel cold plates (Re ~ 200-1000, Pr ~ 10-20 for PG25 at
30-60 C, D_h / L ~ 0.01-0.02): x_min = 3.66 / 12.1 = 0.30, the lowest floor of that range (conservative: the die
heats fastest).

GPU protection: above the slowdown temperature ``t_throttle_c`` a GPU's power falls linearly over a proportional
band (``throttle_band_k``) from its command to its minimum power ``gpu_power_min_w`` (``heat.throttled_gpu_power_w``,
continuous in T_j); when a die reaches ``t_shutdown_c`` the WHOLE rack powers off for the rest of the run: GPUs and
the non-GPU power (``other_power``: CPUs, switches, fans), as the rack's BMC / rack controller does on a GPU
thermal-shutdown alarm (NVIDIA GB200 NVL72 rack management powers the compute trays down; a stagnant rack would
otherwise keep heating its coolant past boiling). Latched: a terminal ``solve_ivp`` event on max(T_j - T_shutdown)
over running racks, then the integration restarts with that rack's source terms zero. After the last rack of a
loop without flow is off, the loop has no heat source and every temperature in it is bounded by its maximum at
that instant (the right-hand side is then a weighted sum of temperature differences). Initially throttled racks
(unthrottled steady junction above the limit) start from the throttled die equilibrium
(``heat.throttled_junction_c``).
Throttle crossings (ride-through, per-rack time to throttle) are located exactly, as ``solve_ivp`` locates its
events: bracketed between the solver's own steps and found by bisection on its dense output (the BDF interpolating
polynomial of each step), to ~1e-12 s; not interpolated between output points, which made them up to one output
interval late.
Energy: two extra states count the heat in (IT power as throttled + pump work) and the heat removed (CDUs + air
side); stored = sum C dT over dies, racks and volumes. The balance in = stored + removed is a linear invariant of
the ODE, which BDF keeps to round-off (``energy_balance_rel_error`` in the KPIs).

Flows. After an event without pump loss they approach the new steady flow as a first-order lag with the CDU's
``pump_ramp_s`` (the VFD ramp). A pump that stops coasts down: with the rotor and the moving coolant decelerated
by a hydraulic torque ~ speed^2 (flow ~ speed, shaft power ~ speed^3, affinity laws), the kinetic energy E balances
dE/dt = -P_0 (Q/Q_0)^3 with E = E_0 (Q/Q_0)^2, so Q(t) = Q_0 / (1 + t / tau_c), tau_c = 2 E_0 / P_0 (the classical
run-down of a pump against a fixed system; ``coastdown_fraction``). E_0 = the rotors' 1/2 I w^2, I from the rated
shaft power and speed by the Thorley & Faithfull (1992) correlations (``pump_rotor_inertia_kg_m2``), plus the
coolant's kinetic energy in the two headers (``header_kinetic_energy_j``). The coasting pumps' shaft power
P_0 (Q/Q_0)^3 goes into the coolant; its integral, P_0 tau_c / 2 = E_0, is the kinetic energy they held.
A lost pump leaves the others at their speed until ``failover_s``: the survivors run on their curve against the
loop's system curve with the valves as they were (valve actuators take 30-150 s to stroke), a closed loop without
static head, h = H_0 (Q / Q_0)^2 through the duty point before the event: s^2 H_sh - k_p (Q/N_1)^2 = H_0 (Q/Q_0)^2,
Q_1 = sqrt(s^2 H_sh / (H_0 / Q_0^2 + k_p / N_1^2)) (``pumps_on_system_curve_m3_s``; ~85 % of the flow for 2 of 3
pumps, not 2/3), every rack's flow scaling by Q_1 / Q_0, at the shaft power H_1 Q_1 / eta_0 (eta_0 the pumps'
efficiency before the event); the flow moves there on the coast-down of the lost pump. Then the loop is re-solved
(``solve_thermal`` with the failure) and flows ramp to it. The facility-water supply is a boundary (held by heat
rejection; its dynamics are slower and quasi-static here). Coolant properties are frozen at the initial steady
state.
Integrated with ``scipy.integrate.solve_ivp`` (BDF, analytic sparse Jacobian), in segments between events.

Scenarios: ``pump-trip`` (all pumps of a loop trip, no failover: flow coasts down), ``cdu-loss`` (one CDU unit,
exchanger and pump, with failover of the others), ``supply-step`` (facility-water setpoint +step_k),
``load-step`` (IT load ``load_from`` -> ``load_to`` in one step, as a training job starting).
The ride-through time is the time from the event until the first GPU junction reaches its throttle limit; per
rack ``res_racks_final`` gives the time to throttle and to shutdown (inf: not reached) and the GPU power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from twin.errors import InputError
from twin.thermal import heat
from twin.thermal.cdu import effectiveness_counterflow, rated_ua_w_per_k, ua_at_flow_w_per_k
from twin.thermal.hydraulics import pump_curve_constants
from twin.thermal.results import Kpis, SteadyState, ThermalResult, TransientResult
from twin.thermal.solve import _check_scalar, solve_thermal

if TYPE_CHECKING:
    from scipy.integrate._ivp.common import OdeSolution

    from twin.model import FacilityModel

SCENARIOS = ("pump-trip", "cdu-loss", "supply-step", "load-step")

#: flow ratio V / V_design below which the cold-plate film stays at its laminar fully developed value (module
#: docstring: Nu_fd / Nu_design = 3.66 / 12.1 from Hausen's thermal-entry mean at Gz = 400)
COLD_PLATE_MIN_FLOW_RATIO = 0.30
#: speed of the CDU pumps' motors for their rotor inertia, rpm: a 2-pole induction motor at 50 Hz (the catalog
#: gives no speed; at 1,450 rpm (4-pole) the Thorley & Faithfull inertia holds 7 % more energy at rated power)
PUMP_SPEED_RPM = 2900.0


# ------------------------------------------------------------------------------------------------ kernels
def pump_rotor_inertia_kg_m2(shaft_power_w, speed_rpm):
    """Moment of inertia of a pump and its motor from rated shaft power and speed (Thorley & Faithfull 1992).

    I = I_motor + I_pump, I_motor = 118 (P / N)^1.48, I_pump = 1.5e7 (P / N^3)^0.9556 with P in kW and N in rpm
    (A. R. D. Thorley and J. E. Faithfull, "Inertias of pumps and their driving motors", Int. Conf. on Pressure
    Surges, BHR Group, 1992; the empirical fits used in water-hammer practice, e.g. Neutrium "Estimation of pump
    moment of inertia").

    Parameters
    ----------
    shaft_power_w : float or numpy.ndarray
        Rated shaft power of one pump, W.
    speed_rpm : float or numpy.ndarray
        Rated speed, rpm.

    Returns
    -------
    numpy.ndarray
        I, kg m^2 (0 for no power).
    """
    p_kw = np.maximum(np.asarray(shaft_power_w, dtype=float), 0.0) / 1e3
    n = np.asarray(speed_rpm, dtype=float)
    return 118.0 * (p_kw / n) ** 1.48 + 1.5e7 * (p_kw / n**3) ** 0.9556


def header_kinetic_energy_j(flow_m3_s, length_m, diameter_m, rho_kg_m3):
    """Kinetic energy of the coolant in a loop's supply and return headers, E = 2 (1/2 rho A L v_0^2 / 3).

    Racks are tapped at equal spacing, so the flow in each header falls linearly from Q at its end to 0:
    the integral of v^2 over its length is v_0^2 L / 3, v_0 = Q / A, A = pi D^2 / 4.

    Parameters
    ----------
    flow_m3_s : float or numpy.ndarray
        Loop flow Q, m3/s.
    length_m, diameter_m : float or numpy.ndarray
        Header length and inner diameter, m.
    rho_kg_m3 : float or numpy.ndarray
        Coolant density, kg/m3.

    Returns
    -------
    numpy.ndarray
        E, J.
    """
    area = np.pi * np.asarray(diameter_m, dtype=float) ** 2 / 4.0
    v0 = np.asarray(flow_m3_s, dtype=float) / area
    return rho_kg_m3 * area * length_m * v0**2 / 3.0


def coastdown_fraction(t_s, tau_s):
    """Flow of a pump running down against a fixed system, Q / Q_0 = 1 / (1 + t / tau_c) (module docstring).

    Parameters
    ----------
    t_s : float or numpy.ndarray
        Time since the pump lost power, s (negative counts as 0).
    tau_s : float or numpy.ndarray
        Coast-down time constant tau_c = 2 E_0 / P_0, s (> 0): the flow halves after tau_c.

    Returns
    -------
    numpy.ndarray
        Q / Q_0, 0..1.
    """
    return 1.0 / (1.0 + np.maximum(np.asarray(t_s, dtype=float), 0.0) / tau_s)


def pumps_on_system_curve_m3_s(flow_m3_s, head_pa, speed, n_pumps, shutoff_head_pa, curve_k_pa_s2_m6):
    """Flow of ``n_pumps`` parallel pumps at speed s against the quadratic system curve through (Q_0, H_0).

    Pump curve (``hydraulics.pump_head_pa``) s^2 H_sh - k_p (Q / N)^2 meets the system curve H_0 (Q / Q_0)^2 of a
    closed loop (no static head, turbulent losses, valves held) at Q = sqrt(s^2 H_sh / (H_0 / Q_0^2 + k_p / N^2)).

    Parameters
    ----------
    flow_m3_s, head_pa : float or numpy.ndarray
        Duty point of the loop before the change: flow Q_0 (m3/s) and head H_0 (Pa).
    speed : float or numpy.ndarray
        Pump speed ratio s (held).
    n_pumps : float or numpy.ndarray
        Pumps running in parallel after the change (> 0).
    shutoff_head_pa, curve_k_pa_s2_m6 : float or numpy.ndarray
        Pump curve constants H_sh (Pa) and k_p (Pa s^2/m^6) per pump (``hydraulics.pump_curve_constants``).

    Returns
    -------
    numpy.ndarray
        Q, m3/s (0 where Q_0 = 0).
    """
    q0 = np.asarray(flow_m3_s, dtype=float)
    ok = q0 > 0
    sys_k = np.asarray(head_pa, dtype=float) / np.where(ok, q0, 1.0) ** 2
    q = np.sqrt(
        speed**2 * shutoff_head_pa / (sys_k + curve_k_pa_s2_m6 / np.asarray(n_pumps, dtype=float) ** 2)
    )
    return np.where(ok, q, 0.0)


def cold_plate_conductance_w_per_k(r_design_k_per_w, conv_fraction, flow, design_flow):
    """Cold-plate conductance with its conduction floor: G = 1 / R(max(V, x_min V_d)) (module docstring).

    ``heat.cold_plate_conductance_w_per_k`` above x_min = ``COLD_PLATE_MIN_FLOW_RATIO`` of the design flow; below,
    the laminar film keeps its fully developed value: G_min = 1 / (R_d [(1 - f) + f / x_min]).

    Parameters
    ----------
    r_design_k_per_w : float or numpy.ndarray
        Junction-to-coolant resistance R_d at design flow, K/W.
    conv_fraction : float or numpy.ndarray
        Convective share f of R_d.
    flow, design_flow : float or numpy.ndarray
        Coolant flow V and design flow V_d (same unit).

    Returns
    -------
    numpy.ndarray
        G, W/K (>= G_min > 0 at any flow).
    """
    v = np.maximum(
        np.asarray(flow, dtype=float), COLD_PLATE_MIN_FLOW_RATIO * np.asarray(design_flow, dtype=float)
    )
    return heat.cold_plate_conductance_w_per_k(r_design_k_per_w, conv_fraction, v, design_flow)


def loop_volume_m3(model: FacilityModel) -> pd.DataFrame:
    """Coolant volume of every TCS loop from its parts (module docstring).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.

    Returns
    -------
    pandas.DataFrame
        One row per loop (index of ``model.loops``): name, headers_m3 (supply + return header, 2 pi D^2 L / 4),
        cdus_m3 (catalog ``secondary_volume_l`` x units), racks_m3 (sum over its racks of tau_r Q_design, the
        coolant of the rack nodes) and total_m3, m3.
    """
    loops, racks = model.loops, model.racks
    headers = (
        2.0
        * np.pi
        * loops["manifold_diameter_m"].to_numpy() ** 2
        / 4.0
        * loops["manifold_length_m"].to_numpy()
    )
    tau = np.array(
        [model.catalog.rack(n).thermal_time_constant_s for n in model.rack_types["name"]], dtype=float
    )[racks["rack_type"].to_numpy()]
    rack_v = np.bincount(
        racks["loop"].to_numpy(), weights=tau * racks["design_flow_m3_s"].to_numpy(), minlength=len(loops)
    )
    cdus = loops["volume_m3"].to_numpy()
    return pd.DataFrame(
        {
            "name": loops["name"].to_numpy(),
            "headers_m3": headers,
            "cdus_m3": cdus,
            "racks_m3": rack_v,
            "total_m3": headers + cdus + rack_v,
        }
    )


# ----------------------------------------------------------------------------------------- scenario
def _hall_index(model: FacilityModel, hall) -> int:
    names = list(model.halls["name"])
    if hall is None:
        return 0
    if isinstance(hall, (int, np.integer)):
        if not 0 <= int(hall) < len(names):
            raise InputError(f"hall index {hall} out of range (0..{len(names) - 1})")
        return int(hall)
    if hall not in names:
        raise InputError(
            f"unknown hall '{hall}' (halls: {', '.join(names[:5])}{'...' if len(names) > 5 else ''})"
        )
    return names.index(hall)


def _scenario_failures(model: FacilityModel, scenario: str, h: int, target) -> list[str]:
    loops = model.loops
    cdus = model.cdus
    in_hall = np.flatnonzero(loops["hall"].to_numpy() == h)
    if len(in_hall) == 0:
        raise InputError(f"hall '{model.halls['name'].iat[h]}' has no cooling loop")
    if scenario == "pump-trip":
        if target is None:
            loop = int(in_hall[0])
        elif target in set(loops["name"]):
            loop = int(np.flatnonzero(loops["name"].to_numpy() == target)[0])
        elif target in set(cdus["name"]):
            return [f"{target}/pump"]
        else:
            raise InputError(f"pump-trip target '{target}' is neither a cooling loop nor a CDU name")
        return [f"{n}/pump" for n in cdus["name"][cdus["loop"] == loop]]
    if scenario == "cdu-loss":
        if target is None:
            return [str(cdus["name"][cdus["loop"] == int(in_hall[0])].iat[0])]
        if target not in set(cdus["name"]):
            raise InputError(f"cdu-loss target '{target}' is not a CDU name (e.g. {cdus['name'].iat[0]})")
        return [target]
    return []


@dataclass(frozen=True)
class _Timing:
    """Validated time settings of a run, s (and the throttle band, K)."""

    duration_s: float
    dt_out_s: float
    t_event_s: float
    step_k: float
    throttle_band_k: float


def _check_settings(scenario: str, duration_s, dt_out_s, t_event_s, step_k, throttle_band_k) -> _Timing:
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario '{scenario}' (choose from {', '.join(SCENARIOS)})")
    duration_s = _check_scalar("duration_s", duration_s, 1.0, 7 * 86400.0)
    return _Timing(
        duration_s=duration_s,
        dt_out_s=_check_scalar("dt_out_s", dt_out_s, 1e-3, duration_s),
        t_event_s=_check_scalar("t_event_s", t_event_s, 0.0, duration_s),
        step_k=_check_scalar("step_k", step_k, -40.0, 40.0),
        throttle_band_k=_check_scalar("throttle_band_k", throttle_band_k, 0.01, 20.0),
    )


def _hall_members(model: FacilityModel, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Model indices of the racks and the loops of hall ``h``."""
    rsel = np.flatnonzero(model.racks["hall"].to_numpy() == h)
    lsel = np.flatnonzero(model.loops["hall"].to_numpy() == h)
    if len(rsel) == 0:
        raise InputError(f"hall '{model.halls['name'].iat[h]}' has no racks")
    return rsel, lsel


def _steady_states(
    model: FacilityModel,
    scenario: str,
    h: int,
    rsel: np.ndarray,
    timing: _Timing,
    *,
    ambient_c,
    supply_c,
    it_load: float,
    load_from: float,
    load_to: float,
    target,
) -> tuple[ThermalResult, ThermalResult, list[str]]:
    """Steady states before and after the event, and the units the event fails."""
    load_pre, load_post = it_load, it_load
    if scenario == "load-step":
        load_pre = _check_scalar("load_from", load_from, 0.0, 10.0)
        load_post = _check_scalar("load_to", load_to, 0.0, 10.0)
    failed = _scenario_failures(model, scenario, h, target)
    pre = solve_thermal(model, it_load=load_pre, ambient_c=ambient_c, supply_c=supply_c)
    if not np.all(pre.res_racks["cooled"].to_numpy()[rsel]):
        raise InputError(
            "the initial steady state already has racks without cooling; no transient to start from"
        )
    sup_post = supply_c
    if scenario == "supply-step":
        sup_post = float(pre.res_halls["fws_setpoint_c"].iat[h]) + timing.step_k
    post = solve_thermal(model, it_load=load_post, ambient_c=ambient_c, supply_c=sup_post, failed=failed)
    return pre, post, failed


# ------------------------------------------------------------------------------------- hall model
@dataclass(frozen=True)
class _Hall:
    """Parameters of the hall's ODE (local indexing: racks 0..n_r-1, loops 0..n_l-1 of the hall).

    Pairs ``(before, after)`` hold the boundary conditions before and after the event.
    """

    h: int
    rsel: np.ndarray  # (n_r,) model index of each rack
    lsel: np.ndarray  # (n_l,) model index of each loop
    rl: np.ndarray  # (n_r,) local loop of each rack
    cp: np.ndarray  # (n_l,) J/kg/K, frozen at the initial state
    rho: np.ndarray  # (n_l,) kg/m3, frozen at the initial state
    qd: np.ndarray  # (n_r,) design flow, m3/s
    c_rack: np.ndarray  # (n_r,) rack coolant heat capacity, J/K
    c_vol: (
        np.ndarray
    )  # (n_l,) heat capacity of each of the return and supply volumes, J/K (header + half CDU)
    gpus: np.ndarray  # (n_r,) GPUs per rack
    lf: np.ndarray  # (n_r,) liquid-cooled share of the rack heat
    r_d: np.ndarray  # (n_r,) design cold-plate resistance, K/W
    f_conv: np.ndarray  # (n_r,) convective share of it
    c_die: np.ndarray  # (n_r,) die heat capacity per GPU, J/K
    p_min: np.ndarray  # (n_r,) GPU minimum power, W
    t_thr: np.ndarray  # (n_r,) throttle temperature, C
    t_shut: np.ndarray  # (n_r,) shutdown temperature, C
    p_cmd: tuple[np.ndarray, np.ndarray]  # (n_r,) commanded power per GPU, W
    other: tuple[np.ndarray, np.ndarray]  # (n_r,) non-GPU rack power (CPUs, switches, fans), W
    ua_unit: np.ndarray  # (n_l,) rated UA of one CDU exchanger, W/K
    q_rated: np.ndarray  # (n_l,) rated TCS flow of one CDU, m3/s
    ua_exp: np.ndarray  # (n_l,) film-coefficient flow exponent of the CDU plates
    n_hx: tuple[np.ndarray, np.ndarray]  # (n_l,) CDU exchangers running
    xc: tuple[np.ndarray, np.ndarray]  # (n_l,) facility-water flow per exchanger / rated
    cc: tuple[np.ndarray, np.ndarray]  # (n_l,) CDU primary capacity rate, W/K
    t_fs: tuple[float, float]  # facility-water supply, C
    n_r: int = field(init=False)
    n_l: int = field(init=False)
    c_gpus: np.ndarray = field(init=False)  # (n_r,) die heat capacity of the whole rack, J/K
    c_sum: float = field(init=False)  # total heat capacity (scale of the energy counters), J/K

    def __post_init__(self) -> None:
        c_gpus = self.gpus * self.c_die
        object.__setattr__(self, "n_r", len(self.rsel))
        object.__setattr__(self, "n_l", len(self.lsel))
        object.__setattr__(self, "c_gpus", c_gpus)
        object.__setattr__(self, "c_sum", float(self.c_rack.sum() + c_gpus.sum() + 2.0 * self.c_vol.sum()))

    def cdu_ua_w_per_k(self, k: int, loop_flow_m3_s: np.ndarray) -> np.ndarray:
        """UA of each loop's running CDUs at the loop flow (any leading shape, loops last), boundary state k:
        n_hx UA_r / (0.5 x_h^-n + 0.5 x_c^-n), x_h = Q / (n_hx Q_rated) (``cdu.ua_at_flow_w_per_k``)."""
        n_hx = self.n_hx[k]
        per = np.where(n_hx > 0, n_hx * self.q_rated, 1.0)
        return n_hx * ua_at_flow_w_per_k(self.ua_unit, loop_flow_m3_s / per, self.xc[k], self.ua_exp)


def _hall_parameters(
    model: FacilityModel, h: int, rsel: np.ndarray, lsel: np.ndarray, s0: SteadyState, s1: SteadyState
) -> _Hall:
    """Heat capacities, cold plates and GPU limits of the hall's racks; boundary conditions before / after."""
    racks, loops = model.racks, model.loops
    loc = np.full(len(loops), -1)
    loc[lsel] = np.arange(len(lsel))
    rl = loc[racks["loop"].to_numpy()[rsel]]
    cp = s0["cp"][lsel]
    rho = s0["rho"][lsel]
    qd = racks["design_flow_m3_s"].to_numpy()[rsel]
    rtype = racks["rack_type"].to_numpy()[rsel]
    rack_cat = [model.catalog.rack(n) for n in model.rack_types["name"]]  # a handful of rack types
    tau_r = np.array([c.thermal_time_constant_s for c in rack_cat], dtype=float)[rtype]
    tau_die = np.array([c.die_time_constant_s for c in rack_cat], dtype=float)[rtype]
    gpus = racks["gpus"].to_numpy()[rsel].astype(float)
    r_d = racks["cold_plate_r_k_per_w"].to_numpy()[rsel]
    t_fs = (float(s0["t_fs"][h]), float(s1["t_fs"][h]))
    if not np.isfinite(t_fs[1]):
        raise InputError("the hall has no steady heat rejection after the event (all dry coolers lost)")
    vol = loop_volume_m3(model).iloc[lsel]
    q_rated = loops["flow_m3_s"].to_numpy()[lsel]
    n_hx = tuple(np.asarray(s["n_hx"])[lsel] for s in (s0, s1))
    # facility-water flow per running exchanger over its rated capacity rate (the CDU rating is balanced:
    # C_rated = rho c_p Q_rated of the TCS coolant of that steady state, ``solve`` / ``cdu``)
    xc = tuple(
        np.where(
            n,
            s["c_cold_loop"][lsel] / np.where(n > 0, n * q_rated * s["rho"][lsel] * s["cp"][lsel], 1.0),
            0.0,
        )
        for n, s in zip(n_hx, (s0, s1), strict=True)
    )
    return _Hall(
        h=h,
        rsel=rsel,
        lsel=lsel,
        rl=rl,
        cp=cp,
        rho=rho,
        qd=qd,
        c_rack=tau_r * qd * rho[rl] * cp[rl],
        c_vol=0.5 * (vol["cdus_m3"].to_numpy() + vol["headers_m3"].to_numpy()) * rho * cp,
        gpus=gpus,
        lf=racks["liquid_fraction"].to_numpy()[rsel],
        r_d=r_d,
        f_conv=racks["cold_plate_r_conv_fraction"].to_numpy()[rsel],
        c_die=tau_die / r_d,  # J/K per GPU: tau = C R at design flow
        p_min=racks["gpu_power_min_w"].to_numpy()[rsel],
        t_thr=racks["t_throttle_c"].to_numpy()[rsel],
        t_shut=racks["t_shutdown_c"].to_numpy()[rsel],
        p_cmd=(s0["p_gpu"][rsel], s1["p_gpu"][rsel]),
        # non-GPU rack power (CPUs, switches, fans), not throttled by the GPU
        other=tuple(s["p_rack"][rsel] - gpus * s["p_gpu"][rsel] for s in (s0, s1)),
        ua_unit=rated_ua_w_per_k(loops["capacity_w"].to_numpy()[lsel], loops["approach_k"].to_numpy()[lsel]),
        q_rated=q_rated,
        ua_exp=s0["cat"]["ua_flow_exponent"][lsel],
        n_hx=n_hx,
        xc=xc,
        cc=(s0["c_cold_loop"][lsel], s1["c_cold_loop"][lsel]),
        t_fs=t_fs,
    )


@dataclass(frozen=True)
class _FlowSchedule:
    """Rack mass flows and loop pump power over time. The event moves them from the initial state towards the
    state between the event and failover (a pump-stopping event: along the coast-down of the stopped pumps,
    ``coastdown_fraction``; any other: a first-order lag ``pump_ramp_s``); failover moves them from where they
    are then to the final state (the running pumps' controller, lag ``pump_ramp_s``). A loop left without a
    running pump has nothing to fail over to: it coasts on for the rest of the run.
      m(t) = m_mid + (m_pre - m_mid) a(t - t_event)                        t_event <= t < t_fo, or no pump left
      m(t) = m_post + (m_at_fo - m_post) b(t - t_fo)                       t >= t_fo"""

    t_event_s: float
    t_fo: float  # end of failover, s
    coast: bool  # the event stops pumps: the first change follows their coast-down
    tau_rk: np.ndarray  # (n_r,) pump ramp of each rack's loop, s
    tau_pump: np.ndarray  # (n_l,) pump ramp, s
    tau_c_rk: np.ndarray  # (n_r,) coast-down time constant of each rack's loop, s
    tau_c: np.ndarray  # (n_l,) coast-down time constant, s
    adrift_rk: np.ndarray  # (n_r,) the rack's loop has no running pump after the event
    adrift: np.ndarray  # (n_l,) the loop has no running pump after the event
    m_pre: np.ndarray  # (n_r,) kg/s before the event
    m_mid: np.ndarray  # until failover
    m_post: np.ndarray  # after
    w_pre: np.ndarray  # (n_l,) pump power before the event, W
    w_mid: np.ndarray
    w_post: np.ndarray
    m_at_fo: np.ndarray = field(init=False)  # (n_r,) flows at failover
    w_at_fo: np.ndarray = field(init=False)  # (n_l,) pump power at failover

    def __post_init__(self) -> None:
        a_fo, aw_fo = self._first(np.full((1, 1), self.t_fo - self.t_event_s))
        object.__setattr__(self, "m_at_fo", self.m_mid + (self.m_pre - self.m_mid) * a_fo[0])
        object.__setattr__(self, "w_at_fo", self.w_mid + (self.w_pre - self.w_mid) * aw_fo[0])

    def _first(self, dt) -> tuple[np.ndarray, np.ndarray]:
        """Share of the first change still to come dt s after the event, for rack flows (n_t, n_r) and pump power
        (n_t, n_l): the coast-down Q/Q_0 and its cube (shaft power ~ speed^3), or the ramp's exponential."""
        if self.coast:
            return coastdown_fraction(dt, self.tau_c_rk), coastdown_fraction(dt, self.tau_c) ** 3
        return np.exp(-dt / self.tau_rk), np.exp(-dt / self.tau_pump)

    def flows(self, t) -> tuple[np.ndarray, np.ndarray]:
        """Rack mass flows (n_t, n_r) and loop pump power (n_t, n_l) at times t (vectorised)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))[:, None]
        a, aw = self._first(np.maximum(t - self.t_event_s, 0.0))
        m_at_fo, w_at_fo = self.m_at_fo, self.w_at_fo
        dt_fo = np.maximum(t - self.t_fo, 0.0)
        b, bw = np.exp(-dt_fo / self.tau_rk), np.exp(-dt_fo / self.tau_pump)
        first = (t < self.t_fo) | self.adrift_rk
        m = np.where(
            t < self.t_event_s,
            self.m_pre,
            np.where(
                first, self.m_mid + (self.m_pre - self.m_mid) * a, self.m_post + (m_at_fo - self.m_post) * b
            ),
        )
        first_w = (t < self.t_fo) | self.adrift
        w = np.where(
            t < self.t_event_s,
            self.w_pre,
            np.where(
                first_w,
                self.w_mid + (self.w_pre - self.w_mid) * aw,
                self.w_post + (w_at_fo - self.w_post) * bw,
            ),
        )
        return m, w


def _coastdown_time_constant_s(
    model: FacilityModel, hall: _Hall, s0: SteadyState, pre_loops: pd.DataFrame
) -> np.ndarray:
    """tau_c = 2 E_0 / P_0 per loop: rotors (``pump_rotor_inertia_kg_m2`` at the rated shaft power and
    ``PUMP_SPEED_RPM``, turning at the pumps' speed before the event) plus the headers' coolant
    (``header_kinetic_energy_j``), over the shaft power before the event (module docstring)."""
    loops, lsel = model.loops, hall.lsel
    rated_shaft_w = (
        loops["pump_head_pa"].to_numpy() * loops["flow_m3_s"].to_numpy() / loops["pump_efficiency"].to_numpy()
    )[lsel]
    omega = pre_loops["pump_speed"].to_numpy()[lsel] * PUMP_SPEED_RPM * 2.0 * np.pi / 60.0
    e_rotors = (
        np.asarray(s0["n_pump"])[lsel]
        * 0.5
        * pump_rotor_inertia_kg_m2(rated_shaft_w, PUMP_SPEED_RPM)
        * omega**2
    )
    e_fluid = header_kinetic_energy_j(
        s0["q_loop"][lsel],
        loops["manifold_length_m"].to_numpy()[lsel],
        loops["manifold_diameter_m"].to_numpy()[lsel],
        hall.rho,
    )
    w0 = s0["pump_power"][lsel]
    return np.where(w0 > 0, 2.0 * (e_rotors + e_fluid) / np.where(w0 > 0, w0, 1.0), 1.0)


def _survivors_duty(
    model: FacilityModel, hall: _Hall, s0: SteadyState, s1: SteadyState, pre_loops: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Loop flow ratio Q_1 / Q_0 and shaft power of the pumps still running after the event, at their speed
    before it, on the loop's system curve with the valves held (``pumps_on_system_curve_m3_s``); no pump left:
    0 (the flow coasts down to rest)."""
    loops, lsel = model.loops, hall.lsel
    n0, n1 = np.asarray(s0["n_pump"])[lsel], np.asarray(s1["n_pump"])[lsel]
    q0 = s0["q_loop"][lsel]
    h0 = pre_loops["pump_head_kpa"].to_numpy()[lsel] * 1e3
    w0 = s0["pump_power"][lsel]
    h_sh, kp = pump_curve_constants(
        loops["flow_m3_s"].to_numpy()[lsel],
        loops["pump_head_pa"].to_numpy()[lsel],
        s0["cat"]["shutoff_ratio"][lsel],
    )
    q1 = pumps_on_system_curve_m3_s(
        q0, h0, pre_loops["pump_speed"].to_numpy()[lsel], np.maximum(n1, 1), h_sh, kp
    )
    ratio = np.where(n1 >= n0, 1.0, np.where((n1 > 0) & (q0 > 0), q1 / np.where(q0 > 0, q0, 1.0), 0.0))
    # shaft power H_1 Q_1 / eta_0, H_1 = H_0 (Q_1 / Q_0)^2: W_1 = W_0 (Q_1 / Q_0)^3 at the efficiency before
    return ratio, np.where(n1 >= n0, w0, w0 * ratio**3)


def _flow_schedule(
    model: FacilityModel,
    scenario: str,
    hall: _Hall,
    s0: SteadyState,
    s1: SteadyState,
    pre_loops: pd.DataFrame,
    t_event_s: float,
) -> _FlowSchedule:
    """Flows follow the pumps: survivors of a lost pump on their curve, stopped pumps coasting down (module
    docstring), then the re-solved state after failover."""
    lsel, rl, rho = hall.lsel, hall.rl, hall.rho
    cat = s0["cat"]
    tau_pump = cat["pump_ramp_s"][lsel]
    pump_loss = scenario in ("cdu-loss", "pump-trip")
    failover = np.max(cat["failover_s"][lsel]) if pump_loss else 0.0
    # coolant properties frozen at the initial state (volumetric flows of both steady states x initial density)
    m_pre, m_post = s0["q_rack"][hall.rsel] * rho[rl], s1["q_rack"][hall.rsel] * rho[rl]
    w_pre, w_post = s0["pump_power"][lsel], s1["pump_power"][lsel]
    tau_c = _coastdown_time_constant_s(model, hall, s0, pre_loops)
    adrift = pump_loss & (np.asarray(s1["n_pump"])[lsel] == 0)
    if pump_loss:
        ratio, w_mid = _survivors_duty(model, hall, s0, s1, pre_loops)
        m_mid = m_pre * ratio[rl]
    else:
        m_mid, w_mid = m_post, w_post
    return _FlowSchedule(
        t_event_s=t_event_s,
        t_fo=t_event_s + failover,
        coast=pump_loss,
        tau_rk=tau_pump[rl],
        tau_pump=tau_pump,
        tau_c_rk=tau_c[rl],
        tau_c=tau_c,
        adrift_rk=adrift[rl],
        adrift=adrift,
        m_pre=m_pre,
        m_mid=m_mid,
        m_post=m_post,
        w_pre=w_pre,
        w_mid=w_mid,
        w_post=w_post,
    )


# ------------------------------------------------------------------------------------------ the ODE
class _HallODE:
    """Right-hand side, sparse Jacobian and shutdown event of the hall's ODE.

    State vector: rack coolant T_r, hottest-GPU die T_j, loop return / supply volumes, and two energy counters
    (heat in, heat removed) in K-equivalents (J / c_sum) so the energy balance can be checked. ``alive`` is 0
    once a rack's GPU has reached its shutdown temperature (whole rack off, latched; set by ``_integrate``).
    """

    def __init__(self, hall: _Hall, schedule: _FlowSchedule, throttle_band_k: float) -> None:
        self.hall, self.schedule, self.band = hall, schedule, throttle_band_k
        n_r, n_l, rl = hall.n_r, hall.n_l, hall.rl
        self.n_y = n_y = 2 * n_r + 2 * n_l + 2
        self.i_ein, self.i_eout = n_y - 2, n_y - 1
        self.alive = np.ones(n_r)
        i_r = np.arange(n_r)
        i_j = n_r + i_r
        i_ret = 2 * n_r + np.arange(n_l)
        i_sup = 2 * n_r + n_l + np.arange(n_l)
        e_in_row = np.full(n_r, self.i_ein)
        e_out_row = np.full(n_r, self.i_eout)
        self.jr = np.concatenate(
            [
                i_r,
                i_r,
                i_r,
                i_j,
                i_j,
                i_ret[rl],
                i_ret,
                i_sup,
                i_sup,
                e_in_row,
                [self.i_eout] * n_l,
                e_out_row,
                e_out_row,
            ]
        ).astype(np.int64)
        self.jc = np.concatenate(
            [i_r, i_j, i_sup[rl], i_j, i_r, i_r, i_ret, i_ret, i_sup, i_j, i_ret, i_j, i_r]
        ).astype(np.int64)

    def coeffs(self, t: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Post-event flag, rack m c_p, loop C_hot, CDU eps C_min (W/K), pump power (W), cold-plate G (W/K)."""
        hp = self.hall
        rl = hp.rl
        k = 1 if t >= self.schedule.t_event_s else 0
        m, w = self.schedule.flows(t)
        m, w = m[0], w[0]
        mc = m * hp.cp[rl]
        ml = np.bincount(rl, weights=mc, minlength=hp.n_l)  # loop C_hot = m_loop c_p
        c_min = np.minimum(ml, hp.cc[k])
        c_max = np.maximum(ml, hp.cc[k])
        ok = c_min > 0
        ua = hp.cdu_ua_w_per_k(k, ml / (hp.cp * hp.rho))  # UA follows the loop flow
        eps = np.where(
            ok,
            effectiveness_counterflow(ua / np.where(ok, c_min, 1.0), c_min / np.where(ok, c_max, 1.0)),
            0.0,
        )
        g = cold_plate_conductance_w_per_k(hp.r_d, hp.f_conv, m / hp.rho[rl], hp.qd)
        return k, mc, ml, eps * c_min, w, g

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt (module docstring)."""
        hp, alive, n_y = self.hall, self.alive, self.n_y
        n_r, n_l, rl = hp.n_r, hp.n_l, hp.rl
        k, mc, ml, ecm, w, g = self.coeffs(t)
        tr, tj = y[:n_r], y[n_r : 2 * n_r]
        tret, tsup = y[2 * n_r : 2 * n_r + n_l], y[2 * n_r + n_l : n_y - 2]
        pe = alive * heat.throttled_gpu_power_w(hp.p_cmd[k], hp.p_min, tj, hp.t_thr, self.band)
        q = g * (tj - tr)  # per GPU, die -> coolant
        rel = (
            alive * hp.other[k] + hp.gpus * q
        )  # rack heat to coolant and air (other power off with the rack)
        q_cdu = ecm * (tret - hp.t_fs[k])
        d = np.empty(n_y)
        d[:n_r] = (hp.lf * rel - mc * (tr - tsup[rl])) / hp.c_rack
        d[n_r : 2 * n_r] = (pe - q) / hp.c_die
        d[2 * n_r : 2 * n_r + n_l] = (
            np.bincount(rl, weights=mc * tr, minlength=n_l) - ml * tret + w
        ) / hp.c_vol
        d[2 * n_r + n_l : n_y - 2] = (ml * (tret - tsup) - q_cdu) / hp.c_vol
        d[self.i_ein] = (alive @ hp.other[k] + hp.gpus @ pe + w.sum()) / hp.c_sum
        d[self.i_eout] = (q_cdu.sum() + (1.0 - hp.lf) @ rel) / hp.c_sum
        return d

    def jac(self, t: float, y: np.ndarray) -> sp.csc_matrix:
        """Sparse d(rhs)/dy (pattern ``jr``, ``jc``)."""
        hp, alive, n_y = self.hall, self.alive, self.n_y
        n_r, rl, c_rack, c_die, c_vol, c_sum, lf = (
            hp.n_r,
            hp.rl,
            hp.c_rack,
            hp.c_die,
            hp.c_vol,
            hp.c_sum,
            hp.lf,
        )
        k, mc, ml, ecm, _, g = self.coeffs(t)
        tj = y[n_r : 2 * n_r]
        dp = alive * heat.throttled_gpu_power_slope_w_per_k(hp.p_cmd[k], hp.p_min, tj, hp.t_thr, self.band)
        gg = hp.gpus * g
        data = np.concatenate(
            [
                (-lf * gg - mc) / c_rack,
                lf * gg / c_rack,
                mc / c_rack,
                (dp - g) / c_die,
                g / c_die,
                mc / c_vol[rl],
                -ml / c_vol,
                (ml - ecm) / c_vol,
                -ml / c_vol,
                hp.gpus * dp / c_sum,
                ecm / c_sum,
                (1.0 - lf) * gg / c_sum,
                -(1.0 - lf) * gg / c_sum,
            ]
        )
        return sp.csc_matrix((data, (self.jr, self.jc)), shape=(n_y, n_y))

    def shutdown_event(self, t: float, y: np.ndarray) -> float:
        """max over running racks of T_j - T_shutdown: crosses zero when the next rack shuts down."""
        n_r = self.hall.n_r
        v = np.where(self.alive > 0, y[n_r : 2 * n_r] - self.hall.t_shut, -1e3)
        return float(v.max())

    shutdown_event.terminal = True
    shutdown_event.direction = 1.0


def _initial_state(
    hall: _Hall, s0: SteadyState, m_pre: np.ndarray, w_pre: np.ndarray, band: float
) -> tuple[np.ndarray, int]:
    """Initial state vector (from the steady state before the event) and the number of racks that start
    throttled."""
    n_r, n_l, rl, lsel = hall.n_r, hall.n_l, hall.rl, hall.lsel
    n_y = 2 * n_r + 2 * n_l + 2
    y0 = np.zeros(n_y)
    y0[:n_r] = s0["t_out"][hall.rsel]
    # die at steady state: T_j = T_out + P_gpu R (as the steady solver, hottest GPU at the rack outlet); where
    # that is above the throttle limit the GPUs run throttled: start from the throttled die equilibrium at the
    # same coolant temperature (the coolant settles during the t_event_s before the event)
    g0 = cold_plate_conductance_w_per_k(hall.r_d, hall.f_conv, m_pre / hall.rho[rl], hall.qd)
    y0[n_r : 2 * n_r] = heat.throttled_junction_c(y0[:n_r], g0, hall.p_cmd[0], hall.p_min, hall.t_thr, band)
    throttled0 = int(np.sum(y0[:n_r] + hall.p_cmd[0] / g0 > hall.t_thr))
    y0[2 * n_r + n_l : n_y - 2] = s0["t_sup"][lsel]
    # return volume at steady state: rack mix plus pump heat = CDU hot inlet
    c_hot0 = np.bincount(rl, weights=m_pre * hall.cp[rl], minlength=n_l)
    liq0 = np.bincount(rl, weights=s0["p_liq"][hall.rsel], minlength=n_l)
    y0[2 * n_r : 2 * n_r + n_l] = s0["t_sup"][lsel] + (liq0 + w_pre) / c_hot0
    return y0, throttled0


# ----------------------------------------------------------------------------------------- integrate
@dataclass
class _Integration:
    pieces: list[tuple[float, float, OdeSolution]]  # (start, end, dense solution)
    t_sd: np.ndarray  # (n_r,) time each rack shut down (GPUs and other power), s; inf: running
    n_segments: int  # smooth segments between the event and failover
    nfev: int = 0
    njev: int = 0
    ok: bool = True
    message: str = ""


def _integrate(ode: _HallODE, y0: np.ndarray, bounds: list[float], rtol: float, atol: float) -> _Integration:
    """One integration per smooth segment (flows and boundary conditions jump at the event and at failover);
    a segment is cut again at each shutdown (the rack's whole IT power drops to zero, latched)."""
    from scipy.integrate import solve_ivp  # imported here: scipy.integrate is slow to import (CLI cold start)

    n_r, t_shut, alive = ode.hall.n_r, ode.hall.t_shut, ode.alive
    run = _Integration(pieces=[], t_sd=np.full(n_r, np.inf), n_segments=len(bounds) - 1)
    t_sd = run.t_sd
    y = y0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        t0 = a
        while run.ok and b > t0:
            hot = (alive > 0) & (y[n_r : 2 * n_r] >= t_shut)
            alive[hot], t_sd[hot] = 0.0, t0
            ev = ode.shutdown_event if np.any(alive > 0) else None
            sol = solve_ivp(
                ode.rhs,
                (t0, b),
                y,
                method="BDF",
                jac=ode.jac,
                rtol=rtol,
                atol=atol,
                dense_output=True,
                events=ev,
            )
            run.nfev += sol.nfev
            run.njev += sol.njev
            if sol.sol is not None and sol.t[-1] > t0:  # keep what was integrated, even on failure
                run.pieces.append((t0, float(sol.t[-1]), sol.sol))
            if sol.status < 0:
                run.ok, run.message = False, sol.message
                break
            y = sol.y[:, -1]
            if sol.status == 1:  # a rack reached its shutdown temperature
                t0, y = float(sol.t_events[0][-1]), sol.y_events[0][-1]
                hit = (alive > 0) & (y[n_r : 2 * n_r] >= t_shut - 1e-6)
                hit[np.argmax(np.where(alive > 0, y[n_r : 2 * n_r] - t_shut, -np.inf))] = True
                alive[hit], t_sd[hit] = 0.0, t0
                continue
            t0 = b
        if not run.ok:
            break
    if not run.pieces:
        raise InputError(f"the transient ODE solver failed at the start: {run.message}")
    return run


def _dense(run: _Integration, t: np.ndarray, n_y: int) -> np.ndarray:
    """State (len(t), n_y) at times t inside the integrated span: one dense evaluation per piece (segments and
    shutdown events; at a piece boundary the later piece)."""
    pieces = run.pieces
    starts = np.array([p[0] for p in pieces])
    which = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(pieces) - 1)
    yy = np.empty((len(t), n_y))
    for i in np.unique(which):
        sel = which == i
        yy[sel] = pieces[i][2](t[sel]).T
    return yy


def _sample(run: _Integration, t_out: np.ndarray, n_y: int) -> tuple[np.ndarray, np.ndarray]:
    """Output times reached (n_t,) and the state at them (n_t, n_y)."""
    tt = t_out[t_out <= run.pieces[-1][1] + 1e-9]
    return tt, _dense(run, tt, n_y)


def _throttle_crossings_s(run: _Integration, hall: _Hall, n_y: int, halvings: int = 48) -> np.ndarray:
    """Time each rack's GPU junction first reaches its throttle limit, s (inf: never), located as ``solve_ivp``
    locates its events: the first solver step that ends at or above the limit brackets the crossing, found by
    bisection on the dense output (the step's interpolating polynomial). Vectorised over racks: one dense
    evaluation of the bracketed racks per halving (48 halvings: below 1e-12 s for a 100 s step)."""
    n_r, t_thr = hall.n_r, hall.t_thr
    steps = np.unique(np.concatenate([np.clip(p[2].ts, p[0], p[1]) for p in run.pieces]))
    over = _dense(run, steps, n_y)[:, n_r : 2 * n_r] - t_thr  # (n_steps, n_r)
    hit = over >= 0.0
    ever = hit.any(axis=0)
    k = np.argmax(hit, axis=0)
    t_cross = np.where(ever, steps[k], np.inf)
    inside = np.flatnonzero(ever & (k > 0))  # crossed between two steps: bisect
    if len(inside):
        lo, hi = steps[k[inside] - 1], steps[k[inside]]
        cols = n_r + inside
        for _ in range(halvings):
            mid = 0.5 * (lo + hi)
            up = _dense(run, mid, n_y)[np.arange(len(inside)), cols] >= t_thr[inside]
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
        t_cross[inside] = hi
    return t_cross


# -------------------------------------------------------------------------------------- post-process
@dataclass(frozen=True)
class _Trajectory:
    """States and derived quantities at the output times, shape (n_t, n_r) or (n_t, n_l)."""

    tt: np.ndarray  # (n_t,) s
    m_t: np.ndarray  # rack mass flow, kg/s
    w_t: np.ndarray  # loop pump power, W
    tr_t: np.ndarray  # rack coolant (outlet), C
    tj: np.ndarray  # hottest GPU junction, C
    tret: np.ndarray  # loop return volume, C
    tsup: np.ndarray  # loop supply volume, C
    pc_t: np.ndarray  # commanded power per GPU, W
    oth_t: np.ndarray  # non-GPU rack power commanded, W
    run_t: np.ndarray  # rack running (not shut down)
    pe_t: np.ndarray  # GPU power as run (throttled, 0 when shut down), W
    rel_t: np.ndarray  # rack heat released to coolant and air, W
    over: np.ndarray  # T_j - T_throttle, K
    worst: np.ndarray  # (n_t,) max over racks of ``over``, K


def _trajectory(
    hall: _Hall, schedule: _FlowSchedule, tt: np.ndarray, yy: np.ndarray, t_sd: np.ndarray, band: float
) -> _Trajectory:
    """Evaluate the series at the output times without a loop over racks or times."""
    n_r, n_l, rl = hall.n_r, hall.n_l, hall.rl
    n_y = yy.shape[1]
    m_t, w_t = schedule.flows(tt)
    post = (tt >= schedule.t_event_s)[:, None]
    tr_t, tj = yy[:, :n_r], yy[:, n_r : 2 * n_r]
    pc_t = np.where(post, hall.p_cmd[1], hall.p_cmd[0])
    oth_t = np.where(post, hall.other[1], hall.other[0])
    run_t = tt[:, None] < t_sd  # rack running (not shut down)
    pe_t = run_t * heat.throttled_gpu_power_w(pc_t, hall.p_min, tj, hall.t_thr, band)
    oth_run = run_t * oth_t
    g_t = cold_plate_conductance_w_per_k(hall.r_d, hall.f_conv, m_t / hall.rho[rl], hall.qd)
    over = tj - hall.t_thr
    return _Trajectory(
        tt=tt,
        m_t=m_t,
        w_t=w_t,
        tr_t=tr_t,
        tj=tj,
        tret=yy[:, 2 * n_r : 2 * n_r + n_l],
        tsup=yy[:, 2 * n_r + n_l : n_y - 2],
        pc_t=pc_t,
        oth_t=oth_t,
        run_t=run_t,
        pe_t=pe_t,
        rel_t=oth_run + hall.gpus * g_t * (tj - tr_t),
        over=over,
        worst=np.max(over, axis=1),
    )


def _cdu_heat_series(
    hall: _Hall, tr: _Trajectory, t_event_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loop C_hot (n_t, n_l) W/K, CDU heat (n_t, n_l) W and facility-water supply (n_t,) C over time (quasi-static
    eps-NTU at the instantaneous loop flow, as in the ODE); loop C_hot without a Python loop over times: rack
    columns summed per loop."""
    n_r, n_l, rl, cc, t_fs = hall.n_r, hall.n_l, hall.rl, hall.cc, hall.t_fs
    tt = tr.tt
    agg = sp.csr_matrix((np.ones(n_r), (rl, np.arange(n_r))), shape=(n_l, n_r))
    ml_t = (agg @ (tr.m_t * hall.cp[rl]).T).T  # (n_t, n_l)
    post = (tt >= t_event_s)[:, None]
    q_t = ml_t / (hall.cp * hall.rho)
    ua_t = np.where(post, hall.cdu_ua_w_per_k(1, q_t), hall.cdu_ua_w_per_k(0, q_t))
    cc_t = np.where(post, cc[1], cc[0])
    tfs_t = np.where(post[:, 0], t_fs[1], t_fs[0])
    cmin = np.minimum(ml_t, cc_t)
    cmax = np.maximum(ml_t, cc_t)
    okc = cmin > 0
    eps_t = np.where(
        okc, effectiveness_counterflow(ua_t / np.where(okc, cmin, 1.0), cmin / np.where(okc, cmax, 1.0)), 0.0
    )
    return ml_t, eps_t * cmin * (tr.tret - tfs_t[:, None]), tfs_t


def _energy_series(
    hall: _Hall, ode: _HallODE, y0: np.ndarray, yy: np.ndarray, tr: _Trajectory
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Heat in (IT + pump work), removed (CDUs + air side), stored (racks, dies, loop volumes) and the residual
    in - removed - stored, J (n_t,)."""
    n_r, n_l, n_y, c_sum = hall.n_r, hall.n_l, ode.n_y, hall.c_sum
    e_in = yy[:, ode.i_ein] * c_sum
    e_out = yy[:, ode.i_eout] * c_sum
    stored = (
        (tr.tr_t - y0[:n_r]) @ hall.c_rack
        + (tr.tj - y0[n_r : 2 * n_r]) @ hall.c_gpus
        + (tr.tret - y0[2 * n_r : 2 * n_r + n_l] + tr.tsup - y0[2 * n_r + n_l : n_y - 2]) @ hall.c_vol
    )
    return e_in, e_out, stored, e_in - e_out - stored


def _series_table(
    hall: _Hall,
    tr: _Trajectory,
    ml_t: np.ndarray,
    q_cdu: np.ndarray,
    tfs_t: np.ndarray,
    energy: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> pd.DataFrame:
    lf, gpus, tj, tr_t, run_t, pc_t = hall.lf, hall.gpus, tr.tj, tr.tr_t, tr.run_t, tr.pc_t
    e_in, e_out, stored, resid = energy
    return pd.DataFrame(
        {
            "time_s": tr.tt,
            "it_power_w": (run_t * tr.oth_t).sum(axis=1) + tr.pe_t @ gpus,
            "gpu_power_w": tr.pe_t @ gpus,
            "gpu_power_throttled_w": (run_t * (pc_t - tr.pe_t)) @ gpus,
            "gpu_power_shut_down_w": (~run_t * pc_t) @ gpus,
            "other_power_shut_down_w": (~run_t * tr.oth_t).sum(axis=1),
            "liquid_heat_w": tr.rel_t @ lf,
            "air_heat_w": tr.rel_t @ (1.0 - lf),
            "heat_to_fws_w": q_cdu.sum(axis=1),
            "pump_power_w": tr.w_t.sum(axis=1),
            "fws_supply_c": tfs_t,
            "max_junction_c": np.max(tj, axis=1),
            "min_margin_k": -tr.worst,
            "hottest_rack": hall.rsel[np.argmax(tj, axis=1)],
            "racks_over_throttle": np.sum(tr.over >= 0, axis=1),
            "racks_throttling": np.sum(run_t & (tj > hall.t_thr) & (pc_t > hall.p_min), axis=1),
            "racks_shut_down": np.sum(~run_t, axis=1),
            "max_rack_outlet_c": np.max(tr_t, axis=1),
            "max_coolant_c": np.maximum(np.max(tr_t, axis=1), np.max(np.maximum(tr.tret, tr.tsup), axis=1)),
            "min_loop_flow_m3_s": np.min(ml_t / hall.cp, axis=1) / hall.rho.mean() if hall.n_l else 0.0,
            "energy_in_j": e_in,
            "energy_removed_j": e_out,
            "energy_stored_j": stored,
            "energy_balance_residual_j": resid,
        }
    )


def _loop_series_table(
    model: FacilityModel, hall: _Hall, tr: _Trajectory, ml_t: np.ndarray, q_cdu: np.ndarray
) -> pd.DataFrame:
    nt, n_l, lsel = len(tr.tt), hall.n_l, hall.lsel
    return pd.DataFrame(
        {
            "time_s": np.repeat(tr.tt, n_l),
            "loop": np.tile(lsel, nt),
            "name": np.tile(model.loops["name"].to_numpy()[lsel], nt),
            "coolant_supply_c": tr.tsup.ravel(),
            "coolant_return_c": tr.tret.ravel(),
            "flow_m3_s": (ml_t / (hall.cp * hall.rho)).ravel(),
            "pump_power_w": tr.w_t.ravel(),
            "heat_to_fws_w": q_cdu.ravel(),
        }
    )


def _final_rack_table(
    model: FacilityModel,
    hall: _Hall,
    tr: _Trajectory,
    t_to_throttle: np.ndarray,
    t_to_shutdown: np.ndarray,
    t_sd: np.ndarray,
) -> pd.DataFrame:
    rsel = hall.rsel
    return pd.DataFrame(
        {
            "rack": rsel,
            "loop": model.racks["loop"].to_numpy()[rsel],
            "coolant_return_c": tr.tr_t[-1],
            "flow_m3_s": tr.m_t[-1] / hall.rho[hall.rl],
            "junction_c": tr.tj[-1],
            "junction_peak_c": tr.tj.max(axis=0),
            "margin_k": -tr.over[-1],
            "gpu_power_w": tr.pe_t[-1],
            "gpu_power_min_w": tr.pe_t.min(axis=0),
            "gpu_power_command_w": tr.pc_t[-1],
            "time_to_throttle_s": t_to_throttle,
            "time_to_shutdown_s": t_to_shutdown,
            "shut_down": np.isfinite(t_sd),
        }
    )


def _note(throttled0: int, n_shut: int) -> str:
    return " ".join(
        (
            [f"{throttled0} racks start throttled (their unthrottled steady junction is above the limit)."]
            if throttled0
            else []
        )
        + (
            [
                "A rack whose GPU reached its shutdown temperature is off (GPUs and other power, as its "
                "rack controller does) for the rest of the run."
            ]
            if n_shut
            else []
        )
    )


def _transient_kpis(
    model: FacilityModel,
    scenario: str,
    failed: list[str],
    timing: _Timing,
    hall: _Hall,
    run: _Integration,
    tr: _Trajectory,
    series: pd.DataFrame,
    throttled0: int,
    t_to_throttle: np.ndarray,
    t_to_shutdown: np.ndarray,
    energy: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> Kpis:
    e_in, e_out, stored, resid = energy
    tt, worst = tr.tt, tr.worst
    ever = np.isfinite(t_to_throttle)
    ride = float(t_to_throttle.min()) if ever.any() else None
    n_shut = int(np.sum(np.isfinite(run.t_sd)))
    e_scale = max(float(np.max(np.abs(e_in))), 1.0)
    return {
        "scenario": scenario,
        "hall": str(model.halls["name"].iat[hall.h]),
        "racks": int(hall.n_r),
        "failed": failed,
        "t_event_s": timing.t_event_s,
        "duration_s": float(tt[-1]),
        "ride_through_s": ride,
        "throttle_reached": ride is not None,
        "time_to_shutdown_s": float(t_to_shutdown.min()) if n_shut else None,
        "racks_throttled": int(np.sum(ever)),
        "racks_throttled_initially": throttled0,
        "racks_shut_down": n_shut,
        "throttle_band_k": timing.throttle_band_k,
        "peak_gpu_power_throttled_mw": float(series["gpu_power_throttled_w"].max()) / 1e6,
        "it_power_shut_down_mw": float(
            series["gpu_power_shut_down_w"].iat[-1] + series["other_power_shut_down_w"].iat[-1]
        )
        / 1e6,
        "peak_coolant_c": float(series["max_coolant_c"].max()),
        "note": _note(throttled0, n_shut),
        "peak_junction_c": float(np.max(tr.tj)),
        "min_margin_k": float(-np.max(worst)),
        "final_min_margin_k": float(-worst[-1]),
        "initial_min_margin_k": float(-worst[0]),
        "racks_over_throttle_final": int(np.sum(tr.over[-1] >= 0)),
        "energy_in_mj": float(e_in[-1]) / 1e6,
        "energy_removed_mj": float(e_out[-1]) / 1e6,
        "energy_stored_mj": float(stored[-1]) / 1e6,
        "energy_balance_rel_error": float(np.max(np.abs(resid))) / e_scale,
        "solver_success": run.ok,
        "solver_message": run.message,
        "rhs_evaluations": int(run.nfev),
        "jacobian_evaluations": int(run.njev),
        "shutdown_events": int(max(len(run.pieces) - run.n_segments, 0)),
    }


# ----------------------------------------------------------------------------------------------- chain
def simulate_transient(
    model: FacilityModel,
    scenario: str,
    *,
    hall=None,
    duration_s: float = 600.0,
    dt_out_s: float = 1.0,
    t_event_s: float = 30.0,
    ambient_c=None,
    supply_c=None,
    it_load: float = 1.0,
    load_from: float = 0.3,
    load_to: float = 1.0,
    step_k: float = 5.0,
    target: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    throttle_band_k: float = 2.0,
) -> TransientResult:
    """Simulate one scenario on one hall and return the series and the ride-through time (module docstring).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (``twin.model.load_model``).
    scenario : str
        One of ``SCENARIOS``: 'pump-trip', 'cdu-loss', 'supply-step', 'load-step'.
    hall : str or int, optional
        Hall name or index. Default the first hall.
    duration_s : float, default 600
        Simulated time, s (1 s .. 7 days).
    dt_out_s : float, default 1
        Output interval, s.
    t_event_s : float, default 30
        Time of the event, s.
    ambient_c : float, optional
        Outdoor dry bulb, C (``solve_thermal``). Default the site's design dry bulb.
    supply_c : float, optional
        Facility-water supply setpoint, C. Default the layout's.
    it_load : float, default 1.0
        IT load (fraction of each rack's maximum power), except for 'load-step'.
    load_from, load_to : float, default 0.3, 1.0
        IT load before and after a 'load-step'.
    step_k : float, default 5
        Setpoint step of a 'supply-step', K.
    target : str, optional
        Loop or CDU name of a 'pump-trip', CDU name of a 'cdu-loss'. Default the hall's first loop / CDU.
    rtol, atol : float, default 1e-6
        Tolerances of the BDF integrator (atol in K).
    throttle_band_k : float, default 2
        Proportional band of the GPU thermal throttle, K: power falls from the command at ``t_throttle_c`` to
        the GPU minimum power ``throttle_band_k`` above it (a control-model choice; keep it below
        t_shutdown_c - t_throttle_c so a GPU at minimum power in a cooled rack stays on).

    Returns
    -------
    TransientResult
        ``series`` (one row per output time: W, C, K, J), ``res_loops_ts``, ``res_racks_final`` and ``kpis``
        (ride_through_s, time_to_shutdown_s in s; energies in MJ).

    Raises
    ------
    InputError
        An argument out of range, an unknown hall or target, or a start without steady cooling.
    """
    timing = _check_settings(scenario, duration_s, dt_out_s, t_event_s, step_k, throttle_band_k)
    h = _hall_index(model, hall)
    rsel, lsel = _hall_members(model, h)
    pre, post, failed = _steady_states(
        model,
        scenario,
        h,
        rsel,
        timing,
        ambient_c=ambient_c,
        supply_c=supply_c,
        it_load=it_load,
        load_from=load_from,
        load_to=load_to,
        target=target,
    )
    s0, s1 = pre.state, post.state
    hp = _hall_parameters(model, h, rsel, lsel, s0, s1)
    schedule = _flow_schedule(model, scenario, hp, s0, s1, pre.res_loops, timing.t_event_s)
    ode = _HallODE(hp, schedule, timing.throttle_band_k)
    y0, throttled0 = _initial_state(hp, s0, schedule.m_pre, schedule.w_pre, timing.throttle_band_k)
    t_out = np.arange(0.0, timing.duration_s + 1e-9, timing.dt_out_s)
    bounds = sorted({0.0, timing.t_event_s, min(schedule.t_fo, timing.duration_s), timing.duration_s})
    run = _integrate(ode, y0, bounds, rtol, atol)
    tt, yy = _sample(run, t_out, ode.n_y)
    tr = _trajectory(hp, schedule, tt, yy, run.t_sd, timing.throttle_band_k)
    t_cross = _throttle_crossings_s(run, hp, ode.n_y)
    t_to_throttle = np.where(np.isfinite(t_cross), np.maximum(t_cross - timing.t_event_s, 0.0), np.inf)
    t_to_shutdown = np.where(np.isfinite(run.t_sd), np.maximum(run.t_sd - timing.t_event_s, 0.0), np.inf)
    ml_t, q_cdu, tfs_t = _cdu_heat_series(hp, tr, timing.t_event_s)
    energy = _energy_series(hp, ode, y0, yy, tr)
    series = _series_table(hp, tr, ml_t, q_cdu, tfs_t, energy)
    return TransientResult(
        scenario=scenario,
        series=series,
        res_loops_ts=_loop_series_table(model, hp, tr, ml_t, q_cdu),
        kpis=_transient_kpis(
            model,
            scenario,
            failed,
            timing,
            hp,
            run,
            tr,
            series,
            throttled0,
            t_to_throttle,
            t_to_shutdown,
            energy,
        ),
        res_racks_final=_final_rack_table(model, hp, tr, t_to_throttle, t_to_shutdown, run.t_sd),
    )
