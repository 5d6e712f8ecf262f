"""Batch studies on Dask: throughput, parallel efficiency, engine overhead, driver memory, bytes per scenario.

    python bench/bench_study.py                      # everything (about 10 minutes on the 2-core machine)
    python bench/bench_study.py --n 200 --no-campus  # a quick look
    python bench/bench_study.py --campus-subset 100  # campus N-1 on the baseline + the first 100 CDUs

1. A thermal study of layouts/hall_100mw_ac.yaml (ambient x supply grid, 1,000 scenarios by default):
   - ``run`` in a loop in this process (warm: one scenario run first), building each Scenario from the file as a
     user's script would, and on the layout loaded once (what the workers do);
   - the engine on a LocalCluster of 1 and of 2 workers: end to end (cluster start, worker imports, every
     Parquet file), and steady state (cluster started and warmed before the clock starts);
   - scenarios/s, parallel efficiency (rate with 2 workers / twice the rate with 1), the engine's overhead per
     scenario against the loop, bytes of Parquet per scenario.
2. Peak memory of the driver (its own RSS, not the workers') for 250, 1,000 and 4,000 scenarios, each in a fresh
   process.
3. Wall time of studies/campus_cdu_n1.yaml (every single CDU failure on the 1 GW campus), 2 workers.

The machine is shared: the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HALL = ROOT / "layouts" / "hall_100mw_ac.yaml"


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.1f} {b:.1f} {c:.1f}"


def hall_spec(n_ambient: int, n_supply: int = 25) -> str:
    return (
        f"name: hall_thermal_{n_ambient * n_supply}\nbase:\n  layout: {HALL}\nanalysis: thermal\nparameters:\n"
        f"  grid:\n    ambient_c: {{start: 0, stop: 45, num: {n_ambient}}}\n"
        f"    supply_c: {{start: 30, stop: 45, num: {n_supply}}}\n"
    )


def write_spec(d: Path, text: str, name: str = "study.yaml") -> Path:
    p = d / name
    p.write_text(text)
    return p


def cluster(n: int):
    from distributed import Client, LocalCluster

    c = LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    return c, Client(c, set_as_default=False)


def warm(client, study) -> None:
    """Import the solvers and solve one scenario in every worker (what the first batch of a study pays)."""

    def go(recipe, values):
        from twin import run
        from twin.study.engine import _scenario

        run(_scenario(recipe, values))
        return os.getpid()

    client.run(go, study.recipe, study.params_at(0))


def bench_loop(study, n: int) -> dict:
    from twin import Scenario, run
    from twin.study.engine import _loaded_layout

    run(study.scenario(0))  # warm: imports, property tables
    t = time.perf_counter()
    for i in range(n):
        run(study.scenario(i))
    file_s = (time.perf_counter() - t) / n
    layout = _loaded_layout(str(HALL))
    t = time.perf_counter()
    for i in range(n):
        kw = study.recipe.kwargs(study.params_at(i))
        run(Scenario(**{**kw, "layout": layout}))
    loaded_s = (time.perf_counter() - t) / n
    return {"loop_file_s": file_s, "loop_loaded_s": loaded_s}


def bench_engine(study, workers: int, tmp: Path) -> dict:
    from twin.study import run_study

    out = tmp / f"e2e_{workers}"
    t = time.perf_counter()
    res = run_study(study, out, workers=workers, force=True)
    e2e = time.perf_counter() - t
    c, client = cluster(workers)
    try:
        t0 = time.perf_counter()
        warm(client, study)
        startup = time.perf_counter() - t0
        out2 = tmp / f"steady_{workers}"
        t = time.perf_counter()
        res2 = run_study(study, out2, client=client, force=True)
        steady = time.perf_counter() - t
    finally:
        client.close()
        c.close()
    assert res["complete"] and res2["complete"], (res, res2)
    return {
        "workers": workers,
        "e2e_s": e2e,
        "steady_s": steady,
        "warm_start_s": startup,
        "batches": res["batches"],
        "batch_size": res["batch_size"],
        "bytes": res2["bytes"],
        "by_status": res2["by_status"],
    }


def child_memory(n_ambient: int) -> None:
    """(in a fresh process) run a study of n_ambient x 25 scenarios on 2 workers; print the driver's peak RSS."""
    from twin.study import load_study, run_study

    with tempfile.TemporaryDirectory() as d:
        study = load_study(write_spec(Path(d), hall_spec(n_ambient)))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        res = run_study(study, Path(d) / "out", workers=2)
        wall = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": study.n_scenarios,
                "batches": res["batches"],
                "peak_mb": peak / 1024,
                "before_run_mb": before / 1024,
                "wall_s": wall,
                "complete": res["complete"],
            }
        )
    )


def bench_memory(sizes: list[int]) -> list[dict]:
    rows = []
    for n_amb in sizes:
        p = subprocess.run(
            [sys.executable, __file__, "--child-memory", str(n_amb)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=3600,
        )
        if p.returncode != 0:
            raise SystemExit(p.stderr[-3000:])
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"  driver peak RSS {r['peak_mb']:7.1f} MB for {r['n']:>5,} scenarios ({r['batches']} batches; "
            f"{r['before_run_mb']:.1f} MB before the run; {r['wall_s']:.1f} s)   [{load()}]",
            flush=True,
        )
    return rows


