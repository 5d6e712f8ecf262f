"""Benchmark: electrical solve and full N-1 of the 1 GW campus; our AC solve vs pandapower runpp.

Run: python bench/bench_electrical.py [--repeat N] [--json]

1. ``solve_electrical`` on layouts/campus_1gw.yaml (800 VDC, 5,204 racks): median of N warm runs (topology
   cached on the model) and of N cold runs (topology rebuilt each time). Goal <= 0.2 s.
2. Full N-1 on the campus (every unit of every stage): median of N runs. Goal <= 5 s. The one-by-one variant
   (``exact=True``, one solve per case) is timed once for reference.
3. The same AC network solved by us and by pandapower (``runpp``, Newton-Raphson, network prebuilt) in one
   run: the 100 MW AC hall and the 1 GW campus's Vera Rubin halls rebuilt as 415 VAC (no UPS, so every
   transformer, cable, busway segment and rack load sits on one AC network). Reports the median times, the
   ratio (goal >= 10x) and the accuracy (losses, max rack-voltage difference).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import median_time as _median  # noqa: E402

from tests.electrical.pp_reference import build_pandapower, losses_mw, no_ups  # noqa: E402
from twin.electrical import solve_electrical  # noqa: E402
from twin.electrical.compare import _variant  # noqa: E402
from twin.electrical.contingency import n_minus_1  # noqa: E402
from twin.layout import Layout  # noqa: E402
from twin.model import compile_layout, load_model  # noqa: E402


def _ac_network(model):
    """Layout -> 415 VAC without UPS (compiled)."""
    ac = _variant(model, "ac", None, 415)
    return compile_layout(Layout.model_validate(no_ups(ac.layout.model_dump(mode="python"))), model.catalog)


def _vs_pandapower(model, repeat: int) -> dict:
    import pandapower as pp

    t_c = 70.0
    mech = np.full(len(model.halls), 1e6)
    kw = dict(conductor_temp_c=t_c, mech_power_w_by_hall=mech, it_load=0.9)
    res = solve_electrical(model, **kw)
    t_ours, res = _median(lambda: solve_electrical(model, **kw), repeat)
    pn, _, rack_bus = build_pandapower(model, res, t_c, mech)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_pp, _ = _median(lambda: pp.runpp(pn, tolerance_mva=1e-8, numba=False), max(3, repeat // 2))
    ours = sum(v for s, v in res.kpis["losses_mw_by_stage"].items() if s != "rack_conversion")
    theirs = losses_mw(pn)
    dv = float(np.max(np.abs(pn.res_bus.vm_pu.to_numpy()[rack_bus] - res.res_racks["voltage_pu"].to_numpy())))
    return {
        "racks": model.n_racks,
        "buses": len(pn.bus),
        "ours_s": t_ours,
        "pandapower_s": t_pp,
        "ratio": t_pp / t_ours,
        "loss_ours_mw": ours,
        "loss_pandapower_mw": theirs,
        "loss_rel_diff": ours / theirs - 1.0,
        "max_rack_voltage_diff_pu": dv,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    campus = load_model(ROOT / "layouts/campus_1gw.yaml")
    out: dict = {"layout": "layouts/campus_1gw.yaml", "racks": campus.n_racks, "repeat": a.repeat}
    solve_electrical(campus)  # warm-up (imports, cache)
    out["solve_warm_s"], r = _median(lambda: solve_electrical(campus), a.repeat)

    def cold():  # a copy of the model starts with an empty derived-data cache (network build included)
        return solve_electrical(copy.copy(campus))

    out["solve_cold_s"], _ = _median(cold, a.repeat)
    out["facility_power_mw"] = r.kpis["facility_power_mw"]
    out["converged"] = r.kpis["converged"]
    out["iterations"] = r.kpis["iterations"]
    out["n1_s"], (cont, ck) = _median(lambda: n_minus_1(campus, it_load=0.8), max(3, a.repeat // 2))
    out["n1_cases"], out["n1_solves"], out["n1_failing"] = ck["cases"], ck["solves"], ck["failing_cases"]
    t = time.perf_counter()
    n_minus_1(campus, it_load=0.8, exact=True)
    out["n1_exact_s"] = time.perf_counter() - t
    hall = load_model(ROOT / "layouts/hall_100mw_ac.yaml")
    out["vs_pandapower_hall_100mw"] = _vs_pandapower(_ac_network(hall), a.repeat)
    data = Layout.model_validate(campus.layout.model_dump(mode="python")).model_dump(mode="python")
    data["halls"] = [h for h in data["halls"] if h["name"] != "kyber"]  # Kyber racks are 800 VDC only
    vr = compile_layout(Layout.model_validate(data), campus.catalog)
    out["vs_pandapower_campus_vr_ac"] = _vs_pandapower(_ac_network(vr), a.repeat)
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"1 GW campus ({out['racks']:,} racks, 800 VDC), median of {a.repeat}:")
    print(
        f"  solve_electrical warm {out['solve_warm_s'] * 1e3:.1f} ms, cold {out['solve_cold_s'] * 1e3:.1f} ms "
        f"(goal <= 200 ms); {out['iterations']} iterations, converged={out['converged']}"
    )
    print(
        f"  full N-1: {out['n1_cases']} cases in {out['n1_solves']} solves: {out['n1_s']:.3f} s (goal <= 5 s); "
        f"one solve per case: {out['n1_exact_s']:.2f} s"
    )
    for key, label in (
        ("vs_pandapower_hall_100mw", "100 MW AC hall"),
        ("vs_pandapower_campus_vr_ac", "campus VR halls as 415 VAC"),
    ):
        v = out[key]
        print(
            f"  {label} ({v['racks']:,} racks, {v['buses']:,} buses): ours {v['ours_s'] * 1e3:.1f} ms vs "
            f"pandapower runpp {v['pandapower_s'] * 1e3:.1f} ms -> {v['ratio']:.1f}x (goal >= 10x); "
            f"losses differ {v['loss_rel_diff'] * 100:+.3f} %, rack voltages within "
            f"{v['max_rack_voltage_diff_pu']:.1e} pu"
        )


if __name__ == "__main__":
    main()
