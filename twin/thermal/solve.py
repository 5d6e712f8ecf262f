"""Steady state of the whole facility: rack power -> flows, temperatures, junctions and the power of cooling.

Order of the solution (each stage closed-form or a monotone 1-D solve, so the energy balance closes to round-off):
  1. hydraulics of every TCS loop at once (``hydraulics.solve_loops``), pumps at the flow-per-kW setpoint;
  2. heat into each loop = rack liquid heat + pump power (pump work ends up in the coolant);
  3. facility water per hall: CDU primary flows, FWS pumps, air side; heat rejection holds the supply setpoint
     (``heat_rejection.solve_heat_rejection``);
  4. each CDU (eps-NTU) then fixes its loop's supply temperature, and the racks their outlet and junctions.
Coolant properties are taken once per loop at its design mean temperature (``properties``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.thermal import cdu as cdu_mod
from twin.thermal import heat
from twin.thermal.heat_rejection import dry_cooler_heat_w, dry_cooler_rating, solve_heat_rejection
from twin.thermal.hydraulics import balancing_valves, build_network, pump_curve_constants, solve_loops
from twin.thermal.properties import (
    air_pressure_pa,
    air_properties,
    coolant_properties,
    humidity_ratio,
    wet_bulb_at_humidity_ratio_c,
)
from twin.thermal.results import ThermalResult

LPM = 60000.0  # m3/s -> L/min


def _check_scalar(name: str, value, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{name} = {value} is outside {lo:g}..{hi:g}")
    return v


def _parse_failures(model, failed: Iterable[str]) -> dict:
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


def _loop_catalog(model) -> dict:
    """Per-loop CDU catalog figures (a loop over the few distinct CDU models)."""
    loops = model.loops
    n = len(loops)
    out = {
        k: np.zeros(n)
        for k in ("shutoff_ratio", "min_flow_fraction", "pump_ramp_s", "failover_s", "ua_flow_exponent")
    }
    names = loops["cdu"].to_numpy()
    for name in np.unique(names):
        c = model.catalog.get("cdus", name)
        sel = names == name
        out["shutoff_ratio"][sel] = c.pump_shutoff_head_ratio
        out["min_flow_fraction"][sel] = c.min_flow_fraction
        out["pump_ramp_s"][sel] = c.pump_ramp_s
        out["failover_s"][sel] = c.failover_s
        out["ua_flow_exponent"][sel] = c.ua_flow_exponent
    return out


def _wet_bulb(site, t_amb: float, ambient_given: bool, wet_bulb_c, p_air: float) -> tuple[float, str]:
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


def solve_thermal(
    model,
    *,
    rack_power_w=None,
    ambient_c=None,
    supply_c=None,
    it_load: float = 1.0,
    failed: Iterable[str] = (),
    extra_air_heat_w_by_hall=None,
    wet_bulb_c=None,
) -> ThermalResult:
    """Steady-state thermal-hydraulic solution of the facility (see module docstring).

    rack_power_w: (n_racks,) W, default ``it_load * power_maxp_w``. ambient_c / wet_bulb_c: default the site's
    design dry / wet bulb. supply_c overrides every hall's facility-water setpoint. failed: unit names.
    extra_air_heat_w_by_hall: (n_halls,) W of other heat on the air side (e.g. network switches).
    """
    site = model.layout.site
    racks, loops, halls, fws = model.racks, model.loops, model.halls, model.fws
    n_r, n_l, n_h = len(racks), len(loops), len(halls)
    it_load = _check_scalar("it_load", it_load, 0.0, 10.0)
    t_amb = _check_scalar("ambient_c", site.design_ambient_c if ambient_c is None else ambient_c, -40.0, 60.0)
    p_air = air_pressure_pa(site.altitude_m)
    t_wb, wb_source = _wet_bulb(site, t_amb, ambient_c is not None, wet_bulb_c, p_air)
    if t_wb > t_amb:
        raise InputError(f"wet_bulb_c {t_wb} C is above the dry bulb {t_amb} C")
    t_set = fws["supply_c"].to_numpy(dtype=float).copy()
    if supply_c is not None:
        t_set[:] = _check_scalar("supply_c", supply_c, 5.0, 70.0)
    maxp = racks["power_maxp_w"].to_numpy()
    if rack_power_w is None:
        p_rack = it_load * maxp
    else:
        p_rack = np.asarray(rack_power_w, dtype=float)
        if p_rack.shape != (n_r,):
            raise InputError(f"rack_power_w must have one value per rack ({n_r}), got shape {p_rack.shape}")
        if not np.all(np.isfinite(p_rack)) or np.any(p_rack < 0):
            raise InputError("rack_power_w must be finite and >= 0 for every rack")
    extra_air = np.zeros(n_h)
    if extra_air_heat_w_by_hall is not None:
        extra_air = np.asarray(extra_air_heat_w_by_hall, dtype=float)
        if extra_air.shape != (n_h,) or not np.all(np.isfinite(extra_air)) or np.any(extra_air < 0):
            raise InputError(f"extra_air_heat_w_by_hall must be {n_h} finite values >= 0")
    fail = _parse_failures(model, failed)

    # ---- racks and loops: static data
    r_loop = racks["loop"].to_numpy()
    r_hall = racks["hall"].to_numpy()
    lf = racks["liquid_fraction"].to_numpy()
    qd = racks["design_flow_m3_s"].to_numpy()
    p_liq = lf * p_rack
    p_air_rack = p_rack - p_liq
    l_hall = loops["hall"].to_numpy()
    units = loops["units"].to_numpy()
    cat = _loop_catalog(model)
    cdu_loop = model.cdus["loop"].to_numpy()
    hx_failed = np.bincount(cdu_loop, weights=fail["cdu"], minlength=n_l).astype(np.int64)
    pump_failed = np.bincount(cdu_loop, weights=fail["cdu"] | fail["cdu_pump"], minlength=n_l).astype(
        np.int64
    )
    n_hx = units - hx_failed
    n_pump = units - pump_failed

    # ---- coolant properties per loop at the design mean temperature (one table lookup per loop)
    coolant = loops["coolant"].to_numpy()
    t_sup_design = t_set[l_hall] + loops["approach_k"].to_numpy()
    props = {k: np.zeros(n_l) for k in ("rho_kg_m3", "cp_j_kg_k", "mu_pa_s")}
    pmaxp_liq_loop = np.bincount(r_loop, weights=lf * maxp, minlength=n_l)
    qd_loop = np.bincount(r_loop, weights=qd, minlength=n_l)
    for c in np.unique(coolant):
        sel = coolant == c
        p0 = coolant_properties(c, t_sup_design[sel])
        rise = np.where(
            qd_loop[sel] > 0,
            pmaxp_liq_loop[sel] / np.maximum(p0["rho_kg_m3"] * p0["cp_j_kg_k"] * qd_loop[sel], 1e-30),
            0.0,
        )
        p1 = coolant_properties(c, np.minimum(t_sup_design[sel] + rise / 2, 100.0))
        for k in props:
            props[k][sel] = p1[k]
    rho, cp, mu = props["rho_kg_m3"], props["cp_j_kg_k"], props["mu_pa_s"]

    # ---- hydraulics
    net = build_network(r_loop, n_l, loops["manifold_length_m"].to_numpy())
    dia = loops["manifold_diameter_m"].to_numpy()
    rough = loops["pipe_roughness_m"].to_numpy()
    dpd = racks["dp_design_pa"].to_numpy()
    nexp = racks["dp_exponent"].to_numpy()
    kv = balancing_valves(net, qd, dpd, dia, rough, rho, mu)
    rated_q = loops["flow_m3_s"].to_numpy()
    h0, kp = pump_curve_constants(rated_q, loops["pump_head_pa"].to_numpy(), cat["shutoff_ratio"])
    load_flow = np.bincount(r_loop, weights=qd * p_rack / maxp, minlength=n_l)  # flow-per-kW setpoint
    q_set = np.maximum(load_flow, cat["min_flow_fraction"] * rated_q * n_pump)
    q_set = np.where((n_pump > 0) & (net.n_per_loop > 0), q_set, 0.0)
    hyd = solve_loops(
        net,
        flow_setpoint_m3_s=q_set,
        n_pumps=n_pump,
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
    q_rack = hyd.rack_flow_m3_s
    q_loop = hyd.loop_flow_m3_s
    pump_power = hyd.pump_head_pa * q_loop / loops["pump_efficiency"].to_numpy()
    m_rack = q_rack * rho[r_loop]
    c_hot = q_loop * rho * cp

    # ---- facility water: CDU primary flows (rated capacity rate per running CDU), FWS pumps
    c_cold_unit = rated_q * rho * cp  # balanced rating (see cdu module)
    ua_unit = cdu_mod.rated_ua_w_per_k(loops["capacity_w"].to_numpy(), loops["approach_k"].to_numpy())
    fw_props = coolant_properties("water", t_set)
    c_cold_loop = n_hx * c_cold_unit
    fw_flow_need = np.bincount(l_hall, weights=c_cold_loop, minlength=n_h) / (
        fw_props["rho_kg_m3"] * fw_props["cp_j_kg_k"]
    )
    fw_units = fws["pump_units"].to_numpy()
    fw_running = fw_units - fail["fw_pump"]
    fw_q_unit = np.zeros(n_h)
    fw_head = np.zeros(n_h)
    fw_eff = np.ones(n_h)
    fw_sys_head = np.zeros(n_h)
    for i, name in enumerate(fws["pump"].to_numpy()):  # one pump model per hall
        pm = model.catalog.get("pumps", name)
        fw_q_unit[i], fw_head[i], fw_eff[i] = pm.flow_m3_s, pm.head_kpa * 1e3, pm.efficiency
        fw_sys_head[i] = (pm.system_head_kpa or pm.head_kpa) * 1e3
    fw_cap = fw_running * fw_q_unit
    fw_ratio = np.where(fw_flow_need > 0, np.minimum(1.0, fw_cap / np.maximum(fw_flow_need, 1e-30)), 1.0)
    fw_flow = fw_flow_need * fw_ratio
    c_cold_loop = c_cold_loop * fw_ratio[l_hall]
    # system curve of the facility-water pipework, anchored at its design point: the design flow carries the
    # installed CDUs' rated heat at their primary dT (Q_d = sum Q_r / (rho c_p dT_p), dT_p = Q_r / C_r), against
    # the loop's design head H_d (catalog ``system_head_kpa``); dp = H_d (Q / Q_d)^2 (turbulent pipework)
    cap_loop = units * loops["capacity_w"].to_numpy()
    dt_primary = loops["capacity_w"].to_numpy() / np.where(c_cold_unit > 0, c_cold_unit, 1.0)
    fw_design_flow = np.bincount(
        l_hall, weights=cap_loop / np.where(dt_primary > 0, dt_primary, 1.0), minlength=n_h
    ) / (fw_props["rho_kg_m3"] * fw_props["cp_j_kg_k"])
    fw_dp = np.where(
        fw_design_flow > 0,
        fw_sys_head * (fw_flow / np.where(fw_design_flow > 0, fw_design_flow, 1.0)) ** 2,
        0.0,
    )
    fw_pump_power = np.where(fw_running > 0, fw_dp * fw_flow / fw_eff, 0.0)

    cooled_loop = (q_loop > 0) & (n_hx > 0) & (c_cold_loop > 0)
    liq_loop = np.bincount(r_loop, weights=p_liq, minlength=n_l)
    q_loop_heat = liq_loop + pump_power  # all pump power ends up in the coolant (wet-rotor assumption)

    # ---- air side
    air = model.air_units
    a_hall = air["hall"].to_numpy(dtype=np.int64)
    a_ok = ~fail["air"]
    air_heat = np.bincount(r_hall, weights=p_air_rack, minlength=n_h) + extra_air
    air_cap = np.bincount(a_hall, weights=air["capacity_w"].to_numpy(dtype=float) * a_ok, minlength=n_h)
    air_fan_rated = np.bincount(
        a_hall, weights=air["fan_power_w"].to_numpy(dtype=float) * a_ok, minlength=n_h
    )
    air_served = np.minimum(air_heat, air_cap)
    air_unserved = air_heat - air_served
    air_fan_power = np.where(air_cap > 0, air_fan_rated * air_served / np.maximum(air_cap, 1e-30), 0.0)

    # ---- heat rejection per hall
    fw_heat = (
        np.bincount(l_hall, weights=np.where(cooled_loop, q_loop_heat, 0.0), minlength=n_h)
        + air_served
        + air_fan_power
        + fw_pump_power
    )
    hr = model.heat_rejection
    hr_hall = hr["hall"].to_numpy()
    is_dc = (hr["kind"] == "dry_cooler").to_numpy()
    is_ch = ~is_dc
    n_dry = np.bincount(hr_hall, weights=is_dc & ~fail["hr"], minlength=n_h).astype(np.int64)
    ch_cap = np.bincount(
        hr_hall, weights=np.where(is_ch & ~fail["hr"], hr["capacity_w"].to_numpy(), 0.0), minlength=n_h
    )
    ua_dc, ca_dc, exp_dc, fan_dc, adi_eff, adi_ok, mass_ratio, cp_ratio = (np.zeros(n_h) for _ in range(8))
    air_amb = air_properties(t_amb, p_air)  # the air the fans actually move (not the rating's 35 C air)
    chillers = []
    for i in range(n_h):  # a handful of halls
        dc = model.catalog.get("dry_coolers", fws["dry_cooler"].iat[i])
        rat = dry_cooler_rating(dc, float(fw_props["cp_j_kg_k"][i]))
        ua_dc[i], ca_dc[i], fan_dc[i] = rat["ua_w_per_k"], rat["c_air_w_per_k"], rat["fan_power_w"]
        mass_ratio[i] = float(air_amb["rho_kg_m3"]) / rat["air_rho_kg_m3"]
        cp_ratio[i] = float(air_amb["cp_j_kg_k"]) / rat["air_cp_j_kg_k"]
        exp_dc[i] = dc.ua_airflow_exponent
        adi_ok[i] = bool(fws["adiabatic"].iat[i]) and dc.adiabatic
        adi_eff[i] = dc.adiabatic_effectiveness
        ch = fws["chiller"].iat[i]
        chillers.append(model.catalog.get("chillers", ch) if ch else None)
    c_fw = fw_flow * fw_props["rho_kg_m3"] * fw_props["cp_j_kg_k"]
    rej = solve_heat_rejection(
        heat_w=fw_heat,
        c_water_w_per_k=c_fw,
        setpoint_c=t_set,
        ambient_c=t_amb,
        wet_bulb_c=t_wb,
        n_dry=n_dry,
        ua_rated=ua_dc,
        c_air_rated=ca_dc,
        exponent=exp_dc,
        fan_power_rated_w=fan_dc,
        adiabatic_ok=adi_ok.astype(bool),
        adiabatic_eff=adi_eff,
        chiller_capacity_w=ch_cap,
        chillers=chillers,
        air_mass_ratio=mass_ratio,
        air_cp_ratio=cp_ratio,
    )
    t_fs = rej["supply_c"]
    hall_ok = np.isfinite(t_fs)  # False: no running dry cooler and chillers too small, no steady state
    unremoved_loops = np.where(cooled_loop, 0.0, q_loop_heat)  # heat that never reaches the facility water
    cooled_loop &= hall_ok[l_hall]

    # ---- CDUs: loop supply temperature from eps-NTU at the facility-water supply of the hall; UA at the actual
    # flows per exchanger on both sides (flow ratios as capacity-rate ratios: the same fluids as the rating)
    per_hx = np.where(n_hx > 0, n_hx * c_cold_unit, 1.0)
    ua_loop = n_hx * cdu_mod.ua_at_flow_w_per_k(
        ua_unit, c_hot / per_hx, c_cold_loop / per_hx, cat["ua_flow_exponent"]
    )
    safe = cooled_loop
    t_hot_in = np.full(n_l, np.inf)
    eps = np.zeros(n_l)
    if np.any(safe):
        th, ep = cdu_mod.hot_inlet_for_duty_c(
            q_loop_heat[safe], ua_loop[safe], c_hot[safe], c_cold_loop[safe], t_fs[l_hall][safe]
        )
        t_hot_in[safe], eps[safe] = th, ep
    t_sup = np.where(safe, t_hot_in - q_loop_heat / np.where(safe, c_hot, 1.0), np.inf)
    t_ret = np.where(safe, t_sup + liq_loop / np.where(safe, c_hot, 1.0), np.inf)  # mixed, before the pump
    cdu_heat = np.zeros(n_l)
    if np.any(safe):
        cdu_heat[safe] = cdu_mod.hx_heat_w(
            ua_loop[safe], c_hot[safe], c_cold_loop[safe], t_hot_in[safe], t_fs[l_hall][safe]
        )
    fw_out_loop = np.where(
        safe, t_fs[l_hall] + cdu_heat / np.where(c_cold_loop > 0, c_cold_loop, 1.0), t_fs[l_hall]
    )

    # ---- racks
    r_cooled = cooled_loop[r_loop]
    t_in = np.where(r_cooled, t_sup[r_loop], np.inf)
    rise = heat.coolant_rise_k(p_liq, m_rack, cp[r_loop])
    t_out = np.where(r_cooled, t_in + rise, np.inf)
    r_cp = heat.cold_plate_resistance_k_per_w(
        racks["cold_plate_r_k_per_w"].to_numpy(), racks["cold_plate_r_conv_fraction"].to_numpy(), q_rack, qd
    )
    p_gpu = heat.gpu_power_w(p_rack, racks["other_power_w"].to_numpy(), racks["gpus"].to_numpy())
    with np.errstate(invalid="ignore"):  # racks without flow: 0 W x infinite R, masked below
        t_j = np.where(r_cooled, heat.junction_temp_c(t_out, p_gpu, r_cp), np.inf)
    t_thr = racks["t_throttle_c"].to_numpy()
    margin = t_thr - t_j
    unremoved_rack = np.where(r_cooled, 0.0, p_liq)

    # ---- energy balance: an independent check, not a re-statement of the solution. Heat in = the power figures
    # (IT, pumps, fans). Heat out = what each unit's own model does with the solved temperatures and flows:
    #   CDU: eps-NTU at the racks' mixed outlet (+ pump rise) against the facility-water supply;
    #   facility-water return = flow-weighted mix of the CDU primary outlets (+ air units, FW pumps);
    #   dry coolers: eps-NTU at the solved fan speed and air inlet with that return temperature;
    #   chillers: C_w (T_dry-cooler outlet - T_supply) from the heat-rejection temperatures.
    # A wrong fan speed, CDU inversion, rack flow split or supply float shows up here.
    w_mix = np.where(r_cooled, m_rack * cp[r_loop], 0.0)
    with np.errstate(invalid="ignore"):
        sum_w = np.bincount(r_loop, weights=w_mix, minlength=n_l)
        t_mix = np.bincount(r_loop, weights=w_mix * np.where(r_cooled, t_out, 0.0), minlength=n_l) / np.where(
            sum_w > 0, sum_w, 1.0
        )
    t_hot_check = np.where(safe, t_mix + pump_power / np.where(safe, c_hot, 1.0), 0.0)
    t_fs_ok = np.where(hall_ok, t_fs, 0.0)
    cdu_check = np.zeros(n_l)
    if np.any(safe):
        cdu_check[safe] = cdu_mod.hx_heat_w(
            ua_loop[safe], c_hot[safe], c_cold_loop[safe], t_hot_check[safe], t_fs_ok[l_hall][safe]
        )
    loop_res = np.where(safe, q_loop_heat - cdu_check, 0.0)
    fw_out_check = t_fs_ok[l_hall] + cdu_check / np.where(c_cold_loop > 0, c_cold_loop, 1.0)
    c_fw_h = np.where(c_fw > 0, c_fw, 1.0)
    t_fw_ret = (
        np.bincount(l_hall, weights=c_cold_loop * fw_out_check, minlength=n_h) / c_fw_h
        + (air_served + air_fan_power + fw_pump_power) / c_fw_h
    )
    cw_unit = np.where(n_dry > 0, c_fw / np.maximum(n_dry, 1), 0.0)
    dry_check = n_dry * dry_cooler_heat_w(
        rej["fan_speed"], ua_dc, ca_dc, exp_dc, cw_unit, t_fw_ret, rej["air_in_c"], mass_ratio, cp_ratio
    )
    chill_check = c_fw * (np.where(hall_ok, rej["dry_out_c"], 0.0) - t_fs_ok)
    hall_in = (
        np.bincount(l_hall, weights=np.where(safe, q_loop_heat, 0.0), minlength=n_h)
        + air_served
        + air_fan_power
        + fw_pump_power
    )
    hall_res = np.where(hall_ok & (c_fw > 0), hall_in - dry_check - chill_check, 0.0)
    unrejected = np.where(hall_ok, 0.0, fw_heat - rej["chiller_heat_w"])
    it_power = float(p_rack.sum())
    heat_in = it_power + extra_air.sum() + pump_power.sum() + fw_pump_power.sum() + air_fan_power.sum()
    heat_out = (
        np.where(hall_ok & (c_fw > 0), dry_check + chill_check, 0.0).sum()
        + np.where(hall_ok, 0.0, rej["chiller_heat_w"]).sum()
        + unrejected.sum()
        + unremoved_loops.sum()
        + air_unserved.sum()
        + np.where(hall_ok & (c_fw <= 0), fw_heat, 0.0).sum()
    )
    denom = max(heat_in, 1.0)
    balance = (abs(heat_in - heat_out) + np.abs(loop_res).sum() + np.abs(hall_res).sum()) / denom

    # ---- tables
    res_racks = pd.DataFrame(
        {
            "loop": r_loop,
            "hall": r_hall,
            "power_w": p_rack,
            "liquid_heat_w": p_liq,
            "air_heat_w": p_air_rack,
            "flow_m3_s": q_rack,
            "flow_lpm": q_rack * LPM,
            "flow_lpm_per_kw": np.where(p_rack > 0, q_rack * LPM / np.maximum(p_rack / 1e3, 1e-30), 0.0),
            "dp_kpa": hyd.rack_dp_pa / 1e3,
            "valve_dp_kpa": hyd.valve_dp_pa / 1e3,
            "t_inlet_c": t_in,
            "t_outlet_c": t_out,
            "dt_k": np.where(r_cooled, rise, np.inf),
            "gpu_power_w": p_gpu,
            "r_cold_plate_k_per_w": r_cp,
            "t_junction_max_c": t_j,
            "t_throttle_c": t_thr,
            "margin_k": margin,
            "cooled": r_cooled,
            "heat_unremoved_w": unremoved_rack,
        }
    )
    l_status = np.select(
        [
            cooled_loop & hyd.pump_limited,
            cooled_loop,
            net.n_per_loop == 0,
            n_pump == 0,
            n_hx == 0,
            c_cold_loop <= 0,
        ],
        ["pump-limited", "ok", "no racks", "no pump running", "no CDU exchanger", "no facility water flow"],
        default="no heat rejection",
    )
    res_loops = pd.DataFrame(
        {
            "name": loops["name"].to_numpy(),
            "hall": l_hall,
            "units": units,
            "units_hx_running": n_hx,
            "units_pump_running": n_pump,
            "racks": net.n_per_loop,
            "heat_w": q_loop_heat,
            "liquid_heat_w": liq_loop,
            "flow_setpoint_m3_s": q_set,
            "flow_m3_s": q_loop,
            "flow_lpm": q_loop * LPM,
            "pump_speed": hyd.pump_speed,
            "pump_limited": hyd.pump_limited,
            "pump_head_kpa": hyd.pump_head_pa / 1e3,
            "pump_power_w": pump_power,
            "rho_kg_m3": rho,
            "cp_j_kg_k": cp,
            "ua_w_per_k": ua_loop,
            "effectiveness": eps,
            "t_supply_c": t_sup,
            "t_return_c": t_ret,
            "fws_in_c": t_fs[l_hall],
            "fws_out_c": fw_out_loop,
            "fws_capacity_rate_w_per_k": c_cold_loop,
            "firm_capacity_w": (units - loops["spare_units"].to_numpy()) * loops["capacity_w"].to_numpy(),
            "cooled": cooled_loop,
            "status": l_status,
        }
    )
    cdus = model.cdus
    c_loop = cdu_loop
    hx_on = ~fail["cdu"]
    pump_on = ~(fail["cdu"] | fail["cdu_pump"])
    res_cdus = pd.DataFrame(
        {
            "name": cdus["name"].to_numpy(),
            "loop": c_loop,
            "hall": cdus["hall"].to_numpy(),
            "exchanger_running": hx_on,
            "pump_running": pump_on,
            "heat_w": np.where(
                hx_on & cooled_loop[c_loop], cdu_heat[c_loop] / np.maximum(n_hx[c_loop], 1), 0.0
            ),
            "flow_m3_s": np.where(pump_on, q_loop[c_loop] / np.maximum(n_pump[c_loop], 1), 0.0),
            "pump_power_w": np.where(pump_on, pump_power[c_loop] / np.maximum(n_pump[c_loop], 1), 0.0),
            "capacity_w": cdus["capacity_w"].to_numpy(),
        }
    )
    res_cdus["load_fraction"] = res_cdus["heat_w"] / res_cdus["capacity_w"]
    hr_on = ~fail["hr"]
    dc_share = np.where(is_dc & hr_on, 1.0 / np.maximum(n_dry[hr_hall], 1), 0.0)
    ch_share = np.where(is_ch & hr_on, hr["capacity_w"].to_numpy() / np.maximum(ch_cap[hr_hall], 1e-30), 0.0)
    res_hr = pd.DataFrame(
        {
            "name": hr["name"].to_numpy(),
            "hall": hr_hall,
            "kind": hr["kind"].to_numpy(),
            "running": hr_on,
            "fan_speed": np.where(is_dc & hr_on, rej["fan_speed"][hr_hall], 0.0),
            "heat_w": rej["dry_heat_w"][hr_hall] * dc_share + rej["chiller_heat_w"][hr_hall] * ch_share,
            "power_w": rej["fan_power_w"][hr_hall] * dc_share + rej["chiller_power_w"][hr_hall] * ch_share,
            "cop": np.where(is_ch & hr_on, rej["chiller_cop"][hr_hall], 0.0),
            "t_air_in_c": np.where(is_dc, rej["air_in_c"][hr_hall], t_amb),
            "water_use_kg_s": rej["water_kg_s"][hr_hall] * dc_share,
            "capacity_w": hr["capacity_w"].to_numpy(),
        }
    )
    tcs_pumps_h = np.bincount(l_hall, weights=pump_power, minlength=n_h)
    mech = tcs_pumps_h + fw_pump_power + rej["fan_power_w"] + rej["chiller_power_w"] + air_fan_power
    jh = np.where(r_cooled, t_j, -np.inf)
    max_j_h = np.full(n_h, -np.inf)
    np.maximum.at(max_j_h, r_hall, jh)
    res_halls = pd.DataFrame(
        {
            "name": halls["name"].to_numpy(),
            "it_power_w": np.bincount(r_hall, weights=p_rack, minlength=n_h),
            "liquid_heat_w": np.bincount(r_hall, weights=p_liq, minlength=n_h),
            "air_heat_w": air_heat,
            "air_heat_unserved_w": air_unserved,
            "fws_setpoint_c": t_set,
            "fws_supply_c": t_fs,
            "fws_return_c": rej["return_c"],
            "fws_flow_m3_s": fw_flow,
            "fws_flow_limited": fw_ratio < 1.0,
            "fws_design_flow_m3_s": fw_design_flow,
            "fws_pump_dp_kpa": fw_dp / 1e3,
            "stage": rej["stage"],
            "stage_reason": rej["reason"],
            "setpoint_held": rej["setpoint_held"],
            "dry_coolers_running": n_dry,
            "fan_speed": rej["fan_speed"],
            "adiabatic_on": rej["adiabatic_on"],
            "heat_rejected_w": rej["dry_heat_w"] + rej["chiller_heat_w"],
            "chiller_heat_w": rej["chiller_heat_w"],
            "chiller_cop_capped": rej["chiller_cop_capped"],
            "chiller_outside_map": rej["chiller_outside_map"],
            "tcs_pump_power_w": tcs_pumps_h,
            "fws_pump_power_w": fw_pump_power,
            "dry_cooler_fan_power_w": rej["fan_power_w"],
            "chiller_power_w": rej["chiller_power_w"],
            "air_fan_power_w": air_fan_power,
            "mech_power_w": mech,
            "water_use_kg_s": rej["water_kg_s"],
            "heat_unremoved_w": np.bincount(l_hall, weights=unremoved_loops, minlength=n_h)
            + air_unserved
            + unrejected,
            "max_junction_c": max_j_h,
        }
    )
    cooled_margin = margin[r_cooled]
    kpis = {
        "racks": n_r,
        "it_power_mw": it_power / 1e6,
        "cooling_power_mw": float(mech.sum()) / 1e6,
        "pumps_mw": float(tcs_pumps_h.sum() + fw_pump_power.sum()) / 1e6,
        "tcs_pumps_mw": float(tcs_pumps_h.sum()) / 1e6,
        "fws_pumps_mw": float(fw_pump_power.sum()) / 1e6,
        "fans_mw": float(rej["fan_power_w"].sum()) / 1e6,
        "chillers_mw": float(rej["chiller_power_w"].sum()) / 1e6,
        "air_side_mw": float(air_fan_power.sum()) / 1e6,
        "water_use_m3_h": float(rej["water_kg_s"].sum()) * 3.6,  # kg/s of water -> m3/h
        "max_junction_c": float(t_j[r_cooled].max()) if np.any(r_cooled) else None,
        "min_margin_k": float(cooled_margin.min()) if cooled_margin.size else None,
        "racks_over_throttle": int(np.sum(r_cooled & (margin < 0))),
        "racks_cooling_lost": int(np.sum(~r_cooled)),
        "heat_unremoved_mw": float(unremoved_loops.sum() + air_unserved.sum() + unrejected.sum()) / 1e6,
        "energy_balance_rel_error": float(balance),
        "ambient_c": t_amb,
        "wet_bulb_c": t_wb,
        "wet_bulb_source": wb_source,
        "chillers_outside_map": int(np.sum(rej["chiller_outside_map"])),
        "chillers_cop_capped": int(np.sum(rej["chiller_cop_capped"])),
        "halls_setpoint_lost": int(np.sum(~rej["setpoint_held"])),
        "loops_pump_limited": int(np.sum(hyd.pump_limited)),
        "stages": {s: int(np.sum(rej["stage"] == s)) for s in sorted(set(rej["stage"]))},
        "air_heat_unserved_mw": float(air_unserved.sum()) / 1e6,
        "converged": bool(hyd.converged),
        "hydraulics_converged": bool(hyd.converged),
        "hydraulics_iterations": int(hyd.iterations),
        "failed": list(failed) if not isinstance(failed, str) else [failed],
    }
    state = {
        "p_rack": p_rack,
        "p_liq": p_liq,
        "p_gpu": p_gpu,
        "m_rack": m_rack,
        "q_rack": q_rack,
        "q_loop": q_loop,
        "cp": cp,
        "rho": rho,
        "t_sup": t_sup,
        "t_ret": t_ret,
        "t_out": t_out,
        "t_fs": t_fs,
        "ua_loop": ua_loop,
        "c_cold_loop": c_cold_loop,
        "pump_power": pump_power,
        "n_hx": n_hx,
        "n_pump": n_pump,
        "cat": cat,
        "cooled_loop": cooled_loop,
    }
    return ThermalResult(
        res_racks=res_racks,
        res_loops=res_loops,
        res_cdus=res_cdus,
        res_heat_rejection=res_hr,
        res_halls=res_halls,
        kpis=kpis,
        mech_power_w_by_hall=mech,
        converged=bool(hyd.converged),
        state=state,
    )
