"""Batch studies on Dask: throughput, parallel efficiency, engine overhead, driver memory, bytes per scenario.

    python bench/bench_study.py                      # everything (about 10 minutes on the 2-core machine)
    python bench/bench_study.py --n 200 --no-campus  # a quick look
    python bench/bench_study.py --campus-subset 100  # campus N-1 on the baseline + the first 100 CDUs

1. A thermal study of layouts/hall_100mw_ac.yaml (ambient x supply grid, 1,000 scenarios by default):
   - ``run`` in a loop in this process (warm: one scenario run first), building each Scenario from the file as a
     user's script would, and on the layout loaded once (what the workers do);
   - the engine on a LocalCluster of 1 and of 2 workers: end to end (cluster start, worker imports, every
     Parquet file), and steady state (cluster started and warmed before the clock starts); the loop and the two
     steady runs are measured in turn, --reps times, and the medians compared (the machine is shared: runs taken
     in turn see the same load);
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
    import warnings

    from distributed import Client, LocalCluster

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        c = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
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


def loop_file(study, n: int) -> float:
    """run() in a loop, each Scenario built from the layout file (what a user's script does); s per scenario."""
    from twin import run

    run(study.scenario(0))  # warm: imports, property tables
    t = time.perf_counter()
    for i in range(n):
        run(study.scenario(i))
    return (time.perf_counter() - t) / n


def loop_loaded(study, n: int) -> float:
    """run() in a loop on the layout loaded once (what the workers do); s per scenario."""
    from twin import run
    from twin.study.engine import _scenario

    run(_scenario(study.recipe, study.params_at(0)))
    t = time.perf_counter()
    for i in range(n):
        run(_scenario(study.recipe, study.params_at(i)))
    return (time.perf_counter() - t) / n


def engine_steady(study, client, out: Path) -> tuple[float, dict]:
    """run_study on a started, warmed cluster: wall s."""
    from twin.study import run_study

    t = time.perf_counter()
    res = run_study(study, out, client=client, force=True)
    wall = time.perf_counter() - t
    assert res["complete"], res
    return wall, res


def engine_e2e(study, workers: int, out: Path) -> float:
    """run_study from nothing: LocalCluster start, worker imports, every file; wall s."""
    from twin.study import run_study

    t = time.perf_counter()
    res = run_study(study, out, workers=workers, force=True)
    wall = time.perf_counter() - t
    assert res["complete"], res
    return wall


def bench_hall(study, tmp: Path, reps: int) -> dict:
    """Loop, 1 worker and 2 workers measured in turn, ``reps`` times (the machine is shared: medians of
    interleaved runs see the same load)."""
    from statistics import median

    n = study.n_scenarios
    out = {"file": loop_file(study, n)}
    print(
        f"  run() in a loop, Scenario from the file: {out['file'] * 1e3:.1f} ms/scenario   [{load()}]",
        flush=True,
    )
    c1, k1 = cluster(1)
    c2, k2 = cluster(2)
    try:
        t = time.perf_counter()
        warm(k1, study)
        warm(k2, study)
        out["warm_s"] = time.perf_counter() - t
        loops, s1, s2 = [], [], []
        for r in range(reps):
            loops.append(loop_loaded(study, n))
            w1, res = engine_steady(study, k1, tmp / "s1")
            s1.append(w1)
            w2, _ = engine_steady(study, k2, tmp / "s2")
            s2.append(w2)
            print(
                f"  rep {r + 1}: loop {loops[-1] * 1e3:.2f} ms/scenario; engine steady 1 worker {w1:.2f} s, "
                f"2 workers {w2:.2f} s   [{load()}]",
                flush=True,
            )
        out.update(loaded=median(loops), steady1=median(s1), steady2=median(s2), bytes=res["bytes"])
        out["batches"], out["batch_size"] = res["batches"], res["batch_size"]
    finally:
        for k, c in ((k1, c1), (k2, c2)):
            k.close()
            c.close()
    e1, e2 = [], []
    for _ in range(max(1, reps - 1)):
        e1.append(engine_e2e(study, 1, tmp / "e1"))
        e2.append(engine_e2e(study, 2, tmp / "e2"))
        print(f"  end to end: 1 worker {e1[-1]:.1f} s, 2 workers {e2[-1]:.1f} s   [{load()}]", flush=True)
    out.update(e2e1=median(e1), e2e2=median(e2))
    return out


def child_memory(n_ambient: int) -> None:
    """(in a fresh process) run a study of n_ambient x 25 scenarios on 2 workers; print the driver's memory:
    its RSS before the run, the highest RSS sampled every 10 ms during it, and the process's peak (ru_maxrss)."""
    import threading

    import psutil

    from twin.study import load_study, run_study

    me = psutil.Process()
    with tempfile.TemporaryDirectory() as d:
        study = load_study(write_spec(Path(d), hall_spec(n_ambient)))
        before = me.memory_info().rss
        top = [before]
        stop = threading.Event()

        def sample():
            while not stop.wait(0.01):
                top[0] = max(top[0], me.memory_info().rss)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        t = time.perf_counter()
        res = run_study(study, Path(d) / "out", workers=2)
        wall = time.perf_counter() - t
        stop.set()
        th.join()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": study.n_scenarios,
                "batches": res["batches"],
                "before_mb": before / 2**20,
                "during_mb": top[0] / 2**20,
                "peak_mb": peak / 1024,
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
            f"  {r['n']:>5,} scenarios ({r['batches']} batches, {r['wall_s']:.1f} s): driver RSS {r['before_mb']:.1f} MB "
            f"before the run, at most {r['during_mb']:.1f} MB during it (+{r['during_mb'] - r['before_mb']:.1f} MB); "
            f"process peak {r['peak_mb']:.1f} MB   [{load()}]",
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


def hall_section(study, tmp: Path, reps: int) -> None:
    n = study.n_scenarios
    print(
        f"\n1. thermal study of {HALL.name}: {n:,} scenarios, {study.n_batches} batches of {study.batch_size}",
        flush=True,
    )
    h = bench_hall(study, tmp, reps)
    rate = {k: n / h[k] for k in ("steady1", "steady2", "e2e1", "e2e2")}
    print(
        f"  scenarios/s (medians): 1 worker {rate['steady1']:.1f} steady / {rate['e2e1']:.1f} end to end; "
        f"2 workers {rate['steady2']:.1f} steady / {rate['e2e2']:.1f} end to end "
        f"(starting and warming both clusters: {h['warm_s']:.1f} s)",
        flush=True,
    )
    print(
        f"  parallel efficiency, 2 workers: {h['steady1'] / (2 * h['steady2']):.0%} steady, "
        f"{h['e2e1'] / (2 * h['e2e2']):.0%} end to end",
        flush=True,
    )
    per1 = h["steady1"] / n
    print(
        f"  engine per scenario (1 worker, steady) {per1 * 1e3:.2f} ms: "
        f"{per1 / h['loaded'] - 1:+.1%} vs run() in a loop on the loaded layout ({h['loaded'] * 1e3:.2f} ms), "
        f"{per1 / h['file'] - 1:+.1%} vs run() with each Scenario from the file ({h['file'] * 1e3:.2f} ms)",
        flush=True,
    )
    print(f"  output: {h['bytes']:,} bytes of Parquet = {h['bytes'] / n:,.0f} bytes per scenario", flush=True)


def campus_section(subset: int | None, tmp: Path) -> None:
    what = "every CDU" if subset is None else f"the baseline + first {subset} CDUs"
    print(f"\n3. studies/campus_cdu_n1.yaml ({what}), 2 workers", flush=True)
    c = bench_campus(subset, tmp)
    print(
        f"  {c['scenarios']:,} scenarios in {c['wall_s']:.1f} s = {c['wall_s'] / c['scenarios']:.3f} s/scenario "
        f"({c['batches']} batches of {c['batch_size']}; {c['task_s']:.0f} s in tasks; {c['bytes']:,} bytes; "
        f"{c['by_status']})   [{load()}]",
        flush=True,
    )
    if subset is not None:
        print(f"  extrapolated to the full study (837 scenarios): {c['wall_s'] / c['scenarios'] * 837:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000, help="scenarios of the hall study (a multiple of 25)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions of the steady measurements")
    ap.add_argument("--no-hall", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-campus", action="store_true")
    ap.add_argument("--campus-subset", type=int, default=None, help="baseline + the first N CDUs only")
    ap.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_memory is not None:
        child_memory(a.child_memory)
        return
    from twin.study import load_study

    logging.getLogger("distributed").setLevel(logging.ERROR)
    print(f"{os.cpu_count()} CPUs, {load()}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.no_hall:
            hall_section(load_study(write_spec(tmp, hall_spec(a.n // 25))), tmp, a.reps)
        if not a.no_memory:
            print(
                "\n2. driver memory against the number of scenarios (fresh process each, 2 workers)",
                flush=True,
            )
            bench_memory([10, 40, 160])
        if not a.no_campus:
            campus_section(a.campus_subset, tmp)


if __name__ == "__main__":
    main()
