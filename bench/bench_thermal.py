"""Benchmark: thermal-hydraulic steady state of the 1 GW campus and a 10-minute transient of one ~100 MW hall.

Run: python bench/bench_thermal.py [LAYOUT] [--repeat N] [--json]
Prints the median of N runs of ``solve_thermal`` (design load and 70 % load) and of ``simulate_transient``
(load step 30 % -> 100 % on the first hall, 600 s at 1 s output), each against a naive version measured in the
same run: the same physics written the straightforward way (a Python loop over loops and racks, dense per-loop
Newton matrices, CoolProp called per rack; a per-rack Python right-hand side and a finite-difference Jacobian).
Goals (issue 3): steady state <= 0.5 s, transient <= 5 s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import CoolProp.CoolProp as CP  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402
from scipy.optimize import brentq  # noqa: E402
from timing import median_time as _time  # noqa: E402

from twin.model import load_model  # noqa: E402
from twin.thermal import simulate_transient, solve_thermal  # noqa: E402
from twin.thermal.heat_rejection import dry_cooler_rating  # noqa: E402
from twin.thermal.hydraulics import friction_factor_churchill  # noqa: E402

FLUID = {"PG25": "INCOMP::MPG[0.25]", "water": "Water"}


# ----------------------------------------------------------------------------------------------- naive steady
def _eps(ntu, cr):
    if abs(1 - cr) < 1e-9:
        return ntu / (1 + ntu)
    x = math.exp(-ntu * (1 - cr))
    return (1 - x) / (1 - cr * x)


def _pipe_h(q, length, d, rough, rho, mu):
    area = math.pi * d * d / 4
    v = q / area
    re = max(rho * abs(v) * d / mu, 1e-9)
    f = float(friction_factor_churchill(re, rough / d))
    return f * length / d * rho * v * abs(v) / 2


def naive_solve(model, it_load: float = 1.0, ambient_c: float | None = None) -> dict:
    """Per-loop, per-rack Python version of the design-case steady state (no failures, no air side)."""
    site = model.layout.site
    t_amb = site.design_ambient_c if ambient_c is None else ambient_c
    t_wb = min(site.design_wet_bulb_c, t_amb)
    racks = model.racks.to_dict("records")
    loops = model.loops.to_dict("records")
    fws = model.fws.to_dict("records")
    by_loop: dict[int, list[int]] = {}
    for i, r in enumerate(racks):
        by_loop.setdefault(r["loop"], []).append(i)
    tj = [0.0] * len(racks)
    loop_heat = [0.0] * len(loops)
    loop_c = [0.0] * len(loops)
    pump_w = [0.0] * len(loops)
    loop_state = {}
    for li, lp in enumerate(loops):
        idx = by_loop.get(li, [])
        n = len(idx)
        if n == 0:
            continue
        cat = model.catalog.get("cdus", lp["cdu"])
        fluid = FLUID[lp["coolant"]]
        t_set = fws[lp["hall"]]["supply_c"]
        tk = t_set + lp["approach_k"] + 273.15
        # properties at the design mean temperature (two CoolProp passes as the vectorised solver)
        rho0 = CP.PropsSI("D", "T", tk, "P", 3e5, fluid)
        cp0 = CP.PropsSI("C", "T", tk, "P", 3e5, fluid)
        qd_sum = sum(racks[i]["design_flow_m3_s"] for i in idx)
        pl = sum(racks[i]["liquid_fraction"] * racks[i]["power_maxp_w"] for i in idx)
        tm = tk + pl / (rho0 * cp0 * qd_sum) / 2
        rho = CP.PropsSI("D", "T", tm, "P", 3e5, fluid)
        mu = CP.PropsSI("V", "T", tm, "P", 3e5, fluid)
        seg = lp["manifold_length_m"] / n
        d, rough = lp["manifold_diameter_m"], lp["pipe_roughness_m"]
        # balancing valves at design flow
        down = [0.0] * n
        acc = 0.0
        for k in range(n - 1, -1, -1):
            acc += racks[idx[k]]["design_flow_m3_s"]
            down[k] = acc
        lost, surplus = 0.0, []
        for k in range(n):
            lost += 2 * _pipe_h(down[k], seg, d, rough, rho, mu)
            surplus.append(-lost - racks[idx[k]]["dp_design_pa"])
        smin = min(surplus)
        kv = [(surplus[k] - smin) / racks[idx[k]]["design_flow_m3_s"] ** 2 for k in range(n)]
        # flow setpoint and a dense Newton (global gradient) on this loop
        q_set = sum(racks[i]["design_flow_m3_s"] * it_load for i in idx)
        q_set = max(q_set, cat.min_flow_fraction * lp["flow_m3_s"] * lp["units"])
        n_nodes = 2 * n + 1  # S_0..S_n, R_1..R_n
        edges = []  # (kind, frm, to, k)
        for k in range(1, n + 1):
            edges.append(("pipe", k - 1, k, k - 1))
            edges.append(("pipe", n + k, (n + k - 1) if k > 1 else -1, k - 1))
            edges.append(("rack", k, n + k, k - 1))
        q = []
        for kind, _, _, k in edges:
            q.append(down[k] * it_load if kind == "pipe" else racks[idx[k]]["design_flow_m3_s"] * it_load)
        q = [x * q_set / (qd_sum * it_load) for x in q]
        p = np.zeros(n_nodes)
        for _ in range(60):
            mat = np.zeros((n_nodes, n_nodes))
            rhs = np.zeros(n_nodes)
            hs, ws = [], []
            for e, (kind, f, t, k) in enumerate(edges):
                if kind == "pipe":
                    h = _pipe_h(q[e], seg, d, rough, rho, mu)
                    g = 2 * abs(h) / max(abs(q[e]), 1e-15)
                else:
                    r = racks[idx[k]]
                    x = abs(q[e]) / r["design_flow_m3_s"]
                    hp = r["dp_design_pa"] * x ** r["dp_exponent"]
                    h = math.copysign(hp, q[e]) + kv[k] * q[e] * abs(q[e])
                    g = r["dp_exponent"] * hp / max(abs(q[e]), 1e-15) + 2 * kv[k] * abs(q[e])
                w = 1 / g
                hs.append(h)
                ws.append(w)
                val = w * h - q[e]
                if f >= 0:
                    mat[f, f] += w
                    rhs[f] += val
                if t >= 0:
                    mat[t, t] += w
                    rhs[t] -= val
                if f >= 0 and t >= 0:
                    mat[f, t] -= w
                    mat[t, f] -= w
            rhs[0] += q_set  # the pump injects the setpoint at S_0
            p = np.linalg.solve(mat, rhs)
            dq_max = 0.0
            for e, (_, f, t, _) in enumerate(edges):
                pf = p[f] if f >= 0 else 0.0
                pt = p[t] if t >= 0 else 0.0
                dq = (pf - pt - hs[e]) * ws[e]
                q[e] += dq
                dq_max = max(dq_max, abs(dq))
            if dq_max / q_set < 1e-10:
                break
        head = p[0]
        pump_w[li] = head * q_set / lp["pump_efficiency"]
        rack_q = {idx[k]: q[3 * k + 2] for k in range(n)}
        heat = sum(racks[i]["liquid_fraction"] * racks[i]["power_maxp_w"] * it_load for i in idx) + pump_w[li]
        cp_l = CP.PropsSI("C", "T", tm, "P", 3e5, fluid)
        loop_heat[li] = heat
        loop_c[li] = q_set * rho * cp_l
        loop_state[li] = (rack_q, rho, tm, fluid)
    # facility water and dry coolers per hall (scalar root finding)
    t_fs = {}
    mech = 0.0
    for h, fw in enumerate(fws):
        cpw = CP.PropsSI("C", "T", fw["supply_c"] + 273.15, "P", 3e5, "Water")
        rhow = CP.PropsSI("D", "T", fw["supply_c"] + 273.15, "P", 3e5, "Water")
        c_cold = 0.0
        q_hall = 0.0
        for li, lp in enumerate(loops):
            if lp["hall"] == h and li in loop_state:
                rho_l = loop_state[li][1]
                cp_l = CP.PropsSI("C", "T", loop_state[li][2], "P", 3e5, loop_state[li][3])
                c_cold += lp["units"] * lp["flow_m3_s"] * rho_l * cp_l
                q_hall += loop_heat[li]
        pm = model.catalog.get("pumps", fw["pump"])
        flow = c_cold / (rhow * cpw)
        design = flow  # every installed CDU at its rated primary flow = the loop's design flow
        fw_pump = (pm.system_head_kpa or pm.head_kpa) * 1e3 * (flow / design) ** 2 * flow / pm.efficiency
        q_hall += fw_pump
        dc = model.catalog.get("dry_coolers", fw["dry_cooler"])
        rat = dry_cooler_rating(dc, cpw)
        n_dc = fw["dry_cooler_units"]
        cw = c_cold / n_dc
        t_ret = fw["supply_c"] + q_hall / c_cold
        need = q_hall / n_dc

        def q_dc(s, t_air, rat=rat, cw=cw, t_ret=t_ret, dc=dc):
            ca = rat["c_air_w_per_k"] * s
            cmin, cmax = min(ca, cw), max(ca, cw)
            return (
                _eps(rat["ua_w_per_k"] * s**dc.ua_airflow_exponent / cmin, cmin / cmax)
                * cmin
                * (t_ret - t_air)
            )

        if q_dc(1.0, t_amb) >= need:
            s = brentq(lambda s, need=need: q_dc(s, t_amb) - need, 1e-9, 1.0, xtol=1e-14)
        else:
            s = 1.0  # pads (the campus at design holds with adiabatic pre-cooling)
            _ = t_wb
        mech += rat["fan_power_w"] * s**3 * n_dc + fw_pump
        t_fs[h] = fw["supply_c"]
    # CDUs and racks
    for li, lp in enumerate(loops):
        if li not in loop_state:
            continue
        rack_q, rho_l, tm, fluid = loop_state[li]
        cp_l = CP.PropsSI("C", "T", tm, "P", 3e5, fluid)
        c_h = loop_c[li]
        c_c = lp["units"] * lp["flow_m3_s"] * rho_l * cp_l
        c_r = lp["flow_m3_s"] * rho_l * cp_l  # rated capacity rate per CDU
        n_ua = model.catalog.get("cdus", lp["cdu"]).ua_flow_exponent
        x_h, x_c = c_h / (lp["units"] * c_r), c_c / (lp["units"] * c_r)
        ua = lp["units"] * lp["capacity_w"] / lp["approach_k"] / (0.5 * x_h**-n_ua + 0.5 * x_c**-n_ua)
        cmin, cmax = min(c_h, c_c), max(c_h, c_c)
        t_hi = t_fs[lp["hall"]] + loop_heat[li] / (_eps(ua / cmin, cmin / cmax) * cmin)
        t_sup = t_hi - loop_heat[li] / c_h
        mech += pump_w[li]
        for i, qr in rack_q.items():
            r = racks[i]
            p = r["power_maxp_w"] * it_load
            cp_r = CP.PropsSI(
                "C", "T", tm, "P", 3e5, fluid
            )  # the straightforward code asks CoolProp per rack
            t_out = t_sup + r["liquid_fraction"] * p / (qr * rho_l * cp_r)
            rcp = r["cold_plate_r_k_per_w"] * (
                1
                - r["cold_plate_r_conv_fraction"]
                + r["cold_plate_r_conv_fraction"] * r["design_flow_m3_s"] / qr
            )
            tj[i] = t_out + max(p - r["other_power_w"], 0) / r["gpus"] * rcp
    return {"max_junction_c": max(tj), "tj": np.array(tj)}


# ---------------------------------------------------------------------------------------------- naive transient
def naive_transient(model, hall: int, duration_s: float, load_from: float, load_to: float, t_event: float):
    """The same load-step ODE with a per-rack Python right-hand side and a finite-difference Jacobian."""
    pre = solve_thermal(model, it_load=load_from).state
    post = solve_thermal(model, it_load=load_to).state
    racks = model.racks
    rsel = [i for i in range(len(racks)) if racks["hall"].iat[i] == hall]
    lsel = sorted({int(racks["loop"].iat[i]) for i in rsel})
    lpos = {lo: k for k, lo in enumerate(lsel)}
    n_r, n_l = len(rsel), len(lsel)
    vol = model.loops["volume_m3"].to_numpy()
    ramp = pre["cat"]["pump_ramp_s"]

    def rhs(t, y):
        d = np.zeros(n_r + 2 * n_l)
        s = post if t >= t_event else pre
        mix = [0.0] * n_l
        ml = [0.0] * n_l
        for k, i in enumerate(rsel):
            lo = int(racks["loop"].iat[i])
            j = lpos[lo]
            cp, rho = pre["cp"][lo], pre["rho"][lo]
            a = math.exp(-max(t - t_event, 0.0) / ramp[lo])
            m = (post["q_rack"][i] + (pre["q_rack"][i] - post["q_rack"][i]) * a) * rho
            c_r = 2.0 * racks["design_flow_m3_s"].iat[i] * rho * cp
            d[k] = (s["p_liq"][i] - m * cp * (y[k] - y[n_r + n_l + j])) / c_r
            mix[j] += m * cp * y[k]
            ml[j] += m * cp
        for lo, j in lpos.items():
            cp, rho = pre["cp"][lo], pre["rho"][lo]
            a = math.exp(-max(t - t_event, 0.0) / ramp[lo])
            w = post["pump_power"][lo] + (pre["pump_power"][lo] - post["pump_power"][lo]) * a
            c_v = 0.5 * vol[lo] * rho * cp
            cmin, cmax = min(ml[j], s["c_cold_loop"][lo]), max(ml[j], s["c_cold_loop"][lo])
            q = _eps(s["ua_loop"][lo] / cmin, cmin / cmax) * cmin * (y[n_r + j] - s["t_fs"][hall])
            d[n_r + j] = (mix[j] - ml[j] * y[n_r + j] + w) / c_v
            d[n_r + n_l + j] = (ml[j] * (y[n_r + j] - y[n_r + n_l + j]) - q) / c_v
        return d

    y0 = np.concatenate([pre["t_out"][rsel], np.zeros(n_l), pre["t_sup"][lsel]])
    for lo, j in lpos.items():
        y0[n_r + j] = pre["t_sup"][lo] + (
            sum(pre["p_liq"][i] for i in rsel if racks["loop"].iat[i] == lo) + pre["pump_power"][lo]
        ) / (pre["q_loop"][lo] * pre["rho"][lo] * pre["cp"][lo])
    t_out = np.arange(0.0, duration_s + 1e-9, 1.0)
    a = solve_ivp(rhs, (0, t_event), y0, method="BDF", dense_output=True, rtol=1e-6, atol=1e-6)
    b = solve_ivp(
        rhs, (t_event, duration_s), a.y[:, -1], method="BDF", dense_output=True, rtol=1e-6, atol=1e-6
    )
    return np.concatenate([a.sol(t_out[t_out < t_event]), b.sol(t_out[t_out >= t_event])], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("layout", nargs="?", default=str(ROOT / "layouts" / "campus_1gw.yaml"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--naive-repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = load_model(args.layout)
    solve_thermal(model)  # warm-up: CoolProp tables, imports
    hall_name = str(model.halls["name"].iat[0])
    hall_mw = float(model.racks["power_maxp_w"][model.racks["hall"] == 0].sum()) / 1e6

    t_design, r_design = _time(lambda: solve_thermal(model), args.repeat)
    t_part, r_part = _time(lambda: solve_thermal(model, it_load=0.7, ambient_c=25.0), args.repeat)
    t_naive, n_design = _time(lambda: naive_solve(model), args.naive_repeat)
    agree = float(np.max(np.abs(n_design["tj"] - r_design.res_racks["junction_c"].to_numpy())))
    t_naive_part, n_part = _time(lambda: naive_solve(model, it_load=0.7, ambient_c=25.0), args.naive_repeat)
    agree_part = float(np.max(np.abs(n_part["tj"] - r_part.res_racks["junction_c"].to_numpy())))

    def tr():
        return simulate_transient(model, "load-step", hall=hall_name, duration_s=600.0, dt_out_s=1.0)

    t_tr, r_tr = _time(tr, max(3, args.repeat // 2))
    t_tr_naive, y_naive = _time(lambda: naive_transient(model, 0, 600.0, 0.3, 1.0, 30.0), args.naive_repeat)
    n_r = int((model.racks["hall"] == 0).sum())
    tr_agree = float(np.max(np.abs(y_naive[:n_r, -1] - r_tr.res_racks_final["coolant_return_c"].to_numpy())))
    res = {
        "layout": args.layout,
        "racks": model.n_racks,
        "it_mw": r_design.kpis["it_power_mw"],
        "steady_design_median_s": t_design,
        "steady_part_load_median_s": t_part,
        "steady_naive_s": t_naive,
        "steady_ratio_naive_over_vectorised": t_naive / t_design,
        "steady_naive_max_junction_difference_k": agree,
        "steady_part_load_naive_s": t_naive_part,
        "steady_part_load_ratio_naive_over_vectorised": t_naive_part / t_part,
        "steady_part_load_naive_max_junction_difference_k": agree_part,
        "hydraulic_iterations_design": r_design.kpis["hydraulics_iterations"],
        "hydraulic_iterations_part_load": r_part.kpis["hydraulics_iterations"],
        "transient_hall": hall_name,
        "transient_hall_mw": hall_mw,
        "transient_racks": n_r,
        "transient_median_s": t_tr,
        "transient_naive_s": t_tr_naive,
        "transient_ratio_naive_over_vectorised": t_tr_naive / t_tr,
        "transient_naive_final_outlet_difference_k": tr_agree,
        "transient_rhs_evaluations": r_tr.kpis["rhs_evaluations"],
        "goal_steady_s": 0.5,
        "goal_transient_s": 5.0,
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"{args.layout}: {model.n_racks:,} racks, {res['it_mw']:,.0f} MW IT at Max-P")
    print(
        f"steady state, design (median of {args.repeat}): {t_design * 1e3:8.1f} ms   "
        f"(goal <= 500 ms; {res['hydraulic_iterations_design']} Newton iterations)"
    )
    print(
        f"steady state, 70 % load, 25 C:       {t_part * 1e3:8.1f} ms   "
        f"({res['hydraulic_iterations_part_load']} Newton iterations)"
    )
    print(
        f"naive per-loop/per-rack Python:       {t_naive * 1e3:8.1f} ms   ratio {res['steady_ratio_naive_over_vectorised']:.0f}x"
        f"   (max junction difference {agree:.1e} K)"
    )
    print(
        f"naive, 70 % load, 25 C:               {t_naive_part * 1e3:8.1f} ms   ratio "
        f"{res['steady_part_load_ratio_naive_over_vectorised']:.0f}x   (max junction difference {agree_part:.1e} K)"
    )
    print(
        f"transient, load step 30->100 %, {hall_name} ({n_r} racks, {hall_mw:.0f} MW), 600 s at 1 s: "
        f"{t_tr:.3f} s (goal <= 5 s)"
    )
    print(
        f"naive transient (per-rack Python RHS, FD Jacobian): {t_tr_naive:.3f} s   "
        f"ratio {res['transient_ratio_naive_over_vectorised']:.0f}x   (final outlet difference {tr_agree:.1e} K)"
    )


if __name__ == "__main__":
    main()
