"""Steady state of the whole facility: rack power -> flows, temperatures, junctions and the power of cooling.

Order of the solution (each stage closed-form or a monotone 1-D solve, so the energy balance closes to round-off):
  1. hydraulics of every TCS loop at once (``hydraulics.solve_loops``): each rack's flow-control valve holds its
     design flow per kW of its power (shut when the rack is off), the CDU pumps hold the header differential at
     the index rack and are staged for the least power at their part-flow efficiency (``hydraulics.stage_pumps``);
  2. heat into each loop = rack liquid heat + pump power (pump work ends up in the coolant);
  3. facility water per hall: CDU primary flows, FWS pumps on their curve against the system curve, air side;
     heat rejection holds the supply setpoint (``heat_rejection.solve_heat_rejection``);
  4. each CDU (eps-NTU) then fixes its loop's supply temperature, and the racks their outlet and junctions.
Coolant and water properties are taken at the mean temperature of each stream (TCS loop supply / return, facility
water supply / return per hall): a fixed point, started from the design temperatures, of three passes of steps
1-4 (the stream means then move by < 1e-8 K; a fixed count keeps the result smooth in the inputs, more passes are
made only while they move by more than 1e-4 K), so m c_p dT at the reported temperatures closes the water-side
balance of every stream to < 1e-7 with properties evaluated there.

``solve_thermal`` reads as this chain: one private step function per stage, each returning a small record
(``_Conditions``, ``_Units``, ``_Coolant``, ``_Pumping``, ``_FacilityWater``, ``_LoopHeat``, ``_AirSide``,
``_Plant``, ``_Rejection``, ``_Exchangers``, ``_RackTemps``) that the next steps read; then an independent energy
balance and the result tables.

A loop that lost every CDU (or every CDU pump or exchanger) is no error: the solve goes on, the loop's ``status``
says so and its racks are reported without cooling (``cooled`` False, ``heat_unremoved_w`` their liquid heat,
infinite temperatures; KPIs ``loops_cooling_lost`` and ``racks_cooling_lost``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.thermal import cdu as cdu_mod
from twin.thermal import heat
from twin.thermal.heat_rejection import dry_cooler_heat_w, dry_cooler_rating, solve_heat_rejection
from twin.thermal.hydraulics import (
    HydraulicSolution,
    LoopNetwork,
    PumpDuty,
    build_network,
    commissioned_dp_setpoint_pa,
    euler_efficiency_ratio,
    pump_curve_constants,
    solve_loops,
    stage_pumps,
    valve_open_k,
    valve_setpoint_flow_m3_s,
)
from twin.thermal.properties import (
    PROPERTY_RANGE_C,
    air_pressure_pa,
    air_properties,
    coolant_properties,
    humidity_ratio,
    wet_bulb_at_humidity_ratio_c,
)
from twin.thermal.results import Kpis, SteadyState, ThermalResult

if TYPE_CHECKING:
    from twin.catalog.schema import Chiller
    from twin.layout import Site
    from twin.model import FacilityModel

LPM = 60000.0  # m3/s -> L/min


# ---------------------------------------------------------------------------------------------------- inputs
def _check_scalar(name: str, value, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{name} = {value} is outside {lo:g}..{hi:g}")
    return v


def _parse_failures(model: FacilityModel, failed: Iterable[str]) -> dict[str, np.ndarray]:
    """Map unit names to failed sets. Accepted: CDU names ('.../cdu-2'), a CDU's pump ('.../cdu-2/pump'),
    heat-rejection units ('hall/dc-3', 'hall/ch-1'), facility-water pumps ('hall/fw-pump-1'), air units."""
    cdu_idx = {n: i for i, n in enumerate(model.cdus["name"])}
    hr_idx = {n: i for i, n in enumerate(model.heat_rejection["name"])}
    air_idx = {n: i for i, n in enumerate(model.air_units["name"])}
    halls = list(model.halls["name"])
    fw_units = model.fws["pump_units"].to_numpy()
    out = {
        "cdu": np.zeros(len(model.cdus), bool),
        "cdu_pump": np.zeros(len(model.cdus), bool),
        "hr": np.zeros(len(model.heat_rejection), bool),
        "air": np.zeros(len(model.air_units), bool),
        "fw_pump": np.zeros(len(halls), np.int64),
    }
    if isinstance(failed, str):
        failed = [failed]
    unknown = []
    seen_fw = set()
    for name in failed:
        if name in cdu_idx:
            out["cdu"][cdu_idx[name]] = True
        elif name.endswith("/pump") and name[: -len("/pump")] in cdu_idx:
            out["cdu_pump"][cdu_idx[name[: -len("/pump")]]] = True
        elif name in hr_idx:
            out["hr"][hr_idx[name]] = True
        elif name in air_idx:
            out["air"][air_idx[name]] = True
        else:
            hall, _, unit = name.rpartition("/")
            if hall in halls and unit.startswith("fw-pump-") and unit[8:].isdigit():
                h = halls.index(hall)
                k = int(unit[8:])
                if 1 <= k <= fw_units[h] and name not in seen_fw:
                    seen_fw.add(name)
                    out["fw_pump"][h] += 1
                    continue
                if 1 <= k <= fw_units[h]:
                    continue
            unknown.append(name)
    if unknown:
        examples = ", ".join(list(model.cdus["name"][:1]) + list(model.heat_rejection["name"][:1]))
        raise InputError(
            f"unknown unit(s) to fail: {', '.join(unknown)} (names look like {examples}, "
            f"'<cdu>/pump' or '<hall>/fw-pump-1')"
        )
    return out


def _euler_curve(shutoff_ratio: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Default efficiency-vs-flow curve of a pump entry without one: the Euler-number correlation along its
    quadratic head curve H / H_r = R - (R - 1) x^2 (R = shut-off ratio), Eu / Eu_r = (H / H_r) / x^2."""
    x = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 2.0])
    h = shutoff_ratio - (shutoff_ratio - 1.0) * x**2
    x = x[h > 0]
    return tuple(x.tolist()), tuple(np.clip(euler_efficiency_ratio(h[h > 0] / x**2), 1e-3, 1.0).tolist())


