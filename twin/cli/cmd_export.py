"""``twin export``: the facility with its per-rack results as a VTK multiblock (ParaView) or OpenUSD stage."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import (
    AmbOpt,
    CatalogOpt,
    FailOpt,
    JsonOpt,
    SupOpt,
    WbOpt,
    app,
    catalogs,
    guarded,
    out,
    print_json,
    warn,
)

FORMATS = {"vtk": (".vtm",), "usd": (".usd", ".usda", ".usdc")}


def _check_out(fmt: str, path: Path, force: bool) -> None:
    """The format, the file name's suffix and an existing file, checked before anything is solved."""
    from twin.errors import InputError

    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: unknown format (choose vtk or usd)")
    sfx = FORMATS[fmt]
    if path.suffix.lower() not in sfx:
        raise InputError(f"--out {path}: a {fmt} export is a {' / '.join(sfx)} file (e.g. site{sfx[0]})")
    if path.is_dir():
        raise InputError(f"--out {path}: is a directory, give a file name (e.g. {path / ('site' + sfx[0])})")
    import os

    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: cannot write there ({parent} is not a writable directory)")
    taken = [
        p for p in (path, path.with_suffix("") if fmt == "vtk" else None) if p is not None and p.exists()
    ]
    if taken and not force:
        what = " and ".join(str(p) for p in taken)
        raise InputError(f"--out {path}: {what} already exists (give --force to overwrite)")


@app.command()
@guarded
def export(
    layout: Path = typer.Argument(..., help="facility layout YAML file", show_default=False),
    fmt: str = typer.Option(
        ..., "--format", help="vtk (a .vtm multiblock for ParaView) or usd (.usd / .usda / .usdc)"
    ),
    out_path: Path = typer.Option(
        ..., "--out", help="file to write: .vtm for vtk; .usd, .usda or .usdc for usd"
    ),
    ambient_c: float = AmbOpt,
    wet_bulb_c: float = WbOpt,
    supply_c: float = SupOpt,
    budget_mw: float = typer.Option(None, "--budget-mw", help="grid budget, MW (Max-Q caps within it)"),
    policy: str = typer.Option("maxq", "--policy", help="maxq | uniform | maxp (with --budget-mw)"),
    fail: list[str] = FailOpt,
    color: str = typer.Option(
        "junction_c", "--color", help="usd: rack metric for primvars:displayColor (e.g. junction_c, margin_k)"
    ),
    catalog: list[Path] = CatalogOpt,
    force: bool = typer.Option(
        False, "--force", help="overwrite an existing --out file (and a .vtm's block directory)"
    ),
    json_out: bool = JsonOpt,
) -> None:
    """Solve the scenario and export the geometry with every rack result: VTK multiblock or OpenUSD stage."""
    import time

    from twin import Scenario, run
    from twin.errors import InputError
    from twin.geometry import COLOUR_METRICS

    fmt = fmt.lower()
    _check_out(fmt, out_path, force)
    if color not in COLOUR_METRICS:
        raise InputError(f"unknown --color {color!r} (choose from {', '.join(COLOUR_METRICS)})")
    if not layout.is_file():
        raise InputError(f"{layout}: no such layout file")
    s = Scenario(layout=str(layout), ambient_c=ambient_c, wet_bulb_c=wet_bulb_c, supply_c=supply_c,
                 budget_mw=budget_mw, policy=policy, failures=tuple(fail or ()), catalogs=catalogs(catalog))  # fmt: skip
    res = run(s)
    if "racks" not in res.tables:
        raise InputError(f"{layout}: the {s.analysis} result has no per-rack table to export: {res.reason}")
    model = s.model()
    t0 = time.perf_counter()
    try:
        if fmt == "vtk":
            from twin.export import write_vtm

            files = write_vtm(model, res, out_path)
        else:
            from twin.export import write_usd

            meta = {"layout": str(layout), "scenario_id": s.id, "analysis": s.analysis, "status": res.status}
            files = [write_usd(model, res, out_path, color=color, meta=meta)]
    except OSError as exc:
        raise InputError(f"--out {out_path}: cannot write it ({exc})") from None
    took = time.perf_counter() - t0
    n = len(res.tables["racks"])
    if json_out:
        print_json({"ok": True, "format": fmt, "files": files, "racks": n, "scenario_id": s.id,
                    "status": res.status, "write_s": round(took, 3)})  # fmt: skip
    else:
        out.print(f"{out_path}: {n:,} racks with {len(res.tables['racks'].columns) - 1} result columns "
                  f"(scenario {s.id}, {res.status}; written in {took:.2f} s)", markup=False, highlight=False)  # fmt: skip
    for w in res.warnings:
        warn(w)
