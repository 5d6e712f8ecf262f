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
trim chillers in series cool the rest: Q_ch = C_w (T_dc,out - T_set). Chiller COP: a fixed fraction eta_c of the
Carnot COP between evaporating and condensing temperature (Gordon & Ng, Cool Thermodynamics, 2000). An air-cooled
chiller condenses at the outdoor dry bulb plus its condenser temperature difference (CTD = T_c - T_amb, 11-17 K at
design for comfort-cooling evaporating temperatures: Wang, Handbook of Air Conditioning and Refrigeration, 2nd ed.,
2001, ch. 10), whatever the water it chills:
  T_e = T_leaving - dT_evap,   T_c = max(T_amb + dT_cond, T_e + dT_lift,min),   COP = eta_c T_e / (T_c - T_e)
with dT_evap and dT_cond catalog data and eta_c calibrated so the catalog COP is met at its rating point,
eta_c = COP_r (T_c,r - T_e,r) / T_e,r. At cold ambient head-pressure control (condenser fans cycled) holds the
condensing temperature up at the compressor map's minimum lift dT_lift,min = eta_c T_e / COP_max, where the COP
reaches the catalog maximum; such a chiller is reported as capped (``chiller_note``). The compressor's envelope
also bounds the evaporating side: above the map's highest leaving water ``leaving_max_c`` (a lost setpoint lets the
facility water float up) the suction pressure is held by the expansion valve's maximum operating pressure (MOP
valves, which protect the compressor motor from overload), T_e = min(T_leaving, T_lw,max) - dT_evap. A chiller at
an ambient or leaving water outside its catalog map is reported (``chiller_note``), never silently clamped.
So the COP falls as the ambient rises, d(T_c - T_e) / dT_amb = 1, at a held setpoint and, once the water is above
the map, at a floating one. (Inside the map a floating supply rises with the ambient about as fast as the
condensing temperature does: the lift stays, and the Carnot COP T_e / lift rises with T_e, ~0.3 %/K. The
condenser's airflow, and so its CTD, is taken at the rating: the lower density of hotter air would raise the CTD by
~0.3 %/K, not modelled. A constant eta_c calibrated at a small rating lift is pessimistic at large lifts: the
catalog trim chiller's 5.5 at a 13 K lift gives eta_c = 0.23, where chillers at their design lift reach 0.4-0.6.)
If chillers are short too, the supply temperature floats up to where the heat balance closes, and the hall reports
'setpoint lost'.

Air: the fans move a fixed volume per revolution, so the air capacity rate and mass flow follow the density of the
outdoor air at the actual dry bulb and site pressure: C_a = rho(T_amb, p) V_r s c_p, UA = UA_r (m_a / m_a,r)^x.
Fan power P = P_r s^3 (affinity law; the fans' rated input at full speed is kept at every density: EC fans are
speed- and power-limited, and the density effect on shaft power, within about +-10 % over -20..50 C, is not
modelled). Density is taken at the dry bulb also behind wetted pads (the pads' cooling raises it by < 3 %;
neglecting it is slightly conservative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from twin.errors import InputError
from twin.thermal.cdu import effectiveness_counterflow, ntu_counterflow
from twin.thermal.properties import air_properties, latent_heat_j_kg

if TYPE_CHECKING:
    from twin.catalog.schema import Chiller, DryCooler

STAGES = ("off", "dry", "dry+adiabatic", "dry+chiller", "dry+adiabatic+chiller", "setpoint lost")


def dry_cooler_rating(dc: DryCooler, cp_water_j_kg_k: float) -> dict[str, float]:
    """Rating of one dry cooler from its catalog rating point (module docstring).

    Parameters
    ----------
    dc : DryCooler
        Catalog dry cooler (capacity, rating water in / out and ambient, airflow, fan power).
    cp_water_j_kg_k : float
        Heat capacity of the facility water, J/kg/K (unused: the water capacity rate follows from the rating).

    Returns
    -------
    dict of float
        ua_w_per_k, c_air_w_per_k, c_water_w_per_k (W/K), fan_power_w (W), air_rho_kg_m3 (kg/m3) and
        air_cp_j_kg_k (J/kg/K) of the rating air.

    Raises
    ------
    InputError
        A rating point with an effectiveness outside 0..1.
    """
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

    C_a = C_a,r s mass_ratio cp_ratio, UA = UA_r (s mass_ratio)^x.

    Parameters
    ----------
    speed : float or numpy.ndarray
        Fan speed s (of rated airflow).
    ua_rated, c_air_rated : float or numpy.ndarray
        Rated UA and air capacity rate (``dry_cooler_rating``), W/K.
    exponent : float or numpy.ndarray
        UA airflow exponent x.
    c_water : float or numpy.ndarray
        Water capacity rate through the cooler, W/K.
    t_water_in_c, t_air_in_c : float or numpy.ndarray
        Water and air inlet temperatures, C.
    mass_ratio, cp_ratio : float or numpy.ndarray, default 1.0
        rho_air / rho_air,rating and c_p / c_p,rating of the air actually moved.

    Returns
    -------
    numpy.ndarray
        Q, W.
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


def chiller_carnot_fraction(ch: Chiller) -> float:
    """Carnot fraction eta_c = COP_r (T_c,r - T_e,r) / T_e,r that meets the catalog COP at its rating point.

    T_e,r = rating leaving - evaporator approach, T_c,r = rating ambient + condenser approach (module docstring).

    Parameters
    ----------
    ch : Chiller
        Catalog chiller.

    Returns
    -------
    float
        eta_c, dimensionless (0..1).

    Raises
    ------
    InputError
        A rating whose condensing temperature is not above its evaporating one, a Carnot fraction outside 0..1,
        or a rated COP above the catalog maximum.
    """
    te_r = ch.rating_leaving_c - ch.evaporator_approach_k + 273.15
    tc_r = ch.rating_ambient_c + ch.condenser_approach_k + 273.15
    eta = ch.cop_rated * (tc_r - te_r) / te_r if tc_r > te_r else float("nan")
    if not 0 < eta < 1 or ch.cop_rated > ch.cop_max:
        raise InputError(
            f"chiller '{ch.name}': rating not consistent with its approaches and maximum COP (condensing "
            f"{tc_r - 273.15:.1f} C must be above evaporating {te_r - 273.15:.1f} C, Carnot fraction "
            f"{eta:.3g} within 0..1, cop_rated {ch.cop_rated:g} <= cop_max {ch.cop_max:g})"
        )
    return eta


def chiller_operating_point(t_leaving_c, t_ambient_c, ch: Chiller) -> dict[str, np.ndarray]:
    """COP, condensing temperature and map status of an air-cooled chiller (vectorised; module docstring).

    T_e = min(T_leaving, T_lw,max) - dT_evap, T_c = max(T_amb + dT_cond, T_e + eta_c T_e / COP_max),
    COP = eta_c T_e / (T_c - T_e).

    Parameters
    ----------
    t_leaving_c : float or numpy.ndarray
        Chilled (facility) water leaving temperature, C.
    t_ambient_c : float or numpy.ndarray
        Ambient dry bulb at the condenser, C.
    ch : Chiller
        Catalog chiller.

    Returns
    -------
    dict of numpy.ndarray
        cop (dimensionless, at most COP_max), t_evaporating_c and t_condensing_c (C), capped (head-pressure
        control holds the condensing temperature at the minimum lift: COP = COP_max), outside_map (ambient
        outside ambient_min_c..ambient_max_c or leaving water above leaving_max_c, where the MOP valve holds the
        evaporating temperature at leaving_max_c - dT_evap).
    """
    eta = chiller_carnot_fraction(ch)
    t_amb = np.asarray(t_ambient_c, dtype=float)
    t_leave = np.asarray(t_leaving_c, dtype=float)
    te = np.minimum(t_leave, ch.leaving_max_c) - ch.evaporator_approach_k + 273.15  # MOP above the map
    tc_air = t_amb + ch.condenser_approach_k + 273.15  # condensing on ambient air
    tc_min = te + eta * te / ch.cop_max  # head-pressure control: the map's minimum lift
    tc = np.maximum(tc_air, tc_min)
    return {
        "cop": eta * te / (tc - te),  # tc - te >= eta T_e / COP_max > 0
        "t_evaporating_c": te - 273.15,
        "t_condensing_c": tc - 273.15,
        "capped": tc_air < tc_min,
        "outside_map": (t_amb < ch.ambient_min_c) | (t_amb > ch.ambient_max_c) | (t_leave > ch.leaving_max_c),
    }


def chiller_cop(t_leaving_c, t_ambient_c, ch: Chiller) -> np.ndarray:
    """Chiller COP = eta_c T_e / (T_c - T_e) (``chiller_operating_point``).

    Parameters
    ----------
    t_leaving_c, t_ambient_c : float or numpy.ndarray
        Leaving water and ambient temperatures, C.
    ch : Chiller
        Catalog chiller.

    Returns
    -------
    numpy.ndarray
        COP, dimensionless.
    """
    return chiller_operating_point(t_leaving_c, t_ambient_c, ch)["cop"]


@dataclass(frozen=True)
class _Halls:
    """Inputs of ``solve_heat_rejection`` as arrays per hall, and what follows from them directly."""

    heat_w: np.ndarray  # heat into the facility water, W
    c_w: np.ndarray  # facility-water capacity rate, W/K
    t_set: np.ndarray  # supply setpoint, C
    t_ret: np.ndarray  # return at the setpoint, C
    n_dry: np.ndarray  # dry coolers running
    cw_unit: np.ndarray  # water capacity rate through one dry cooler, W/K
    q_unit_need: np.ndarray  # heat one dry cooler must reject, W
    ambient_c: float  # dry bulb, C
    wet_bulb_c: float  # wet bulb, C
    t_adiabatic: np.ndarray  # air behind fully wetted pads, C
    adiabatic_ok: np.ndarray  # pads installed and usable (wet bulb > 1 C)
    ua_rated: np.ndarray  # W/K per dry cooler
    c_air_rated: np.ndarray  # W/K per dry cooler
    exponent: np.ndarray  # UA airflow exponent
    mass_r: np.ndarray  # air density / rating density
    cp_r: np.ndarray  # air c_p / rating c_p
    fan_power_rated_w: np.ndarray  # W per dry cooler at full speed
    chiller_capacity_w: np.ndarray  # W

    @property
    def n(self) -> int:
        return len(self.heat_w)

    def unit_heat_w(self, speed, t_air_c, t_water_in_c) -> np.ndarray:
        """Heat of one dry cooler of each hall (``dry_cooler_heat_w`` at the hall's water flow and air)."""
        return dry_cooler_heat_w(
            speed,
            self.ua_rated,
            self.c_air_rated,
            self.exponent,
            self.cw_unit,
            t_water_in_c,
            t_air_c,
            self.mass_r,
            self.cp_r,
        )


def _halls(
    heat_w,
    c_water_w_per_k,
    setpoint_c,
    ambient_c,
    wet_bulb_c,
    n_dry,
    ua_rated,
    c_air_rated,
    exponent,
    fan_power_rated_w,
    adiabatic_ok,
    adiabatic_eff,
    chiller_capacity_w,
    air_mass_ratio,
    air_cp_ratio,
) -> _Halls:
    mass_r = np.broadcast_to(np.asarray(air_mass_ratio, dtype=float), np.shape(heat_w))
    cp_r = np.broadcast_to(np.asarray(air_cp_ratio, dtype=float), np.shape(heat_w))
    # pads are drained near freezing (frost protection): no evaporative pre-cooling then
    adiabatic_ok = np.asarray(adiabatic_ok, dtype=bool) & (wet_bulb_c > 1.0)
    heat_w = np.asarray(heat_w, dtype=float)
    n_dry = np.asarray(n_dry)
    t_set = np.asarray(setpoint_c, dtype=float)
    c_w = np.asarray(c_water_w_per_k, dtype=float)
    return _Halls(
        heat_w=heat_w,
        c_w=c_w,
        t_set=t_set,
        t_ret=t_set + np.where(c_w > 0, heat_w / np.where(c_w > 0, c_w, 1.0), 0.0),
        n_dry=n_dry,
        cw_unit=np.where(n_dry > 0, c_w / np.maximum(n_dry, 1), 0.0),
        q_unit_need=np.where(n_dry > 0, heat_w / np.maximum(n_dry, 1), 0.0),
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        t_adiabatic=ambient_c - adiabatic_eff * (ambient_c - wet_bulb_c),
        adiabatic_ok=adiabatic_ok,
        ua_rated=ua_rated,
        c_air_rated=c_air_rated,
        exponent=exponent,
        mass_r=mass_r,
        cp_r=cp_r,
        fan_power_rated_w=fan_power_rated_w,
        chiller_capacity_w=chiller_capacity_w,
    )


@dataclass(frozen=True)
class _DryStage:
    """Fans first, then water: dry coolers alone, then with adiabatic pads."""

    has_dry: np.ndarray  # heat and a running dry cooler
    dry_ok: np.ndarray  # dry coolers hold the setpoint dry
    adi_ok: np.ndarray  # ... with adiabatic pre-cooling (at full speed)
    speed: np.ndarray  # fan speed (of rated)
    t_air: np.ndarray  # air into the coils, C


def _fan_speed_for_duty(halls: _Halls, t_db: np.ndarray, dry_ok: np.ndarray) -> np.ndarray:
    """Upper end of the bracket of the fan speed that rejects the duty dry, vectorised over halls.

    The heat of a dry cooler rises monotonically with its fan speed, so the speed is bracketed in [0, 1] and
    found by false position with the Illinois modification (Dowell & Jarratt, BIT 11, 1971): superlinear, the
    bracket kept, to 1e-14 of full speed (60 halvings of plain bisection before). The upper end (the heat at
    least the duty) is returned; 1 where even full speed is short, ~0 where no air is needed."""
    n_h = halls.n
    lo, hi = np.zeros(n_h), np.ones(n_h)
    if not np.any(dry_ok):
        return hi
    need = halls.q_unit_need

    def g(x):
        return halls.unit_heat_w(x, t_db, halls.t_ret) - need

    g_lo, g_hi = g(lo), g(hi)
    live = (g_lo < 0) & (g_hi >= 0)  # a root inside the bracket
    hi = np.where(g_lo >= 0, 0.0, hi)  # no air needed: the bracket's upper end goes to 0
    side = np.zeros(n_h)
    scale = np.maximum(np.abs(need), 1.0)
    for _ in range(100):
        if not live.any():
            break
        den = g_hi - g_lo
        x = np.where(den > 0, lo - g_lo * (hi - lo) / np.where(den > 0, den, 1.0), 0.5 * (lo + hi))
        x = np.where((x > lo) & (x < hi), x, 0.5 * (lo + hi))
        gx = g(np.where(live, x, hi))
        # root at or below x, or x the root to round-off: new upper end
        up = live & ((gx >= 0) | (np.abs(gx) <= 1e-13 * scale))
        dn = live & (gx < 0)
        hi, g_hi = np.where(up, x, hi), np.where(up, gx, g_hi)
        lo, g_lo = np.where(dn, x, lo), np.where(dn, gx, g_lo)
        # Illinois: halve the value kept at the end that did not move twice in a row
        g_lo = np.where(up & (side > 0), 0.5 * g_lo, g_lo)
        g_hi = np.where(dn & (side < 0), 0.5 * g_hi, g_hi)
        side = np.where(up, 1.0, np.where(dn, -1.0, side))
        live &= (hi - lo > 1e-14) & (np.abs(gx) > 1e-13 * scale)
    return hi


def _dry_stage(halls: _Halls) -> _DryStage:
    n_h, t_ret, q_unit_need, heat_w = halls.n, halls.t_ret, halls.q_unit_need, halls.heat_w
    adiabatic_ok, t_adiabatic = halls.adiabatic_ok, halls.t_adiabatic
    t_db = np.full(n_h, float(halls.ambient_c))
    full_dry = halls.unit_heat_w(np.ones(n_h), t_db, t_ret)
    full_adi = np.where(adiabatic_ok, halls.unit_heat_w(np.ones(n_h), t_adiabatic, t_ret), full_dry)
    has_dry = (halls.n_dry > 0) & (heat_w > 0)
    dry_ok = has_dry & (full_dry >= q_unit_need)
    adi_ok = has_dry & ~dry_ok & adiabatic_ok & (full_adi >= q_unit_need)
    hi = _fan_speed_for_duty(halls, t_db, dry_ok)
    speed = np.where(dry_ok, hi, np.where(has_dry, 1.0, 0.0))
    # fans first, then water: at full speed the pads are wetted just enough (partial effectiveness) to hold the
    # setpoint; Q = eps_1 C_min (T_ret - T_air) is linear in T_air, so the needed air inlet is closed-form
    q_full_per_k = halls.unit_heat_w(np.ones(n_h), np.zeros(n_h), np.ones(n_h))  # eps_1 C_min, W/K
    with np.errstate(divide="ignore", invalid="ignore"):
        t_air_need = t_ret - q_unit_need / np.where(q_full_per_k > 0, q_full_per_k, 1.0)
    t_air = np.where(adi_ok, t_air_need, np.where(has_dry & ~dry_ok & adiabatic_ok, t_adiabatic, t_db))
    return _DryStage(
        has_dry=has_dry, dry_ok=dry_ok, adi_ok=adi_ok, speed=np.where(heat_w > 0, speed, 0.0), t_air=t_air
    )


@dataclass(frozen=True)
class _ChillerStage:
    """Trim chillers for the rest; where they are short too the supply floats."""

    q_dry: np.ndarray  # heat of all running dry coolers, W
    q_ch: np.ndarray  # chiller heat, W
    lost: np.ndarray  # setpoint lost
    t_supply: np.ndarray  # facility-water supply, C (inf: no steady state)
    t_ret: np.ndarray  # facility-water return, C


def _floating_supply_c(halls: _Halls, q_ch: np.ndarray, t_air: np.ndarray) -> np.ndarray:
    """Supply where the heat balance closes with dry coolers at full speed and chillers at capacity:
    Q = n eps C_min (T_s + Q/C_w - T_air) + Q_ch,max, with eps at full speed (linear in T_s); inf without dry
    coolers."""
    mass_r, cw_unit, c_w, heat_w = halls.mass_r, halls.cw_unit, halls.c_w, halls.heat_w
    c_a = halls.c_air_rated * mass_r * halls.cp_r
    c_min = np.minimum(c_a, cw_unit)
    c_max = np.maximum(c_a, cw_unit)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.where(
            c_min > 0,
            effectiveness_counterflow(
                halls.ua_rated * mass_r**halls.exponent / np.where(c_min > 0, c_min, 1),
                c_min / np.where(c_max > 0, c_max, 1),
            ),
            0.0,
        )
    k = halls.n_dry * eps * c_min  # W/K of all running dry coolers at full speed
    rise = np.where(c_w > 0, heat_w / np.where(c_w > 0, c_w, 1.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 0, (heat_w - q_ch) / np.where(k > 0, k, 1.0) - rise + t_air, np.inf)


def _chiller_stage(halls: _Halls, dry: _DryStage) -> _ChillerStage:
    heat_w, n_dry, t_set, t_ret = halls.heat_w, halls.n_dry, halls.t_set, halls.t_ret
    cap = halls.chiller_capacity_w
    q_dry = halls.unit_heat_w(dry.speed, dry.t_air, t_ret) * n_dry
    need_ch = (heat_w > 0) & ~(dry.dry_ok | dry.adi_ok)
    q_ch_need = np.where(need_ch, heat_w - q_dry, 0.0)
    q_ch = np.minimum(q_ch_need, cap)
    lost = need_ch & (q_ch_need > cap * (1 + 1e-12))
    t_supply = t_set.copy()
    if np.any(lost):
        t_float = _floating_supply_c(halls, q_ch, dry.t_air)
        rise = np.where(halls.c_w > 0, heat_w / np.where(halls.c_w > 0, halls.c_w, 1.0), 0.0)
        t_supply = np.where(lost, np.maximum(t_float, t_set), t_set)
        t_ret = np.where(lost, t_supply + rise, t_ret)
        q_dry = np.where(lost, halls.unit_heat_w(np.ones(halls.n), dry.t_air, t_ret) * n_dry, q_dry)
    return _ChillerStage(q_dry=q_dry, q_ch=q_ch, lost=lost, t_supply=t_supply, t_ret=t_ret)


def _chiller_operation(
    halls: _Halls, ch: _ChillerStage, chillers: list[Chiller | None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """COP, capped and outside-map flags and the map note of the chillers running in each hall (COP 1 where none
    runs)."""
    n_h = halls.n
    cop = np.ones(n_h)
    ch_capped = np.zeros(n_h, bool)
    ch_outside = np.zeros(n_h, bool)
    note = np.full(n_h, "", dtype=object)
    for h in range(n_h):  # a handful of halls; each may use another chiller model
        spec = chillers[h]
        if spec is not None and ch.q_ch[h] > 0:
            # with no steady state (supply unbounded) the chillers are rated at the setpoint
            t_leave = ch.t_supply[h] if np.isfinite(ch.t_supply[h]) else halls.t_set[h]
            op = chiller_operating_point(t_leave, halls.ambient_c, spec)
            cop[h] = float(op["cop"])
            ch_capped[h], ch_outside[h] = bool(op["capped"]), bool(op["outside_map"])
            if ch_outside[h]:
                amb_out = not spec.ambient_min_c <= halls.ambient_c <= spec.ambient_max_c
                where = [f"ambient {halls.ambient_c:g} C"] if amb_out else []
                if t_leave > spec.leaving_max_c:
                    where.append(
                        f"leaving water {t_leave:.1f} C above {spec.leaving_max_c:g} C: evaporating held at "
                        f"{float(op['t_evaporating_c']):.1f} C"
                    )
                note[h] = f"chiller outside its operating map ({'; '.join(where)})"
            elif ch_capped[h]:
                note[h] = "chiller COP at its catalog maximum (minimum lift)"
    return cop, ch_capped, ch_outside, note


def _pad_water_kg_s(halls: _Halls, dry: _DryStage) -> tuple[np.ndarray, np.ndarray]:
    """Pads in use per hall and the water they evaporate, m_w = m_a c_p (T_db - T_in) / h_fg, kg/s."""
    ambient_c = halls.ambient_c
    adiabatic_on = (dry.t_air < ambient_c) & (halls.heat_w > 0) & dry.has_dry
    c_air_unit = (
        halls.c_air_rated * halls.mass_r * halls.cp_r * dry.speed
    )  # W/K of the air one dry cooler moves
    water_kg_s = np.zeros(halls.n)
    if np.any(adiabatic_on):  # wet bulb > 1 C here (pads drained below)
        h_fg = latent_heat_j_kg(halls.wet_bulb_c)
        water_kg_s = np.where(adiabatic_on, c_air_unit * (ambient_c - dry.t_air) / h_fg * halls.n_dry, 0.0)
    return adiabatic_on, water_kg_s


def _stage_and_reason(
    heat_w: np.ndarray, dry: _DryStage, lost: np.ndarray, adiabatic_on: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stage name (one of ``STAGES``) and its reason per hall."""
    dry_ok, adi_ok = dry.dry_ok, dry.adi_ok
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
    return stage, reason


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
    chillers: list[Chiller | None],
    air_mass_ratio=1.0,
    air_cp_ratio=1.0,
) -> dict[str, np.ndarray]:
    """Fan speed, adiabatic use, chiller duty and supply temperature of every hall (module docstring).

    All arrays have one value per hall (n_halls,).

    Parameters
    ----------
    heat_w : numpy.ndarray
        Heat into the facility water, W.
    c_water_w_per_k : numpy.ndarray
        Facility-water capacity rate m c_p, W/K.
    setpoint_c : numpy.ndarray
        Facility-water supply setpoint, C.
    ambient_c, wet_bulb_c : float
        Outdoor dry and wet bulb, C.
    n_dry : numpy.ndarray of int
        Dry coolers running.
    ua_rated, c_air_rated : numpy.ndarray
        Rated UA and air capacity rate of one dry cooler (``dry_cooler_rating``), W/K.
    exponent : numpy.ndarray
        UA airflow exponent x (UA = UA_r (m_a / m_a,r)^x).
    fan_power_rated_w : numpy.ndarray
        Fan power of one dry cooler at full speed, W.
    adiabatic_ok : numpy.ndarray of bool
        Adiabatic pads installed (not used at a wet bulb <= 1 C: drained for frost protection).
    adiabatic_eff : numpy.ndarray
        Direct evaporative effectiveness of the pads.
    chiller_capacity_w : numpy.ndarray
        Capacity of the running trim chillers, W.
    chillers : list
        Catalog chiller model of each hall, None without chillers.
    air_mass_ratio, air_cp_ratio : float or numpy.ndarray, default 1.0
        Density and c_p of the outdoor air over those at the dry cooler's rating.

    Returns
    -------
    dict of numpy.ndarray
        fan_speed (of rated), fan_power_w, dry_heat_w, chiller_heat_w, chiller_power_w, chiller_cop (0: off),
        air_in_c (C), adiabatic_on, water_kg_s (evaporated, kg/s), supply_c and return_c (facility water, C;
        supply inf: no steady state), dry_out_c (C), setpoint_held, chiller_cop_capped, chiller_outside_map,
        chiller_note, stage (one of ``STAGES``), reason.

    Notes
    -----
    The fan speed is found by Illinois false position (vectorised over halls) to 1e-14 of full speed.
    """
    halls = _halls(
        heat_w,
        c_water_w_per_k,
        setpoint_c,
        ambient_c,
        wet_bulb_c,
        n_dry,
        ua_rated,
        c_air_rated,
        exponent,
        fan_power_rated_w,
        adiabatic_ok,
        adiabatic_eff,
        chiller_capacity_w,
        air_mass_ratio,
        air_cp_ratio,
    )
    dry = _dry_stage(halls)
    ch = _chiller_stage(halls, dry)
    cop, ch_capped, ch_outside, ch_note = _chiller_operation(halls, ch, chillers)
    adiabatic_on, water_kg_s = _pad_water_kg_s(halls, dry)
    stage, reason = _stage_and_reason(halls.heat_w, dry, ch.lost, adiabatic_on)
    c_w, q_ch = halls.c_w, ch.q_ch
    return {
        "fan_speed": dry.speed,
        "fan_power_w": halls.fan_power_rated_w * dry.speed**3 * halls.n_dry,
        "dry_heat_w": ch.q_dry,
        "chiller_heat_w": q_ch,
        "chiller_power_w": np.where(q_ch > 0, q_ch / cop, 0.0),
        "chiller_cop": np.where(q_ch > 0, cop, 0.0),
        "air_in_c": dry.t_air,
        "adiabatic_on": adiabatic_on,
        "water_kg_s": water_kg_s,
        "supply_c": ch.t_supply,
        "return_c": ch.t_ret,
        "dry_out_c": ch.t_ret - np.where(c_w > 0, ch.q_dry / np.where(c_w > 0, c_w, 1.0), 0.0),
        "setpoint_held": ~ch.lost,
        "chiller_cop_capped": ch_capped,
        "chiller_outside_map": ch_outside,
        "chiller_note": ch_note,
        "stage": stage,
        "reason": np.array(
            [r + ("; " + n if n else "") for r, n in zip(reason, ch_note, strict=True)], object
        ),
    }
