"""``twin network``: scale-out fabric summary, traffic routing, max-min rates, failures and CPO vs pluggable power."""

from __future__ import annotations

from pathlib import Path

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


@app.command()
@guarded
def network(
    layout: Path = LayoutArg,
    traffic: str = typer.Option(
        "allreduce", "--traffic", help="allreduce | alltoall | disagg | FILE.csv (columns src, dst, gbps)"
    ),
    fail: list[str] = typer.Option(
        None, "--fail", help="switch name or LOWER~UPPER link to fail (repeatable)"
    ),
    optics: str = typer.Option(None, "--optics", help="pluggable | cpo (default: the layout's)"),
    load: float = typer.Option(1.0, "--load", help="allreduce/alltoall injection as a fraction of NIC rate"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object (for scripts)"),
    out_dir: Path = typer.Option(
        None, "--out", help="write res_flows/res_links/res_switches + kpis.json to DIR"
    ),
    force: bool = typer.Option(False, "--force", help="allow writing into a non-empty --out DIR"),
) -> None:
    """Route a traffic pattern over the scale-out fabric: utilisation, max-min rates, slowdown, failures, power."""
    if optics is not None and optics not in ("pluggable", "cpo"):
        raise InputError(f"--optics must be pluggable or cpo, got {optics!r}")
    if not (0 < load <= 1):
        raise InputError(f"--load must be in (0, 1], got {load}")
    if out_dir is not None:  # refuse a used --out before any work is done
        prepare_out_dir(out_dir, force)
    from twin.network import solve_network

    model = load_model(layout)
    if load != 1.0 and traffic not in ("allreduce", "alltoall"):
        raise InputError(
            "--load applies to allreduce and alltoall only (disagg follows tokens/s; a CSV gives Gb/s)"
        )
    opts = {"load": load} if traffic in ("allreduce", "alltoall") else {}
    if traffic not in ("allreduce", "alltoall", "disagg") and not Path(traffic).is_file():
        raise InputError(f"--traffic {traffic!r}: not allreduce, alltoall, disagg or an existing CSV file")
    res = solve_network(model, traffic=traffic, failed=tuple(fail or ()), optics=optics, traffic_options=opts)
    k = res.kpis
    if out_dir is not None:
        for name, df in (
            ("res_flows", res.res_flows),
            ("res_links", res.res_links),
            ("res_switches", res.res_switches),
        ):
            write_table(df, out_dir, name)
        write_kpis(out_dir, k)
    if json_out:
        print_json(k)
        return
    report_problems(model.warnings)
    for w in k.get("fabric_warnings", []):
        err.print(f"warning: network: {w}", style="yellow", markup=False, highlight=False)
    t = Table(
        title=f"network: {model.name} ({layout}), traffic {k['traffic']}",
        show_header=False,
        title_justify="left",
    )
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        (
            "topology / rails / oversubscription",
            f"{k['topology']} / {k['rails']} / {k['oversubscription']:g}:1",
        ),
        (
            "switches",
            f"{k['switches']:,}  " + ", ".join(f"{a}: {b:,}" for a, b in k["switches_by_tier"].items()),
        ),
        ("links (rack level) / transceivers", f"{k['links']:,} / {k['transceivers']:,}"),
        ("bisection (now / design)", f"{k['bisection_tbps']:,.1f} / {k['bisection_tbps_design']:,.1f} Tb/s"),
        (
            "flows / demand / throughput",
            f"{k['flows']:,} / {k['demand_tbps']:,.1f} / {k['throughput_tbps']:,.1f} Tb/s",
        ),
        ("non-blocking throughput", f"{k['ideal_throughput_tbps']:,.1f} Tb/s"),
        ("max link utilisation", f"{k['max_link_utilization']:.3f}"),
        (
            "fabric link utilisation p50 / p90 / p99",
            "{p50:.3f} / {p90:.3f} / {p99:.3f}".format(**k["fabric_link_utilization"]),
        ),
        ("slowdown mean / p99 / max", "{mean:.3f} / {p99:.3f} / {max:.3f}".format(**k["slowdown"])),
        (
            "flows slowed / stranded",
            f"{k['flows_slowed']:,} / {k['stranded_flows']:,} ({k['stranded_tbps']:,.1f} Tb/s)",
        ),
        (f"network power ({k['optics']})", f"{k['network_power_mw']:,.2f} MW"),
        ("  switches / optics", f"{k['switch_power_mw']:,.2f} / {k['optics_power_mw']:,.2f} MW"),
        (
            "pluggable vs CPO",
            f"{k['pluggable_network_power_mw']:,.2f} vs {k['cpo_network_power_mw']:,.2f} MW "
            f"(saves {k['cpo_saving_mw']:,.2f} MW)",
        ),
        ("NVLink domains / switch trays", f"{k['nvlink_domains']:,} / {k['nvlink_switch_trays']:,}"),
    ]
    f = k["failed"]
    if f["switches"] or f["links"] or f["frontend"]:
        rows.append(("failed", ", ".join(f["switches"] + f["links"] + f["frontend"])))
    for a, b in rows:
        t.add_row(a, b)
    out.print(t)
    if k["hottest_links"]:
        h = Table(title="hottest links", title_justify="left")
        h.add_column("link")
        h.add_column("utilisation", justify="right")
        for rec in k["hottest_links"]:
            h.add_row(rec["link"], f"{rec['utilization']:.3f}")
        out.print(h)
    if out_dir is not None:
        out.print(f"wrote res_flows, res_links, res_switches (.parquet, .csv) and kpis.json to {out_dir}")
