"""Benchmark: revenue-optimal Max-Q (twin.economics) on the 1 GW campuses, against tokens Max-Q, and the dual
decomposition of the linearised revenue problem against cvxpy, measured in one run.

    python bench/bench_economics.py [--runs 5]

Prints medians of several runs (after one warm-up run that loads property tables). Target: the 1 GW campus
revenue Max-Q <= 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from twin.economics.revenue import linearise, pools, revenue_maxq, solve_linearised
from twin.layout import keynote_tiers
from twin.maxq.optimize import optimize_maxq
from twin.model import load_model
from twin.perf import perf_model

ROOT = Path(__file__).resolve().parents[1]
DEMAND = (None, 2e9, 1e9, 5e8, 3e8)  # tokens/s the market takes per tier (a coding-heavy 1 GW market)


def median_time(fn, runs: int) -> tuple[float, object]:
    fn()  # warm-up
    ts, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    demand = [
        t.model_copy(update={"demand_limit_tok_s": d}) for t, d in zip(keynote_tiers(), DEMAND, strict=True)
    ]
    campus = load_model(ROOT / "layouts" / "campus_1gw.yaml")
    mixed = load_model(ROOT / "layouts" / "campus_mixed.yaml")
    rows = [
        ("campus_1gw: tokens Max-Q (reference)", lambda: optimize_maxq(campus, budget_mw=1000.0), None),
        ("campus_1gw: revenue Max-Q (layout tiers)", lambda: revenue_maxq(campus, budget_mw=1000.0), "r"),
        (
            "campus_mixed: revenue Max-Q (keynote tiers, LPX decode)",
            lambda: revenue_maxq(mixed, budget_mw=1000.0),
            "r",
        ),
        (
            "campus_mixed: revenue Max-Q with demand limits",
            lambda: revenue_maxq(mixed, budget_mw=1000.0, tiers=demand),
            "r",
        ),
    ]
    print(f"{'case':58s} {'median s':>9s} {'revenue $M/h':>13s} {'outer it':>8s}")
    for name, fn, kind in rows:
        t, out = median_time(fn, args.runs)
        rev = f"{out.kpis['revenue_usd_per_h'] / 1e6:,.2f}" if kind else "-"
        it = str(out.kpis.get("outer_iterations", "-")) if kind else "-"
        print(f"{name:58s} {t:9.3f} {rev:>13s} {it:>8s}", flush=True)
    try:
        from twin.economics.reference import solve_revenue_cvxpy
    except ImportError:  # pragma: no cover
        return
    perf = perf_model(mixed)
    lin = linearise(mixed, perf, 1000.0)
    pl = pools(mixed, demand, perf)
    t_dd, ours = median_time(lambda: solve_linearised(pl, lin), args.runs)
    t0 = time.perf_counter()
    ref = solve_revenue_cvxpy(pl, lin)
    t_cv = time.perf_counter() - t0
    gap = (ref["revenue_usd_per_s"] - ours["revenue_usd_per_s"]) / ref["revenue_usd_per_s"]
    print(
        f"linearised campus_mixed with demand limits: dual decomposition {t_dd * 1e3:.1f} ms, cvxpy {t_cv:.2f} s, "
        f"gap {gap:.2e} (cvxpy's tangent LP is an upper bound)"
    )


if __name__ == "__main__":
    main()
