"""``twin electrical``: power flow, losses by stage, violations, N-1 contingencies, AC vs 800 VDC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from twin.cli.common import (
    app,
    err,
    guarded,
    out,
    prepare_out_dir,
    print_json,
    report_problems,
    write_kpis,
    write_table,
)
from twin.errors import InputError
from twin.model import load_model

LayoutArg = typer.Argument(..., help="facility layout YAML file", show_default=False)


def _cooling_power(model, rack_power_w, cooling: bool):
    """Pumps, fans and chillers per hall from the thermal solver, when it is available; else zeros."""
    if not cooling:
        return None, "not included (--no-cooling)"
    try:
        from twin.thermal import solve_thermal
    except ImportError:
        return None, "not included (thermal solver not installed)"
    th = solve_thermal(model, rack_power_w=rack_power_w)
    return np.asarray(th.mech_power_w_by_hall, dtype=float), "from the thermal solver at design ambient"


def _fabric_power(model):
    try:
        from twin.network import fabric_power
    except ImportError:
        return None, "not included (network power model not available)"
    return np.asarray(fabric_power(model)["power_w_by_pod"], dtype=float), "network switches per pod"


@app.command()
@guarded
def electrical(
    layout: Path = LayoutArg,
    it_load: float = typer.Option(1.0, "--it-load", help="rack power as a fraction of Max-P"),
    n_1: bool = typer.Option(False, "--n-1", help="fail each redundant unit in turn and list violations"),
    compare: bool = typer.Option(False, "--compare", help="AC vs 800 VDC: efficiency and busway copper"),
    hall: str = typer.Option(None, "--hall", help="hall (template name) for --compare; default all halls"),
    failed: list[str] = typer.Option(
        None, "--fail", "--failed", help="take one unit of this node out (repeatable)"
    ),
    cooling: bool = typer.Option(True, "--cooling/--no-cooling", help="add pumps/fans/chillers (thermal)"),
    exact: bool = typer.Option(False, "--exact", help="N-1: solve every case separately"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object (for scripts)"),
    out_dir: Path = typer.Option(None, "--out", help="write res_* tables (Parquet + CSV) and kpis.json"),
    force: bool = typer.Option(False, "--force", help="allow writing into a non-empty --out directory"),
    catalog: list[Path] = typer.Option(None, "--catalog", help="extra catalog file(s), later files win"),
) -> None:
    """Electrical power flow from the racks to the grid: losses by stage, loading, voltages, violations."""
    from twin.electrical import solve_electrical
    from twin.electrical.compare import compare_ac_dc
    from twin.electrical.contingency import n_minus_1

    if not (0.0 <= it_load <= 1.5):
        raise InputError(f"--it-load must be between 0 and 1.5 (got {it_load})")
    model = load_model(layout, tuple(catalog or ()))
    d = prepare_out_dir(out_dir, force) if out_dir is not None else None
    rack_w = it_load * model.racks["power_maxp_w"].to_numpy()
    mech, mech_note = _cooling_power(model, rack_w, cooling)
    extra, extra_note = _fabric_power(model)
    res = solve_electrical(
        model,
        rack_power_w=rack_w,
        mech_power_w_by_hall=mech,
        extra_it_power_w_by_pod=extra,
        failed=tuple(failed or ()),
    )
    k = dict(res.kpis)
    k["mech_power_source"], k["extra_it_power_source"] = mech_note, extra_note
    result: dict = {"layout": str(layout), "it_load": it_load, "kpis": k}
    cont = None
    if n_1:
        cont, ck = n_minus_1(
            model,
            rack_power_w=rack_w,
            mech_power_w_by_hall=mech,
            extra_it_power_w_by_pod=extra,
            failed=tuple(failed or ()),
            exact=exact,
        )
        result["n_minus_1"] = {**ck, "failures": cont[~cont["ok"]].to_dict("records")}
    cmp_table = None
    if compare:
        cmp_table, cs = compare_ac_dc(model, it_load=it_load, hall=hall)
        result["compare"] = {"summary": cs, "table": cmp_table.to_dict("index")}
    if d is not None:
        write_table(res.res_nodes, d, "res_nodes", index=True)
        write_table(res.res_racks, d, "res_racks", index=True)
        if cont is not None:
            write_table(cont, d, "res_contingencies", index=True)
        if cmp_table is not None:
            write_table(cmp_table, d, "res_compare", index=True)
        write_kpis(d, result)
    if json_out:
        print_json(result)
    else:
        report_problems(model.warnings)
        _print(layout, res, k, cont, result.get("n_minus_1"), cmp_table, result.get("compare"))
        if d is not None:
            out.print(f"tables written to {d}/")
    if not k["converged"]:
        # an infeasible operating point (voltage collapse), not a result to use
        raise InputError(
            f"the power flow did not converge in {k['iterations']} iterations: the load exceeds what the "
            "network can carry (lower --it-load or strengthen the distribution)"
        )


def _print(layout, res, k, cont, ck, cmp_table, cmp) -> None:
    t = Table(title=f"electrical: {layout} ({k['architecture']})", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("grid power", f"{k['grid_power_mw']:,.2f} MW (limit {k['grid_limit_mw']:,.0f} MW)")
    t.add_row(
        "IT (racks) / network / cooling",
        f"{k['it_power_mw']:,.2f} / {k['extra_it_power_mw']:,.2f} / {k['mech_power_mw']:,.2f} MW",
    )
    t.add_row("electrical losses", f"{k['loss_mw']:,.3f} MW ({k['loss_pct']:.2f} % of grid)")
    t.add_row("IT delivery efficiency", f"{k['efficiency_it_pct']:.2f} %")
    t.add_row("lowest rack voltage", f"{k['min_rack_voltage_pu']:.4f} pu")
    t.add_row(
        "power flow", f"{'converged' if k['converged'] else 'NOT converged'} ({k['iterations']} iterations)"
    )
    t.add_row("cooling power", k["mech_power_source"])
    out.print(t)
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
    if ck is not None:
        out.print(
            f"N-1: {ck['cases']} contingencies ({ck['solves']} solves, {ck['seconds']:.2f} s): "
            f"{ck['failing_cases']} with new violations"
        )
        for f in ck["failures"][:40]:
            err.print(f"  {f['failed']}: {f['violations']}", style="red", markup=False, highlight=False)
    if cmp_table is not None:
        c = Table(title="AC vs 800 VDC (same racks, rows and busway lengths)", title_justify="left")
        for col in ("metric", "ac", "dc800", "change %"):
            c.add_column(col, justify="left" if col == "metric" else "right")
        for name, row in cmp_table.iterrows():
            c.add_row(
                str(name),
                f"{row['ac']:,.3f}",
                f"{row['dc800']:,.3f}",
                "" if row["change_pct"] != row["change_pct"] else f"{row['change_pct']:+.1f}",
            )
        out.print(c)
        sm = cmp["summary"]
        out.print(
            f"800 VDC: {sm['efficiency_gain_points']:+.2f} points end-to-end efficiency, busway copper "
            f"{sm['busway_copper_change_pct']:+.1f} % (NVIDIA claims {sm['nvidia_claim'].split(' (')[0]})"
        )
        out.print(f"  copper: {sm['copper_sizing']}")
        for line in sm["drivers"]:
            out.print(f"  - {line}")