def _pump_curve(curve, shutoff_ratio: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if curve is None:
        return _euler_curve(shutoff_ratio)
    return tuple(curve.flow_fraction), tuple(curve.efficiency_ratio)


def _loop_catalog(model: FacilityModel) -> tuple[dict[str, np.ndarray], list]:
    """Per-loop CDU catalog figures (a loop over the few distinct CDU models) and their pump efficiency curves
    (``pump_curve_id`` indexes the list)."""
    loops = model.loops
    n = len(loops)
    keys = (
        "shutoff_ratio",
        "min_flow_fraction",
        "pump_ramp_s",
        "failover_s",
        "ua_flow_exponent",
        "valve_authority",
        "dp_setpoint_pa",
        "rack_min_flow_fraction",
        "pump_curve_id",
    )
    out = {k: np.zeros(n) for k in keys}
    curves: list = []
    names = loops["cdu"].to_numpy()
    for name in np.unique(names):
        c = model.catalog.get("cdus", name)
        sel = names == name
        out["shutoff_ratio"][sel] = c.pump_shutoff_head_ratio
        out["min_flow_fraction"][sel] = c.min_flow_fraction
        out["pump_ramp_s"][sel] = c.pump_ramp_s
        out["failover_s"][sel] = c.failover_s
        out["ua_flow_exponent"][sel] = c.ua_flow_exponent
        out["valve_authority"][sel] = c.valve_authority
        out["dp_setpoint_pa"][sel] = np.nan if c.dp_setpoint_kpa is None else c.dp_setpoint_kpa * 1e3
        out["rack_min_flow_fraction"][sel] = c.rack_min_flow_fraction
        out["pump_curve_id"][sel] = len(curves)
        curves.append(_pump_curve(c.pump_efficiency_curve, c.pump_shutoff_head_ratio))
    out["pump_curve_id"] = out["pump_curve_id"].astype(np.int64)
    return out, curves


def _wet_bulb(site: Site, t_amb: float, ambient_given: bool, wet_bulb_c, p_air: float) -> tuple[float, str]:
    """Wet bulb of the solve and where it comes from.

    Given: used as is. Ambient not overridden: the site's design wet bulb. Ambient overridden without a wet bulb:
    the outdoor air keeps the site's design humidity ratio W (moisture content is what an air mass carries; it
    changes slowly compared with the dry bulb), W = W(T_db,design, T_wb,design) and T_wb = T_wb(T_amb, W), both from
    CoolProp HAPropsSI at the site pressure; air that cannot hold W at the new dry bulb is saturated (T_wb = T_db).
    A site without a design wet bulb is taken saturated (pads give nothing: conservative).
    """
    if wet_bulb_c is not None:
        return _check_scalar("wet_bulb_c", wet_bulb_c, -40.0, 60.0), "given"
    if site.design_wet_bulb_c is None:
        return t_amb, "no site design wet bulb: saturated air assumed"
    if not ambient_given:
        return float(site.design_wet_bulb_c), "site design wet bulb"
    w = humidity_ratio(site.design_ambient_c, site.design_wet_bulb_c, p_air)
    t_wb, saturated = wet_bulb_at_humidity_ratio_c(t_amb, w, p_air)
    src = f"site design humidity ratio {w * 1e3:.2f} g/kg at {t_amb:g} C"
    return t_wb, src + (" (saturated: wet bulb = dry bulb)" if saturated else "")


@dataclass(frozen=True)
class _Conditions:
    """Validated boundary conditions of one solve."""

    t_amb: float  # outdoor dry bulb, C
    p_air: float  # site air pressure, Pa
    t_wb: float  # outdoor wet bulb, C
    wb_source: str  # where the wet bulb comes from
    t_set: np.ndarray  # (n_halls,) facility-water supply setpoint, C
    p_rack: np.ndarray  # (n_racks,) rack IT power, W
    extra_air: np.ndarray  # (n_halls,) other heat on the air side, W
    fail: dict[str, np.ndarray]  # failed units (``_parse_failures``)
    flow_scale: np.ndarray | None = None  # (n_racks,) TCS flow per kW over the design value (None: 1)


def _weather(site: Site, ambient_c, wet_bulb_c) -> tuple[float, float, float, str]:
    """Dry bulb (C), site air pressure (Pa), wet bulb (C) and its source."""
    t_amb = _check_scalar("ambient_c", site.design_ambient_c if ambient_c is None else ambient_c, -40.0, 60.0)
    p_air = air_pressure_pa(site.altitude_m)
    t_wb, wb_source = _wet_bulb(site, t_amb, ambient_c is not None, wet_bulb_c, p_air)
    if t_wb > t_amb:
        raise InputError(f"wet_bulb_c {t_wb} C is above the dry bulb {t_amb} C")
    return t_amb, p_air, t_wb, wb_source


def _fws_setpoints(fws: pd.DataFrame, supply_c) -> np.ndarray:
    """(n_halls,) facility-water supply setpoint, C: the layout's, or ``supply_c``: one value for every hall or
    one per hall ((n_halls,) array; NaN keeps that hall's layout setpoint)."""
    t_set = fws["supply_c"].to_numpy(dtype=float).copy()
    if supply_c is None:
        return t_set
    if np.ndim(supply_c) == 0:
        t_set[:] = _check_scalar("supply_c", supply_c, 5.0, 70.0)
        return t_set
    v = np.asarray(supply_c, dtype=float)
    if v.shape != t_set.shape:
        raise InputError(f"supply_c must be one value or one per hall ({len(t_set)}), got shape {v.shape}")
    given = ~np.isnan(v)
    if np.any(given & ((v < 5.0) | (v > 70.0) | ~np.isfinite(v))):
        raise InputError(f"supply_c must be within 5 and 70 C for every hall, got {v.tolist()}")
    return np.where(given, v, t_set)


def _rack_power(model: FacilityModel, rack_power_w, it_load: float) -> np.ndarray:
    """(n_racks,) rack IT power, W: given, or ``it_load`` times each rack's maximum power."""
    racks = model.racks
    n_r = len(racks)
    if rack_power_w is None:
        return it_load * racks["power_maxp_w"].to_numpy()
    p_rack = np.asarray(rack_power_w, dtype=float)
    if p_rack.shape != (n_r,):
        raise InputError(f"rack_power_w must have one value per rack ({n_r}), got shape {p_rack.shape}")
    bad = ~np.isfinite(p_rack) | (p_rack < 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"rack_power_w must be finite and >= 0 for every rack: {int(bad.sum())} of {n_r} are not "
            f"(first: {model.rack_names()[i]} = {p_rack[i]})"
        )
    return p_rack


def _extra_air_heat(n_h: int, extra_air_heat_w_by_hall) -> np.ndarray:
    """(n_halls,) other heat on the air side, W (0 unless given)."""
    extra_air = np.zeros(n_h)
    if extra_air_heat_w_by_hall is not None:
        extra_air = np.asarray(extra_air_heat_w_by_hall, dtype=float)
        if extra_air.shape != (n_h,) or not np.all(np.isfinite(extra_air)) or np.any(extra_air < 0):
            raise InputError(f"extra_air_heat_w_by_hall must be {n_h} finite values >= 0")
    return extra_air


def _conditions(
    model: FacilityModel,
    rack_power_w,
    ambient_c,
    supply_c,
    it_load,
    failed,
    extra_air_heat_w_by_hall,
    wet_bulb_c,
    tcs_flow_scale=None,
) -> _Conditions:
    """Validate the arguments of ``solve_thermal`` (in this order) into boundary conditions."""
    it_load = _check_scalar("it_load", it_load, 0.0, 10.0)
    t_amb, p_air, t_wb, wb_source = _weather(model.layout.site, ambient_c, wet_bulb_c)
    t_set = _fws_setpoints(model.fws, supply_c)
    p_rack = _rack_power(model, rack_power_w, it_load)
    extra_air = _extra_air_heat(len(model.halls), extra_air_heat_w_by_hall)
    fail = _parse_failures(model, failed)
    scale = _flow_scale(model, tcs_flow_scale)
    return _Conditions(t_amb, p_air, t_wb, wb_source, t_set, p_rack, extra_air, fail, scale)


#: TCS flow per kW setpoint over the design value: the range the thermal solve accepts
FLOW_SCALE_RANGE = (0.5, 2.0)


def _flow_scale(model: FacilityModel, tcs_flow_scale) -> np.ndarray | None:
    """(n_racks,) TCS flow per kW over each rack's design value, from one value or one per hall; None: design."""
    if tcs_flow_scale is None:
        return None
    lo, hi = FLOW_SCALE_RANGE
    n_h = len(model.halls)
    v = np.asarray(tcs_flow_scale, dtype=float)
    if v.ndim == 0:
        v = np.full(n_h, float(v))
    if v.shape != (n_h,):
        raise InputError(f"tcs_flow_scale must be one value or one per hall ({n_h}), got shape {v.shape}")
    if not np.all(np.isfinite(v) & (v >= lo) & (v <= hi)):
        raise InputError(f"tcs_flow_scale must be within {lo:g} and {hi:g} for every hall, got {v.tolist()}")
    return v[model.racks["hall"].to_numpy()]


# ------------------------------------------------------------------------------------------- loops: static
@dataclass(frozen=True)
class _Units:
    """CDU units available per loop and the loops' CDU catalog figures."""

    n_hx: np.ndarray  # (n_loops,) exchangers running
    n_pump: (
        np.ndarray
    )  # (n_loops,) pumps available (installed less failed; ``_Pumping.duty`` says how many run)
    cat: dict[str, np.ndarray]  # ``_loop_catalog``
    pump_curves: list  # efficiency-vs-flow curves, indexed by cat["pump_curve_id"]


def _running_units(model: FacilityModel, fail: dict[str, np.ndarray]) -> _Units:
    n_l = len(model.loops)
    units = model.loops["units"].to_numpy()
    cdu_loop = model.cdus["loop"].to_numpy()
    hx_failed = np.bincount(cdu_loop, weights=fail["cdu"], minlength=n_l).astype(np.int64)
    pump_failed = np.bincount(cdu_loop, weights=fail["cdu"] | fail["cdu_pump"], minlength=n_l).astype(
        np.int64
    )
    cat, curves = _loop_catalog(model)
    return _Units(n_hx=units - hx_failed, n_pump=units - pump_failed, cat=cat, pump_curves=curves)


@dataclass(frozen=True)
class _Coolant:
    """Coolant properties per loop at the mean temperature of its stream (supply / return)."""

    t_mean: np.ndarray  # (n_loops,) temperature of the properties, C
    rho: np.ndarray  # (n_loops,) kg/m3
    cp: np.ndarray  # (n_loops,) J/kg/K
    mu: np.ndarray  # (n_loops,) Pa s


def _coolant_properties(model: FacilityModel, t_mean: np.ndarray) -> _Coolant:
    """Properties per loop at the mean of its supply and return temperature (``t_mean``, the fixed point of
    ``solve_thermal``), one vectorised CoolProp call per coolant. A loop whose coolant would be outside the
    correlation's range (an uncooled loop overheating) is evaluated at the range's end."""
    coolant = model.loops["coolant"].to_numpy()
    n_l = len(coolant)
    props = {k: np.zeros(n_l) for k in ("rho_kg_m3", "cp_j_kg_k", "mu_pa_s")}
    t_eval = np.zeros(n_l)
    for c in np.unique(coolant):
        sel = coolant == c
        lo, hi = PROPERTY_RANGE_C[c]
        t_eval[sel] = np.clip(t_mean[sel], lo, hi)
        p1 = coolant_properties(c, t_eval[sel])
        for k in props:
            props[k][sel] = p1[k]
    return _Coolant(t_mean=t_eval, rho=props["rho_kg_m3"], cp=props["cp_j_kg_k"], mu=props["mu_pa_s"])


def _first_mean_temperatures(model: FacilityModel, cond: _Conditions) -> tuple[np.ndarray, np.ndarray]:
    """Starting point of the property fixed point: per loop the design supply (setpoint + approach) plus half the
    rise of its liquid heat at its design flow per kW; per hall the setpoint plus half the mean of its loops' rises
    (capped at 20 K; the CDUs' primary flow is near the TCS flow at rating). Properties at the design supply
    temperature (one lookup per coolant). Only the start: the passes of ``solve_thermal`` converge from it."""
    racks, loops = model.racks, model.loops
    n_l = len(loops)
    r_loop = racks["loop"].to_numpy()
    t_sup = cond.t_set[loops["hall"].to_numpy()] + loops["approach_k"].to_numpy()
    liq = np.bincount(r_loop, weights=racks["liquid_fraction"].to_numpy() * cond.p_rack, minlength=n_l)
    q = np.bincount(
        r_loop,
        weights=racks["design_flow_m3_s"].to_numpy()
        * (1.0 if cond.flow_scale is None else cond.flow_scale)
        * cond.p_rack
        / racks["power_maxp_w"].to_numpy(),
        minlength=n_l,
    )
    rho_cp = np.ones(n_l)
    coolant = loops["coolant"].to_numpy()
    for c in np.unique(coolant):
        sel = coolant == c
        p0 = coolant_properties(c, np.clip(t_sup[sel], *PROPERTY_RANGE_C[c]))
        rho_cp[sel] = p0["rho_kg_m3"] * p0["cp_j_kg_k"]
    rise = np.where(q > 0, liq / (rho_cp * np.where(q > 0, q, 1.0)), 0.0)
    t_loop = t_sup + rise / 2
    t_fw = (
        cond.t_set
        + np.bincount(loops["hall"].to_numpy(), weights=np.minimum(rise, 20.0), minlength=len(cond.t_set))
        / np.maximum(np.bincount(loops["hall"].to_numpy(), minlength=len(cond.t_set)), 1)
        / 2
    )
    return t_loop, t_fw


# -------------------------------------------------------------------------------------- 1. hydraulics
@dataclass(frozen=True)
class _Pumping:
    """Hydraulic solution of every TCS loop and what follows from it."""

    net: LoopNetwork
    hyd: HydraulicSolution
    q_valve: np.ndarray  # (n_racks,) flow each rack's valve asks for, m3/s
    q_set: np.ndarray  # (n_loops,) sum of the valves' setpoints, m3/s
    dp_set: np.ndarray  # (n_loops,) header differential held at the index rack, Pa
    duty: PumpDuty  # pumps running, speed, flow (racks + bypass), efficiency, power
    pump_power: np.ndarray  # (n_loops,) TCS pump power, W
    q_pump: np.ndarray  # (n_loops,) pump flow = flow through the CDU exchangers (racks + bypass), m3/s
    m_rack: np.ndarray  # (n_racks,) rack mass flow, kg/s
    c_hot: np.ndarray  # (n_loops,) loop capacity rate m c_p through the exchangers, W/K


def _hydraulics(
    model: FacilityModel,
    p_rack: np.ndarray,
    units: _Units,
    fluid: _Coolant,
    net: LoopNetwork,
    flow_scale: np.ndarray | None = None,
) -> _Pumping:
    """Rack valves at their flow per kW, pumps holding the index differential, then all loops at once; the
    pumps are staged for the least power (``hydraulics.stage_pumps``). ``flow_scale`` (n_racks,): the valves'
    flow per kW setpoint over the design value (the pumps' differential setpoint stays commissioned at the
    design flow)."""
    racks, loops = model.racks, model.loops
    n_l = len(loops)
    cat = units.cat
    r_loop = racks["loop"].to_numpy()
    qd = racks["design_flow_m3_s"].to_numpy()
    rho, cp, mu = fluid.rho, fluid.cp, fluid.mu
    dpd = racks["dp_design_pa"].to_numpy()
    nexp = racks["dp_exponent"].to_numpy()
    maxp = racks["power_maxp_w"].to_numpy()
    phi = cat["rack_min_flow_fraction"][r_loop]
    k_open = valve_open_k(qd, dpd, cat["valve_authority"][r_loop])
    q_valve = valve_setpoint_flow_m3_s(p_rack, maxp, qd if flow_scale is None else qd * flow_scale, phi)
    q_full = valve_setpoint_flow_m3_s(maxp, maxp, qd, phi)
    dp_set = np.where(
        np.isnan(cat["dp_setpoint_pa"]),
        commissioned_dp_setpoint_pa(r_loop, n_l, q_full, qd, dpd, nexp, k_open),
        cat["dp_setpoint_pa"],
    )
    rated_q = loops["flow_m3_s"].to_numpy()
    h0, kp = pump_curve_constants(rated_q, loops["pump_head_pa"].to_numpy(), cat["shutoff_ratio"])
    hyd = solve_loops(
        net,
        valve_flow_m3_s=q_valve,
        valve_open_k=k_open,
        dp_setpoint_pa=dp_set,
        n_pumps=units.n_pump,
        shutoff_head_pa=h0,
        curve_k=kp,
        design_flow_m3_s=qd,
        dp_design_pa=dpd,
        dp_exponent=nexp,
        diameter_m=loops["manifold_diameter_m"].to_numpy(),
        roughness_m=loops["pipe_roughness_m"].to_numpy(),
        rho=rho,
        mu=mu,
    )
    duty = stage_pumps(
        hyd.pump_head_pa,
        hyd.loop_flow_m3_s,
        units.n_pump * (net.n_per_loop > 0),
        rated_q,
        h0,
        kp,
        loops["pump_efficiency"].to_numpy(),
        units.pump_curves,
        cat["pump_curve_id"],
        min_flow_fraction=cat["min_flow_fraction"],
        limited=hyd.pump_limited,
    )
    return _Pumping(
        net=net,
        hyd=hyd,
        q_valve=q_valve,
        q_set=np.bincount(r_loop, weights=q_valve, minlength=n_l),
        dp_set=dp_set,
        duty=duty,
        pump_power=duty.power_w,
        q_pump=duty.flow_m3_s,
        m_rack=hyd.rack_flow_m3_s * rho[r_loop],
        c_hot=duty.flow_m3_s * rho * cp,
    )


# ---------------------------------------------------------------------------- 2. heat into each loop
@dataclass(frozen=True)
class _LoopHeat:
    liquid: np.ndarray  # (n_loops,) rack liquid heat, W
    heat: np.ndarray  # (n_loops,) liquid heat + pump power, W
    cooled: np.ndarray  # (n_loops,) flow, a running exchanger and facility water (before heat rejection)


def _loop_heat(
    model: FacilityModel, p_liq: np.ndarray, units: _Units, pumping: _Pumping, c_cold_loop: np.ndarray
) -> _LoopHeat:
    n_l = len(model.loops)
    liq_loop = np.bincount(model.racks["loop"].to_numpy(), weights=p_liq, minlength=n_l)
    cooled = (pumping.q_pump > 0) & (units.n_hx > 0) & (c_cold_loop > 0)
    # all pump power ends up in the coolant (wet-rotor assumption)
    return _LoopHeat(liquid=liq_loop, heat=liq_loop + pumping.pump_power, cooled=cooled)


# ----------------------------------------------------------------------------------- 3. facility water
@dataclass(frozen=True)
class _FacilityWater:
    """CDU primary flows and facility-water pumps per hall."""

    t_mean: np.ndarray  # (n_halls,) temperature of the water properties (supply / return mean), C
    props: dict[str, np.ndarray]  # water properties at ``t_mean``
    c_cold_unit: np.ndarray  # (n_loops,) rated primary capacity rate of one CDU, W/K
    c_cold_loop: np.ndarray  # (n_loops,) primary capacity rate of the loop's running CDUs, W/K
    flow: np.ndarray  # (n_halls,) facility-water flow, m3/s
    ratio: np.ndarray  # (n_halls,) flow / flow needed (< 1: pump-limited)
    design_flow: np.ndarray  # (n_halls,) design flow of the pipework, m3/s
    dp: np.ndarray  # (n_halls,) pump differential pressure, Pa
    duty: PumpDuty  # pumps running, speed, efficiency
    pump_power: np.ndarray  # (n_halls,) facility-water pump power, W


@dataclass(frozen=True)
class _FwPumps:
    """Facility-water pump model of each hall (one model per hall) and the efficiency curves."""

    q_unit: np.ndarray  # (n_halls,) rated flow of one pump, m3/s
    h0: np.ndarray  # (n_halls,) shut-off head, Pa
    kp: np.ndarray  # (n_halls,) curve coefficient, Pa s^2/m^6
    eff: np.ndarray  # (n_halls,) best-point efficiency
    sys_head: np.ndarray  # (n_halls,) system head at the design flow, Pa
    min_flow: np.ndarray  # (n_halls,) minimum flow / rated
    curve_id: np.ndarray  # (n_halls,) index into ``curves``
    curves: list


def _fws_pump_catalog(model: FacilityModel) -> _FwPumps:
    """Per hall: its pump model's curve (H_0, k_p through the rated point), efficiency and system design head."""
    n_h = len(model.halls)
    q_unit, head, eff, sys_head, shut, min_flow = (np.ones(n_h) for _ in range(6))
    curve_id = np.zeros(n_h, np.int64)
    curves: list = []
    names = list(model.fws["pump"].to_numpy())
    for i, name in enumerate(names):  # one pump model per hall
        pm = model.catalog.get("pumps", name)
        q_unit[i], head[i], eff[i] = pm.flow_m3_s, pm.head_kpa * 1e3, pm.efficiency
        sys_head[i] = (pm.system_head_kpa or pm.head_kpa) * 1e3
        shut[i], min_flow[i] = pm.shutoff_head_ratio, pm.min_flow_fraction
        curve_id[i] = names.index(name)
        if curve_id[i] == i:
            curves.append(_pump_curve(pm.efficiency_curve, pm.shutoff_head_ratio))
        else:
            curves.append(curves[curve_id[i]])
    h0, kp = pump_curve_constants(q_unit, head, shut)
    return _FwPumps(q_unit, h0, kp, eff, sys_head, min_flow, curve_id, curves)


def _facility_water(
    model: FacilityModel,
    t_mean: np.ndarray,
    fail: dict[str, np.ndarray],
    units: _Units,
    fluid: _Coolant,
) -> _FacilityWater:
    """CDU primary flows (rated capacity rate per running CDU), FWS pumps on the pipework's system curve.

    Water properties at the hall's supply / return mean ``t_mean``. The pumps (quadratic head curve, affinity
    laws) deliver the flow the CDUs need unless even all running pumps at full speed meet the system curve
    below it; they are staged for the least power (``hydraulics.stage_pumps``)."""
    loops, fws = model.loops, model.fws
    n_h = len(model.halls)
    l_hall = loops["hall"].to_numpy()
    rated_q = loops["flow_m3_s"].to_numpy()
    c_cold_unit = rated_q * fluid.rho * fluid.cp  # balanced rating (see cdu module)
    fw_props = coolant_properties("water", np.clip(t_mean, *PROPERTY_RANGE_C["water"]))
    rho_cp_w = fw_props["rho_kg_m3"] * fw_props["cp_j_kg_k"]
    c_cold_loop = units.n_hx * c_cold_unit
    fw_flow_need = np.bincount(l_hall, weights=c_cold_loop, minlength=n_h) / rho_cp_w
    fw_running = fws["pump_units"].to_numpy() - fail["fw_pump"]
    pm = _fws_pump_catalog(model)
    # system curve of the facility-water pipework, anchored at its design point: the design flow carries the
    # installed CDUs' rated heat at their primary dT (Q_d = sum Q_r / (rho c_p dT_p), dT_p = Q_r / C_r), against
    # the loop's design head H_d (catalog ``system_head_kpa``); dp = H_d (Q / Q_d)^2 (turbulent pipework)
    cap_loop = loops["units"].to_numpy() * loops["capacity_w"].to_numpy()
    dt_primary = loops["capacity_w"].to_numpy() / np.where(c_cold_unit > 0, c_cold_unit, 1.0)
    fw_design_flow = (
        np.bincount(l_hall, weights=cap_loop / np.where(dt_primary > 0, dt_primary, 1.0), minlength=n_h)
        / rho_cp_w
    )
    qd_safe = np.where(fw_design_flow > 0, fw_design_flow, 1.0)
    # most the running pumps deliver: full speed on their curve meets the system curve,
    # H_0 - k_p (Q / N)^2 = H_d (Q / Q_d)^2
    n_run = np.maximum(fw_running, 1)
    fw_cap = np.where(fw_running > 0, np.sqrt(pm.h0 / (pm.kp / n_run**2 + pm.sys_head / qd_safe**2)), 0.0)
    fw_ratio = np.where(fw_flow_need > 0, np.minimum(1.0, fw_cap / np.maximum(fw_flow_need, 1e-30)), 1.0)
    fw_flow = fw_flow_need * fw_ratio
    c_cold_loop = c_cold_loop * fw_ratio[l_hall]
    fw_dp = np.where(fw_design_flow > 0, pm.sys_head * (fw_flow / qd_safe) ** 2, 0.0)
    duty = stage_pumps(
        fw_dp,
        fw_flow,
        fw_running,
        pm.q_unit,
        pm.h0,
        pm.kp,
        pm.eff,
        pm.curves,
        pm.curve_id,
        min_flow_fraction=pm.min_flow,
    )
    return _FacilityWater(
        t_mean=t_mean,
        props=fw_props,
        c_cold_unit=c_cold_unit,
        c_cold_loop=c_cold_loop,
        flow=fw_flow,
        ratio=fw_ratio,
        design_flow=fw_design_flow,
        dp=fw_dp,
        duty=duty,
        pump_power=duty.power_w,
    )


@dataclass(frozen=True)
class _AirSide:
    """Air-side units per hall (their heat goes to the facility water)."""

    heat: np.ndarray  # (n_halls,) air heat of the racks + other air heat, W
    served: np.ndarray  # (n_halls,) W
    unserved: np.ndarray  # (n_halls,) beyond the running units' capacity, W
    fan_power: np.ndarray  # (n_halls,) W


def _air_side(model: FacilityModel, p_air_rack: np.ndarray, cond: _Conditions) -> _AirSide:
    n_h = len(model.halls)
    air = model.air_units
    a_hall = air["hall"].to_numpy(dtype=np.int64)
    a_ok = ~cond.fail["air"]
    air_heat = np.bincount(model.racks["hall"].to_numpy(), weights=p_air_rack, minlength=n_h) + cond.extra_air
    air_cap = np.bincount(a_hall, weights=air["capacity_w"].to_numpy(dtype=float) * a_ok, minlength=n_h)
    air_fan_rated = np.bincount(
        a_hall, weights=air["fan_power_w"].to_numpy(dtype=float) * a_ok, minlength=n_h
    )
    air_served = np.minimum(air_heat, air_cap)
    return _AirSide(
        heat=air_heat,
        served=air_served,
        unserved=air_heat - air_served,
        fan_power=np.where(air_cap > 0, air_fan_rated * air_served / np.maximum(air_cap, 1e-30), 0.0),
    )


# ----------------------------------------------------------------------------------- heat rejection
@dataclass(frozen=True)
class _Plant:
    """Heat-rejection units per hall: running dry coolers (rated at the actual air) and chillers."""

    hr_hall: np.ndarray  # (n_units,) hall of each heat-rejection unit
    is_dc: np.ndarray  # (n_units,) dry cooler (else chiller)
    n_dry: np.ndarray  # (n_halls,) dry coolers running
    ch_cap: np.ndarray  # (n_halls,) running chiller capacity, W
    ua: np.ndarray  # (n_halls,) rated UA of one dry cooler, W/K
    c_air: np.ndarray  # (n_halls,) rated air capacity rate of one dry cooler, W/K
    exponent: np.ndarray  # (n_halls,) UA airflow exponent
    fan_power: np.ndarray  # (n_halls,) rated fan power of one dry cooler, W
    adiabatic_eff: np.ndarray  # (n_halls,) pad effectiveness
    adiabatic_ok: np.ndarray  # (n_halls,) pads installed
    mass_ratio: np.ndarray  # (n_halls,) air density / rating density
    cp_ratio: np.ndarray  # (n_halls,) air c_p / rating c_p
    chillers: list[Chiller | None]  # (n_halls,) catalog chiller model of each hall, None: no chiller


def _plant(model: FacilityModel, cond: _Conditions, fw: _FacilityWater) -> _Plant:
    fws, hr = model.fws, model.heat_rejection
    n_h = len(model.halls)
    hr_hall = hr["hall"].to_numpy()
    is_dc = (hr["kind"] == "dry_cooler").to_numpy()
    is_ch = ~is_dc
    fail_hr = cond.fail["hr"]
    n_dry = np.bincount(hr_hall, weights=is_dc & ~fail_hr, minlength=n_h).astype(np.int64)
    ch_cap = np.bincount(
        hr_hall, weights=np.where(is_ch & ~fail_hr, hr["capacity_w"].to_numpy(), 0.0), minlength=n_h
    )
    ua_dc, ca_dc, exp_dc, fan_dc, adi_eff, adi_ok, mass_ratio, cp_ratio = (np.zeros(n_h) for _ in range(8))
    air_amb = air_properties(
        cond.t_amb, cond.p_air
    )  # the air the fans actually move (not the rating's 35 C air)
    chillers: list[Chiller | None] = []
    for i in range(n_h):  # a handful of halls
        dc = model.catalog.get("dry_coolers", fws["dry_cooler"].iat[i])
        rat = dry_cooler_rating(dc, float(fw.props["cp_j_kg_k"][i]))
        ua_dc[i], ca_dc[i], fan_dc[i] = rat["ua_w_per_k"], rat["c_air_w_per_k"], rat["fan_power_w"]
        mass_ratio[i] = float(air_amb["rho_kg_m3"]) / rat["air_rho_kg_m3"]
        cp_ratio[i] = float(air_amb["cp_j_kg_k"]) / rat["air_cp_j_kg_k"]
        exp_dc[i] = dc.ua_airflow_exponent
        adi_ok[i] = bool(fws["adiabatic"].iat[i]) and dc.adiabatic
        adi_eff[i] = dc.adiabatic_effectiveness
        ch = fws["chiller"].iat[i]
        chillers.append(model.catalog.get("chillers", ch) if ch else None)
    return _Plant(
        hr_hall=hr_hall,
        is_dc=is_dc,
        n_dry=n_dry,
        ch_cap=ch_cap,
        ua=ua_dc,
        c_air=ca_dc,
        exponent=exp_dc,
        fan_power=fan_dc,
        adiabatic_eff=adi_eff,
        adiabatic_ok=adi_ok,
        mass_ratio=mass_ratio,
        cp_ratio=cp_ratio,
        chillers=chillers,
    )


@dataclass(frozen=True)
class _Rejection:
    """Heat rejection per hall and what it means for the loops."""

    rej: dict[str, np.ndarray]  # ``solve_heat_rejection``
    fw_heat: np.ndarray  # (n_halls,) heat into the facility water, W
    c_fw: np.ndarray  # (n_halls,) facility-water capacity rate, W/K
    t_fs: np.ndarray  # (n_halls,) facility-water supply, C (inf: no steady state)
    hall_ok: np.ndarray  # (n_halls,) a steady state exists
    cooled_loop: np.ndarray  # (n_loops,) loop heat reaches a hall with a steady state
    unremoved_loops: np.ndarray  # (n_loops,) heat that never reaches the facility water, W
    unrejected: np.ndarray  # (n_halls,) heat in the facility water not rejected, W


def _reject_heat(
    model: FacilityModel,
    cond: _Conditions,
    loop: _LoopHeat,
    fw: _FacilityWater,
    air: _AirSide,
    plant: _Plant,
) -> _Rejection:
    """Heat into the facility water per hall and the heat rejection that holds (or loses) its setpoint."""
    n_h = len(model.halls)
    l_hall = model.loops["hall"].to_numpy()
    fw_heat = (
        np.bincount(l_hall, weights=np.where(loop.cooled, loop.heat, 0.0), minlength=n_h)
        + air.served
        + air.fan_power
        + fw.pump_power
    )
    c_fw = fw.flow * fw.props["rho_kg_m3"] * fw.props["cp_j_kg_k"]
    rej = solve_heat_rejection(
        heat_w=fw_heat,
        c_water_w_per_k=c_fw,
        setpoint_c=cond.t_set,
        ambient_c=cond.t_amb,
        wet_bulb_c=cond.t_wb,
        n_dry=plant.n_dry,
        ua_rated=plant.ua,
        c_air_rated=plant.c_air,
        exponent=plant.exponent,
        fan_power_rated_w=plant.fan_power,
        adiabatic_ok=plant.adiabatic_ok.astype(bool),
        adiabatic_eff=plant.adiabatic_eff,
        chiller_capacity_w=plant.ch_cap,
        chillers=plant.chillers,
        air_mass_ratio=plant.mass_ratio,
        air_cp_ratio=plant.cp_ratio,
    )
    t_fs = rej["supply_c"]
    hall_ok = np.isfinite(t_fs)  # False: no running dry cooler and chillers too small, no steady state
    return _Rejection(
        rej=rej,
        fw_heat=fw_heat,
        c_fw=c_fw,
        t_fs=t_fs,
        hall_ok=hall_ok,
        cooled_loop=loop.cooled & hall_ok[l_hall],
        unremoved_loops=np.where(loop.cooled, 0.0, loop.heat),
        unrejected=np.where(hall_ok, 0.0, fw_heat - rej["chiller_heat_w"]),
    )


# -------------------------------------------------------------------------------------------- 4. CDUs
@dataclass(frozen=True)
class _Exchangers:
    """CDU exchangers per loop (eps-NTU) and the loop temperatures they set."""

    ua_loop: np.ndarray  # (n_loops,) UA of the running exchangers at the actual flows, W/K
    eps: np.ndarray  # (n_loops,) effectiveness
    t_sup: np.ndarray  # (n_loops,) TCS supply, C (inf: not cooled)
    t_ret: np.ndarray  # (n_loops,) TCS return (mixed, before the pump), C
    cdu_heat: np.ndarray  # (n_loops,) heat through the exchangers, W
    fw_out_loop: np.ndarray  # (n_loops,) facility water leaving the loop's CDUs, C


def _exchangers(
    model: FacilityModel,
    units: _Units,
    pumping: _Pumping,
    fw: _FacilityWater,
    loop: _LoopHeat,
    rejection: _Rejection,
) -> _Exchangers:
    """Loop supply temperature from eps-NTU at the facility-water supply of the hall; UA at the actual flows per
    exchanger on both sides (flow ratios as capacity-rate ratios: the same fluids as the rating)."""
    loops = model.loops
    n_l = len(loops)
    l_hall = loops["hall"].to_numpy()
    n_hx, c_hot, c_cold_loop = units.n_hx, pumping.c_hot, fw.c_cold_loop
    t_fs, q_loop_heat = rejection.t_fs, loop.heat
    ua_unit = cdu_mod.rated_ua_w_per_k(loops["capacity_w"].to_numpy(), loops["approach_k"].to_numpy())
    per_hx = np.where(n_hx > 0, n_hx * fw.c_cold_unit, 1.0)
    ua_loop = n_hx * cdu_mod.ua_at_flow_w_per_k(
        ua_unit, c_hot / per_hx, c_cold_loop / per_hx, units.cat["ua_flow_exponent"]
    )
    safe = rejection.cooled_loop
    t_hot_in = np.full(n_l, np.inf)
    eps = np.zeros(n_l)
    if np.any(safe):
        th, ep = cdu_mod.hot_inlet_for_duty_c(
            q_loop_heat[safe], ua_loop[safe], c_hot[safe], c_cold_loop[safe], t_fs[l_hall][safe]
        )
        t_hot_in[safe], eps[safe] = th, ep
    t_sup = np.where(safe, t_hot_in - q_loop_heat / np.where(safe, c_hot, 1.0), np.inf)
    t_ret = np.where(safe, t_sup + loop.liquid / np.where(safe, c_hot, 1.0), np.inf)  # mixed, before the pump
    cdu_heat = np.zeros(n_l)
    if np.any(safe):
        cdu_heat[safe] = cdu_mod.hx_heat_w(
            ua_loop[safe], c_hot[safe], c_cold_loop[safe], t_hot_in[safe], t_fs[l_hall][safe]
        )
    fw_out_loop = np.where(
        safe, t_fs[l_hall] + cdu_heat / np.where(c_cold_loop > 0, c_cold_loop, 1.0), t_fs[l_hall]
    )
    return _Exchangers(ua_loop, eps, t_sup, t_ret, cdu_heat, fw_out_loop)


# ------------------------------------------------------------------------------------------- racks
@dataclass(frozen=True)
class _RackTemps:
    """Coolant temperatures and GPU junctions per rack."""

    cooled: np.ndarray  # (n_racks,) the rack's loop is cooled
    t_in: np.ndarray  # (n_racks,) coolant supply, C
    rise: np.ndarray  # (n_racks,) coolant rise, K
    t_out: np.ndarray  # (n_racks,) coolant return, C
    r_cp: np.ndarray  # (n_racks,) cold-plate resistance at the solved flow, K/W
    p_gpu: np.ndarray  # (n_racks,) power per GPU, W
    t_j: np.ndarray  # (n_racks,) hottest GPU junction, C
    t_thr: np.ndarray  # (n_racks,) throttle temperature, C
    margin: np.ndarray  # (n_racks,) t_thr - t_j, K
    unremoved: np.ndarray  # (n_racks,) liquid heat not removed, W


def _rack_temperatures(
    model: FacilityModel,
    p_rack: np.ndarray,
    p_liq: np.ndarray,
    fluid: _Coolant,
    pumping: _Pumping,
    rejection: _Rejection,
    cdus: _Exchangers,
) -> _RackTemps:
    """Rack outlet T_out = T_sup + P_liq / (m c_p); junction T_j = T_out + P_gpu R(V) (``heat``)."""
    racks = model.racks
    r_loop = racks["loop"].to_numpy()
    q_rack = pumping.hyd.rack_flow_m3_s
    r_cooled = rejection.cooled_loop[r_loop]
    t_in = np.where(r_cooled, cdus.t_sup[r_loop], np.inf)
    rise = heat.coolant_rise_k(p_liq, pumping.m_rack, fluid.cp[r_loop])
    t_out = np.where(r_cooled, t_in + rise, np.inf)
    r_cp = heat.cold_plate_resistance_k_per_w(
        racks["cold_plate_r_k_per_w"].to_numpy(),
        racks["cold_plate_r_conv_fraction"].to_numpy(),
        q_rack,
        racks["design_flow_m3_s"].to_numpy(),
    )
    p_gpu = heat.gpu_power_w(p_rack, racks["other_power_w"].to_numpy(), racks["gpus"].to_numpy())
    with np.errstate(
        invalid="ignore"
    ):  # racks off (valve shut): no GPU power, no flow: junction at the coolant
        t_j = np.where(r_cooled, np.where(p_gpu > 0, heat.junction_temp_c(t_out, p_gpu, r_cp), t_out), np.inf)
    t_thr = racks["t_throttle_c"].to_numpy()
    return _RackTemps(
        cooled=r_cooled,
        t_in=t_in,
        rise=rise,
        t_out=t_out,
        r_cp=r_cp,
        p_gpu=p_gpu,
        t_j=t_j,
        t_thr=t_thr,
        margin=t_thr - t_j,
        unremoved=np.where(r_cooled, 0.0, p_liq),
    )


# ----------------------------------------------------------------------------------- energy balance
def _cdu_check_w(
    model: FacilityModel,
    fluid: _Coolant,
    pumping: _Pumping,
    fw: _FacilityWater,
    rejection: _Rejection,
    cdus: _Exchangers,
    rt: _RackTemps,
) -> np.ndarray:
    """(n_loops,) CDU heat by eps-NTU at the racks' mixed outlet (+ pump rise) against the facility-water supply."""
    n_l = len(model.loops)
    r_loop = model.racks["loop"].to_numpy()
    l_hall = model.loops["hall"].to_numpy()
    safe, c_hot = rejection.cooled_loop, pumping.c_hot
    w_mix = np.where(rt.cooled, pumping.m_rack * fluid.cp[r_loop], 0.0)
    # the CDU bypass (pump minimum flow) returns at the supply temperature
    w_bypass = np.where(safe, pumping.duty.bypass_m3_s * fluid.rho * fluid.cp, 0.0)
    with np.errstate(invalid="ignore"):
        sum_w = np.bincount(r_loop, weights=w_mix, minlength=n_l) + w_bypass
        t_mix = (
            np.bincount(r_loop, weights=w_mix * np.where(rt.cooled, rt.t_out, 0.0), minlength=n_l)
            + w_bypass * np.where(safe, cdus.t_sup, 0.0)
        ) / np.where(sum_w > 0, sum_w, 1.0)
    t_hot_check = np.where(safe, t_mix + pumping.pump_power / np.where(safe, c_hot, 1.0), 0.0)
    t_fs_ok = np.where(rejection.hall_ok, rejection.t_fs, 0.0)
    cdu_check = np.zeros(n_l)
    if np.any(safe):
        cdu_check[safe] = cdu_mod.hx_heat_w(
            cdus.ua_loop[safe], c_hot[safe], fw.c_cold_loop[safe], t_hot_check[safe], t_fs_ok[l_hall][safe]
        )
    return cdu_check


def _rejection_check_w(
    model: FacilityModel,
    cdu_check: np.ndarray,
    fw: _FacilityWater,
    air: _AirSide,
    plant: _Plant,
    rejection: _Rejection,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_halls,) dry-cooler and chiller heat from their own models at the checked facility-water return:
    the return is the flow-weighted mix of the CDU primary outlets (+ air units, FW pumps); dry coolers eps-NTU
    at the solved fan speed and air inlet; chillers C_w (T_dry-cooler outlet - T_supply)."""
    n_h = len(model.halls)
    l_hall = model.loops["hall"].to_numpy()
    rej, c_fw, c_cold_loop = rejection.rej, rejection.c_fw, fw.c_cold_loop
    t_fs_ok = np.where(rejection.hall_ok, rejection.t_fs, 0.0)
    fw_out_check = t_fs_ok[l_hall] + cdu_check / np.where(c_cold_loop > 0, c_cold_loop, 1.0)
    c_fw_h = np.where(c_fw > 0, c_fw, 1.0)
    t_fw_ret = (
        np.bincount(l_hall, weights=c_cold_loop * fw_out_check, minlength=n_h) / c_fw_h
        + (air.served + air.fan_power + fw.pump_power) / c_fw_h
    )
    n_dry = plant.n_dry
    cw_unit = np.where(n_dry > 0, c_fw / np.maximum(n_dry, 1), 0.0)
    dry_check = n_dry * dry_cooler_heat_w(
        rej["fan_speed"],
        plant.ua,
        plant.c_air,
        plant.exponent,
        cw_unit,
        t_fw_ret,
        rej["air_in_c"],
        plant.mass_ratio,
        plant.cp_ratio,
    )
    chill_check = c_fw * (np.where(rejection.hall_ok, rej["dry_out_c"], 0.0) - t_fs_ok)
    return dry_check, chill_check


def _energy_balance(
    model: FacilityModel,
    cond: _Conditions,
    fluid: _Coolant,
    pumping: _Pumping,
    fw: _FacilityWater,
    loop: _LoopHeat,
    air: _AirSide,
    plant: _Plant,
    rejection: _Rejection,
    cdus: _Exchangers,
    rt: _RackTemps,
) -> float:
    """Relative energy-balance error: an independent check, not a re-statement of the solution.

    Heat in = the power figures (IT, pumps, fans). Heat out = what each unit's own model does with the solved
    temperatures and flows (``_cdu_check_w``, ``_rejection_check_w``). A wrong fan speed, CDU inversion, rack
    flow split or supply float shows up here.
    """
    n_h = len(model.halls)
    l_hall = model.loops["hall"].to_numpy()
    safe, hall_ok, c_fw, rej = rejection.cooled_loop, rejection.hall_ok, rejection.c_fw, rejection.rej
    cdu_check = _cdu_check_w(model, fluid, pumping, fw, rejection, cdus, rt)
    loop_res = np.where(safe, loop.heat - cdu_check, 0.0)
    dry_check, chill_check = _rejection_check_w(model, cdu_check, fw, air, plant, rejection)
    hall_in = (
        np.bincount(l_hall, weights=np.where(safe, loop.heat, 0.0), minlength=n_h)
        + air.served
        + air.fan_power
        + fw.pump_power
    )
    hall_res = np.where(hall_ok & (c_fw > 0), hall_in - dry_check - chill_check, 0.0)
    it_power = float(cond.p_rack.sum())
    heat_in = (
        it_power + cond.extra_air.sum() + pumping.pump_power.sum() + fw.pump_power.sum() + air.fan_power.sum()
    )
    heat_out = (
        np.where(hall_ok & (c_fw > 0), dry_check + chill_check, 0.0).sum()
        + np.where(hall_ok, 0.0, rej["chiller_heat_w"]).sum()
        + rejection.unrejected.sum()
        + rejection.unremoved_loops.sum()
        + air.unserved.sum()
        + np.where(hall_ok & (c_fw <= 0), rejection.fw_heat, 0.0).sum()
    )
    denom = max(heat_in, 1.0)
    return (abs(heat_in - heat_out) + np.abs(loop_res).sum() + np.abs(hall_res).sum()) / denom


# --------------------------------------------------------------------------------------------- tables
def _rack_table(
    model: FacilityModel, p_rack: np.ndarray, p_liq: np.ndarray, pumping: _Pumping, rt: _RackTemps
) -> pd.DataFrame:
    racks = model.racks
    q_rack, hyd = pumping.hyd.rack_flow_m3_s, pumping.hyd
    return pd.DataFrame(
        {
            "loop": racks["loop"].to_numpy(),
            "hall": racks["hall"].to_numpy(),
            "rack_power_w": p_rack,
            "liquid_heat_w": p_liq,
            "air_heat_w": p_rack - p_liq,
            "flow_m3_s": q_rack,
            "flow_lpm": q_rack * LPM,
            "flow_lpm_per_kw": np.where(p_rack > 0, q_rack * LPM / np.maximum(p_rack / 1e3, 1e-30), 0.0),
            "flow_setpoint_m3_s": pumping.q_valve,
            "valve_saturated": hyd.valve_saturated,
            "dp_kpa": hyd.rack_dp_pa / 1e3,
            "valve_dp_kpa": hyd.valve_dp_pa / 1e3,
            "coolant_supply_c": rt.t_in,
            "coolant_return_c": rt.t_out,
            "coolant_rise_k": np.where(rt.cooled, rt.rise, np.inf),
            "gpu_power_w": rt.p_gpu,
            "r_cold_plate_k_per_w": rt.r_cp,
            "junction_c": rt.t_j,
            "t_throttle_c": rt.t_thr,
            "margin_k": rt.margin,
            "cooled": rt.cooled,
            "heat_unremoved_w": rt.unremoved,
        }
    )


def _loop_status(
    units: _Units, pumping: _Pumping, fw: _FacilityWater, rejection: _Rejection, installed: np.ndarray
) -> np.ndarray:
    """Why a loop is or is not cooled; a loop that lost every CDU (or every CDU pump / exchanger) says so and
    what it means for its racks (no cooling: ``cooled`` False, their liquid heat unremoved)."""
    cooled, n_hx, n_pump = rejection.cooled_loop, units.n_hx, units.n_pump
    lost = np.char.add(
        np.char.add("all ", installed.astype(str)), " CDUs failed: its racks have no cooling"
    ).astype(object)
    return np.select(
        [
            cooled & pumping.hyd.pump_limited,
            cooled,
            pumping.net.n_per_loop == 0,
            (n_pump == 0) & (n_hx == 0),
            n_pump == 0,
            n_hx == 0,
            fw.c_cold_loop <= 0,
        ],
        [
            "pump-limited",
            "ok",
            "no racks",
            lost,
            "no CDU pump running: its racks have no cooling",
            "no CDU exchanger running: its racks have no cooling",
            "no facility water flow: its racks have no cooling",
        ],
        default="no heat rejection: its racks have no cooling",
    )


def _loop_table(
    model: FacilityModel,
    units: _Units,
    fluid: _Coolant,
    pumping: _Pumping,
    fw: _FacilityWater,
    loop: _LoopHeat,
    rejection: _Rejection,
    cdus: _Exchangers,
) -> pd.DataFrame:
    loops = model.loops
    l_hall = loops["hall"].to_numpy()
    hyd, net, duty, q_pump = pumping.hyd, pumping.net, pumping.duty, pumping.q_pump
    cooled_loop, n_hx, n_pump = rejection.cooled_loop, units.n_hx, units.n_pump
    return pd.DataFrame(
        {
            "name": loops["name"].to_numpy(),
            "hall": l_hall,
            "units": loops["units"].to_numpy(),
            "units_hx_running": n_hx,
            "units_pump_running": n_pump,
            "pumps_running": duty.n_running,
            "racks": net.n_per_loop,
            "heat_w": loop.heat,
            "liquid_heat_w": loop.liquid,
            "flow_setpoint_m3_s": pumping.q_set,
            "flow_m3_s": q_pump,
            "flow_lpm": q_pump * LPM,
            "bypass_flow_m3_s": duty.bypass_m3_s,
            "dp_setpoint_kpa": pumping.dp_set / 1e3,
            "index_dp_kpa": hyd.index_dp_pa / 1e3,
            "valves_saturated": np.bincount(
                model.racks["loop"].to_numpy(), weights=hyd.valve_saturated, minlength=len(loops)
            ).astype(np.int64),
            "pump_speed": duty.speed,
            "pump_limited": hyd.pump_limited,
            "pump_head_kpa": hyd.pump_head_pa / 1e3,
            "pump_efficiency": duty.efficiency,
            "pump_power_w": pumping.pump_power,
            "t_properties_c": fluid.t_mean,
            "rho_kg_m3": fluid.rho,
            "cp_j_kg_k": fluid.cp,
            "ua_w_per_k": cdus.ua_loop,
            "effectiveness": cdus.eps,
            "coolant_supply_c": cdus.t_sup,
            "coolant_return_c": cdus.t_ret,
            "fws_supply_c": rejection.t_fs[l_hall],
            "fws_return_c": cdus.fw_out_loop,
            "fws_capacity_rate_w_per_k": fw.c_cold_loop,
            "firm_capacity_w": (loops["units"].to_numpy() - loops["spare_units"].to_numpy())
            * loops["capacity_w"].to_numpy(),
            "cooled": cooled_loop,
            "status": _loop_status(units, pumping, fw, rejection, loops["units"].to_numpy()),
        }
    )


def _cdu_table(
    model: FacilityModel,
    cond: _Conditions,
    units: _Units,
    pumping: _Pumping,
    rejection: _Rejection,
    cdus: _Exchangers,
) -> pd.DataFrame:
    cdu_rows = model.cdus
    c_loop = cdu_rows["loop"].to_numpy()
    fail, n_hx = cond.fail, units.n_hx
    q_loop, n_run = pumping.q_pump, pumping.duty.n_running
    hx_on = ~fail["cdu"]
    pump_ok = ~(fail["cdu"] | fail["cdu_pump"])
    # staged pumps: the first n_running available pumps of each loop run, the others stand by
    order = np.argsort(c_loop, kind="stable")
    ok_sorted = pump_ok[order].astype(np.int64)
    csum = np.cumsum(ok_sorted)
    start = np.searchsorted(c_loop[order], c_loop[order], side="left")
    rank = np.empty(len(c_loop), np.int64)
    rank[order] = csum - np.where(start > 0, csum[np.maximum(start - 1, 0)], 0) - 1
    pump_on = pump_ok & (rank < n_run[c_loop])
    n_pump = np.maximum(n_run, 1)
    res_cdus = pd.DataFrame(
        {
            "name": cdu_rows["name"].to_numpy(),
            "loop": c_loop,
            "hall": cdu_rows["hall"].to_numpy(),
            "exchanger_running": hx_on,
            "pump_running": pump_on,
            "pump_available": pump_ok,
            "heat_w": np.where(
                hx_on & rejection.cooled_loop[c_loop],
                cdus.cdu_heat[c_loop] / np.maximum(n_hx[c_loop], 1),
                0.0,
            ),
            "flow_m3_s": np.where(pump_on, q_loop[c_loop] / np.maximum(n_pump[c_loop], 1), 0.0),
            "pump_power_w": np.where(
                pump_on, pumping.pump_power[c_loop] / np.maximum(n_pump[c_loop], 1), 0.0
            ),
            "capacity_w": cdu_rows["capacity_w"].to_numpy(),
        }
    )
    res_cdus["load_fraction"] = res_cdus["heat_w"] / res_cdus["capacity_w"]
    return res_cdus


def _heat_rejection_table(
    model: FacilityModel, cond: _Conditions, plant: _Plant, rejection: _Rejection
) -> pd.DataFrame:
    hr = model.heat_rejection
    rej, hr_hall, is_dc = rejection.rej, plant.hr_hall, plant.is_dc
    is_ch = ~is_dc
    hr_on = ~cond.fail["hr"]
    dc_share = np.where(is_dc & hr_on, 1.0 / np.maximum(plant.n_dry[hr_hall], 1), 0.0)
    ch_share = np.where(
        is_ch & hr_on, hr["capacity_w"].to_numpy() / np.maximum(plant.ch_cap[hr_hall], 1e-30), 0.0
    )
    return pd.DataFrame(
        {
            "name": hr["name"].to_numpy(),
            "hall": hr_hall,
            "kind": hr["kind"].to_numpy(),
            "running": hr_on,
            "fan_speed": np.where(is_dc & hr_on, rej["fan_speed"][hr_hall], 0.0),
            "heat_w": rej["dry_heat_w"][hr_hall] * dc_share + rej["chiller_heat_w"][hr_hall] * ch_share,
            "power_w": rej["fan_power_w"][hr_hall] * dc_share + rej["chiller_power_w"][hr_hall] * ch_share,
            "cop": np.where(is_ch & hr_on, rej["chiller_cop"][hr_hall], 0.0),
            "t_air_in_c": np.where(is_dc, rej["air_in_c"][hr_hall], cond.t_amb),
            "water_use_kg_s": rej["water_kg_s"][hr_hall] * dc_share,
            "capacity_w": hr["capacity_w"].to_numpy(),
        }
    )


def _tcs_pump_power_by_hall(model: FacilityModel, pumping: _Pumping) -> np.ndarray:
    return np.bincount(model.loops["hall"].to_numpy(), weights=pumping.pump_power, minlength=len(model.halls))


def _mech_power_by_hall(
    model: FacilityModel, pumping: _Pumping, fw: _FacilityWater, air: _AirSide, rejection: _Rejection
) -> np.ndarray:
    """(n_halls,) W: TCS pumps + facility-water pumps + dry-cooler fans + chillers + air-side fans."""
    rej = rejection.rej
    tcs_pumps_h = _tcs_pump_power_by_hall(model, pumping)
    return tcs_pumps_h + fw.pump_power + rej["fan_power_w"] + rej["chiller_power_w"] + air.fan_power


def _hall_table(
    model: FacilityModel,
    cond: _Conditions,
    p_liq: np.ndarray,
    pumping: _Pumping,
    fw: _FacilityWater,
    air: _AirSide,
    plant: _Plant,
    rejection: _Rejection,
    rt: _RackTemps,
    mech: np.ndarray,
) -> pd.DataFrame:
    n_h = len(model.halls)
    r_hall = model.racks["hall"].to_numpy()
    l_hall = model.loops["hall"].to_numpy()
    rej = rejection.rej
    jh = np.where(rt.cooled, rt.t_j, -np.inf)
    max_j_h = np.full(n_h, -np.inf)
    np.maximum.at(max_j_h, r_hall, jh)
    return pd.DataFrame(
        {
            "name": model.halls["name"].to_numpy(),
            "it_power_w": np.bincount(r_hall, weights=cond.p_rack, minlength=n_h),
            "liquid_heat_w": np.bincount(r_hall, weights=p_liq, minlength=n_h),
            "air_heat_w": air.heat,
            "air_heat_unserved_w": air.unserved,
            "fws_setpoint_c": cond.t_set,
            "fws_supply_c": rejection.t_fs,
            "fws_return_c": rej["return_c"],
            "fws_flow_m3_s": fw.flow,
            "fws_flow_limited": fw.ratio < 1.0,
            "fws_design_flow_m3_s": fw.design_flow,
            "fws_pump_dp_kpa": fw.dp / 1e3,
            "fws_pumps_running": fw.duty.n_running,
            "fws_pump_speed": fw.duty.speed,
            "fws_pump_efficiency": fw.duty.efficiency,
            "stage": rej["stage"],
            "stage_reason": rej["reason"],
            "setpoint_held": rej["setpoint_held"],
            "dry_coolers_running": plant.n_dry,
            "fan_speed": rej["fan_speed"],
            "adiabatic_on": rej["adiabatic_on"],
            "heat_rejected_w": rej["dry_heat_w"] + rej["chiller_heat_w"],
            "chiller_heat_w": rej["chiller_heat_w"],
            "chiller_cop_capped": rej["chiller_cop_capped"],
            "chiller_outside_map": rej["chiller_outside_map"],
            "tcs_pump_power_w": _tcs_pump_power_by_hall(model, pumping),
            "fws_pump_power_w": fw.pump_power,
            "dry_cooler_fan_power_w": rej["fan_power_w"],
            "chiller_power_w": rej["chiller_power_w"],
            "air_fan_power_w": air.fan_power,
            "mech_power_w": mech,
            "water_use_kg_s": rej["water_kg_s"],
            "heat_unremoved_w": np.bincount(l_hall, weights=rejection.unremoved_loops, minlength=n_h)
            + air.unserved
            + rejection.unrejected,
            "max_junction_c": max_j_h,
        }
    )


def _kpis(
    model: FacilityModel,
    cond: _Conditions,
    failed: Iterable[str],
    pumping: _Pumping,
    fw: _FacilityWater,
    air: _AirSide,
    rejection: _Rejection,
    rt: _RackTemps,
    mech: np.ndarray,
    balance: float,
    residual_k: float,
) -> Kpis:
    rej, hyd = rejection.rej, pumping.hyd
    tcs_pumps_h = _tcs_pump_power_by_hall(model, pumping)
    r_cooled, margin = rt.cooled, rt.margin
    cooled_margin = margin[r_cooled]
    return {
        "racks": len(model.racks),
        "it_power_mw": float(cond.p_rack.sum()) / 1e6,
        "cooling_power_mw": float(mech.sum()) / 1e6,
        "pumps_mw": float(tcs_pumps_h.sum() + fw.pump_power.sum()) / 1e6,
        "tcs_pumps_mw": float(tcs_pumps_h.sum()) / 1e6,
        "fws_pumps_mw": float(fw.pump_power.sum()) / 1e6,
        "fans_mw": float(rej["fan_power_w"].sum()) / 1e6,
        "chillers_mw": float(rej["chiller_power_w"].sum()) / 1e6,
        "air_side_mw": float(air.fan_power.sum()) / 1e6,
        "water_use_m3_h": float(rej["water_kg_s"].sum()) * 3.6,  # kg/s of water -> m3/h
        "max_junction_c": float(rt.t_j[r_cooled].max()) if np.any(r_cooled) else None,
        "min_margin_k": float(cooled_margin.min()) if cooled_margin.size else None,
        "racks_over_throttle": int(np.sum(r_cooled & (margin < 0))),
        "racks_cooling_lost": int(np.sum(~r_cooled)),
        "heat_unremoved_mw": float(
            rejection.unremoved_loops.sum() + air.unserved.sum() + rejection.unrejected.sum()
        )
        / 1e6,
        "energy_balance_rel_error": float(balance),
        "ambient_c": cond.t_amb,
        "wet_bulb_c": cond.t_wb,
        "wet_bulb_source": cond.wb_source,
        "chillers_outside_map": int(np.sum(rej["chiller_outside_map"])),
        "chillers_cop_capped": int(np.sum(rej["chiller_cop_capped"])),
        "halls_setpoint_lost": int(np.sum(~rej["setpoint_held"])),
        "loops_pump_limited": int(np.sum(hyd.pump_limited)),
        "loops_cooling_lost": int(np.sum(~rejection.cooled_loop & (pumping.net.n_per_loop > 0))),
        "racks_valve_saturated": int(np.sum(hyd.valve_saturated)),
        "property_temperature_residual_k": float(residual_k),
        "stages": {s: int(np.sum(rej["stage"] == s)) for s in sorted(set(rej["stage"]))},
        "air_heat_unserved_mw": float(air.unserved.sum()) / 1e6,
        "converged": bool(hyd.converged),
        "hydraulics_converged": bool(hyd.converged),
        "hydraulics_iterations": int(hyd.iterations),
        "failed": list(failed) if not isinstance(failed, str) else [failed],
    }


def _transient_start(
    cond: _Conditions,
    p_liq: np.ndarray,
    units: _Units,
    fluid: _Coolant,
    pumping: _Pumping,
    fw: _FacilityWater,
    rejection: _Rejection,
    cdus: _Exchangers,
    rt: _RackTemps,
) -> SteadyState:
    """The arrays ``transient.simulate_transient`` starts from (see ``ThermalResult.state``)."""
    return {
        "p_rack": cond.p_rack,
        "p_liq": p_liq,
        "p_gpu": rt.p_gpu,
        "m_rack": pumping.m_rack,
        "q_rack": pumping.hyd.rack_flow_m3_s,
        "q_loop": pumping.q_pump,
        "cp": fluid.cp,
        "rho": fluid.rho,
        "t_sup": cdus.t_sup,
        "t_ret": cdus.t_ret,
        "t_out": rt.t_out,
        "t_fs": rejection.t_fs,
        "ua_loop": cdus.ua_loop,
        "c_cold_loop": fw.c_cold_loop,
        "pump_power": pumping.pump_power,
        "n_hx": units.n_hx,
        "n_pump": units.n_pump,
        "cat": units.cat,
        "cooled_loop": rejection.cooled_loop,
    }


# ----------------------------------------------------------------------------------------------- chain
_PROPERTY_PASSES = (
    3  # passes of the property fixed point always made (smooth in the inputs: no stopping test)
)
_PROPERTY_PASSES_MAX = 8  # more only while the stream means still move by more than _PROPERTY_TOL_K
_PROPERTY_TOL_K = 1e-4  # K: d ln(rho c_p) / dT ~ 1e-3 /K, so the properties are then consistent to ~1e-7


@dataclass(frozen=True)
class _Chain:
    """One pass of the cooling chain at given property temperatures."""

    fluid: _Coolant
    pumping: _Pumping
    fw: _FacilityWater
    loop: _LoopHeat
    plant: _Plant
    rejection: _Rejection
    cdus: _Exchangers


def _cooling_chain(
    model: FacilityModel,
    cond: _Conditions,
    p_liq: np.ndarray,
    units: _Units,
    air: _AirSide,
    t_loop: np.ndarray,
    t_fw: np.ndarray,
    net: LoopNetwork,
) -> _Chain:
    """Hydraulics, facility water, heat rejection and CDUs with coolant properties at ``t_loop`` (per loop) and
    water properties at ``t_fw`` (per hall)."""
    fluid = _coolant_properties(model, t_loop)
    pumping = _hydraulics(model, cond.p_rack, units, fluid, net, cond.flow_scale)
    fw = _facility_water(model, t_fw, cond.fail, units, fluid)
    loop = _loop_heat(model, p_liq, units, pumping, fw.c_cold_loop)
    plant = _plant(model, cond, fw)
    rejection = _reject_heat(model, cond, loop, fw, air, plant)
    cdus = _exchangers(model, units, pumping, fw, loop, rejection)
    return _Chain(fluid, pumping, fw, loop, plant, rejection, cdus)


def _stream_mean_temperatures(
    ch: _Chain, t_loop: np.ndarray, t_fw: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each stream's supply and return temperature: TCS loops (CDU supply, mixed return) and facility
    water per hall (supply, return). Streams without a steady state keep their previous value."""
    sup, ret = ch.cdus.t_sup, ch.cdus.t_ret
    ok = ch.rejection.cooled_loop & np.isfinite(sup) & np.isfinite(ret)
    t_loop_new = np.where(ok, 0.5 * (np.where(ok, sup, 0.0) + np.where(ok, ret, 0.0)), t_loop)
    fs, fr = ch.rejection.t_fs, ch.rejection.rej["return_c"]
    ok_h = ch.rejection.hall_ok & np.isfinite(fs) & np.isfinite(fr) & (ch.fw.flow > 0)
    t_fw_new = np.where(ok_h, 0.5 * (np.where(ok_h, fs, 0.0) + np.where(ok_h, fr, 0.0)), t_fw)
    return t_loop_new, t_fw_new


def solve_thermal(
    model: FacilityModel,
    *,
    rack_power_w=None,
    ambient_c=None,
    supply_c=None,
    it_load: float = 1.0,
    failed: Iterable[str] = (),
    extra_air_heat_w_by_hall=None,
    wet_bulb_c=None,
    t_start=None,
    tcs_flow_scale=None,
) -> ThermalResult:
    """Steady-state thermal-hydraulic solution of the facility (see module docstring).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility (``twin.model.load_model``).
    rack_power_w : array-like of float, shape (n_racks,), optional
        IT power of every rack, W. Default ``it_load * power_maxp_w``.
    ambient_c : float, optional
        Outdoor dry bulb, C (-40..60). Default the site's design dry bulb.
    supply_c : float or array-like of shape (n_halls,), optional
        Facility-water supply setpoint, C (5..70): one for every hall, or one per hall (NaN: that hall's layout
        setpoint). Default each hall's layout setpoint.
    it_load : float, default 1.0
        Fraction of each rack's maximum power (0..10), used when ``rack_power_w`` is not given.
    failed : iterable of str, default ()
        Names of failed units: CDUs ('.../cdu-2'), a CDU's pump ('.../cdu-2/pump'), heat-rejection units
        ('hall/dc-3', 'hall/ch-1'), facility-water pumps ('hall/fw-pump-1'), air-side units.
    extra_air_heat_w_by_hall : array-like of float, shape (n_halls,), optional
        Other heat on the air side of each hall (e.g. network switches), W.
    wet_bulb_c : float, optional
        Outdoor wet bulb, C. Default the site's design wet bulb, or with ``ambient_c`` given the wet bulb of air
        at that dry bulb holding the site's design humidity ratio.
    t_start : tuple of numpy.ndarray, optional
        Warm start of the coolant-property fixed point: the stream mean temperatures per loop and per hall, C
        (``ThermalResult.property_temps_c`` of a nearby solve). The passes then stop as soon as the stream
        means move by at most ``_PROPERTY_TOL_K`` (properties consistent to ~1e-7) instead of always making
        ``_PROPERTY_PASSES``; without it the result is a smooth function of the inputs.
    tcs_flow_scale : float or array-like of shape (n_halls,), optional
        TCS flow per kW setpoint of every rack's flow-control valve over its design value (one, or one per
        hall; 0.5..2). Default 1 (the design flow per kW).

    Returns
    -------
    ThermalResult
        Tables ``res_racks``, ``res_loops``, ``res_cdus``, ``res_heat_rejection``, ``res_halls`` (units in the
        column names: W, C, K, m3/s, kPa), ``kpis``, ``mech_power_w_by_hall`` (W) and the transient start state.

    Raises
    ------
    InputError
        An argument out of range or an unknown unit name.
    """
    return solve_thermal_state(
        model,
        rack_power_w=rack_power_w,
        ambient_c=ambient_c,
        supply_c=supply_c,
        it_load=it_load,
        failed=failed,
        extra_air_heat_w_by_hall=extra_air_heat_w_by_hall,
        wet_bulb_c=wet_bulb_c,
        t_start=t_start,
        tcs_flow_scale=tcs_flow_scale,
    ).result()


@dataclass(frozen=True)
class ThermalState:
    """A solved thermal steady state before its result tables are built (the coupled fixed point reads the few
    arrays it needs from each pass and builds the tables of the last pass only): ``result()`` gives the
    ``ThermalResult`` that ``solve_thermal`` returns."""

    model: FacilityModel
    cond: _Conditions
    failed: tuple
    p_liq: np.ndarray
    units: _Units
    air: _AirSide
    ch: _Chain
    rt: _RackTemps
    mech_power_w_by_hall: np.ndarray  # W per hall
    residual_k: float
    property_temps_c: tuple[np.ndarray, np.ndarray]

    @property
    def cooled(self) -> np.ndarray:
        """(n_racks,) bool: the rack's loop is cooled."""
        return self.rt.cooled

    @property
    def junction_c(self) -> np.ndarray:
        """(n_racks,) hottest GPU junction, C."""
        return self.rt.t_j

    @property
    def r_cold_plate_k_per_w(self) -> np.ndarray:
        """(n_racks,) cold-plate resistance at the solved flow, K/W."""
        return self.rt.r_cp

    def result(self) -> ThermalResult:
        model, cond, p_liq, units, air, rt, mech = (
            self.model,
            self.cond,
            self.p_liq,
            self.units,
            self.air,
            self.rt,
            self.mech_power_w_by_hall,
        )
        fluid, pumping, fw, loop, plant, rejection, cdus = (
            self.ch.fluid,
            self.ch.pumping,
            self.ch.fw,
            self.ch.loop,
            self.ch.plant,
            self.ch.rejection,
            self.ch.cdus,
        )
        balance = _energy_balance(model, cond, fluid, pumping, fw, loop, air, plant, rejection, cdus, rt)
        return ThermalResult(
            res_racks=_rack_table(model, cond.p_rack, p_liq, pumping, rt),
            res_loops=_loop_table(model, units, fluid, pumping, fw, loop, rejection, cdus),
            res_cdus=_cdu_table(model, cond, units, pumping, rejection, cdus),
            res_heat_rejection=_heat_rejection_table(model, cond, plant, rejection),
            res_halls=_hall_table(model, cond, p_liq, pumping, fw, air, plant, rejection, rt, mech),
            kpis=_kpis(
                model, cond, self.failed, pumping, fw, air, rejection, rt, mech, balance, self.residual_k
            ),
            mech_power_w_by_hall=mech,
            converged=bool(pumping.hyd.converged),
            state=_transient_start(cond, p_liq, units, fluid, pumping, fw, rejection, cdus, rt),
            property_temps_c=self.property_temps_c,
        )


def solve_thermal_state(
    model: FacilityModel,
    *,
    rack_power_w=None,
    ambient_c=None,
    supply_c=None,
    it_load: float = 1.0,
    failed: Iterable[str] = (),
    extra_air_heat_w_by_hall=None,
    wet_bulb_c=None,
    t_start=None,
    max_passes: int | None = None,
    tcs_flow_scale=None,
) -> ThermalState:
    """``solve_thermal`` without building its tables (same arguments): the solved ``ThermalState``.

    ``max_passes`` (with ``t_start`` only) caps the passes of the coolant-property fixed point: a caller that
    solves again from this state (the coupled fixed point) may take a first pass before the properties have
    settled; ``ThermalState.residual_k`` tells how far they were from it."""
    cond = _conditions(
        model,
        rack_power_w,
        ambient_c,
        supply_c,
        it_load,
        failed,
        extra_air_heat_w_by_hall,
        wet_bulb_c,
        tcs_flow_scale,
    )
    p_liq = model.racks["liquid_fraction"].to_numpy() * cond.p_rack
    units = _running_units(model, cond.fail)
    air = _air_side(model, cond.p_rack - p_liq, cond)
    min_passes = _PROPERTY_PASSES
    t_loop, t_fw = _first_mean_temperatures(model, cond)
    if t_start is not None:
        t0_loop, t0_fw = (np.asarray(x, dtype=float) for x in t_start)
        if t0_loop.shape == t_loop.shape and t0_fw.shape == t_fw.shape:
            ok_l, ok_h = np.isfinite(t0_loop), np.isfinite(t0_fw)
            t_loop, t_fw = np.where(ok_l, t0_loop, t_loop), np.where(ok_h, t0_fw, t_fw)
            min_passes = 1
    net = build_network(
        model.racks["loop"].to_numpy(), len(model.loops), model.loops["manifold_length_m"].to_numpy()
    )
    n_max = _PROPERTY_PASSES_MAX
    if max_passes is not None and min_passes == 1:
        n_max = max(1, min(int(max_passes), _PROPERTY_PASSES_MAX))
    for k in range(n_max):
        ch = _cooling_chain(model, cond, p_liq, units, air, t_loop, t_fw, net)
        t_loop_new, t_fw_new = _stream_mean_temperatures(ch, t_loop, t_fw)
        residual_k = float(
            max(
                np.max(np.abs(t_loop_new - t_loop), initial=0.0), np.max(np.abs(t_fw_new - t_fw), initial=0.0)
            )
        )
        t_loop, t_fw = t_loop_new, t_fw_new
        if k + 1 >= min_passes and residual_k <= _PROPERTY_TOL_K:
            break
    rt = _rack_temperatures(model, cond.p_rack, p_liq, ch.fluid, ch.pumping, ch.rejection, ch.cdus)
    mech = _mech_power_by_hall(model, ch.pumping, ch.fw, air, ch.rejection)
    return ThermalState(model, cond, failed, p_liq, units, air, ch, rt, mech, residual_k, (t_loop, t_fw))
