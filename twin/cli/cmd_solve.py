"""``twin solve`` (coupled steady state, or cooling only) and ``twin transient`` (cooling transients of a hall)."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import (
    AmbOpt,
    CatalogOpt,
    FailOpt,
    ForceOpt,
    JsonOpt,
    LayoutArg,
    LoadOpt,
    OutOpt,
    SupOpt,
    WbOpt,
    app,
    catalogs,
    finish,
    fmt,
    guarded,
    kv_table,
    out,
    prepare_out,
    working,
)


@app.command()
@guarded
def solve(
    layout: Path = LayoutArg,
    ambient_c: float = AmbOpt,
    wet_bulb_c: float = WbOpt,
    supply_c: float = SupOpt,
    it_load: float = LoadOpt,
    gpu_cap_w: float = typer.Option(
        None, "--gpu-cap-w", help="one power cap for every GPU, W (instead of --it-load)"
    ),
    fail: list[str] = FailOpt,
    thermal_only: bool = typer.Option(
        False, "--thermal-only", help="cooling only: no electrical / network coupling, no tokens"
    ),
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """Coupled steady state: GPU caps -> rack power -> cooling <-> power distribution (+ fabric) -> facility power,
    PUE, temperatures, junction margins and tokens/s. --thermal-only runs the cooling solve alone."""
    from twin import Scenario, run

    prepare_out(out_dir, force)
    s = Scenario(
        layout=layout,
        catalogs=catalogs(catalog),
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        supply_c=supply_c,
        it_load=it_load,
        gpu_cap_w=gpu_cap_w,
        failures=tuple(fail or ()),
        analysis="thermal" if thermal_only else "coupled",
    )
    with working(f"{s.analysis} solve", quiet=json_out):
        res = run(s)
    finish(res, json_out, out_dir, _render_solve)


def _render_solve(res) -> None:
    k = res.kpis
    coupled = res.scenario.analysis == "coupled"
    rows = [
        ("racks", f"{k['racks']:,}"),
        ("ambient dry / wet bulb", f"{k['ambient_c']:.1f} / {k['wet_bulb_c']:.1f} C"),
    ]
    if coupled:
        rows += [
            (
                "facility power (grid)",
                f"{fmt(k['facility_power_mw'], ' MW', 1)} (limit {k['grid_limit_mw']:,.0f} MW)",
            ),
            (
                "IT power (racks / network)",
                f"{fmt(k['it_power_mw'], '', 1)} / {fmt(k['network_power_mw'], ' MW', 1)}",
            ),
            ("electrical losses", fmt(k["electrical_loss_mw"], " MW", 2)),
            ("PUE", fmt(k["pue"], "", 4)),
            ("tokens/s", f"{k['tokens_per_s']:,.0f}"),
            ("tokens per joule", fmt(k["tokens_per_joule"], "", 4)),
            ("throttled racks", f"{k['throttled_racks']:,}"),
        ]
    else:
        rows += [("IT power", fmt(k["it_power_mw"], " MW", 1))]
    rows += [
        ("cooling power", fmt(k["cooling_power_mw"], " MW", 2)),
        ("  pumps (TCS / facility water)", f"{k['tcs_pumps_mw']:.2f} / {k['fws_pumps_mw']:.2f} MW"),
        ("  dry-cooler fans", fmt(k["fans_mw"], " MW")),
        ("  chillers", fmt(k["chillers_mw"], " MW")),
        ("  air side", fmt(k["air_side_mw"], " MW")),
        ("water use", fmt(k["water_use_m3_h"], " m3/h", 1)),
        ("max GPU junction", fmt(k["max_junction_c"], " C", 1)),
        ("min margin to throttle", fmt(k["min_margin_k"], " K", 2)),
        ("racks over throttle / without cooling", f"{k['racks_over_throttle']} / {k['racks_cooling_lost']}"),
        ("heat not removed", fmt(k["heat_unremoved_mw"], " MW", 3)),
        ("heat-rejection stages", ", ".join(f"{s}: {n}" for s, n in k["stages"].items())),
        ("energy balance (relative)", f"{k['energy_balance_rel_error']:.1e}"),
    ]
    if coupled:
        rows.append(
            (
                "fixed point",
                f"{'converged' if k['converged'] else 'NOT converged'} in {k['iterations']} "
                f"iterations (tol {k['tolerance']:.0e})",
            )
        )
    title = "coupled steady state" if coupled else "thermal steady state"
    out.print(kv_table(f"{title}: {res.meta['layout']}", rows))


@app.command()
@guarded
def transient(
    layout: Path = LayoutArg,
    scenario: str = typer.Option(..., "--scenario", help="pump-trip, cdu-loss, supply-step or load-step"),
    hall: str = typer.Option(None, "--hall", help="hall name (default: the first hall)"),
    target: str = typer.Option(
        None, "--target", help="loop or CDU for pump-trip / cdu-loss (default: the first)"
    ),
    duration_s: float = typer.Option(600.0, "--duration-s", help="simulated time, s"),
    dt_out_s: float = typer.Option(1.0, "--dt-s", help="output interval, s"),
    t_event_s: float = typer.Option(30.0, "--event-s", help="time of the event, s"),
    step_k: float = typer.Option(5.0, "--step-k", help="supply-step: setpoint change, K"),
    load_from: float = typer.Option(0.3, "--load-from", help="load-step: IT load before"),
    load_to: float = typer.Option(1.0, "--load-to", help="load-step: IT load after"),
    ambient_c: float = AmbOpt,
    supply_c: float = SupOpt,
    it_load: float = LoadOpt,
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """Cooling transient of one hall (stiff ODE): time series and the ride-through time to GPU throttling."""
    from twin import Scenario, run

    prepare_out(out_dir, force)
    s = Scenario(
        layout=layout,
        catalogs=catalogs(catalog),
        ambient_c=ambient_c,
        supply_c=supply_c,
        it_load=it_load,
        analysis="transient",
        transient=dict(
            kind=scenario,
            hall=hall,
            target=target,
            duration_s=duration_s,
            dt_s=dt_out_s,
            event_s=t_event_s,
            step_k=step_k,
            load_from=load_from,
            load_to=load_to,
        ),
    )
    with working(f"{scenario} transient", quiet=json_out):
        res = run(s)
    finish(res, json_out, out_dir, _render_transient)


def _render_transient(res) -> None:
    k = res.kpis
    ride, t_sd = k["ride_through_s"], k["time_to_shutdown_s"]
    rows = [
        ("failed units", f"{len(k['failed'])}"),
        ("simulated", f"{k['duration_s']:.0f} s"),
        ("time to throttle (ride-through)", fmt(ride, " s", 1) if ride is not None else "not reached"),
        ("time to shutdown", fmt(t_sd, " s", 1) if t_sd is not None else "not reached"),
        ("racks throttled (initially)", f"{k['racks_throttled']} ({k['racks_throttled_initially']})"),
        ("racks shut down", f"{k['racks_shut_down']}"),
        ("IT power shut down at end", fmt(k["it_power_shut_down_mw"], " MW", 2)),
        ("peak GPU power throttled away", fmt(k["peak_gpu_power_throttled_mw"], " MW", 2)),
        ("peak GPU junction", fmt(k["peak_junction_c"], " C", 1)),
        ("peak coolant", fmt(k["peak_coolant_c"], " C", 1)),
        (
            "margin to throttle (initial / min / final)",
            f"{fmt(k['initial_min_margin_k'])} / {fmt(k['min_margin_k'])} / {fmt(k['final_min_margin_k'])} K",
        ),
        ("energy balance (relative)", f"{k['energy_balance_rel_error']:.1e}"),
    ]
    title = f"{k['scenario']} on {k['hall']} ({k['racks']} racks), event at {k['t_event_s']:.0f} s"
    out.print(kv_table(title, rows))
    if k["failed"]:
        out.print("failed: " + ", ".join(k["failed"]), markup=False)
    if k["note"]:
        out.print(k["note"], markup=False)
