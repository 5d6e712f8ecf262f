"""``twin grid``: a year of weather, prices, carbon and curtailment events, answered per strategy; HTML report."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from twin.cli.common import ForceOpt, JsonOpt, app, err, guarded, out, prepare_out, print_json, warn
from twin.errors import InputError

STRATEGY_HELP = (
    "fixed (Max-P, racks off), maxq (Max-Q caps), maxq-cooling (Max-Q caps + each hall's cooling setpoints), "
    "shed (Max-Q + rack shedding) or all"
)


@app.command()
@guarded
def grid(
    layout: Path = typer.Argument(..., help="facility layout YAML file", show_default=False),
    weather: str = typer.Option(
        None,
        "--weather",
        help="tmy3:NAME (a TMY3 file pvlib ships, e.g. tmy3:723170TYA) or a CSV (default: the layout's site climate)",
    ),
    prices: str = typer.Option(
        "de-2018", "--prices", help="de-2018 (German day-ahead 2018, shipped) or a CSV timestamp,value,unit"
    ),
    carbon: str = typer.Option(
        "de-2018",
        "--carbon",
        help="de-2018 (average and marginal, shipped) or a CSV of the average intensity",
    ),
    carbon_marginal: str = typer.Option(
        None, "--carbon-marginal", help="CSV of the marginal intensity (optional)"
    ),
    events: Path = typer.Option(
        None,
        "--events",
        help="events YAML (start, duration_h, depth_pct or cap_mw, notice_min, ramp_min; presets)",
    ),
    curtailment_pct: float = typer.Option(
        None,
        "--curtailment-pct",
        help="place events the Duke way: up to P % of the max annual energy (default 0.5 without --events; 0: none)",
    ),
    curtailment_depth_pct: float = typer.Option(
        25.0, "--curtailment-depth-pct", help="deepest curtailment of an hour, % of the draw"
    ),
    system_load: str = typer.Option(
        None, "--system-load", help="CSV of the system load (MW): rank curtailment hours by it, not by price"
    ),
    strategy: str = typer.Option("maxq", "--strategy", help=STRATEGY_HELP),
    objective: str = typer.Option(
        "tokens",
        "--objective",
        help="Max-Q's objective in the Max-Q strategies: tokens, or revenue (twin.economics; maxq-cooling too)",
    ),
    exact: bool = typer.Option(
        False, "--exact", help="solve every hour exactly (slow) instead of the response surface"
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        help="local processes for the exact solves (the study engine's Dask LocalCluster; default: the CPUs; 1: in this process)",
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="run the exact solves on an existing Dask cluster (tcp://host:8786), as `twin study run` does",
    ),
    validate_hours: int = typer.Option(
        24, "--validate-hours", help="random hours checked against exact solves (>= 24)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the random validation hours"),
    eur_usd: float = typer.Option(
        1.1810, "--eur-usd", help="USD per EUR for prices in EUR (default: ECB 2018 average)"
    ),
    out_dir: Path = typer.Option(..., "--out", help="directory for hourly.parquet, kpis.json, report.html"),
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """A year hour by hour: facility, IT, cooling MW, PUE, water, tokens, revenue, cost, emissions, curtailment."""
    from twin.grid.year import STRATEGIES

    strategies = STRATEGIES if strategy == "all" else (strategy,)
    if strategy != "all" and strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r} (fixed, maxq, maxq-cooling, shed or all)")
    if objective not in ("tokens", "revenue"):
        raise InputError(f"unknown objective {objective!r} (tokens or revenue)")
    if validate_hours < 24 and not exact:
        raise InputError(f"--validate-hours {validate_hours}: at least 24 random hours are checked")
    if not layout.is_file():
        raise InputError(f"{layout}: no such layout file")
    if events is not None and curtailment_pct is not None:
        raise InputError("give --events or --curtailment-pct, not both")
    if events is None and curtailment_pct is None:
        curtailment_pct = 0.5
    if curtailment_pct == 0:
        curtailment_pct = None
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: at least 1 process")
    if workers is not None and scheduler is not None:
        raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
    prepare_out(out_dir, force)
    from twin.grid.year import simulate_year

    command = "twin grid " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else f"twin grid {layout}"
    with _progress(quiet=json_out) as cb:
        res = simulate_year(
            str(layout),
            weather=weather,
            prices=prices,
            carbon=carbon,
            carbon_marginal=carbon_marginal,
            events_file=str(events) if events else None,
            curtailment_pct=curtailment_pct,
            curtailment_depth_pct=curtailment_depth_pct,
            system_load=system_load,
            strategies=strategies,
            exact=exact,
            validate_hours=validate_hours,
            seed=seed,
            eur_usd=eur_usd,
            progress=cb,
            workers=workers,
            scheduler=scheduler,
            objective=objective,
        )
    files = write_outputs(res, out_dir, command)
    doc = kpi_document(res)
    if json_out:
        print_json({"ok": True, **doc, "files": files})
    else:
        _render(res, out_dir)
    for s, k in res.kpis.items():
        if k["limit_exceeded_hours"]:
            warn(f"{s}: {k['limit_exceeded_hours']} hour(s) could not be brought under their limit")
        for what, d in res.validation.get(s, {}).get("summary", {}).items():
            if d["facility_power_max_error_pct"] > 0.5 or d["tokens_max_error_pct"] > 0.5:
                warn(
                    f"{s}: surrogate error above 0.5 % at {what}s (see the report); --exact solves every hour"
                )


def write_outputs(res, out_dir: Path, command: str = "") -> list[str]:
    from twin.grid.report import write_report
    from twin.io import write_json

    out_dir = Path(out_dir)
    files = []
    h = res.hourly.copy()
    h["time"] = h["time"].astype(str)  # the site's clock with its offset, e.g. 2018-07-16 15:00:00-05:00
    p = out_dir / "hourly.parquet"
    h.to_parquet(p, index=False)
    files.append(str(p))
    files.append(write_json(out_dir / "kpis.json", kpi_document(res)))
    files.append(write_report(res, out_dir / "report.html", command))
    if res.validation:
        import pandas as pd

        v = pd.concat([d["table"].assign(strategy=s) for s, d in res.validation.items()], ignore_index=True)
        p = out_dir / "validation.csv"
        v.to_csv(p, index=False)
        files.append(str(p))
    return files


def kpi_document(res) -> dict:
    """kpis.json: KPIs per strategy with their units (from the result schema), validation, events, data."""
    from twin.grid.schema import kpi_units

    return {
        "layout": res.meta["layout"],
        "strategies": res.kpis,
        "units": kpi_units(),
        "validation": {s: d["summary"] for s, d in res.validation.items()},
        "events": [e.to_dict() for e in res.events],
        "meta": res.meta,
    }


class _progress:
    """A rich progress bar on stderr (never with --json); yields the callback simulate_year calls."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.task = None
        self.stage = None

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        )
        self.bar.__enter__()
        return self.update

    def update(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.stage = stage
            self.task = self.bar.add_task(stage, total=max(total, 1))
        self.bar.update(self.task, completed=done, total=max(total, 1))

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _render(res, out_dir: Path) -> None:
    from rich.table import Table

    t = Table(title=f"Grid year: {res.site.name}", title_justify="left")
    t.add_column("")
    for s in res.kpis:
        t.add_column(s, justify="right")
    cur = res.meta["price_currency"]
    rows = [
        ("energy, GWh", lambda k: f"{k['annual_energy_mwh'] / 1e3:,.1f}"),
        ("peak, MW", lambda k: f"{k['peak_mw']:,.2f}"),
        ("PUE annual", lambda k: f"{k['pue_annual']:.4f}"),
        (f"energy cost, M{cur}", lambda k: f"{k['energy_cost'] / 1e6:,.2f}"),
        ("emissions, kt", lambda k: f"{k['emissions_t'] / 1e3:,.1f}"),
        ("tokens, T", lambda k: f"{k['tokens'] / 1e12:,.1f}"),
        ("revenue, M USD", lambda k: f"{k['revenue_usd'] / 1e6:,.1f}"),
        *[
            (f"  {t}, M USD", lambda k, t=t: f"{k['revenue_usd_by_tier'][t] / 1e6:,.1f}")
            for t in res.site.tiers
        ],
        ("curtailed, MWh", lambda k: f"{k['curtailed_mwh']:,.1f}"),
        ("tokens lost, T", lambda k: f"{k['tokens_lost'] / 1e12:,.3f}"),
    ]
    if "maxq-cooling" in res.kpis:
        rows.append(
            (
                "cooling saved vs maxq, MWh",
                lambda k: (
                    "-"
                    if k["cooling_saved_vs_maxq_mwh"] is None
                    else f"{k['cooling_saved_vs_maxq_mwh']:,.1f}"
                ),
            )
        )
    for lab, f in rows:
        t.add_row(lab, *[f(k) for k in res.kpis.values()])
    out.print(t)
    for s, v in res.validation.items():
        for what, d in v["summary"].items():
            out.print(
                f"surrogate ({s}, {d['hours']} {what}s): facility MW error max {d['facility_power_max_error_pct']:.3f} %, "
                f"tokens/s max {d['tokens_max_error_pct']:.3f} %",
                markup=False,
                highlight=False,
            )
    out.print(
        f"report: {out_dir}/report.html ({res.meta['wall_time_s']:.1f} s)", markup=False, highlight=False
    )
