"""``twin export`` on the 1 GW campus (5,204 racks): time to write the OpenUSD stage and the VTK multiblock.

The scenario (the campus's coupled steady state at its design conditions) is solved once; each writer is then
timed alone, median of ``--repeat`` runs taken in turn. For the USD stage also its parts: composing the text
with numpy, and USD's own parse + binary (crate) save; and, as a peer, the same stage built prim by prim with
USD's Python ``Sdf`` API (one ``PrimSpec`` per rack, one ``AttributeSpec`` per primvar).

    python bench/bench_export.py [--layout layouts/campus_1gw.yaml] [--repeat 5] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sdf_loop_peer(model, result, path: Path) -> None:
    """The straightforward writer: USD's Python API, one spec at a time (no text)."""
    from pxr import Sdf

    from twin.export import prim_names, rack_metric_columns
    from webapp.figures import rack_footprints

    rk = result.tables["racks"]
    cols = rack_metric_columns(result)
    fp = rack_footprints(model)
    centre = fp[:, :3] + fp[:, 3:] / 2
    hall = model.racks["hall"].to_numpy()
    prims = prim_names(rk["name"].to_numpy(), "Rack_")
    types = {
        c: {"b": Sdf.ValueTypeNames.Bool, "f": Sdf.ValueTypeNames.Double}.get(
            rk[c].dtype.kind, Sdf.ValueTypeNames.Int64
        )
        for c in cols
    }
    values = {c: rk[c].tolist() for c in cols}
    layer = Sdf.Layer.CreateAnonymous(".usd")
    with Sdf.ChangeBlock():
        site = Sdf.PrimSpec(layer, "Site", Sdf.SpecifierDef, "Xform")
        halls = [Sdf.PrimSpec(site, f"hall_{h}", Sdf.SpecifierDef, "Xform") for h in range(len(model.halls))]
        for i in range(len(rk)):
            ps = Sdf.PrimSpec(halls[hall[i]], prims[i], Sdf.SpecifierDef, "Cube")
            Sdf.AttributeSpec(ps, "xformOp:translate", Sdf.ValueTypeNames.Double3).default = tuple(centre[i])
            Sdf.AttributeSpec(ps, "xformOp:scale", Sdf.ValueTypeNames.Double3).default = tuple(fp[i, 3:])
            for c in cols:
                Sdf.AttributeSpec(ps, f"primvars:{c}", types[c]).default = values[c][i]
    layer.Export(str(path))


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layout", default="layouts/campus_1gw.yaml")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-peer", action="store_true", help="skip the prim-by-prim Sdf peer")
    a = ap.parse_args()
    os.chdir(ROOT)
    from twin import Scenario, run
    from twin.export import site_multiblock, usd_layer_text, write_usd, write_vtm

    s = Scenario(layout=a.layout)
    t = time.perf_counter()
    model, res = s.model(), run(s)
    solve = time.perf_counter() - t
    n, ncol = len(res.tables["racks"]), len(res.tables["racks"].columns) - 1
    print(
        f"{a.layout}: {n:,} racks x {ncol} result columns (solve {solve:.2f} s); medians of {a.repeat}, in turn"
    )
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_usd(model, res, d / "warm.usd")  # imports (pxr, matplotlib) out of the timings
        write_vtm(model, res, d / "warm.vtm")
        rows = [
            ("USD text composed with numpy (usd_layer_text)", lambda: usd_layer_text(model, res)),
            ("write_usd .usda (the text)", lambda: write_usd(model, res, d / "s.usda")),
            ("write_usd .usd (text parsed by USD, crate saved)", lambda: write_usd(model, res, d / "s.usd")),
            ("site_multiblock (VTK blocks in memory)", lambda: site_multiblock(model, res)),
            ("write_vtm .vtm + 5 block files", lambda: write_vtm(model, res, d / "s.vtm")),
        ]
        if not a.no_peer:
            rows.append(("peer: Sdf API prim by prim, .usd", lambda: sdf_loop_peer(model, res, d / "p.usd")))
        results = {}
        for _ in range(a.repeat):  # in turn: each round runs every writer once
            for label, fn in rows:
                results.setdefault(label, []).append(timed(fn, 1)[0])
        for label, _ in rows:
            ts = results[label]
            print(
                f"  {label:<52} median {statistics.median(ts):7.3f} s  (min {min(ts):.3f}, max {max(ts):.3f})"
            )
        sizes = {p.name: p.stat().st_size for p in (d / "s.usda", d / "s.usd", d / "s.vtm")}
        blocks = sum(f.stat().st_size for f in (d / "s").glob("*"))
        print(
            f"  sizes: .usda {sizes['s.usda'] / 1e6:.1f} MB, .usd {sizes['s.usd'] / 1e6:.2f} MB, "
            f".vtm + blocks {(sizes['s.vtm'] + blocks) / 1e6:.2f} MB"
        )
    print(f"load average before {load0:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
