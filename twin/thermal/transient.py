"""Transients of one hall: lumped thermal capacitances of GPU dies, racks and TCS coolant volumes (stiff ODE, BDF).

States (per rack r in loop l; per loop a return volume and a supply volume, each half the CDU's TCS volume):
  C_d dT_j/dt    = P_gpu(T_j, t) - G(m_r) (T_j - T_r)                                 (hottest GPU die, per GPU)
  C_r dT_r/dt    = lf [P_other + n_gpu G (T_j - T_r)] - m_r c_p (T_r - T_sup,l)     C_r = tau_r m_r,design c_p
  C_ret dT_ret/dt = sum_r m_r c_p (T_r - T_ret) + W_pump(t)                      (pump work into the coolant)
  C_sup dT_sup/dt = m_l c_p (T_ret - T_sup) - Q_cdu,   Q_cdu = eps C_min (T_ret - T_fws)   (quasi-static eps-NTU)
with tau_r the rack time constant and C_d = tau_d / R_design the die + cold-plate heat capacity per GPU (catalog
``thermal_time_constant_s`` and ``die_time_constant_s``, ~2 s, Modelica Buildings PartialRack); G = 1/R(V) the
cold-plate conductance (``heat``, R V linear in V). The share 1 - lf of the rack heat goes to the air side and is
removed at once. At steady state T_j = T_out + P_gpu R(V) as in the steady solver (hottest GPU at the outlet).
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
Energy: two extra states count the heat in (IT power as throttled + pump work) and the heat removed (CDUs + air
side); stored = sum C dT over dies, racks and volumes. The balance in = stored + removed is a linear invariant of
the ODE, which BDF keeps to round-off (``energy_balance_rel_error`` in the KPIs).
Flows follow the pump: after an event they approach the new steady flow as a first-order lag with the CDU's
``pump_ramp_s``; a lost pump leaves the others at their speed until ``failover_s``: each running pump keeps its
duty point (flow and head per pump), so loop flow AND shaft power scale linearly with the running count
(W = W_0 N_1/N_0; the cube affinity law W ~ n^3 is for a speed change, not for a change of pump count), then
the loop is re-solved (``solve_thermal`` with the failure) and flows ramp to it. The facility-water supply is a
boundary (held by heat rejection; its dynamics are slower and quasi-static here). Coolant properties are frozen
at the initial steady state.
Integrated with ``scipy.integrate.solve_ivp`` (BDF, analytic sparse Jacobian), in segments between events.

Scenarios: ``pump-trip`` (all pumps of a loop trip, no failover: flow coasts down), ``cdu-loss`` (one CDU unit,
exchanger and pump, with failover of the others), ``supply-step`` (facility-water setpoint +step_k),
``load-step`` (IT load ``load_from`` -> ``load_to`` in one step, as a training job starting).
The ride-through time is the time from the event until the first GPU junction reaches its throttle limit; per
rack ``res_racks_final`` gives the time to throttle and to shutdown (inf: not reached) and the GPU power.
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
    throttle_band_k: float = 2.0,
) -> TransientResult:
    """Simulate one scenario on one hall (default the first) and return the series and the ride-through time.

    throttle_band_k: proportional band of the GPU thermal throttle, K (power falls from the command at
    ``t_throttle_c`` to the GPU minimum power ``throttle_band_k`` above it; a control-model choice, keep it
    below t_shutdown_c - t_throttle_c so a GPU at minimum power in a cooled rack stays on).
    """
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario '{scenario}' (choose from {', '.join(SCENARIOS)})")
    duration_s = _check_scalar("duration_s", duration_s, 1.0, 7 * 86400.0)
    dt_out_s = _check_scalar("dt_out_s", dt_out_s, 1e-3, duration_s)
    t_event_s = _check_scalar("t_event_s", t_event_s, 0.0, duration_s)
    step_k = _check_scalar("step_k", step_k, -40.0, 40.0)
    throttle_band_k = _check_scalar("throttle_band_k", throttle_band_k, 0.01, 20.0)
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
    rtype = racks["rack_type"].to_numpy()[rsel]
    rack_cat = [model.catalog.rack(n) for n in model.rack_types["name"]]  # a handful of rack types
    tau_r = np.array([c.thermal_time_constant_s for c in rack_cat], dtype=float)[rtype]
    tau_die = np.array([c.die_time_constant_s for c in rack_cat], dtype=float)[rtype]
    c_rack = tau_r * qd * rho[rl] * cp[rl]
    c_vol = 0.5 * loops["volume_m3"].to_numpy()[lsel] * rho * cp
    gpus = racks["gpus"].to_numpy()[rsel].astype(float)
    lf = racks["liquid_fraction"].to_numpy()[rsel]
    r_d = racks["cold_plate_r_k_per_w"].to_numpy()[rsel]
    f_conv = racks["cold_plate_r_conv_fraction"].to_numpy()[rsel]
    c_die = tau_die / r_d  # J/K per GPU: tau = C R at design flow
    p_min = racks["gpu_power_min_w"].to_numpy()[rsel]
    t_thr = racks["t_throttle_c"].to_numpy()[rsel]
    t_shut = racks["t_shutdown_c"].to_numpy()[rsel]
    cat = s0["cat"]
    tau_pump = cat["pump_ramp_s"][lsel]
    failover = np.max(cat["failover_s"][lsel]) if scenario in ("cdu-loss", "pump-trip") else 0.0

    # coolant properties frozen at the initial state (volumetric flows of both steady states x initial density)
    m_pre, m_post = s0["q_rack"][rsel] * rho[rl], s1["q_rack"][rsel] * rho[rl]
    w_pre, w_post = s0["pump_power"][lsel], s1["pump_power"][lsel]
    np_pre, np_post = s0["n_pump"][lsel], s1["n_pump"][lsel]
    share = np.where(np_pre > 0, np_post / np.maximum(np_pre, 1), 0.0)
    if scenario in ("cdu-loss", "pump-trip"):
        # remaining pumps hold speed and duty point until failover: flow and shaft power ~ running count
        m_mid, w_mid = m_pre * share[rl], w_pre * share
    else:
        m_mid, w_mid = m_post, w_post
    t_fo = t_event_s + failover
    p_cmd = (s0["p_gpu"][rsel], s1["p_gpu"][rsel])  # commanded power per GPU before / after the event
    # non-GPU rack power (CPUs, switches, fans), not throttled by the GPU
    other = tuple(s["p_rack"][rsel] - gpus * s["p_gpu"][rsel] for s in (s0, s1))
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

    # state vector: rack coolant T_r, hottest-GPU die T_j, loop return / supply volumes, and two energy
    # counters (heat in, heat removed) in K-equivalents (J / c_sum) so the energy balance can be checked
    i_r = np.arange(n_r)
    i_j = n_r + i_r
    i_ret = 2 * n_r + np.arange(n_l)
    i_sup = 2 * n_r + n_l + np.arange(n_l)
    n_y = 2 * n_r + 2 * n_l + 2
    i_ein, i_eout = n_y - 2, n_y - 1
    c_gpus = gpus * c_die  # die heat capacity of the whole rack
    c_sum = float(c_rack.sum() + c_gpus.sum() + 2.0 * c_vol.sum())
    e_in_row = np.full(n_r, i_ein)
    e_out_row = np.full(n_r, i_eout)
    jr = np.concatenate(
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
            [i_eout] * n_l,
            e_out_row,
            e_out_row,
        ]
    ).astype(np.int64)
    jc = np.concatenate(
        [i_r, i_j, i_sup[rl], i_j, i_r, i_r, i_ret, i_ret, i_sup, i_j, i_ret, i_j, i_r]
    ).astype(np.int64)
    alive = np.ones(n_r)  # 0 once a rack's GPU has reached its shutdown temperature: whole rack off, latched

    def coeffs(t):
        k = 1 if t >= t_event_s else 0
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
        g = heat.cold_plate_conductance_w_per_k(r_d, f_conv, m / rho[rl], qd)
        return k, mc, ml, eps * c_min, w, g

    def rhs(t, y):
        k, mc, ml, ecm, w, g = coeffs(t)
        tr, tj = y[:n_r], y[n_r : 2 * n_r]
        tret, tsup = y[2 * n_r : 2 * n_r + n_l], y[2 * n_r + n_l : n_y - 2]
        pe = alive * heat.throttled_gpu_power_w(p_cmd[k], p_min, tj, t_thr, throttle_band_k)
        q = g * (tj - tr)  # per GPU, die -> coolant
        rel = (
            alive * other[k] + gpus * q
        )  # rack heat released to coolant and air (other power off with the rack)
        q_cdu = ecm * (tret - t_fs[k])
        d = np.empty(n_y)
        d[:n_r] = (lf * rel - mc * (tr - tsup[rl])) / c_rack
        d[n_r : 2 * n_r] = (pe - q) / c_die
        d[2 * n_r : 2 * n_r + n_l] = (np.bincount(rl, weights=mc * tr, minlength=n_l) - ml * tret + w) / c_vol
        d[2 * n_r + n_l : n_y - 2] = (ml * (tret - tsup) - q_cdu) / c_vol
        d[i_ein] = (alive @ other[k] + gpus @ pe + w.sum()) / c_sum
        d[i_eout] = (q_cdu.sum() + (1.0 - lf) @ rel) / c_sum
        return d

    def jac(t, y):
        k, mc, ml, ecm, _, g = coeffs(t)
        tj = y[n_r : 2 * n_r]
        dp = alive * heat.throttled_gpu_power_slope_w_per_k(p_cmd[k], p_min, tj, t_thr, throttle_band_k)
        gg = gpus * g
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
                gpus * dp / c_sum,
                ecm / c_sum,
                (1.0 - lf) * gg / c_sum,
                -(1.0 - lf) * gg / c_sum,
            ]
        )
        return sp.csc_matrix((data, (jr, jc)), shape=(n_y, n_y))

    def shutdown_event(t, y):
        """max over running racks of T_j - T_shutdown: crosses zero when the next rack shuts down."""
        v = np.where(alive > 0, y[n_r : 2 * n_r] - t_shut, -1e3)
        return float(v.max())

    shutdown_event.terminal = True
    shutdown_event.direction = 1.0

    y0 = np.zeros(n_y)
    y0[:n_r] = s0["t_out"][rsel]
    # die at steady state: T_j = T_out + P_gpu R (as the steady solver, hottest GPU at the rack outlet); where
    # that is above the throttle limit the GPUs run throttled: start from the throttled die equilibrium at the
    # same coolant temperature (the coolant settles during the t_event_s before the event)
    g0 = heat.cold_plate_conductance_w_per_k(r_d, f_conv, m_pre / rho[rl], qd)
    y0[n_r : 2 * n_r] = heat.throttled_junction_c(y0[:n_r], g0, p_cmd[0], p_min, t_thr, throttle_band_k)
    throttled0 = int(np.sum(y0[:n_r] + p_cmd[0] / g0 > t_thr))
    y0[2 * n_r + n_l : n_y - 2] = s0["t_sup"][lsel]
    # return volume at steady state: rack mix plus pump heat = CDU hot inlet
    c_hot0 = np.bincount(rl, weights=m_pre * cp[rl], minlength=n_l)
    liq0 = np.bincount(rl, weights=s0["p_liq"][rsel], minlength=n_l)
    y0[2 * n_r : 2 * n_r + n_l] = s0["t_sup"][lsel] + (liq0 + w_pre) / c_hot0

    t_out = np.arange(0.0, duration_s + 1e-9, dt_out_s)
    bounds = sorted({0.0, t_event_s, min(t_fo, duration_s), duration_s})
    t_sd = np.full(n_r, np.inf)  # time each rack shut down (GPUs and other power)
    pieces = []  # (start, end, dense solution)
    y = y0
    nfev = njev = 0
    ok_all = True
    message = ""
    # one integration per smooth segment (flows and boundary conditions jump at the event and at failover);
    # a segment is cut again at each shutdown (the rack's whole IT power drops to zero, latched)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        t0 = a
        while ok_all and b > t0:
            hot = (alive > 0) & (y[n_r : 2 * n_r] >= t_shut)
            alive[hot], t_sd[hot] = 0.0, t0
            ev = shutdown_event if np.any(alive > 0) else None
            sol = solve_ivp(
                rhs, (t0, b), y, method="BDF", jac=jac, rtol=rtol, atol=atol, dense_output=True, events=ev
            )
            nfev += sol.nfev
            njev += sol.njev
            if sol.sol is not None and sol.t[-1] > t0:  # keep what was integrated, even on failure
                pieces.append((t0, float(sol.t[-1]), sol.sol))
            if sol.status < 0:
                ok_all, message = False, sol.message
                break
            y = sol.y[:, -1]
            if sol.status == 1:  # a rack reached its shutdown temperature
                t0, y = float(sol.t_events[0][-1]), sol.y_events[0][-1]
                hit = (alive > 0) & (y[n_r : 2 * n_r] >= t_shut - 1e-6)
                hit[np.argmax(np.where(alive > 0, y[n_r : 2 * n_r] - t_shut, -np.inf))] = True
                alive[hit], t_sd[hit] = 0.0, t0
                continue
            t0 = b
        if not ok_all:
            break
    if not pieces:
        raise InputError(f"the transient ODE solver failed at the start: {message}")
    t_end = pieces[-1][1]
    tt = t_out[t_out <= t_end + 1e-9]
    starts = np.array([p[0] for p in pieces])
    which = np.clip(np.searchsorted(starts, tt, side="right") - 1, 0, len(pieces) - 1)
    yy = np.empty((len(tt), n_y))
    for i in np.unique(which):  # one dense evaluation per piece (pieces: segments and shutdown events)
        sel = which == i
        yy[sel] = pieces[i][2](tt[sel]).T

    # ---- series, evaluated at the output times without a loop over racks or times
    m_t, w_t = flows(tt)
    post = (tt >= t_event_s)[:, None]
    tr_t, tj = yy[:, :n_r], yy[:, n_r : 2 * n_r]
    tret, tsup = yy[:, 2 * n_r : 2 * n_r + n_l], yy[:, 2 * n_r + n_l : n_y - 2]
    pc_t = np.where(post, p_cmd[1], p_cmd[0])
    oth_t = np.where(post, other[1], other[0])
    run_t = tt[:, None] < t_sd  # rack running (not shut down)
    pe_t = run_t * heat.throttled_gpu_power_w(pc_t, p_min, tj, t_thr, throttle_band_k)
    oth_run = run_t * oth_t
    g_t = heat.cold_plate_conductance_w_per_k(r_d, f_conv, m_t / rho[rl], qd)
    rel_t = oth_run + gpus * g_t * (tj - tr_t)
    it_p = oth_run.sum(axis=1) + pe_t @ gpus
    over = tj - t_thr
    worst = np.max(over, axis=1)
    ride = None
    if np.any(worst >= 0):
        k = int(np.argmax(worst >= 0))
        if k == 0 or tt[k] <= t_event_s:
            ride = 0.0
        else:
            # linear interpolation of the crossing between output points
            w0, w1 = worst[k - 1], worst[k]
            ride = float(tt[k - 1] + (-w0 / (w1 - w0)) * (tt[k] - tt[k - 1]) - t_event_s)
    # per rack: first crossing of the throttle limit, linearly interpolated between output points
    hit = over >= 0
    ever = hit.any(axis=0)
    kf = np.argmax(hit, axis=0)
    kb = np.maximum(kf - 1, 0)
    o0, o1 = over[kb, i_r], over[kf, i_r]
    frac = np.where(kf > 0, -o0 / np.where(o1 > o0, o1 - o0, 1.0), 0.0)
    t_cross = tt[kb] + np.clip(frac, 0.0, 1.0) * (tt[kf] - tt[kb])
    t_to_throttle = np.where(ever, np.maximum(t_cross - t_event_s, 0.0), np.inf)
    t_to_shutdown = np.where(np.isfinite(t_sd), np.maximum(t_sd - t_event_s, 0.0), np.inf)
    hottest = rsel[np.argmax(tj, axis=1)]
    # loop C_hot over time without a Python loop over times: sum rack columns per loop
    agg = sp.csr_matrix((np.ones(n_r), (rl, i_r)), shape=(n_l, n_r))
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
    # energy: heat in (IT + pump work) = stored (racks, dies, loop volumes) + removed (CDUs + air side)
    e_in = yy[:, i_ein] * c_sum
    e_out = yy[:, i_eout] * c_sum
    stored = (
        (tr_t - y0[:n_r]) @ c_rack
        + (tj - y0[n_r : 2 * n_r]) @ c_gpus
        + (tret - y0[2 * n_r : 2 * n_r + n_l] + tsup - y0[2 * n_r + n_l : n_y - 2]) @ c_vol
    )
    resid = e_in - e_out - stored
    series = pd.DataFrame(
        {
            "time_s": tt,
            "it_power_w": it_p,
            "gpu_power_w": pe_t @ gpus,
            "gpu_power_throttled_w": (run_t * (pc_t - pe_t)) @ gpus,
            "gpu_power_shut_down_w": (~run_t * pc_t) @ gpus,
            "other_power_shut_down_w": (~run_t * oth_t).sum(axis=1),
            "liquid_heat_w": rel_t @ lf,
            "air_heat_w": rel_t @ (1.0 - lf),
            "heat_to_fws_w": q_cdu.sum(axis=1),
            "pump_power_w": w_t.sum(axis=1),
            "fws_supply_c": tfs_t,
            "max_junction_c": np.max(tj, axis=1),
            "min_margin_k": -worst,
            "hottest_rack": hottest,
            "racks_over_throttle": np.sum(hit, axis=1),
            "racks_throttling": np.sum(run_t & (tj > t_thr) & (pc_t > p_min), axis=1),
            "racks_shut_down": np.sum(~run_t, axis=1),
            "max_rack_outlet_c": np.max(tr_t, axis=1),
            "max_coolant_c": np.maximum(np.max(tr_t, axis=1), np.max(np.maximum(tret, tsup), axis=1)),
            "min_loop_flow_m3_s": np.min(ml_t / cp, axis=1) / rho.mean() if n_l else 0.0,
            "energy_in_j": e_in,
            "energy_removed_j": e_out,
            "energy_stored_j": stored,
            "energy_balance_residual_j": resid,
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
            "pump_power_w": w_t.ravel(),
            "heat_to_fws_w": q_cdu.ravel(),
        }
    )
    final = pd.DataFrame(
        {
            "rack": rsel,
            "loop": racks["loop"].to_numpy()[rsel],
            "t_outlet_c": tr_t[-1],
            "flow_m3_s": m_t[-1] / rho[rl],
            "t_junction_max_c": tj[-1],
            "t_junction_peak_c": tj.max(axis=0),
            "margin_k": -over[-1],
            "gpu_power_w": pe_t[-1],
            "gpu_power_min_w": pe_t.min(axis=0),
            "gpu_power_command_w": pc_t[-1],
            "time_to_throttle_s": t_to_throttle,
            "time_to_shutdown_s": t_to_shutdown,
            "shut_down": np.isfinite(t_sd),
        }
    )
    n_shut = int(np.sum(np.isfinite(t_sd)))
    e_scale = max(float(np.max(np.abs(e_in))), 1.0)
    kpis = {
        "scenario": scenario,
        "hall": str(model.halls["name"].iat[h]),
        "racks": int(n_r),
        "failed": failed,
        "t_event_s": t_event_s,
        "duration_s": float(tt[-1]),
        "ride_through_s": ride,
        "throttle_reached": ride is not None,
        "time_to_shutdown_s": float(t_to_shutdown.min()) if n_shut else None,
        "racks_throttled": int(np.sum(ever)),
        "racks_throttled_initially": throttled0,
        "racks_shut_down": n_shut,
        "throttle_band_k": throttle_band_k,
        "peak_gpu_power_throttled_mw": float(series["gpu_power_throttled_w"].max()) / 1e6,
        "it_power_shut_down_mw": float(
            series["gpu_power_shut_down_w"].iat[-1] + series["other_power_shut_down_w"].iat[-1]
        )
        / 1e6,
        "peak_coolant_c": float(series["max_coolant_c"].max()),
        "note": " ".join(
            (
                [
                    f"{throttled0} racks start throttled (their unthrottled steady junction is above the limit)."
                ]
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
        ),
        "peak_junction_c": float(np.max(tj)),
        "min_margin_k": float(-np.max(worst)),
        "final_min_margin_k": float(-worst[-1]),
        "initial_min_margin_k": float(-worst[0]),
        "racks_over_throttle_final": int(np.sum(over[-1] >= 0)),
        "energy_in_mj": float(e_in[-1]) / 1e6,
        "energy_removed_mj": float(e_out[-1]) / 1e6,
        "energy_stored_mj": float(stored[-1]) / 1e6,
        "energy_balance_rel_error": float(np.max(np.abs(resid))) / e_scale,
        "solver_success": ok_all,
        "solver_message": message,
        "rhs_evaluations": int(nfev),
        "jacobian_evaluations": int(njev),
        "shutdown_events": int(max(len(pieces) - (len(bounds) - 1), 0)),
    }
    return TransientResult(
        scenario=scenario, series=series, res_loops_ts=res_loops_ts, kpis=kpis, res_racks_final=final
    )
