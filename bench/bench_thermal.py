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
from scipy.interpolate import PchipInterpolator  # noqa: E402
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


def _eff_ratio(x, curve):
    """Efficiency / best-point efficiency: PCHIP through the catalog points, linear to 0 below the first."""
    xf, yf = list(curve.flow_fraction), list(curve.efficiency_ratio)
    if x < xf[0]:
        return yf[0] * max(x, 0.0) / xf[0]
    if x > xf[-1]:
        return yf[-1]
    return float(PchipInterpolator(xf, yf)(x))


def _staged_power(head, q, n_avail, q_r, h_r, shutoff, phi, eta_b, curve):
    """Least power over the pump counts (each pump at least its minimum flow, speed <= 1), W, and the pump flow
    (with the bypass), m3/s."""
    h0 = shutoff * h_r
    kp = (h0 - h_r) / q_r**2
    best, q_best = math.inf, q
    for n in range(1, n_avail + 1):
        q_n = max(q, phi * q_r * n)
        s2 = (head + kp * (q_n / n) ** 2) / h0
        if s2 > 1 + 1e-9:
            continue
        p = head * q_n / (eta_b * _eff_ratio(q_n / n / (math.sqrt(s2) * q_r), curve))
        if p < best * (1 - 1e-12):
            best, q_best = p, q_n
    return best, q_best


def _naive_pass(model, it_load, t_amb, t_loop, t_fw):
    """One pass of the chain at property temperatures t_loop (per loop) and t_fw (per hall)."""
    racks = model.racks.to_dict("records")
    loops = model.loops.to_dict("records")
    fws = model.fws.to_dict("records")
    by_loop: dict[int, list[int]] = {}
    for i, r in enumerate(racks):
        by_loop.setdefault(r["loop"], []).append(i)
    tj = [0.0] * len(racks)
    loop_heat, loop_liq, loop_c, pump_w = ([0.0] * len(loops) for _ in range(4))
    loop_state = {}
    for li, lp in enumerate(loops):
        idx = by_loop.get(li, [])
        n = len(idx)
        if n == 0:
            continue
        cat = model.catalog.get("cdus", lp["cdu"])
        fluid = FLUID[lp["coolant"]]
        tm = min(max(t_loop[li], -10.0), 100.0) + 273.15
        rho = CP.PropsSI("D", "T", tm, "P", 3e5, fluid)
        mu = CP.PropsSI("V", "T", tm, "P", 3e5, fluid)
        cp_l = CP.PropsSI("C", "T", tm, "P", 3e5, fluid)
        seg = lp["manifold_length_m"] / n
        d, rough = lp["manifold_diameter_m"], lp["pipe_roughness_m"]
        phi, beta = cat.rack_min_flow_fraction, cat.valve_authority
        # flow-control valves: design flow per kW x power, smooth floor (x^8 + phi^8)^(1/8)
        q, dp_set = [], 0.0
        for i in idx:
            r = racks[i]
            qd = r["design_flow_m3_s"]
            x = r["power_maxp_w"] * it_load / r["power_maxp_w"]
            m_ = max(x, phi)
            q.append(qd * m_ * ((x / m_) ** 8 + (phi / m_) ** 8) ** 0.125 if x > 0 else 0.0)
            q_full = qd * (1 + phi**8) ** 0.125
            k_open = beta / (1 - beta) * r["dp_design_pa"] / qd**2
            dp_set = max(dp_set, r["dp_design_pa"] * (q_full / qd) ** r["dp_exponent"] + k_open * q_full**2)
        # pumps hold dp_set at the last rack: head = dp_set + supply and return drops
        head, acc = dp_set, 0.0
        for k in range(n - 1, -1, -1):
            acc += q[k]
            head += 2 * _pipe_h(acc, seg, d, rough, rho, mu)
        q_net = sum(q)
        pump_w[li], q_pump = _staged_power(
            head,
            q_net,
            lp["units"],
            lp["flow_m3_s"],
            lp["pump_head_pa"],
            cat.pump_shutoff_head_ratio,
            cat.min_flow_fraction,
            lp["pump_efficiency"],
            cat.pump_efficiency_curve,
        )
        liq = sum(racks[i]["liquid_fraction"] * racks[i]["power_maxp_w"] * it_load for i in idx)
        loop_liq[li] = liq
        loop_heat[li] = liq + pump_w[li]
        loop_c[li] = q_pump * rho * cp_l
        loop_state[li] = ({idx[k]: q[k] for k in range(n)}, rho, tm, fluid)
    # facility water and dry coolers per hall (scalar root finding)
    t_fs, t_fr = {}, {}
    mech = 0.0
    for h, fw in enumerate(fws):
        tw = min(max(t_fw[h], 0.5), 120.0) + 273.15
        cpw = CP.PropsSI("C", "T", tw, "P", 3e5, "Water")
        rhow = CP.PropsSI("D", "T", tw, "P", 3e5, "Water")
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
        head_fw = (
            pm.system_head_kpa or pm.head_kpa
        ) * 1e3  # every CDU at its rated primary flow = design flow
        fw_pump, _ = _staged_power(
            head_fw,
            flow,
            fw["pump_units"],
            pm.flow_m3_s,
            pm.head_kpa * 1e3,
            pm.shutoff_head_ratio,
            pm.min_flow_fraction,
            pm.efficiency,
            pm.efficiency_curve,
        )
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
        mech += rat["fan_power_w"] * s**3 * n_dc + fw_pump
        t_fs[h] = fw["supply_c"]
        t_fr[h] = t_ret
    # CDUs and racks
    new_loop = list(t_loop)
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
        new_loop[li] = t_sup + loop_liq[li] / c_h / 2  # mean of supply and (mixed) return
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
    new_fw = [(t_fs[h] + t_fr[h]) / 2 for h in range(len(fws))]
    return tj, new_loop, new_fw


