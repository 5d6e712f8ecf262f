"""Benchmark: coupled steady state, Max-Q (with and without rack shedding) and Max-P on the 1 GW campus
(layouts/campus_1gw.yaml), and Max-Q's core optimizer against cvxpy on the largest sub-instance cvxpy solves
within the time limit, measured in one run.

    python bench/bench_maxq.py [--runs 5] [--cvxpy-limit-s 60]

Prints medians of several runs (after one warm-up run that loads property tables).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from twin.coupled import solve_coupled
from twin.maxq.core import CapProblem, LinearGroup, cap_objective, solve_caps
from twin.maxq.optimize import _Facility, optimize_maxq
from twin.maxq.reference import solve_caps_cvxpy
from twin.model import load_model
from twin.perf import gpu_variation, perf_model

LAYOUT = Path(__file__).resolve().parents[1] / "layouts" / "campus_1gw.yaml"


def median_time(fn, runs: int) -> tuple[float, object]:
    fn()  # warm-up
    ts, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def sub_problem(pb: CapProblem, m: int) -> CapProblem:
    """The first m units of a linearised campus problem, every limit scaled to the same share."""
    sel = np.arange(m)
    groups = []
    for g in pb.groups:
        mem = g.member[sel]
        used = np.unique(mem[mem >= 0])
        remap = -np.ones(len(g.limit), np.int64)
        remap[used] = np.arange(len(used))
        full = np.bincount(g.member[g.member >= 0], weights=(g.coef * pb.count * pb.p_max)[g.member >= 0])
        part = np.bincount(mem[mem >= 0], weights=(g.coef * pb.count * pb.p_max)[sel][mem >= 0])
        share = part[used] / np.maximum(full[used], 1e-300)
        groups.append(LinearGroup(g.name, remap[mem], g.coef[sel], g.limit[used] * share, None))
    return CapProblem(
        pb.weight[sel],
        pb.count[sel],
        pb.p_max[sel],
        pb.p_min[sel],
        pb.p_up[sel],
        pb.curve_id[sel],
        pb.curves,
        groups,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cvxpy-limit-s", type=float, default=60.0)
    ap.add_argument("--budget-mw", type=float, default=1000.0)
    args = ap.parse_args()
    model = load_model(LAYOUT)
    print(f"campus: {model.n_racks:,} racks, {model.n_gpus:,} GPUs, budget {args.budget_mw:,.0f} MW")

    t_c, cp = median_time(lambda: solve_coupled(model), args.runs)
    k = cp.kpis
    print(
        f"coupled steady state (Max-P): median {t_c:.3f} s  [{k['iterations']} passes, "
        f"facility {k['facility_power_mw']:.1f} MW, balance error {k['balance_error_w']:.2e} W]"
    )

    def maxq_line(label: str, t: float, k: dict) -> None:
        groups = ", ".join(f"{g['racks_shed']} {g['group']}" for g in k["racks_shed_groups"]) or "none"
        gain = k["shedding_gain_pct"]
        print(
            f"{label}: median {t:.3f} s  [{k['outer_iterations']} linearisations, facility "
            f"{k['facility_power_mw']:.3f} MW, {k['tokens_per_s'] / 1e6:.2f} M tokens/s, grid shadow price "
            f"{k['shadow_price_tokens_per_s_per_mw']:,.0f} tokens/s per MW; racks shed: {groups}"
            + (f", shedding gain {gain:+.2f} %" if gain else "")
            + "]"
        )

    n_q = max(3, args.runs // 2)
    t_q, res = median_time(lambda: optimize_maxq(model, budget_mw=args.budget_mw), n_q)
    maxq_line("Max-Q per-GPU caps (identical within a rack), coupled-verified", t_q, res.kpis)
    t_q0, res0 = median_time(lambda: optimize_maxq(model, budget_mw=args.budget_mw, shed=False), n_q)
    maxq_line("Max-Q, caps only (shed=False: every rack on)", t_q0, res0.kpis)
    # where shedding does not pay the reduced costs say so at no extra solve: the campus without its
    # ru-nvl576 racks (the ones worth switching off at this budget)
    names = model.rack_types["name"].to_numpy()[model.racks["rack_type"].to_numpy()]
    vr = names != "ru-nvl576"
    t_n, res_n = median_time(lambda: optimize_maxq(model, budget_mw=args.budget_mw, racks_on=vr), n_q)
    t_n0, _ = median_time(
        lambda: optimize_maxq(model, budget_mw=args.budget_mw, racks_on=vr, shed=False), n_q
    )
    maxq_line("Max-Q, ru-nvl576 racks off (shedding does not pay)", t_n, res_n.kpis)
    print(f"  the same with shed=False: median {t_n0:.3f} s (shedding check {100 * (t_n / t_n0 - 1):+.1f} %)")
    t_p, resp = median_time(lambda: optimize_maxq(model, budget_mw=args.budget_mw, policy="maxp"), n_q)
    k = resp.kpis
    print(
        f"Max-P (no caps, racks off until the facility fits): median {t_p:.3f} s  [{k['racks_on']:,} racks on, "
        f"facility {k['facility_power_mw']:.3f} MW, {k['tokens_per_s'] / 1e6:.2f} M tokens/s, "
        f"{k['throttled_racks']} throttled]"
    )
    t_v, resv = median_time(
        lambda: optimize_maxq(model, budget_mw=args.budget_mw, variation_sigma=0.03, seed=1), 3
    )
    print(
        f"Max-Q with per-GPU variation (417k independent caps): median {t_v:.3f} s  "
        f"[{resv.kpis['tokens_per_s'] / 1e6:.2f} M tokens/s]"
    )

    # the core optimizer on the linearised campus problem, per GPU (variation on): ours vs cvxpy
    perf = perf_model(model)
    var = gpu_variation(model.n_gpus, 0.03, 1)
    fac = _Facility(model, perf, var)
    cp0 = solve_coupled(model, gpu_cap_w=model.gpu_types["power_maxq_w"].to_numpy()[model.racks["gpu_type"]])
    g0 = fac.gpu_power_total(cp0)
    pb = fac.problem(cp0, 1.1, cp0.facility_power_w, g0, args.budget_mw * 1e6)
    t_core, sol = median_time(lambda: solve_caps(pb), args.runs)
    print(
        f"core optimizer, {len(pb.weight):,} per-GPU variables: median {t_core:.3f} s (converged {sol.converged})"
    )
    largest = None
    for m in (72, 288, 1152, 4608, 18432):
        sub = sub_problem(pb, m)
        t0 = time.perf_counter()
        ref = solve_caps_cvxpy(sub)
        t_ref = time.perf_counter() - t0
        if ref["status"] != "optimal":
            print(f"  cvxpy {m} GPUs: {ref['status']}")
            break
        t_ours, s = median_time(lambda sub=sub: solve_caps(sub), args.runs)
        # cvxpy's powers scored with the exact curve (its LP value is a tangent upper bound)
        exact = cap_objective(sub, np.clip(ref["p"], sub.p_min, sub.p_up))
        print(
            f"  {m:>6,} GPUs: cvxpy {t_ref:.3f} s, ours {t_ours:.4f} s, ratio {t_ref / t_ours:,.0f}x, "
            f"tokens/s ours / cvxpy - 1 = {s.tokens_per_s / exact - 1:+.1e} "
            f"(<= LP bound: {s.tokens_per_s <= ref['lp_value'] * (1 + 1e-9)})"
        )
        largest = (m, t_ref, t_ours)
        if t_ref > args.cvxpy_limit_s / 4:  # the next size (x4) would exceed the limit
            break
    if largest:
        m, t_ref, t_ours = largest
        print(f"ratio to cvxpy on the largest instance it solved ({m:,} GPUs): {t_ref / t_ours:,.0f}x faster")


if __name__ == "__main__":
    main()
