"""Benchmark: build + route + max-min rates of the 1 GW campus fabric at rack level.

Run: python bench/bench_network.py [LAYOUT] [--repeat N] [--json]
Times, as the median of N runs: fabric build (racks, leaves, spines, cores, links), ECMP routing of the traffic
into a sparse arc x flow matrix, and vectorised max-min progressive filling, for each traffic pattern
(goal: <= 2 s for the default all-reduce). The peer, measured in the same run on a smaller instance (the
Kyber hall's all-to-all), is a naive progressive filling with a Python loop per flow and per arc; the ratio
is naive time / vectorised time on that same instance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import median_time as _time  # noqa: E402

from twin.model import load_model  # noqa: E402
from twin.network import solve_network  # noqa: E402
from twin.network.rates import max_min_rates, max_min_rates_loop  # noqa: E402
from twin.network.routing import Router  # noqa: E402
from twin.network.topology import build_fabric  # noqa: E402
from twin.network.traffic import make_traffic  # noqa: E402


def pipeline(model, traffic: str):
    """Build + route + max-min rates (what the goal measures)."""
    t0 = time.perf_counter()
    fab = build_fabric(model)
    t1 = time.perf_counter()
    tr = make_traffic(model, traffic)
    rt = Router(fab).route(tr["src"].to_numpy(), tr["dst"].to_numpy())
    t2 = time.perf_counter()
    res = max_min_rates(rt.matrix, fab.arc_cap_gbps, tr["demand_gbps"].to_numpy() * rt.routed)
    t3 = time.perf_counter()
    return {"build_s": t1 - t0, "route_s": t2 - t1, "rates_s": t3 - t2, "total_s": t3 - t0}, fab, rt, res


def _peer(layout: str, traffic: str, skew_seed: int | None, repeat: int) -> dict:
    """Vectorised vs naive progressive filling on one instance. skew_seed: scale each flow's demand by a
    seeded uniform factor in [0.2, 1] (uneven expert popularity), which makes many filling rounds."""
    small = load_model(ROOT / "layouts" / layout)
    fab = build_fabric(small)
    tr = make_traffic(small, traffic)
    rt = Router(fab).route(tr["src"].to_numpy(), tr["dst"].to_numpy())
    dem = tr["demand_gbps"].to_numpy()
    if skew_seed is not None:
        dem = dem * np.random.default_rng(skew_seed).uniform(0.2, 1.0, len(dem))
    cap = fab.arc_cap_gbps
    A = rt.matrix.tocsc()
    paths = [
        dict(
            zip(
                A.indices[A.indptr[f] : A.indptr[f + 1]].tolist(),
                A.data[A.indptr[f] : A.indptr[f + 1]].tolist(),
                strict=True,
            )
        )
        for f in range(A.shape[1])
    ]
    t_vec, res = _time(lambda: max_min_rates(rt.matrix, cap, dem), repeat)
    t_loop, slow = _time(lambda: max_min_rates_loop(paths, cap, dem), max(1, repeat // 2))
    assert np.allclose(res.rate, slow, rtol=1e-8)
    return {
        "instance": f"{layout} {traffic}" + (" skewed demand" if skew_seed is not None else ""),
        "flows": int(A.shape[1]),
        "routing_nnz": int(A.nnz),
        "rounds": int(res.iterations),
        "vectorised_s": round(t_vec, 5),
        "naive_loop_s": round(t_loop, 4),
        "speedup": round(t_loop / t_vec, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("layout", nargs="?", default=str(ROOT / "layouts" / "campus_1gw.yaml"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    model = load_model(a.layout)
    out = {"layout": a.layout, "racks": model.n_racks, "switches": len(model.switches), "repeat": a.repeat}
    for traffic in ("allreduce", "alltoall", "disagg"):
        runs = [pipeline(model, traffic) for _ in range(a.repeat)]
        med = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
        _, fab, rt, res = runs[-1]
        out[traffic] = {
            **{k: round(v, 4) for k, v in med.items()},
            "flows": int(rt.matrix.shape[1]),
            "routing_nnz": int(rt.matrix.nnz),
            "links": int(fab.n_links),
            "maxmin_iterations": int(res.iterations),
        }
    t_solve, r = _time(lambda: solve_network(model), max(1, a.repeat // 2))
    out["solve_network_allreduce_s"] = round(t_solve, 4)
    out["network_power_mw"] = round(r.kpis["network_power_mw"], 3)

    # peer: naive per-flow loop vs vectorised progressive filling on the same smaller instances
    out["peer"] = [
        _peer("hall_kyber.yaml", "alltoall", None, a.repeat),
        _peer("pod_small.yaml", "alltoall", 0, a.repeat),
    ]
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{a.layout}: {model.n_racks:,} racks, {len(model.switches):,} switches (median of {a.repeat})")
    for traffic in ("allreduce", "alltoall", "disagg"):
        d = out[traffic]
        print(
            f"  {traffic:9s} build {d['build_s']:.3f} s + route {d['route_s']:.3f} s + max-min {d['rates_s']:.3f} s"
            f" = {d['total_s']:.3f} s  ({d['flows']:,} flows, {d['routing_nnz']:,} nnz, {d['links']:,} links,"
            f" {d['maxmin_iterations']} rounds)"
        )
    print(f"  solve_network (allreduce, with power and tables): {out['solve_network_allreduce_s']:.3f} s")
    for p in out["peer"]:
        print(
            f"  peer on {p['instance']} ({p['flows']:,} flows, {p['routing_nnz']:,} nnz, {p['rounds']} rounds):"
            f" vectorised {p['vectorised_s'] * 1e3:.1f} ms vs naive per-flow loop {p['naive_loop_s'] * 1e3:.0f} ms"
            f" -> {p['speedup']}x"
        )


if __name__ == "__main__":
    main()