def bench_campus(subset: int | None, tmp: Path) -> dict:
    from twin.study import load_study, run_study

    spec = ROOT / "studies" / "campus_cdu_n1.yaml"
    if subset is not None:
        from twin import Scenario
        from twin.failures import unit_names

        units = unit_names(Scenario(layout=str(ROOT / "layouts" / "campus_1gw.yaml")).model(), "cdu")[:subset]
        cases = "\n".join(f"    - {{failures: [{u}]}}" for u in units)
        text = (
            f"name: campus_cdu_n1_subset\nbase:\n  layout: {ROOT / 'layouts' / 'campus_1gw.yaml'}\n"
            f"analysis: coupled\nparameters:\n  cases:\n    - {{failures: []}}\n{cases}\n"
        )
        spec = write_spec(tmp, text, "campus_subset.yaml")
    study = load_study(spec)
    t = time.perf_counter()
    res = run_study(study, tmp / "campus", workers=2, force=True)
    wall = time.perf_counter() - t
    return {
        "scenarios": study.n_scenarios,
        "wall_s": wall,
        "batches": res["batches"],
        "batch_size": res["batch_size"],
        "task_s": res["task_s"],
        "bytes": res["bytes"],
        "complete": res["complete"],
        "by_status": res["by_status"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="scenarios of the hall study (a multiple of 25)")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-campus", action="store_true")
    ap.add_argument("--campus-subset", type=int, default=None, help="baseline + the first N CDUs only")
    ap.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_memory is not None:
        child_memory(a.child_memory)
        return
    from twin.study import load_study

    print(f"{os.cpu_count()} CPUs, {load()}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        study = load_study(write_spec(tmp, hall_spec(a.n // 25)))
        n = study.n_scenarios
        print(
            f"\n1. thermal study of {HALL.name}: {n:,} scenarios, batches of {study.batch_size}", flush=True
        )
        loop = bench_loop(study, n)
        print(
            f"  run() in a loop: {loop['loop_file_s'] * 1e3:.1f} ms/scenario (Scenario from the file), "
            f"{loop['loop_loaded_s'] * 1e3:.1f} ms/scenario (on the loaded layout)   [{load()}]",
            flush=True,
        )
        eng = {}
        for w in (1, 2):
            e = bench_engine(study, w, tmp)
            eng[w] = e
            print(
                f"  engine, {w} worker(s): end to end {e['e2e_s']:.1f} s = {n / e['e2e_s']:.1f} scenarios/s; "
                f"steady {e['steady_s']:.1f} s = {n / e['steady_s']:.1f} scenarios/s "
                f"(cluster start + warm-up {e['warm_start_s']:.1f} s; {e['batches']} batches of {e['batch_size']})"
                f"   [{load()}]",
                flush=True,
            )
        e1, e2 = eng[1], eng[2]
        eff_e2e = e1["e2e_s"] / (2 * e2["e2e_s"])
        eff_steady = e1["steady_s"] / (2 * e2["steady_s"])
        per1 = e1["steady_s"] / n
        print(
            f"  parallel efficiency, 2 workers: {eff_e2e:.0%} end to end, {eff_steady:.0%} steady", flush=True
        )
        print(
            f"  engine per scenario (1 worker, steady) {per1 * 1e3:.1f} ms: "
            f"{(per1 / loop['loop_loaded_s'] - 1):+.1%} vs run() on the loaded layout, "
            f"{(per1 / loop['loop_file_s'] - 1):+.1%} vs run() with a Scenario from the file",
            flush=True,
        )
        print(
            f"  output: {e1['bytes']:,} bytes of Parquet = {e1['bytes'] / n:,.0f} bytes per scenario "
            f"({len(json.dumps(e1['by_status']))} statuses: {e1['by_status']})",
            flush=True,
        )
        if not a.no_memory:
            print("\n2. driver peak memory against the number of scenarios (fresh process each)", flush=True)
            bench_memory([10, 40, 160])
        if not a.no_campus:
            what = "every CDU" if a.campus_subset is None else f"the baseline + first {a.campus_subset} CDUs"
            print(f"\n3. studies/campus_cdu_n1.yaml ({what}), 2 workers", flush=True)
            c = bench_campus(a.campus_subset, tmp)
            print(
                f"  {c['scenarios']:,} scenarios in {c['wall_s']:.1f} s = {c['wall_s'] / c['scenarios']:.3f} s/scenario "
                f"({c['batches']} batches of {c['batch_size']}; {c['task_s']:.0f} s in tasks; {c['bytes']:,} bytes; "
                f"{c['by_status']})   [{load()}]",
                flush=True,
            )
            if a.campus_subset is not None:
                full = 837
                print(
                    f"  extrapolated to the full study ({full} scenarios): "
                    f"{c['wall_s'] / c['scenarios'] * full:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
