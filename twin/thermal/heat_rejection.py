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
trim chillers in series cool the rest: Q_ch = C_w (T_dc,out - T_set). Chiller COP (a fixed fraction eta_c of the
Carnot COP between evaporating and condensing temperature, Gordon & Ng, Cool Thermodynamics, 2000):
  T_e = T_leaving - dT_evap,  T_c = max(T_amb, T_leaving) + dT_cond,  COP = min(eta_c T_e / (T_c - T_e), COP_max)
(the max() is head-pressure control: an air-cooled condenser is not allowed to condense below the leaving water,
so the lift never collapses at cold ambient). dT_evap and COP_max are catalog data; dT_cond is calibrated so the
catalog COP is met at its rating point. A chiller running at COP_max or at an ambient outside its catalog map is
reported (``chiller_note``), never silently clamped. If chillers are short too, the supply temperature floats up to
where the heat balance closes, and the hall reports 'setpoint lost'.

Air: the fans move a fixed volume per revolution, so the air capacity rate and mass flow follow the density of the
outdoor air at the actual dry bulb and site pressure: C_a = rho(T_amb, p) V_r s c_p, UA = UA_r (m_a / m_a,r)^x.
Fan power P = P_r s^3 (affinity law; the fans' rated input at full speed is kept at every density: EC fans are
speed- and power-limited, and the density effect on shaft power, within about +-10 % over -20..50 C, is not
modelled). Density is taken at the dry bulb also behind wetted pads (the pads' cooling raises it by < 3 %;
neglecting it is slightly conservative).
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
        "air_rho_kg_m3": float(air["rho_kg_m3"]),
        "air_cp_j_kg_k": float(air["cp_j_kg_k"]),
    }


def dry_cooler_heat_w(
    speed, ua_rated, c_air_rated, exponent, c_water, t_water_in_c, t_air_in_c, mass_ratio=1.0, cp_ratio=1.0
):
    """Heat of one dry cooler at fan speed s: Q = eps(UA, C) C_min (T_w,in - T_a,in) (0 if air is hotter).

    mass_ratio = rho_air / rho_air,rating and cp_ratio = c_p / c_p,rating of the air actually moved:
    C_a = C_a,r s mass_ratio cp_ratio, UA = UA_r (s mass_ratio)^x.
    """
    s = np.asarray(speed, dtype=float)
    c_a = c_air_rated * s * mass_ratio * cp_ratio
    c_min = np.minimum(c_a, c_water)
    c_max = np.maximum(c_a, c_water)
    ok = c_min > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = effectiveness_counterflow(
            ua_rated * (s * mass_ratio) ** exponent / np.where(ok, c_min, 1.0),
            c_min / np.where(ok, c_max, 1.0),
        )
    with np.errstate(invalid="ignore"):
        q = eps * c_min * np.maximum(t_water_in_c - t_air_in_c, 0.0)
    return np.where(ok, q, 0.0)


def chiller_condenser_approach_k(ch) -> float:
    """dT_cond calibrated so that COP(rating leaving, rating ambient) = cop_rated (see module docstring)."""
    te_r = ch.rating_leaving_c - ch.evaporator_approach_k + 273.15
    lift_r = ch.carnot_fraction * te_r / ch.cop_rated  # T_c - T_e at the rating point
    d_cond = lift_r - (max(ch.rating_ambient_c, ch.rating_leaving_c) + 273.15 - te_r)
    if not d_cond > 0 or ch.cop_rated > ch.cop_max:
        raise InputError(
            f"chiller '{ch.name}': rating not consistent with its Carnot fraction, evaporator approach and "
            f"maximum COP (condenser approach {d_cond:.1f} K must be > 0, cop_rated <= cop_max)"
        )
    return d_cond


def chiller_operating_point(t_leaving_c, t_ambient_c, ch) -> dict:
    """COP and map status of a chiller (vectorised): cop, cop_carnot_model (before the cap), capped, outside_map.

    capped: the Carnot-fraction COP exceeds the catalog COP_max (minimum lift); outside_map: ambient outside the
    catalog operating map (ambient_min_c..ambient_max_c).
    """
    d_cond = chiller_condenser_approach_k(ch)
    t_leave = np.asarray(t_leaving_c, dtype=float)
    t_amb = np.asarray(t_ambient_c, dtype=float)
    te = t_leave - ch.evaporator_approach_k + 273.15
    tc = np.maximum(t_amb, t_leave) + d_cond + 273.15
    cop_model = ch.carnot_fraction * te / (tc - te)  # tc - te >= dT_evap + dT_cond > 0
    return {
        "cop": np.minimum(cop_model, ch.cop_max),
        "cop_model": cop_model,
        "capped": cop_model > ch.cop_max,
        "outside_map": (t_amb < ch.ambient_min_c) | (t_amb > ch.ambient_max_c),
    }


