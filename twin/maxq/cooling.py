"""Max-Q with the cooling setpoints co-optimised: the facility-water supply setpoint and the TCS flow per kW of
every hall chosen with the GPU caps, under the same grid budget and limits.

Decision variables. Per hall h, the facility-water supply setpoint s_h within [lower_h, upper_h]: upper is the
ASHRAE liquid-cooling class limit of the hall's water (W17 ... W45: the number is the highest facility supply, C;
W+: the model's 70 C; ASHRAE TC9.9, Liquid Cooling Guidelines), lower is 2 K above the outdoor dew point (facility
water below the dew point condenses on pipes and cold plates; CDU commissioning checklists ask for a supply
2-3 K above the dew point) and never below the model's 5 C. The heat-rejection mode (dry
coolers, adiabatic pre-cooling, trim chillers) follows from the setpoint, the load and the weather in the thermal
solve (``twin.thermal.heat_rejection``). Second, per hall, the TCS flow per kW that every rack's flow-control
valve holds, as a factor f_h on the racks' design flow per kW, within the OCP guideline's 1.25-2.0 L/min/kW
(OCP OAI liquid-cooling guidelines v1.0 s3.2; the CDU pumps keep the differential setpoint commissioned at the
design flow, and a flow the valves or pumps cannot deliver is not allowed): less flow saves TCS pump power but
warms the coolant and the cold plates (R(V) grows as the flow falls) and so the junctions.

Coupling and decomposition. The thermal solve is separable by hall (each hall has its own facility water and
heat rejection); the halls share only the grid budget (and the substation). With the budget's shadow price
lambda (objective per W at the meter, the Max-Q dual multiplier) the problem decomposes (Everett, Oper. Res.
11(3), 1963; Boyd & Vandenberghe, Convex Optimization, 2004, s5.5.5): each hall maximises its Lagrangian

    V_h(s_h) = sum_{r in h} v_r t_r(p_r(s_h)) - lambda e (sum_{r in h} P_r(p_r(s_h)) + C_h(s_h, P))

over its setpoints (t_r tokens/s of rack r, v_r its value, P_r rack IT power, C_h the hall's cooling power from
the thermal solve, e the meter W per W of load, i.e. 1 + electrical losses). A warmer supply lowers the cooling
power (fans slow down, adiabatic assist and trim chillers stage off) but raises every junction by about as much:
a rack held at its throttle temperature loses power, p_r(s) = min(p_resp,r, p_r + (T_throttle - T_j(s)) / R_r)
(one Newton step on T_j = T_coolant + R p, as the coupled solve throttles), where p_resp,r is the GPU power the
rack's price asks for (Max-Q's multipliers). The search over (s_h, f_h) is a coordinate search (Bertsekas,
Nonlinear Programming, 2nd ed., s2.7): a bounded golden-section search (Kiefer, Proc. AMS 4(3), 1953) over s_h at
the current f_h, then over f_h at the new s_h, each vectorised over the halls: one thermal solve evaluates every
hall at its own trial point; the bounds and the current point are evaluated too, so a monotone V_h (the usual
case: warmer is cheaper until junctions bind) ends at its bound. Then Max-Q is re-solved at the chosen setpoints (its outer
loop updates lambda and the caps, every answer coupled-verified) and the hall searches repeat at the new
lambda; a round is kept only if the verified objective rises, so the result is never below the fixed setpoints.

Energy mode: the least facility power that serves a required tokens/s (``least_power_for_tokens``). The best
objective at budget B is increasing in B, so the least B whose co-optimised Max-Q reaches the requirement is
found by false position (Illinois) on B; each B is solved as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.maxq.optimize import MaxQResult, optimize_maxq
from twin.perf import perf_model
from twin.perf import tokens_per_s as rack_tokens_per_s

#: ASHRAE TC9.9 liquid-cooling classes: highest facility-water supply, C (W+: the model's upper limit)
W_CLASS_MAX_C = {"W17": 17.0, "W27": 27.0, "W32": 32.0, "W40": 40.0, "W45": 45.0, "W+": 70.0}
#: margin of the facility-water supply over the dew point, K
DEW_POINT_MARGIN_K = 2.0
#: OCP OAI liquid-cooling guidelines v1.0 s3.2: TCS flow 1.25-2.0 L/min per kW (1.5 nominal)
OCP_FLOW_LPM_PER_KW = (1.25, 2.0)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass
class CoolingResult:
    """Max-Q with co-optimised cooling setpoints.

    maxq: the Max-Q answer at the chosen setpoints (coupled-verified); fixed: Max-Q at the fixed setpoints (the
    layout's, or ``supply_c``); setpoints: one row per hall (bounds, fixed and chosen setpoint, which bound or
    trade binds, heat-rejection stage, cooling / chiller / GPU power and tokens/s at both); kpis: the gains
    (cooling_power_saved_mw, chiller_power_saved_mw, gpu_power_gained_mw, tokens_per_s_gained, ...), rounds,
    evaluations, convergence."""

    maxq: MaxQResult
    fixed: MaxQResult
    setpoints: pd.DataFrame
    kpis: dict
    history: list[dict] = field(default_factory=list)


def setpoint_bounds(model, ambient_c: float | None = None, wet_bulb_c: float | None = None) -> pd.DataFrame:
    """Allowed facility-water supply setpoints per hall.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    ambient_c, wet_bulb_c : float or None
        Outdoor dry and wet bulb, C (None: as the thermal solve takes them: the site's design values, or the
        site's design humidity ratio at ``ambient_c``).

    Returns
    -------
    pandas.DataFrame
        One row per hall: hall, w_class, layout_supply_c, lower_c (dew point + 2 K, at least 5 C, at most
        upper), upper_c (W-class limit), dew_point_c, flow_scale_lower / flow_scale_upper (TCS flow per kW over
        the design value keeping every rack of the hall within 1.25-2.0 L/min/kW; 1 always allowed),
        design_flow_lpm_per_kw (hall mean).
    """
    from twin.thermal.properties import dew_point_c
    from twin.thermal.solve import FLOW_SCALE_RANGE, _weather

    t_amb, p_air, t_wb, _ = _weather(model.layout.site, ambient_c, wet_bulb_c)
    t_dew = dew_point_c(t_amb, t_wb, p_air) if t_wb < t_amb else t_amb
    fws = model.fws
    upper = np.array([W_CLASS_MAX_C[str(w)] for w in fws["w_class"]], dtype=float)
    upper = np.minimum(upper, 70.0)
    lower = np.minimum(np.maximum(5.0, t_dew + DEW_POINT_MARGIN_K), upper)
    # TCS flow per kW factor: every rack of the hall within the OCP range (the racks' design flow per kW)
    r = model.racks
    hall = r["hall"].to_numpy()
    n_h = len(fws)
    lpm = (
        r["design_flow_m3_s"].to_numpy(dtype=float)
        * 60_000.0
        / (r["power_maxp_w"].to_numpy(dtype=float) / 1e3)
    )
    f_lo = np.full(n_h, FLOW_SCALE_RANGE[0])
    f_hi = np.full(n_h, FLOW_SCALE_RANGE[1])
    np.maximum.at(f_lo, hall, OCP_FLOW_LPM_PER_KW[0] / lpm)
    np.minimum.at(f_hi, hall, OCP_FLOW_LPM_PER_KW[1] / lpm)
    f_hi = np.maximum(f_hi, np.minimum(f_lo, 1.0))
    f_lo = np.minimum(f_lo, 1.0)  # the design flow is always allowed
    f_hi = np.maximum(f_hi, 1.0)
    design_lpm = np.bincount(hall, weights=lpm, minlength=n_h) / np.maximum(
        np.bincount(hall, minlength=n_h), 1
    )
    return pd.DataFrame(
        {
            "hall": model.halls["name"].to_numpy(),
            "w_class": fws["w_class"].to_numpy(),
            "layout_supply_c": fws["supply_c"].to_numpy(dtype=float),
            "lower_c": lower,
            "upper_c": upper,
            "dew_point_c": np.full(len(fws), t_dew),
            "flow_scale_lower": f_lo,
            "flow_scale_upper": f_hi,
            "design_flow_lpm_per_kw": design_lpm,
        }
    )


def _fixed_setpoints(model, supply_c) -> np.ndarray:
    t = model.fws["supply_c"].to_numpy(dtype=float).copy()
    if supply_c is None:
        return t
    if np.ndim(supply_c) == 0:
        t[:] = float(supply_c)
        return t
    v = np.asarray(supply_c, dtype=float)
    if v.shape != t.shape:
        raise InputError(f"supply_c must be one value or one per hall ({len(t)}), got shape {v.shape}")
    return np.where(np.isnan(v), t, v)


class _HallSearch:
    """The hall Lagrangians V_h(s) at one Max-Q answer (module docstring), evaluated for all halls at once."""

    def __init__(
        self, model, res: MaxQResult, s0: np.ndarray, f0: np.ndarray, kw: dict, rack_value, variation
    ):
        from twin.coupled import _fabric_heat, _in_hall_losses

        self.model, self.kw, self.s0, self.f0 = model, kw, s0, f0
        perf = perf_model(model)
        self.perf = perf
        cp = res.coupled
        rr = cp.res_racks
        th = cp.thermal.res_racks
        n_h = len(model.halls)
        self.hall = model.racks["hall"].to_numpy()
        self.n_h = n_h
        self.on = rr["on"].to_numpy(dtype=bool)
        self.p0 = rr["gpu_power_w"].to_numpy(dtype=float)
        self.margin0 = np.where(self.on, rr["margin_k"].to_numpy(dtype=float), np.inf)
        r = model.racks["cold_plate_r_k_per_w"].to_numpy(dtype=float)
        self.r = np.where(self.on, th["r_cold_plate_k_per_w"].to_numpy(dtype=float), r)
        self.t_thr = model.racks["t_throttle_c"].to_numpy(dtype=float)
        self.other = model.racks["other_power_w"].to_numpy(dtype=float)
        self.gpus = perf.gpus.astype(float)
        self.pmin, self.pmax = perf.gpu_power_min_w, perf.gpu_power_max_w
        self.value = np.ones(model.n_racks) if rack_value is None else np.asarray(rack_value, dtype=float)
        self.variation = variation
        k = res.kpis
        f_w = k["facility_power_mw"] * 1e6
        self.e = f_w / max(f_w - k["electrical_loss_mw"] * 1e6, 1e-300)  # meter W per W of load
        lam = float(k.get("shadow_price_objective_per_s_per_mw", 0.0)) / 1e6
        obj = float(k.get("objective_per_s", k["tokens_per_s"]))
        # with a slack budget the setpoint still should not waste cooling power: a tiny price breaks the tie
        self.lam = max(lam, 1e-9 * obj / max(f_w, 1.0))
        self.flat_tol = 1e-9 * abs(obj)
        # the GPU power each rack's price asks for; racks held at the throttle temperature would take more
        price = res.gpu_price_per_w if res.gpu_price_per_w is not None else np.zeros(model.n_racks)
        w = perf.tokens_full_per_gpu * self.value
        if variation is not None:
            w = w * np.bincount(np.repeat(np.arange(model.n_racks), perf.gpus), weights=variation) / self.gpus
        x = np.empty(model.n_racks)
        for c, curve in enumerate(perf.curves):  # a few curves
            s = perf.curve_id == c
            x[s] = curve.x_at_slope(price[s] * self.pmax[s] / w[s])
        resp = np.clip(x * self.pmax, self.pmin, self.pmax)
        at_thr = self.on & (np.abs(self.margin0) < 0.1)
        self.p_resp = np.where(at_thr, np.maximum(self.p0, resp), self.p0)
        net_pod, net_hall, _ = _fabric_heat(model)
        self.extra_air = net_hall + _in_hall_losses(model, cp.electrical, n_h)
        elec = set(model.elec["name"])
        self.f_th = tuple(f for f in kw.get("failed", ()) if f not in elec)
        self.t_start = cp.thermal.property_temps_c
        self.evaluations = 0

    def gpu_power(self, s: np.ndarray, thermal=None) -> np.ndarray:
        """GPU power per rack at setpoints ``s``: predicted from the junction margin (a supply change moves the
        junction by as much), or with ``thermal`` (a solved state at the predicted powers) one Newton step."""
        if thermal is None:
            shift = (s - self.s0)[self.hall]
            p = self.p0 + (self.margin0 - shift) / self.r
        else:
            p = self._p_pred + (self.t_thr - np.asarray(thermal.junction_c, dtype=float)) / self.r
        return np.where(self.on, np.clip(np.minimum(self.p_resp, p), self.pmin, self.pmax), 0.0)

    def evaluate(self, s: np.ndarray, f: np.ndarray | None = None):
        """(V per hall, the thermal state, GPU power per rack) at supply setpoints ``s`` (n_halls,) and TCS flow
        factors ``f`` (n_halls,; None: the current ones)."""
        from twin.thermal.solve import solve_thermal_state

        self._p_pred = self.gpu_power(s)
        rack_w = np.where(self.on, self.other + self.gpus * self._p_pred, 0.0)
        th = solve_thermal_state(
            self.model,
            rack_power_w=rack_w,
            ambient_c=self.kw.get("ambient_c"),
            wet_bulb_c=self.kw.get("wet_bulb_c"),
            supply_c=s,
            failed=self.f_th,
            extra_air_heat_w_by_hall=self.extra_air,
            t_start=self.t_start,
            tcs_flow_scale=self.f0 if f is None else f,
        )
        self.evaluations += 1
        p = self.gpu_power(s, th)
        rack_w = np.where(self.on, self.other + self.gpus * p, 0.0)
        tok = np.where(self.on, rack_tokens_per_s(self.model, np.maximum(p, self.pmin), self.perf), 0.0)
        obj = np.bincount(self.hall, weights=tok * self.value, minlength=self.n_h)
        load = np.bincount(self.hall, weights=rack_w, minlength=self.n_h)
        v = obj - self.lam * self.e * (load + np.asarray(th.mech_power_w_by_hall, dtype=float))
        # a hall whose racks would sit above their throttle temperature even at minimum power: not allowed
        hot = np.bincount(
            self.hall,
            weights=self.on
            & (self._p_pred + (self.t_thr - np.asarray(th.junction_c)) / self.r < self.pmin - 1e-6),
            minlength=self.n_h,
        )
        cooled_lost = np.bincount(self.hall, weights=self.on & ~np.asarray(th.cooled), minlength=self.n_h)
        # a flow the valves or the CDU pumps cannot deliver is not an allowed setpoint
        hyd = th.ch.pumping.hyd
        short = np.bincount(self.hall, weights=self.on & np.asarray(hyd.valve_saturated), minlength=self.n_h)
        short += np.bincount(
            self.model.loops["hall"].to_numpy(), weights=np.asarray(hyd.pump_limited), minlength=self.n_h
        )
        v = np.where((hot > 0) | (cooled_lost > 0) | (short > 0), -np.inf, v)
        return v, th, p

    def search(self, fn, x0, lower, upper, xtol, bounds=None) -> tuple[np.ndarray, np.ndarray]:
        """Best value per hall of one variable by a vectorised golden-section search of ``fn`` (x (n_halls,)
        -> V (n_halls,)) on [lower, upper], with the current ``x0`` and the bounds (``bounds``, default lower
        and upper) evaluated too. Returns (x, V)."""
        a, b = lower.copy(), upper.copy()
        free = b - a > xtol
        lo_all, hi_all = (lower, upper) if bounds is None else bounds
        cands = [np.clip(x0, lo_all, hi_all), lo_all.copy(), hi_all.copy()]
        vals = [fn(c) for c in cands]
        if free.any():
            c = b - _GOLDEN * (b - a)
            d = a + _GOLDEN * (b - a)
            fc = fn(np.where(free, c, cands[0]))
            fd = fn(np.where(free, d, cands[0]))
            n = int(math.ceil(math.log(xtol / float(np.max(b - a))) / math.log(_GOLDEN)))
            for _ in range(max(n, 0)):
                left = fc >= fd  # the maximum is in [a, d]
                b = np.where(left, d, b)
                a = np.where(left, a, c)
                # the kept interior point becomes d (left) or c (right); one new point per hall
                new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
                fnew = fn(np.where(free, new, cands[0]))
                c, d, fc, fd = (
                    np.where(left, new, d),
                    np.where(left, c, new),
                    np.where(left, fnew, fd),
                    np.where(left, fc, fnew),
                )
                swap = c > d  # keep c < d
                c, d = np.where(swap, d, c), np.where(swap, c, d)
                fc, fd = np.where(swap, fd, fc), np.where(swap, fc, fd)
            mid = np.where(fc >= fd, c, d)
            cands.append(np.where(free, mid, cands[0]))
            vals.append(np.where(free, np.maximum(fc, fd), vals[0]))
        V = np.vstack(vals)
        X = np.vstack(cands)
        best = np.argmax(V, axis=0)
        # a hall whose Lagrangian is flat (e.g. every rack off) keeps its point: a move must gain more than
        # 1e-9 of the objective
        gain = V[best, np.arange(self.n_h)] - V[0]
        best = np.where(gain > self.flat_tol, best, 0)
        return X[best, np.arange(self.n_h)], V[best, np.arange(self.n_h)]


def optimize_cooling(
    model,
    *,
    budget_mw: float,
    ambient_c: float | None = None,
    wet_bulb_c: float | None = None,
    supply_c=None,
    failed=(),
    rack_value: np.ndarray | None = None,
    variation_sigma: float = 0.0,
    seed: int = 0,
    shed: bool = True,
    max_outer: int = 15,
    max_rounds: int = 4,
    xtol_k: float = 0.02,
    tcs_flow_scale=None,
    optimize_flow: bool = True,
    xtol_flow: float = 0.002,
    objective=None,
) -> CoolingResult:
    """Max-Q caps, facility-water supply setpoints and TCS flow per kW per hall, together (module docstring).

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    budget_mw : float
        Facility power budget at the meter, MW.
    ambient_c, wet_bulb_c : float or None
        Outdoor dry and wet bulb, C (None: the site's design values).
    supply_c : float, array of shape (n_halls,) or None
        The fixed setpoints compared against (and the search's start), C; None: the layout's.
    failed : sequence of str
        Units out of service.
    rack_value : numpy.ndarray of shape (n_racks,), optional
        Value of a token of each rack (``optimize_maxq``); None: plain tokens/s.
    variation_sigma, seed, shed, max_outer
        As ``optimize_maxq``.
    max_rounds : int, default 4
        Most rounds of (hall searches at the current shadow price, Max-Q re-solve).
    xtol_k : float, default 0.02
        Setpoint resolution of the hall searches, K.
    tcs_flow_scale : float, array of shape (n_halls,) or None
        The fixed TCS flow per kW over the design value compared against (and the start); None: 1 (design).
    optimize_flow : bool, default True
        Choose the TCS flow per kW too (False: held at ``tcs_flow_scale``).
    xtol_flow : float, default 0.002
        Resolution of the flow factor searches.
    objective : callable or None
        The verified objective of a Max-Q answer (``MaxQResult -> float``, -inf when infeasible) that decides
        whether a round is kept and which the gains are reported in; None: Max-Q's own (``objective_per_s``:
        tokens/s, or value-weighted with ``rack_value``). The revenue objective
        (``twin.economics.revenue.revenue_maxq(optimize_cooling=True)``) passes the tier split's $/s at the caps
        with ``rack_value`` in $ per token, so the hall searches price the budget in $/s per MW.

    Returns
    -------
    CoolingResult

    Raises
    ------
    InputError
        Bad arguments (as ``optimize_maxq``), a fixed setpoint outside 5..70 C.
    """
    from twin.perf import gpu_variation

    if max_rounds < 1 or not (xtol_k > 0):
        raise InputError("optimize_cooling: max_rounds must be >= 1 and xtol_k > 0")
    bounds = setpoint_bounds(model, ambient_c, wet_bulb_c)
    lower, upper = bounds["lower_c"].to_numpy(), bounds["upper_c"].to_numpy()
    s_fixed = _fixed_setpoints(model, supply_c)
    f_lo, f_hi = bounds["flow_scale_lower"].to_numpy(), bounds["flow_scale_upper"].to_numpy()
    n_h = len(s_fixed)
    if tcs_flow_scale is None:
        f_fixed = np.ones(n_h)
    else:
        f_fixed = np.broadcast_to(np.asarray(tcs_flow_scale, dtype=float), (n_h,)).copy()
    kw = dict(
        budget_mw=budget_mw,
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        failed=failed,
        rack_value=rack_value,
        variation_sigma=variation_sigma,
        seed=seed,
        shed=shed,
        max_outer=max_outer,
    )
    fixed = optimize_maxq(model, supply_c=s_fixed, tcs_flow_scale=tcs_flow_scale, **kw)
    variation = gpu_variation(model.n_gpus, variation_sigma, seed) if variation_sigma > 0 else None

    def _maxq_objective(r: MaxQResult) -> float:
        return (
            float(r.kpis.get("objective_per_s", r.kpis.get("tokens_per_s", 0.0))) if r.feasible else -np.inf
        )

    if objective is None:
        objective = _maxq_objective
    else:
        user_objective = objective

        def objective(r: MaxQResult | None) -> float:
            return float(user_objective(r)) if r is not None and r.feasible else -np.inf

    best, s_best, f_best = fixed, s_fixed.copy(), f_fixed.copy()
    history = [
        {
            "round": 0,
            "setpoints_c": s_fixed.tolist(),
            "flow_scale": f_fixed.tolist(),
            "objective_per_s": objective(fixed),
            "kept": True,
        }
    ]
    evaluations, converged, rounds = 0, False, 0
    if not fixed.feasible:
        # no caps at the fixed setpoints: try the warmest allowed (the least cooling power) once
        trial = optimize_maxq(model, supply_c=upper, tcs_flow_scale=f_fixed, **kw)
        history.append({"round": 1, "setpoints_c": upper.tolist(), "objective_per_s": objective(trial)})
        if trial.feasible:
            best, s_best = trial, upper.copy()
    for rounds in range(1, max_rounds + 1):  # noqa: B007 (reported)
        if not best.feasible:
            break
        hs = _HallSearch(model, best, s_best, f_best, kw, rack_value, variation)
        # coordinate search: the supply setpoint at the current flow, then the flow at the new setpoint; later
        # rounds refine near the last point (the bounds are still candidates)
        near = rounds > 1
        lo_s, hi_s = (
            (np.maximum(lower, s_best - 2.0), np.minimum(upper, s_best + 2.0)) if near else (lower, upper)
        )
        s_new, _ = hs.search(
            lambda x, hs=hs, f=f_best: hs.evaluate(x, f)[0], s_best, lo_s, hi_s, xtol_k, (lower, upper)
        )
        f_new = f_best
        if optimize_flow:
            lo_f, hi_f = (
                (np.maximum(f_lo, f_best - 0.1), np.minimum(f_hi, f_best + 0.1)) if near else (f_lo, f_hi)
            )
            f_new, _ = hs.search(
                lambda x, hs=hs, s=s_new: hs.evaluate(s, x)[0], f_best, lo_f, hi_f, xtol_flow, (f_lo, f_hi)
            )
        evaluations += hs.evaluations
        ds = float(np.max(np.abs(s_new - s_best), initial=0.0))
        df = float(np.max(np.abs(f_new - f_best), initial=0.0))
        if ds <= xtol_k and df <= xtol_flow:
            converged = True
            break
        kept = False
        for step in (1.0, 0.5):  # the hall searches' linear model can overshoot: one halving
            s_try = s_best + step * (s_new - s_best)
            f_try = f_best + step * (f_new - f_best)
            try:
                r = optimize_maxq(model, supply_c=s_try, tcs_flow_scale=f_try, start=best, **kw)
                why = ""
            except InputError as exc:  # no verified caps there (e.g. the outer loop did not settle)
                r, why = None, str(exc)
            history.append(
                {
                    "round": rounds,
                    "setpoints_c": s_try.tolist(),
                    "flow_scale": f_try.tolist(),
                    "objective_per_s": objective(r) if r is not None else -np.inf,
                    **({"reason": why} if why else {}),
                }
            )
            if r is None:
                continue
            if objective(r) > objective(best) * (1 + 1e-12):
                best, s_best, f_best, kept = r, s_try, f_try, True
                history[-1]["kept"] = True
                break
        if not kept:
            converged = True  # no verified improvement from the hall optimum at this price
            break
    table = _setpoint_table(model, bounds, s_fixed, s_best, f_fixed, f_best, fixed, best, xtol_k)
    kpis = _gain_kpis(table, fixed, best, objective)
    kpis.update(
        {
            "cooling_rounds": rounds,
            "cooling_evaluations": evaluations,
            "cooling_converged": bool(converged),
            "cooling_setpoints": [
                {"hall": h, "supply_c": float(s), "tcs_flow_lpm_per_kw": float(q)}
                for h, s, q in zip(
                    table["hall"], table["chosen_c"], table["tcs_flow_lpm_per_kw_chosen"], strict=True
                )
            ],
        }
    )
    return CoolingResult(best, fixed, table, kpis, history)


def _hall_sums(model, r: MaxQResult) -> dict[str, np.ndarray]:
    n_h = len(model.halls)
    if not r.feasible or r.coupled is None:
        nan = np.full(n_h, np.nan)
        return {
            k: nan for k in ("cooling", "chiller", "tcs", "gpu", "tokens", "stage", "tj", "junction_racks")
        }
    cp = r.coupled
    rr = cp.res_racks
    hall = model.racks["hall"].to_numpy()
    gpus = model.racks["gpus"].to_numpy(dtype=float)
    gpu_w = rr["gpu_power_w"].to_numpy(dtype=float) * gpus * rr["on"].to_numpy()
    th = cp.thermal.res_halls
    return {
        "cooling": np.asarray(cp.thermal.mech_power_w_by_hall, dtype=float) / 1e6,
        "chiller": th["chiller_power_w"].to_numpy(dtype=float) / 1e6,
        "tcs": th["tcs_pump_power_w"].to_numpy(dtype=float) / 1e6,
        "gpu": np.bincount(hall, weights=gpu_w, minlength=n_h) / 1e6,
        "tokens": np.bincount(hall, weights=rr["tokens_per_s"].to_numpy(dtype=float), minlength=n_h),
        "stage": th["stage"].to_numpy(),
        "tj": th["max_junction_c"].to_numpy(dtype=float),
        # racks held at their throttle temperature (junction margin within 0.05 K)
        "junction_racks": np.bincount(
            hall,
            weights=rr["on"].to_numpy() & (np.abs(rr["margin_k"].to_numpy(dtype=float)) < 0.05),
            minlength=n_h,
        ),
    }


def _setpoint_table(model, bounds, s_fixed, s_best, f_fixed, f_best, fixed, best, xtol_k) -> pd.DataFrame:
    a, b = _hall_sums(model, fixed), _hall_sums(model, best)
    lo, hi = bounds["lower_c"].to_numpy(), bounds["upper_c"].to_numpy()
    at = np.where(
        s_best >= hi - xtol_k,
        "upper (W-class limit)",
        np.where(
            s_best <= lo + xtol_k,
            "lower (dew point + 2 K)",
            np.where(
                b["junction_racks"] > 0,
                "interior (cooling power vs junction throttling)",
                "interior (cooling power flat above it: heat-rejection stage boundary)",
            ),
        ),
    )
    return pd.DataFrame(
        {
            "hall": bounds["hall"].to_numpy(),
            "w_class": bounds["w_class"].to_numpy(),
            "lower_c": lo,
            "upper_c": hi,
            "fixed_c": s_fixed,
            "chosen_c": s_best,
            "binds": at,
            "flow_binds": np.where(
                f_best <= bounds["flow_scale_lower"].to_numpy() + 1e-6,
                "lower (OCP 1.25 L/min/kW)",
                np.where(
                    f_best >= bounds["flow_scale_upper"].to_numpy() - 1e-6,
                    "upper (OCP 2.0 L/min/kW)",
                    "interior (pump power vs junction)",
                ),
            ),
            "tcs_flow_lpm_per_kw_fixed": f_fixed * bounds["design_flow_lpm_per_kw"].to_numpy(),
            "tcs_flow_lpm_per_kw_chosen": f_best * bounds["design_flow_lpm_per_kw"].to_numpy(),
            "tcs_pump_power_fixed_mw": a["tcs"],
            "tcs_pump_power_chosen_mw": b["tcs"],
            "stage_fixed": a["stage"],
            "stage_chosen": b["stage"],
            "cooling_power_fixed_mw": a["cooling"],
            "cooling_power_chosen_mw": b["cooling"],
            "chiller_power_fixed_mw": a["chiller"],
            "chiller_power_chosen_mw": b["chiller"],
            "gpu_power_fixed_mw": a["gpu"],
            "gpu_power_chosen_mw": b["gpu"],
            "tokens_per_s_fixed": a["tokens"],
            "tokens_per_s_chosen": b["tokens"],
            "max_junction_chosen_c": b["tj"],
        }
    )


def _gain_kpis(table: pd.DataFrame, fixed: MaxQResult, best: MaxQResult, objective) -> dict:
    def tot(col):
        return float(np.nansum(table[col].to_numpy(dtype=float)))

    t_fix = float(fixed.kpis.get("tokens_per_s", 0.0)) if fixed.feasible else 0.0
    t_best = float(best.kpis.get("tokens_per_s", 0.0)) if best.feasible else 0.0
    o_fix, o_best = objective(fixed), objective(best)
    return {
        "cooling_power_saved_mw": tot("cooling_power_fixed_mw") - tot("cooling_power_chosen_mw"),
        "chiller_power_saved_mw": tot("chiller_power_fixed_mw") - tot("chiller_power_chosen_mw"),
        "gpu_power_gained_mw": tot("gpu_power_chosen_mw") - tot("gpu_power_fixed_mw"),
        "tokens_per_s_fixed": t_fix,
        "tokens_per_s_gained": t_best - t_fix,
        "tokens_gain_pct": 100.0 * (t_best / t_fix - 1.0) if t_fix > 0 else float("nan"),
        "objective_gain_pct": 100.0 * (o_best / o_fix - 1.0)
        if np.isfinite(o_fix) and o_fix > 0
        else float("nan"),
    }


def least_power_for_tokens(
    model,
    *,
    tokens_per_s: float,
    rel_tol: float = 1e-4,
    max_iter: int = 20,
    optimize_setpoints: bool = True,
    **kw,
) -> tuple[float, CoolingResult | MaxQResult]:
    """Energy mode: the least facility budget (MW) whose Max-Q (with co-optimised setpoints, or at the fixed
    ones) serves ``tokens_per_s`` (the objective, with ``rack_value``), within ``rel_tol`` of the requirement.

    False position (Illinois) on the budget between the facility floor (every GPU at minimum power) and the
    grid connection; each budget is one ``optimize_cooling`` (or ``optimize_maxq``). Returns (budget MW, the
    result there).

    Raises
    ------
    InputError
        The requirement is not positive, or not reachable within the grid connection.
    """
    if not (np.isfinite(tokens_per_s) and tokens_per_s > 0):
        raise InputError(f"tokens_per_s must be a positive number, got {tokens_per_s}")

    def solve(b):
        if optimize_setpoints:
            r = optimize_cooling(model, budget_mw=b, **kw)
            return float(r.maxq.kpis.get("objective_per_s", 0.0)) if r.maxq.feasible else 0.0, r
        kw2 = {k: v for k, v in kw.items() if k not in ("max_rounds", "xtol_k")}
        r = optimize_maxq(model, budget_mw=b, **kw2)
        return float(r.kpis.get("objective_per_s", 0.0)) if r.feasible else 0.0, r

    hi = float(model.layout.site.grid_limit_mw)
    t_hi, r_hi = solve(hi)
    if t_hi < tokens_per_s * (1 - rel_tol):
        raise InputError(
            f"tokens_per_s {tokens_per_s:.6g} is not reachable within the {hi:g} MW grid connection "
            f"(at most {t_hi:.6g})"
        )
    maxq = r_hi.maxq if optimize_setpoints else r_hi
    lo = float(maxq.floor_mw) * 0.5
    t_lo = 0.0
    best = (hi, r_hi)
    side = 0
    f_lo, f_hi = t_lo - tokens_per_s, t_hi - tokens_per_s
    for _ in range(max_iter):
        b = lo + (0 - f_lo) * (hi - lo) / (f_hi - f_lo) if f_hi > f_lo else 0.5 * (lo + hi)
        b = min(max(b, lo + 1e-6 * (hi - lo)), hi - 1e-6 * (hi - lo))
        t, r = solve(b)
        f = t - tokens_per_s
        if f >= -rel_tol * tokens_per_s:
            hi, f_hi, best = b, f, (b, r)
            if side == 1:
                f_lo *= 0.5
            side = 1
            if f <= rel_tol * tokens_per_s:
                break
        else:
            lo, f_lo = b, f
            if side == -1:
                f_hi *= 0.5
            side = -1
        if hi - lo <= 1e-9 * hi:
            break
    return best
