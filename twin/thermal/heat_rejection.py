"""Heat rejection of the facility water system (FWS) to ambient: dry coolers, adiabatic pre-cooling, trim chillers.

Dry cooler (air-to-water coil, eps-NTU; a multi-row cross-counterflow coil is treated as counterflow,
Incropera & DeWitt Table 11.3): UA is calibrated at the catalog rating point (water in/out, ambient, airflow):
C_w,r = Q_r / (T_w,in - T_w,out), C_a,r = rho_a V_r c_p,a, eps_r = Q_r / (C_min (T_w,in - T_amb)),
UA_r = NTU(eps_r, Cr) C_min. At fan speed s (airflow s V_r): UA = UA_r s^x (air-side film ~ Re^x,
Dittus-Boelter form), fan power P = P_r s^3 (fan affinity laws).

Control (per hall, all running dry coolers at one speed), fans first, then water: the fan speed is found that
returns the facility water at its supply setpoint. If full speed cannot, adiabatic pads pre-cool the air, wetted
just enough (T_in = T_db - e (T_db - T_wb), 0 <= e <= eta, eta the pads' direct evaporative effectiveness),
evaporating m_w = m_a c_p,a (T_db - T_in) / h_fg. If that still cannot,
trim chillers in series cool the rest: Q_ch = C_w (T_dc,out - T_set), COP = eta_c T_e / (T_amb - T_e + dT_lift)
(a fixed fraction of the Carnot COP; dT_lift calibrated so the catalog COP is met at the rating point,
cf. Gordon & Ng, Cool Thermodynamics, 2000). If chillers are short too, the supply temperature floats up to where
the heat balance closes, and the hall reports 'setpoint lost'.
"""

from __future__ import annotations

import numpy as np

from twin.errors import InputError
from twin.thermal.cdu import effectiveness_counterflow, ntu_counterflow
from twin.thermal.properties import air_properties, latent_heat_j_kg

STAGES = ("off", "dry", "dry+adiabatic", "dry+chiller", "dry+adiabatic+chiller", "setpoint lost")


def dry_cooler_rating(dc, cp_water_j_kg_k: float) -> dict:
    """UA_r, C_a,r and C_w,r (W/K) of one dry cooler from its catalog rating point."""
    q = dc.capacity_kw * 1e3
    air = air_properties(dc.rating_ambient_c)
    c_a = float(air["rho_kg_m3"] * dc.airflow_m3_s * air["cp_j_kg_k"])
    c_w = q / (dc.rating_water_in_c - dc.rating_water_out_c)
    c_min, c_max = min(c_a, c_w), max(c_a, c_w)
    eps = q / (c_min * (dc.rating_water_in_c - dc.rating_ambient_c))
    if not 0 < eps < 1:
        raise InputError(
            f"dry cooler '{dc.name}': rating point is not physical (effectiveness {eps:.2f} must be < 1; "
            "check capacity, airflow and temperatures)"
        )
    ua = float(ntu_counterflow(eps, c_min / c_max)) * c_min
    return {
        "ua_w_per_k": ua,
        "c_air_w_per_k": c_a,
        "c_water_w_per_k": c_w,
        "fan_power_w": dc.fan_power_kw * 1e3,
    }


def dry_cooler_heat_w(speed, ua_rated, c_air_rated, exponent, c_water, t_water_in_c, t_air_in_c):
    """Heat of one dry cooler at fan speed s: Q = eps(UA_r s^x, C) C_min (T_w,in - T_a,in) (0 if air is hotter)."""
    s = np.asarray(speed, dtype=float)
    c_a = c_air_rated * s
    c_min = np.minimum(c_a, c_water)
    c_max = np.maximum(c_a, c_water)
    ok = c_min > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = effectiveness_counterflow(
            ua_rated * s**exponent / np.where(ok, c_min, 1.0), c_min / np.where(ok, c_max, 1.0)
        )
    with np.errstate(invalid="ignore"):
        q = eps * c_min * np.maximum(t_water_in_c - t_air_in_c, 0.0)
    return np.where(ok, q, 0.0)


