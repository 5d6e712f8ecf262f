"""Transients of one hall: lumped thermal capacitances of racks and TCS coolant volumes (stiff ODE, BDF).

States (per rack r in loop l; per loop a return volume and a supply volume, each half the CDU's TCS volume):
  C_r  dT_r/dt   = P_liq,r(t) - m_r(t) c_p (T_r - T_sup,l)                         C_r = tau_r m_r,design c_p
  C_ret dT_ret/dt = sum_r m_r c_p (T_r - T_ret) + W_pump(t)                      (pump work into the coolant)
  C_sup dT_sup/dt = m_l c_p (T_ret - T_sup) - Q_cdu,   Q_cdu = eps C_min (T_ret - T_fws)   (quasi-static eps-NTU)
with tau_r the rack time constant (~2 s, Modelica Buildings PartialRack). Junction T_j = T_r + P_gpu R(m_r)
(``heat``). Flows follow the pump: after an event they approach the new steady flow as a first-order lag with the
CDU's ``pump_ramp_s``; a lost pump leaves the others at their speed (flow x running/before) until ``failover_s``,
then the loop is re-solved (``solve_thermal`` with the failure) and flows ramp to it. The facility-water supply is a
boundary (held by heat rejection; its dynamics are slower and quasi-static here). Coolant properties are frozen
at the initial steady state. The junction offset P_gpu R follows power and flow without lag (an upper bound on
the first seconds after a step).
Integrated with ``scipy.integrate.solve_ivp`` (BDF, analytic sparse Jacobian), in segments between events.

Scenarios: ``pump-trip`` (all pumps of a loop trip, no failover: flow coasts down), ``cdu-loss`` (one CDU unit,
exchanger and pump, with failover of the others), ``supply-step`` (facility-water setpoint +step_k),
``load-step`` (IT load ``load_from`` -> ``load_to`` in one step, as a training job starting).
The ride-through time is the time from the event until the first GPU junction reaches its throttle limit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.integrate import solve_ivp

from twin.errors import InputError
from twin.thermal import heat
from twin.thermal.cdu import effectiveness_counterflow
from twin.thermal.results import TransientResult
from twin.thermal.solve import _check_scalar, solve_thermal

SCENARIOS = ("pump-trip", "cdu-loss", "supply-step", "load-step")


def _hall_index(model, hall) -> int:
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


def _scenario_failures(model, scenario: str, h: int, target) -> list[str]:
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


def simulate_transient(
    model,
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
) -> TransientResult:
    """Simulate one scenario on one hall (default the first) and return the series and the ride-through time."""
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario '{scenario}' (choose from {', '.join(SCENARIOS)})")
    duration_s = _check_scalar("duration_s", duration_s, 1.0, 7 * 86400.0)
    dt_out_s = _check_scalar("dt_out_s", dt_out_s, 1e-3, duration_s)
    t_event_s = _check_scalar("t_event_s", t_event_s, 0.0, duration_s)
    step_k = _check_scalar("step_k", step_k, -40.0, 40.0)
    h = _hall_index(model, hall)
    racks, loops = model.racks, model.loops
    rsel = np.flatnonzero(racks["hall"].to_numpy() == h)
    lsel = np.flatnonzero(loops["hall"].to_numpy() == h)
    if len(rsel) == 0:
        raise InputError(f"hall '{model.halls['name'].iat[h]}' has no racks")

    # steady states before and after the event
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
        sup_post = float(pre.res_halls["fws_setpoint_c"].iat[h]) + step_k
    post = solve_thermal(model, it_load=load_post, ambient_c=ambient_c, supply_c=sup_post, failed=failed)
    s0, s1 = pre.state, post.state

    # local indexing
    n_r, n_l = len(rsel), len(lsel)
    loc = np.full(len(loops), -1)
    loc[lsel] = np.arange(n_l)
    rl = loc[racks["loop"].to_numpy()[rsel]]
    cp = s0["cp"][lsel]
    rho = s0["rho"][lsel]
    qd = racks["design_flow_m3_s"].to_numpy()[rsel]
    tau_rt = np.array(
        [model.catalog.rack(n).thermal_time_constant_s for n in model.rack_types["name"]], dtype=float
    )
    tau_r = tau_rt[racks["rack_type"].to_numpy()[rsel]]
    c_rack = tau_r * qd * rho[rl] * cp[rl]
    c_vol = 0.5 * loops["volume_m3"].to_numpy()[lsel] * rho * cp
    cat = s0["cat"]
    tau_pump = cat["pump_ramp_s"][lsel]
    failover = np.max(cat["failover_s"][lsel]) if scenario in ("cdu-loss", "pump-trip") else 0.0

    # coolant properties frozen at the initial state (volumetric flows of both steady states x initial density)
    m_pre, m_post = s0["q_rack"][rsel] * rho[rl], s1["q_rack"][rsel] * rho[rl]
    w_pre, w_post = s0["pump_power"][lsel], s1["pump_power"][lsel]
    np_pre, np_post = s0["n_pump"][lsel], s1["n_pump"][lsel]
    share = np.where(np_pre > 0, np_post / np.maximum(np_pre, 1), 0.0)
    if scenario in ("cdu-loss", "pump-trip"):
        m_mid, w_mid = m_pre * share[rl], w_pre * share**3  # remaining pumps hold speed until failover
    else:
        m_mid, w_mid = m_post, w_post
    t_fo = t_event_s + failover
    p_liq = (s0["p_liq"][rsel], s1["p_liq"][rsel])
    p_gpu = (s0["p_gpu"][rsel], s1["p_gpu"][rsel])
    ua = (s0["ua_loop"][lsel], s1["ua_loop"][lsel])
    cc = (s0["c_cold_loop"][lsel], s1["c_cold_loop"][lsel])
    t_fs = (float(s0["t_fs"][h]), float(s1["t_fs"][h]))
    if not np.isfinite(t_fs[1]):
        raise InputError("the hall has no steady heat rejection after the event (all dry coolers lost)")
    tau_rk = tau_pump[rl]
    m_at_fo = m_mid + (m_pre - m_mid) * np.exp(-failover / tau_rk)
    w_at_fo = w_mid + (w_pre - w_mid) * np.exp(-failover / tau_pump)

    def flows(t):
        """Rack mass flows (n_t, n_r) and loop pump power (n_t, n_l) at times t (vectorised)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))[:, None]
        a = np.exp(-np.maximum(t - t_event_s, 0.0) / tau_rk)
        b = np.exp(-np.maximum(t - t_fo, 0.0) / tau_rk)
        m = np.where(
            t < t_event_s,
            m_pre,
            np.where(t < t_fo, m_mid + (m_pre - m_mid) * a, m_post + (m_at_fo - m_post) * b),
        )
        aw = np.exp(-np.maximum(t - t_event_s, 0.0) / tau_pump)
        bw = np.exp(-np.maximum(t - t_fo, 0.0) / tau_pump)
        w = np.where(
            t < t_event_s,
            w_pre,
            np.where(t < t_fo, w_mid + (w_pre - w_mid) * aw, w_post + (w_at_fo - w_post) * bw),
        )
        return m, w

    # sparse Jacobian pattern: rack rows (T_r, T_sup), return rows (T_r..., T_ret), supply rows (T_ret, T_sup)
    i_r = np.arange(n_r)
    i_ret = n_r + np.arange(n_l)
    i_sup = n_r + n_l + np.arange(n_l)
    jr = np.concatenate([i_r, i_r, i_ret[rl], i_ret, i_sup, i_sup])
    jc = np.concatenate([i_r, i_sup[rl], i_r, i_ret, i_ret, i_sup])
    n_y = n_r + 2 * n_l

    def coeffs(t):
        post_ev = t >= t_event_s
        k = 1 if post_ev else 0
        m, w = flows(t)
        m, w = m[0], w[0]
        mc = m * cp[rl]
        ml = np.bincount(rl, weights=mc, minlength=n_l)  # loop C_hot = m_loop c_p
        c_min = np.minimum(ml, cc[k])
        c_max = np.maximum(ml, cc[k])
        ok = c_min > 0
        eps = np.where(
            ok,
            effectiveness_counterflow(ua[k] / np.where(ok, c_min, 1.0), c_min / np.where(ok, c_max, 1.0)),
            0.0,
        )
        return mc, ml, eps * c_min, w, p_liq[k], t_fs[k]

    def rhs(t, y):
        mc, ml, ecm, w, pl, tfs = coeffs(t)
        tr, tret, tsup = y[:n_r], y[n_r : n_r + n_l], y[n_r + n_l :]
        d = np.empty(n_y)
        d[:n_r] = (pl - mc * (tr - tsup[rl])) / c_rack
        d[n_r : n_r + n_l] = (np.bincount(rl, weights=mc * tr, minlength=n_l) - ml * tret + w) / c_vol
        d[n_r + n_l :] = (ml * (tret - tsup) - ecm * (tret - tfs)) / c_vol
        return d

    def jac(t, y):
        mc, ml, ecm, _, _, _ = coeffs(t)
        data = np.concatenate(
            [-mc / c_rack, mc / c_rack, mc / c_vol[rl], -ml / c_vol, (ml - ecm) / c_vol, -ml / c_vol]
        )
        return sp.csc_matrix((data, (jr, jc)), shape=(n_y, n_y))

    y0 = np.concatenate([s0["t_out"][rsel], s0["t_sup"][lsel], s0["t_sup"][lsel]])
    # return volume at steady state: rack mix plus pump heat = CDU hot inlet
    c_hot0 = np.bincount(rl, weights=m_pre * cp[rl], minlength=n_l)
    liq0 = np.bincount(rl, weights=p_liq[0], minlength=n_l)
    y0[n_r : n_r + n_l] = s0["t_sup"][lsel] + (liq0 + w_pre) / c_hot0

    t_out = np.arange(0.0, duration_s + 1e-9, dt_out_s)
    bounds = sorted({0.0, t_event_s, min(t_fo, duration_s), duration_s})
    ys, ts = [], []
    y = y0
    nfev = njev = 0
    ok_all = True
    message = ""
    # one integration per smooth segment (flows and boundary conditions jump at the event and at failover)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        last = b >= duration_s
        te = t_out[(t_out >= a) & ((t_out <= b) if last else (t_out < b))]
        sol = solve_ivp(rhs, (a, b), y, method="BDF", jac=jac, rtol=rtol, atol=atol, dense_output=True)
        nfev += sol.nfev
        njev += sol.njev
        if not sol.success:
            ok_all, message = False, sol.message
            break
        if len(te):
            ys.append(sol.sol(te))
            ts.append(te)
        y = sol.y[:, -1]
    tt = np.concatenate(ts)
    yy = np.concatenate(ys, axis=1).T  # (n_t, n_y)
    m_t, w_t = flows(tt)
    post_mask = (tt >= t_event_s)[:, None]
    pg = np.where(post_mask, p_gpu[1], p_gpu[0])
    r_cp = heat.cold_plate_resistance_k_per_w(
        racks["cold_plate_r_k_per_w"].to_numpy()[rsel],
        racks["cold_plate_r_conv_fraction"].to_numpy()[rsel],
        m_t / rho[rl],
        qd,
    )
    with np.errstate(invalid="ignore"):
        tj = np.where(pg > 0, yy[:, :n_r] + pg * r_cp, yy[:, :n_r])
    t_thr = racks["t_throttle_c"].to_numpy()[rsel]
    over = tj - t_thr
    worst = np.max(over, axis=1)
    ride = None
    if np.any(worst >= 0):
        k = int(np.argmax(worst >= 0))
        if k == 0 or tt[k] <= t_event_s:
            ride = 0.0
        else:
            # linear interpolation of the crossing between output points (inf-safe)
            w0, w1 = worst[k - 1], worst[k]
            frac = 1.0 if not np.isfinite(w1) else float(-w0 / (w1 - w0))
            ride = float(tt[k - 1] + frac * (tt[k] - tt[k - 1]) - t_event_s)
    t_shut = model.gpu_types["t_shutdown_c"].to_numpy()[racks["gpu_type"].to_numpy()[rsel]]
    shut = np.max(tj - t_shut, axis=1)
    k_sd = int(np.argmax(shut >= 0)) if np.any(shut >= 0) else -1
    t_shutdown = None if k_sd < 0 else max(float(tt[k_sd]) - t_event_s, 0.0)  # at output resolution
    p_rack = (s0["p_rack"][rsel], s1["p_rack"][rsel])
    it_p = np.where(tt >= t_event_s, p_rack[1].sum(), p_rack[0].sum())
    hottest = rsel[np.argmax(np.where(np.isfinite(tj), tj, np.inf), axis=1)]
    tret, tsup = yy[:, n_r : n_r + n_l], yy[:, n_r + n_l :]
    # loop C_hot over time without a Python loop over times: sum rack columns per loop
    agg = sp.csr_matrix((np.ones(n_r), (rl, np.arange(n_r))), shape=(n_l, n_r))
    ml_t = (agg @ (m_t * cp[rl]).T).T  # (n_t, n_l)
    k_t = (tt >= t_event_s).astype(int)
    ua_t = np.where(k_t[:, None] == 1, ua[1], ua[0])
    cc_t = np.where(k_t[:, None] == 1, cc[1], cc[0])
    tfs_t = np.where(k_t == 1, t_fs[1], t_fs[0])
    cmin = np.minimum(ml_t, cc_t)
    cmax = np.maximum(ml_t, cc_t)
    okc = cmin > 0
    eps_t = np.where(
        okc, effectiveness_counterflow(ua_t / np.where(okc, cmin, 1.0), cmin / np.where(okc, cmax, 1.0)), 0.0
    )
    q_cdu = eps_t * cmin * (tret - tfs_t[:, None])
    series = pd.DataFrame(
        {
            "time_s": tt,
            "it_power_w": it_p,
            "heat_to_fws_w": q_cdu.sum(axis=1),
            "pump_power_w": w_t.sum(axis=1),
            "fws_supply_c": tfs_t,
            "max_junction_c": np.max(tj, axis=1),
            "min_margin_k": -worst,
            "hottest_rack": hottest,
            "racks_over_throttle": np.sum(over >= 0, axis=1),
            "max_rack_outlet_c": np.max(yy[:, :n_r], axis=1),
            "min_loop_flow_m3_s": np.min(ml_t / cp, axis=1) / rho.mean() if n_l else 0.0,
        }
    )
    nt = len(tt)
    res_loops_ts = pd.DataFrame(
        {
            "time_s": np.repeat(tt, n_l),
            "loop": np.tile(lsel, nt),
            "name": np.tile(loops["name"].to_numpy()[lsel], nt),
            "t_supply_c": tsup.ravel(),
            "t_return_c": tret.ravel(),
            "flow_m3_s": (ml_t / (cp * rho)).ravel(),
            "heat_to_fws_w": q_cdu.ravel(),
        }
    )
    final = pd.DataFrame(
        {
            "rack": rsel,
            "loop": racks["loop"].to_numpy()[rsel],
            "t_outlet_c": yy[-1, :n_r],
            "flow_m3_s": m_t[-1] / rho[rl],
            "t_junction_max_c": tj[-1],
            "margin_k": -over[-1],
        }
    )
    fin = np.isfinite(tj)
    kpis = {
        "scenario": scenario,
        "hall": str(model.halls["name"].iat[h]),
        "racks": int(n_r),
        "failed": failed,
        "t_event_s": t_event_s,
        "duration_s": float(tt[-1]),
        "ride_through_s": ride,
        "throttle_reached": ride is not None,
        "time_to_shutdown_s": t_shutdown,
        "note": (
            "junction values after time_to_shutdown_s are unprotected (the GPUs would power off at their "
            "shutdown temperature; GPU protection is not modelled)"
            if t_shutdown is not None
            else ""
        ),
        "peak_junction_c": float(np.max(tj[fin])) if np.any(fin) else None,
        "min_margin_k": float(-np.max(worst)) if np.all(np.isfinite(worst)) else None,
        "final_min_margin_k": float(-worst[-1]) if np.isfinite(worst[-1]) else None,
        "initial_min_margin_k": float(-worst[0]),
        "racks_over_throttle_final": int(np.sum(over[-1] >= 0)),
        "solver_success": ok_all,
        "solver_message": message,
        "rhs_evaluations": int(nfev),
        "jacobian_evaluations": int(njev),
    }
    return TransientResult(
        scenario=scenario, series=series, res_loops_ts=res_loops_ts, kpis=kpis, res_racks_final=final
    )