def naive_solve(model, it_load: float = 1.0, ambient_c: float | None = None) -> dict:
    """Per-loop, per-rack Python version of the design-case steady state (no failures, no air side): the same
    physics as ``solve_thermal`` (flow-control valves, dp-controlled staged pumps, properties at each stream's
    mean temperature by the same three passes from the same start), written the straightforward way."""
    site = model.layout.site
    t_amb = site.design_ambient_c if ambient_c is None else ambient_c
    racks = model.racks.to_dict("records")
    loops = model.loops.to_dict("records")
    fws = model.fws.to_dict("records")
    # start of the property fixed point: design supply + half the rise at the design flow per kW
    t_loop, rises = [], {}
    for li, lp in enumerate(loops):
        idx = [i for i, r in enumerate(racks) if r["loop"] == li]
        t_sup = fws[lp["hall"]]["supply_c"] + lp["approach_k"]
        tk = min(max(t_sup, -10.0), 100.0) + 273.15
        rho_cp = CP.PropsSI("D", "T", tk, "P", 3e5, FLUID[lp["coolant"]]) * CP.PropsSI(
            "C", "T", tk, "P", 3e5, FLUID[lp["coolant"]]
        )
        liq = sum(racks[i]["liquid_fraction"] * racks[i]["power_maxp_w"] * it_load for i in idx)
        q = sum(racks[i]["design_flow_m3_s"] * it_load for i in idx)
        rise = liq / (rho_cp * q) if q > 0 else 0.0
        rises.setdefault(lp["hall"], []).append(min(rise, 20.0))
        t_loop.append(t_sup + rise / 2)
    t_fw = [
        fw["supply_c"] + sum(rises.get(h, [])) / max(len(rises.get(h, [])), 1) / 2 for h, fw in enumerate(fws)
    ]
    for k in range(8):
        tj, new_loop, new_fw = _naive_pass(model, it_load, t_amb, t_loop, t_fw)
        resid = max(
            max(abs(a - b) for a, b in zip(new_loop, t_loop, strict=True)),
            max(abs(a - b) for a, b in zip(new_fw, t_fw, strict=True)),
        )
        t_loop, t_fw = new_loop, new_fw
        if k + 1 >= 3 and resid <= 1e-4:
            break
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