def chiller_cop(t_leaving_c, t_ambient_c, ch) -> np.ndarray:
    """COP = eta_c T_e / (T_amb - T_e + dT_lift), dT_lift from the rating (cop_rated at rating temperatures)."""
    te_r = ch.rating_leaving_c + 273.15
    lift = te_r * ch.carnot_fraction / ch.cop_rated - (ch.rating_ambient_c - ch.rating_leaving_c)
    te = np.asarray(t_leaving_c, dtype=float) + 273.15
    return ch.carnot_fraction * te / np.maximum(np.asarray(t_ambient_c) + 273.15 - te + lift, 1e-6)


def solve_heat_rejection(
    *,
    heat_w: np.ndarray,
    c_water_w_per_k: np.ndarray,
    setpoint_c: np.ndarray,
    ambient_c: float,
    wet_bulb_c: float,
    n_dry: np.ndarray,
    ua_rated: np.ndarray,
    c_air_rated: np.ndarray,
    exponent: np.ndarray,
    fan_power_rated_w: np.ndarray,
    adiabatic_ok: np.ndarray,
    adiabatic_eff: np.ndarray,
    chiller_capacity_w: np.ndarray,
    chillers: list,
) -> dict:
    """Per hall (arrays of length n_halls): fan speed, adiabatic use, chiller duty and the supply temperature.

    Bisection on fan speed (60 halvings, vectorised over halls) gives the duty to ~1e-18 of full speed.
    """
    heat_w = np.asarray(heat_w, dtype=float)
    n_h = len(heat_w)
    n_dry = np.asarray(n_dry)
    t_set = np.asarray(setpoint_c, dtype=float)
    c_w = np.asarray(c_water_w_per_k, dtype=float)
    t_ret = t_set + np.where(c_w > 0, heat_w / np.where(c_w > 0, c_w, 1.0), 0.0)
    cw_unit = np.where(n_dry > 0, c_w / np.maximum(n_dry, 1), 0.0)
    q_unit_need = np.where(n_dry > 0, heat_w / np.maximum(n_dry, 1), 0.0)
    t_adiabatic = ambient_c - adiabatic_eff * (ambient_c - wet_bulb_c)

    def q_unit(s, t_air, t_in):
        return dry_cooler_heat_w(s, ua_rated, c_air_rated, exponent, cw_unit, t_in, t_air)

    t_db = np.full(n_h, float(ambient_c))
    full_dry = q_unit(np.ones(n_h), t_db, t_ret)
    full_adi = np.where(adiabatic_ok, q_unit(np.ones(n_h), t_adiabatic, t_ret), full_dry)
    has_dry = (n_dry > 0) & (heat_w > 0)
    dry_ok = has_dry & (full_dry >= q_unit_need)
    adi_ok = has_dry & ~dry_ok & adiabatic_ok & (full_adi >= q_unit_need)
    # fan speed for the halls that hold the setpoint dry
    lo, hi = np.zeros(n_h), np.ones(n_h)
    if np.any(dry_ok):
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            more = q_unit(mid, t_db, t_ret) < q_unit_need
            lo = np.where(more, mid, lo)
            hi = np.where(more, hi, mid)
    speed = np.where(dry_ok, hi, np.where(has_dry, 1.0, 0.0))
    # fans first, then water: at full speed the pads are wetted just enough (partial effectiveness) to hold the
    # setpoint; Q = eps_1 C_min (T_ret - T_air) is linear in T_air, so the needed air inlet is closed-form
    q_full_per_k = q_unit(np.ones(n_h), np.zeros(n_h), np.ones(n_h))  # eps_1 C_min, W/K
    with np.errstate(divide="ignore", invalid="ignore"):
        t_air_need = t_ret - q_unit_need / np.where(q_full_per_k > 0, q_full_per_k, 1.0)
    t_air = np.where(adi_ok, t_air_need, np.where(has_dry & ~dry_ok & adiabatic_ok, t_adiabatic, t_db))
    solve = dry_ok | adi_ok
    speed = np.where(heat_w > 0, speed, 0.0)
    q_dry_unit = q_unit(speed, t_air, t_ret)
    q_dry = q_dry_unit * n_dry
    # chillers for the rest
    need_ch = (heat_w > 0) & ~solve
    q_ch_need = np.where(need_ch, heat_w - q_dry, 0.0)
    q_ch = np.minimum(q_ch_need, chiller_capacity_w)
    lost = need_ch & (q_ch_need > chiller_capacity_w * (1 + 1e-12))
    t_supply = t_set.copy()
    if np.any(lost):
        # supply floats: Q = n eps C_min (T_s + Q/C_w - T_air) + Q_ch,max, with eps at full speed (linear in T_s)
        c_a = c_air_rated
        c_min = np.minimum(c_a, cw_unit)
        c_max = np.maximum(c_a, cw_unit)
        with np.errstate(divide="ignore", invalid="ignore"):
            eps = np.where(
                c_min > 0,
                effectiveness_counterflow(
                    ua_rated / np.where(c_min > 0, c_min, 1), c_min / np.where(c_max > 0, c_max, 1)
                ),
                0.0,
            )
        k = n_dry * eps * c_min  # W/K of all running dry coolers at full speed
        rise = np.where(c_w > 0, heat_w / np.where(c_w > 0, c_w, 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_float = np.where(k > 0, (heat_w - q_ch) / np.where(k > 0, k, 1.0) - rise + t_air, np.inf)
        t_supply = np.where(lost, np.maximum(t_float, t_set), t_set)
        t_ret = np.where(lost, t_supply + rise, t_ret)
        q_dry = np.where(
            lost,
            dry_cooler_heat_w(np.ones(n_h), ua_rated, c_air_rated, exponent, cw_unit, t_ret, t_air) * n_dry,
            q_dry,
        )
    cop = np.ones(n_h)
    for h in range(n_h):  # a handful of halls; each may use another chiller model
        if chillers[h] is not None and q_ch[h] > 0:
            # with no steady state (supply unbounded) the chillers are rated at the setpoint
            t_leave = t_supply[h] if np.isfinite(t_supply[h]) else t_set[h]
            cop[h] = float(chiller_cop(t_leave, ambient_c, chillers[h]))
    chiller_power = np.where(q_ch > 0, q_ch / cop, 0.0)
    adiabatic_on = (t_air < ambient_c) & (heat_w > 0) & has_dry
    air = air_properties(ambient_c)
    m_air_unit = air["rho_kg_m3"] * (c_air_rated / (air["rho_kg_m3"] * air["cp_j_kg_k"])) * speed
    h_fg = latent_heat_j_kg(np.clip(wet_bulb_c, 0.5, 100.0))
    water_kg_s = np.where(
        adiabatic_on, m_air_unit * air["cp_j_kg_k"] * (ambient_c - t_air) / h_fg * n_dry, 0.0
    )
    fan_power = fan_power_rated_w * speed**3 * n_dry
    stage = np.where(
        heat_w <= 0,
        "off",
        np.where(
            dry_ok,
            "dry",
            np.where(
                adi_ok,
                "dry+adiabatic",
                np.where(
                    lost, "setpoint lost", np.where(adiabatic_on, "dry+adiabatic+chiller", "dry+chiller")
                ),
            ),
        ),
    ).astype(object)
    reason = np.where(
        heat_w <= 0,
        "no heat",
        np.where(
            dry_ok,
            "dry coolers hold the setpoint",
            np.where(
                adi_ok,
                "dry coolers at full speed cannot hold the setpoint at this dry bulb; adiabatic pre-cooling does",
                np.where(
                    lost,
                    "dry coolers and chillers at full capacity cannot hold the setpoint: supply floats up",
                    "dry coolers at full speed"
                    + np.where(adiabatic_on, " with adiabatic pre-cooling", "")
                    + " cannot hold the setpoint; trim chillers cool the rest",
                ),
            ),
        ),
    ).astype(object)
    return {
        "fan_speed": speed,
        "fan_power_w": fan_power,
        "dry_heat_w": q_dry,
        "chiller_heat_w": q_ch,
        "chiller_power_w": chiller_power,
        "chiller_cop": np.where(q_ch > 0, cop, 0.0),
        "air_in_c": t_air,
        "adiabatic_on": adiabatic_on,
        "water_kg_s": water_kg_s,
        "supply_c": t_supply,
        "return_c": t_ret,
        "dry_out_c": t_ret - np.where(c_w > 0, q_dry / np.where(c_w > 0, c_w, 1.0), 0.0),
        "setpoint_held": ~lost,
        "stage": stage,
        "reason": reason,
    }
