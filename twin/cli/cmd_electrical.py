"""``twin electrical``: power flow, losses by stage, violations, N-1 contingencies, AC vs 800 VDC.

The operating point is the coupled steady state (the same as ``twin solve``): rack powers after throttling,
cooling power from the thermal solve, fabric power and in-hall losses, so both commands give one facility power.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from twin.cli.common import (
    AmbOpt,
    CatalogOpt,
    FailOpt,
    ForceOpt,
    JsonOpt,
    LayoutArg,
    LoadOpt,
    OutOpt,
    app,
    catalogs,
    err,
    finish,
    fmt,
    guarded,
    kv_table,
    out,
    prepare_out,
)


@app.command()
@guarded
def electrical(
    layout: Path = LayoutArg,
    it_load: float = LoadOpt,
    ambient_c: float = AmbOpt,
    n_1: bool = typer.Option(False, "--n-1", help="fail each redundant unit in turn and list violations"),
    compare: bool = typer.Option(False, "--compare", help="AC vs 800 VDC: efficiency and busway copper"),
    hall: str = typer.Option(None, "--hall", help="hall (template name) for --compare; default all halls"),
    fail: list[str] = FailOpt,
    exact: bool = typer.Option(False, "--exact", help="N-1: solve every case separately"),
    json_out: bool = JsonOpt,
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """Electrical power flow from the racks to the grid: losses by stage, loading, voltages, violations."""
    from twin import Scenario, run

    prepare_out(out_dir, force)
    s = Scenario(
        layout=layout,
        catalogs=catalogs(catalog),
        it_load=it_load,
        ambient_c=ambient_c,
        failures=tuple(fail or ()),
        analysis="n-1" if n_1 else "electrical",
        electrical={"exact": exact, "hall": hall},
    )
    res = run(s)
    cmp = None
    if compare:
        cmp = run(
            Scenario(
                layout=layout,
                catalogs=s.catalogs,
                it_load=it_load,
                analysis="compare-ac-dc",
                electrical={"hall": hall},
            )
        )
        res.tables["compare"] = cmp.tables["compare"]
        res.kpis["compare"] = {
            "summary": cmp.kpis,
            "table": cmp.tables["compare"].set_index("metric").to_dict("index"),
        }
    if res.status != "ok":
        # an infeasible operating point (voltage collapse) is not a result to use
        res.status = "infeasible"
    finish(res, json_out, out_dir, lambda r: _render(r, cmp))


def _render(res, cmp) -> None:
    k = res.kpis
    rows = [
        ("grid power", f"{k['facility_power_mw']:,.2f} MW (limit {k['grid_limit_mw']:,.0f} MW)"),
        (
            "IT (racks) / network / cooling",
            f"{k['it_power_mw']:,.2f} / {k['network_power_mw']:,.2f} / {k['cooling_power_mw']:,.2f} MW",
        ),
        (
            "electrical losses",
            f"{k['electrical_loss_mw']:,.3f} MW ({k['electrical_loss_pct']:.2f} % of grid)",
        ),
        ("IT delivery efficiency", f"{k['efficiency_it_pct']:.2f} %"),
        (
            "lowest rack voltage",
            fmt(k["min_rack_voltage_pu"], " pu", 4)
            if k["racks_unpowered"] < len(res.tables["racks"])
            else "n/a (no rack powered)",
        ),
        (
            "power flow",
            f"{'converged' if k['electrical_converged'] else 'NOT converged'} ({k['electrical_iterations']} iterations)",
        ),
    ]
    out.print(kv_table(f"electrical: {res.meta['layout']} ({k['architecture']})", rows))
    s = Table(title="losses by stage", title_justify="left")
    s.add_column("stage")
    s.add_column("MW", justify="right")
    s.add_column("% of grid", justify="right")
    for name, mw in k["losses_mw_by_stage"].items():
        if mw > 0:
            s.add_row(name, f"{mw:,.3f}", f"{k['losses_pct_by_stage'][name]:.2f}")
    out.print(s)
    if k["violations"]:
        for v in k["violations"]:
            err.print(f"violation: {v['message']}", style="red", markup=False, highlight=False)
    else:
        out.print("[green]no violations[/]")
    if "n1_cases" in k:
        out.print(
            f"N-1: {k['n1_cases']} contingencies ({k['n1_solves']} solves, {k['n1_seconds']:.2f} s): "
            f"{k['n1_failing_cases']} with new violations"
        )
        cont = res.tables["contingencies"]
        for _, f in cont[~cont["ok"]].head(40).iterrows():
            err.print(f"  {f['failed']}: {f['violations']}", style="red", markup=False, highlight=False)
    if cmp is not None:
        _render_compare(cmp)


def _render_compare(cmp) -> None:
    c = Table(title="AC vs 800 VDC (same racks, rows and busway lengths)", title_justify="left")
    for col in ("metric", "ac", "dc800", "change %"):
        c.add_column(col, justify="left" if col == "metric" else "right")
    for _, row in cmp.tables["compare"].iterrows():
        c.add_row(
            str(row["metric"]),
            f"{row['ac']:,.3f}",
            f"{row['dc800']:,.3f}",
            "" if row["change_pct"] != row["change_pct"] else f"{row['change_pct']:+.1f}",
        )
    out.print(c)
    sm = cmp.kpis
    out.print(
        f"800 VDC: {sm['efficiency_gain_points']:+.2f} points end-to-end efficiency, busway copper "
        f"{sm['busway_copper_change_pct']:+.1f} % (NVIDIA claims {sm['nvidia_claim'].split(' (')[0]})"
    )
    out.print(f"  copper: {sm['copper_sizing']}")
    for line in sm["drivers"]:
        out.print(f"  - {line}")
