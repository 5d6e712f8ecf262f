"""``twin network``: scale-out fabric summary, traffic routing, max-min rates, failures and CPO vs pluggable power."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from twin.cli.common import (
    CatalogOpt,
    FailOpt,
    ForceOpt,
    JsonOpt,
    LayoutArg,
    OutOpt,
    app,
    catalogs,
    finish,
    guarded,
    kv_table,
    out,
    prepare_out,
)


@app.command()
@guarded
def network(
    layout: Path = LayoutArg,
    traffic: str = typer.Option(
        "allreduce", "--traffic", help="allreduce | alltoall | disagg | FILE.csv (columns src, dst, gbps)"
    ),
    fail: list[str] = FailOpt,
    optics: str = typer.Option(None, "--optics", help="pluggable | cpo (default: the layout's)"),
    load: float = typer.Option(1.0, "--load", help="allreduce/alltoall injection as a fraction of NIC rate"),
    json_out: bool = JsonOpt,
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """Route a traffic pattern over the scale-out fabric: utilisation, max-min rates, slowdown, failures, power."""
    from twin import Scenario, run

    prepare_out(out_dir, force)
    s = Scenario(
        layout=layout,
        catalogs=catalogs(catalog),
        failures=tuple(fail or ()),
        analysis="network",
        network={"traffic": traffic, "load": load, "optics": optics},
    )
    finish(run(s), json_out, out_dir, _render)


def _render(res) -> None:
    k = res.kpis
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
    out.print(kv_table(f"network: {res.meta['layout']}, traffic {k['traffic']}", rows))
    if k["hottest_links"]:
        h = Table(title="hottest links", title_justify="left")
        h.add_column("link")
        h.add_column("utilisation", justify="right")
        for rec in k["hottest_links"]:
            h.add_row(rec["link"], f"{rec['utilization']:.3f}")
        out.print(h)
