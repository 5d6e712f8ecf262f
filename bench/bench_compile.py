"""Benchmark: load (safe YAML + line map), validate (schema + catalog/capacity checks) and compile the 1 GW campus.

Run: python bench/bench_compile.py [LAYOUT] [--repeat N] [--json]
Prints the median of N runs for each stage, and the vectorised rack expansion against a naive per-rack Python
expansion (a dict per rack, then a DataFrame) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from timing import median_time as _time  # noqa: E402

from twin.catalog import load_catalog  # noqa: E402
from twin.model import _Compiler, compile_layout, load_model, parse_layout  # noqa: E402
from twin.validate import check_layout  # noqa: E402
from twin.yamlio import load_yaml  # noqa: E402


def naive_racks(model) -> pd.DataFrame:
    """The straightforward version: one Python dict per rack (what the compiled model avoids)."""
    rows, rt = model.rows, model.rack_types
    recs = []
    for _, row in rows.iterrows():
        t = rt.iloc[int(row["rack_type"])]
        for k in range(int(row["n_racks"])):
            recs.append(
                {
                    "row": row.name,
                    "pod": row["pod"],
                    "hall": row["hall"],
                    "loop": row["loop"],
                    "x_m": row["x_m"] + k * row["rack_pitch_m"],
                    "y_m": row["y_m"],
                    "gpus": t["gpus"],
                    "power_maxp_w": t["power_maxp_w"],
                    "liquid_fraction": t["liquid_fraction"],
                }
            )
    return pd.DataFrame(recs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("layout", nargs="?", default=str(ROOT / "layouts" / "campus_1gw.yaml"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    load_catalog()  # built-in catalog is parsed once per process and cached
    t_yaml, (data, lines) = _time(lambda: load_yaml(a.layout), a.repeat)
    t_schema, layout = _time(lambda: parse_layout(data, lines, a.layout), a.repeat)
    cat = load_catalog()
    t_check, _ = _time(lambda: check_layout(layout, cat, lines, a.layout), a.repeat)
    t_compile, model = _time(lambda: _Compiler(layout, cat, a.layout).run([]), a.repeat)
    t_total, model = _time(lambda: load_model(a.layout), a.repeat)
    t_vec, _ = _time(lambda: _Compiler(layout, cat, a.layout)._racks(model.rows, model.rack_types), a.repeat)
    t_naive, _ = _time(lambda: naive_racks(model), max(1, a.repeat // 2))
    assert compile_layout(layout, cat, lines, a.layout).n_racks == model.n_racks
    res = {
        "layout": a.layout,
        "racks": model.n_racks,
        "gpus": model.n_gpus,
        "switches": len(model.switches),
        "repeat": a.repeat,
        "median_s": {
            "yaml": t_yaml,
            "schema": t_schema,
            "checks": t_check,
            "compile": t_compile,
            "load_model_total": t_total,
        },
        "rack_expansion_vectorised_s": t_vec,
        "rack_expansion_naive_s": t_naive,
        "speedup_vs_naive": t_naive / t_vec,
        "goal_s": 1.0,
        "meets_goal": t_total <= 1.0,
    }
    if a.json:
        print(json.dumps(res, indent=2))
        return
    print(
        f"{Path(a.layout).name}: {model.n_racks:,} racks, {model.n_gpus:,} GPUs, {len(model.switches):,} switches"
    )
    for k, v in res["median_s"].items():
        print(f"  {k:18s} {v * 1e3:8.1f} ms (median of {a.repeat})")
    print(
        f"  rack expansion: vectorised {t_vec * 1e3:.2f} ms vs naive per-rack {t_naive * 1e3:.1f} ms "
        f"({res['speedup_vs_naive']:.0f}x)"
    )
    print(f"  goal <= 1 s: {'met' if res['meets_goal'] else 'NOT met'}")


if __name__ == "__main__":
    main()