def chiller_cop(t_leaving_c, t_ambient_c, ch) -> np.ndarray:
    """COP = min(eta_c T_e / (T_c - T_e), COP_max) (see module docstring)."""
    return chiller_operating_point(t_leaving_c, t_ambient_c, ch)["cop"]


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
    air_mass_ratio=1.0,
    air_cp_ratio=1.0,
) -> dict:
    """Per hall (arrays of length n_halls): fan speed, adiabatic use, chiller duty and the supply temperature.

    air_mass_ratio / air_cp_ratio: density and c_p of the outdoor air over those at the dry cooler's rating
    (see module docstring). Bisection on fan speed (60 halvings, vectorised over halls) gives the duty to
    ~1e-18 of full speed.
    """
    mass_r = np.broadcast_to(np.asarray(air_mass_ratio, dtype=float), np.shape(heat_w))
    cp_r = np.broadcast_to(np.asarray(air_cp_ratio, dtype=float), np.shape(heat_w))
    # pads are drained near freezing (frost protection): no evaporative pre-cooling then
    adiabatic_ok = np.asarray(adiabatic_ok, dtype=bool) & (wet_bulb_c > 1.0)
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
        return dry_cooler_heat_w(s, ua_rated, c_air_rated, exponent, cw_unit, t_in, t_air, mass_r, cp_r)

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
        c_a = c_air_rated * mass_r * cp_r
        c_min = np.minimum(c_a, cw_unit)
        c_max = np.maximum(c_a, cw_unit)
        with np.errstate(divide="ignore", invalid="ignore"):
            eps = np.where(
                c_min > 0,
                effectiveness_counterflow(
                    ua_rated * mass_r**exponent / np.where(c_min > 0, c_min, 1),
                    c_min / np.where(c_max > 0, c_max, 1),
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
            q_unit(np.ones(n_h), t_air, t_ret) * n_dry,
            q_dry,
        )
    cop = np.ones(n_h)
    ch_capped = np.zeros(n_h, bool)
    ch_outside = np.zeros(n_h, bool)
    for h in range(n_h):  # a handful of halls; each may use another chiller model
        if chillers[h] is not None and q_ch[h] > 0:
            # with no steady state (supply unbounded) the chillers are rated at the setpoint
            t_leave = t_supply[h] if np.isfinite(t_supply[h]) else t_set[h]
            op = chiller_operating_point(t_leave, ambient_c, chillers[h])
            cop[h] = float(op["cop"])
            ch_capped[h], ch_outside[h] = bool(op["capped"]), bool(op["outside_map"])
    chiller_power = np.where(q_ch > 0, q_ch / cop, 0.0)
    ch_note = np.where(
        ch_outside,
        f"chiller outside its operating map (ambient {ambient_c:g} C)",
        np.where(ch_capped, "chiller COP at its catalog maximum (minimum lift)", ""),
    ).astype(object)
    adiabatic_on = (t_air < ambient_c) & (heat_w > 0) & has_dry
    c_air_unit = c_air_rated * mass_r * cp_r * speed  # W/K of the air one dry cooler moves
    water_kg_s = np.zeros(n_h)
    if np.any(adiabatic_on):  # m_w = m_a c_p (T_db - T_in) / h_fg (wet bulb > 1 C here, see above)
        h_fg = latent_heat_j_kg(wet_bulb_c)
        water_kg_s = np.where(adiabatic_on, c_air_unit * (ambient_c - t_air) / h_fg * n_dry, 0.0)
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
        "chiller_cop_capped": ch_capped,
        "chiller_outside_map": ch_outside,
        "chiller_note": ch_note,
        "stage": stage,
        "reason": np.array(
            [r + ("; " + n if n else "") for r, n in zip(reason, ch_note, strict=True)], object
        ),
    }
