"""``twin solve`` (coupled steady state, or cooling only) and ``twin transient`` (cooling transients of a hall)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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
    working,
    write_kpis,
    write_table,
)
from twin.errors import InputError
from twin.model import load_model

LayoutArg = typer.Argument(..., help="facility layout YAML file", show_default=False)
JsonOpt = typer.Option(False, "--json", help="print one JSON object (for scripts)")
OutOpt = typer.Option(None, "--out", help="directory for the result tables (Parquet + CSV) and kpis.json")
ForceOpt = typer.Option(False, "--force", help="overwrite existing result files in --out")
AmbOpt = typer.Option(None, "--ambient-c", help="outdoor dry bulb, C (default: the site's design value)")
WbOpt = typer.Option(None, "--wet-bulb-c", help="outdoor wet bulb, C (default: the site's design value)")
SupOpt = typer.Option(None, "--supply-c", help="facility-water supply setpoint for every hall, C")
LoadOpt = typer.Option(1.0, "--it-load", help="IT load as a fraction of every rack's Max-P power")
FailOpt = typer.Option(
    None,
    "--fail",
    help="unit to take out of service (repeatable): CDU, '<cdu>/pump', dry cooler, chiller, '<hall>/fw-pump-N'",
)


def _write_tables(out_dir: Path, tables: dict[str, pd.DataFrame], kpis: dict) -> list[str]:
    """Write each table as Parquet and CSV plus kpis.json into a directory checked by ``prepare_out_dir``."""
    files = [f for name, df in tables.items() for f in write_table(df, out_dir, name)]
    return files + [write_kpis(out_dir, kpis)]


def _fmt(v, unit="", nd=2):
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:,.{nd}f}{unit}"


def gpu_caps_from_load(model, it_load: float) -> np.ndarray | None:
    """Per-rack GPU cap (W) that puts every rack at ``it_load`` x its Max-P power; None at full load.

    Rack power = other_power_w + gpus x GPU power, so the cap is (it_load x Max-P - other) / gpus. A load below
    the floor (every GPU at its minimum power limit) cannot be reached by capping and is refused, not clamped.
    """
    if not 0.0 < it_load <= 1.0:
        raise InputError(f"--it-load must be in (0, 1], got {it_load}")
    if it_load == 1.0:
        return None
    r = model.racks
    cap = (it_load * r["power_maxp_w"].to_numpy() - r["other_power_w"].to_numpy()) / r["gpus"].to_numpy()
    low = cap < r["gpu_power_min_w"].to_numpy() * (1 - 1e-12)
    if low.any():
        floor = float((r["power_floor_w"] / r["power_maxp_w"]).max())
        raise InputError(
            f"--it-load {it_load:g} is below the floor of {int(low.sum())} rack(s): every GPU at its minimum power "
            f"limit already draws {floor:.2f} x Max-P; use --it-load >= {floor:.2f}, or --thermal-only to study "
            "lower rack loads"
        )
    return cap


def _solve_thermal_only(model, ambient_c, wet_bulb_c, supply_c, it_load, fail):
    from twin.thermal import solve_thermal

    return solve_thermal(
        model, ambient_c=ambient_c, wet_bulb_c=wet_bulb_c, supply_c=supply_c, it_load=it_load, failed=fail
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
        None, "--gpu-cap-w", help="one power cap for every GPU, W (overrides --it-load)"
    ),
    fail: list[str] = FailOpt,
    thermal_only: bool = typer.Option(
        False, "--thermal-only", help="cooling only: no electrical / network coupling, no tokens"
    ),
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Coupled steady state: GPU caps -> rack power -> cooling <-> power distribution (+ fabric) -> facility power,
    PUE, temperatures, junction margins and tokens/s. --thermal-only runs the cooling solve alone."""
    if out_dir is not None:  # refuse a used --out before any work is done
        prepare_out_dir(out_dir, force)
    model = load_model(layout)
    fail_t = tuple(fail or ())
    if thermal_only:
        th = _solve_thermal_only(model, ambient_c, wet_bulb_c, supply_c, it_load, fail_t)
        coupled = None
        k = dict(th.kpis)
    else:
        from twin.coupled import solve_coupled

        caps = gpu_cap_w if gpu_cap_w is not None else gpu_caps_from_load(model, it_load)
        with working(f"coupled solve of {model.n_racks:,} racks", quiet=json_out):
            coupled = solve_coupled(
                model,
                gpu_cap_w=caps,
                ambient_c=ambient_c,
                wet_bulb_c=wet_bulb_c,
                supply_c=supply_c,
                failed=fail_t,
            )
        th = coupled.thermal
        grid = model.layout.site.grid_limit_mw
        # thermal KPIs first, the coupled ones (IT incl. throttling, facility power, PUE ...) take precedence
        k = {
            **th.kpis,
            **coupled.kpis,
            "grid_limit_mw": grid,
            "grid_limit_exceeded": bool(coupled.kpis["facility_power_mw"] > grid * (1 + 1e-9)),
            "electrical_violations": len(coupled.electrical.violations),
        }
    written: list[str] = []
    if out_dir is not None:
        racks = th.res_racks.copy()
        if coupled is not None:
            racks = pd.concat(
                [
                    racks,
                    coupled.res_racks.drop(
                        columns=[c for c in coupled.res_racks.columns if c in racks.columns]
                    ),
                ],
                axis=1,
            )
        racks.insert(0, "name", model.rack_names())
        tables = {
            "racks": racks,
            "loops": th.res_loops,
            "cdus": th.res_cdus,
            "heat_rejection": th.res_heat_rejection,
            "halls": th.res_halls,
        }
        if coupled is not None:
            tables["electrical_nodes"] = coupled.electrical.res_nodes
            if len(coupled.electrical.violations):
                tables["electrical_violations"] = pd.DataFrame(coupled.electrical.violations)
        written = _write_tables(out_dir, tables, k)
    if json_out:
        print_json({**k, "files": written} if written else k)
        return
    report_problems([p for p in model.warnings if p.severity != "note"])
    title = "thermal steady state" if coupled is None else "coupled steady state"
    t = Table(title=f"{title}: {model.name}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    rows = [
        ("racks", f"{k['racks']:,}"),
        ("ambient dry / wet bulb", f"{k['ambient_c']:.1f} / {k['wet_bulb_c']:.1f} C"),
    ]
    if coupled is not None:
        rows += [
            (
                "facility power (grid)",
                f"{_fmt(k['facility_power_mw'], ' MW', 1)} (limit {k['grid_limit_mw']:,.0f} MW)",
            ),
            (
                "IT power (racks / network)",
                f"{_fmt(k['it_power_mw'], '', 1)} / {_fmt(k['network_power_mw'], ' MW', 1)}",
            ),
            ("electrical losses", _fmt(k["electrical_loss_mw"], " MW", 2)),
            ("PUE", _fmt(k["pue"], "", 4)),
            ("tokens/s", f"{k['tokens_per_s']:,.0f}"),
            ("tokens per joule", _fmt(k["tokens_per_joule"], "", 4)),
            ("throttled racks", f"{k['throttled_racks']:,}"),
        ]
    else:
        rows += [("IT power", _fmt(k["it_power_mw"], " MW", 1))]
    rows += [
        ("cooling power", _fmt(k["cooling_power_mw"], " MW", 2)),
        ("  pumps (TCS / facility water)", f"{k['tcs_pumps_mw']:.2f} / {k['fws_pumps_mw']:.2f} MW"),
        ("  dry-cooler fans", _fmt(k["fans_mw"], " MW")),
        ("  chillers", _fmt(k["chillers_mw"], " MW")),
        ("  air side", _fmt(k["air_side_mw"], " MW")),
        ("water use", _fmt(k["water_use_m3_h"], " m3/h", 1)),
        ("max GPU junction", _fmt(k["max_junction_c"], " C", 1)),
        ("min margin to throttle", _fmt(k["min_margin_k"], " K", 2)),
        ("racks over throttle / without cooling", f"{k['racks_over_throttle']} / {k['racks_cooling_lost']}"),
        ("heat not removed", _fmt(k["heat_unremoved_mw"], " MW", 3)),
        ("heat-rejection stages", ", ".join(f"{s}: {n}" for s, n in k["stages"].items())),
        ("energy balance (relative)", f"{k['energy_balance_rel_error']:.1e}"),
    ]
    if coupled is not None:
        rows.append(
            (
                "fixed point",
                f"{'converged' if k['converged'] else 'NOT converged'} in {k['iterations']} "
                f"iterations (tol {k['tolerance']:.0e})",
            )
        )
    for label, value in rows:
        t.add_row(label, value)
    out.print(t)
    bad = th.res_halls[~th.res_halls["setpoint_held"]]
    for _, row in bad.iterrows():
        err.print(f"{row['name']}: {row['stage_reason']}", style="yellow", markup=False)
    if not th.converged:
        err.print("warning: the loop hydraulics did not converge", style="bold red")
    if coupled is not None:
        if k["grid_limit_exceeded"]:
            err.print(
                f"warning: facility power {k['facility_power_mw']:,.1f} MW exceeds the {k['grid_limit_mw']:,.0f} MW "
                "grid connection at these caps: see `twin maxq LAYOUT --budget-mw ...` for caps that fit",
                style="yellow",
                markup=False,
            )
        if k["electrical_violations"]:
            err.print(
                f"{k['electrical_violations']} electrical violation(s): run `twin electrical` for the list",
                style="yellow",
                markup=False,
            )
        if not k["converged"]:
            err.print("warning: the coupled fixed point did not converge", style="bold red")
    for f in written[:1]:
        out.print(f"tables written to {Path(f).parent}")


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
) -> None:
    """Cooling transient of one hall (stiff ODE): time series and the ride-through time to GPU throttling."""
    from twin.thermal import simulate_transient

    if out_dir is not None:
        prepare_out_dir(out_dir, force)
    model = load_model(layout)
    with working(f"{scenario} transient", quiet=json_out):
        res = simulate_transient(
            model,
            scenario,
            hall=hall,
            duration_s=duration_s,
            dt_out_s=dt_out_s,
            t_event_s=t_event_s,
            ambient_c=ambient_c,
            supply_c=supply_c,
            it_load=it_load,
            load_from=load_from,
            load_to=load_to,
            step_k=step_k,
            target=target,
        )
    k = res.kpis
    written: list[str] = []
    if out_dir is not None:
        written = _write_tables(
            out_dir,
            {"series": res.series, "loops_series": res.res_loops_ts, "racks_final": res.res_racks_final},
            k,
        )
    if json_out:
        print_json({**k, "files": written} if written else k)
        return
    if not k["solver_success"]:
        err.print(f"warning: the ODE solver stopped early: {k['solver_message']}", style="bold red")
    ride, t_sd = k["ride_through_s"], k["time_to_shutdown_s"]
    t = Table(
        title=f"{scenario} on {k['hall']} ({k['racks']} racks), event at {k['t_event_s']:.0f} s",
        show_header=False,
        title_justify="left",
    )
    t.add_column(style="bold")
    t.add_column(justify="right")
    for label, value in [
        ("failed units", f"{len(k['failed'])}"),
        ("simulated", f"{k['duration_s']:.0f} s"),
        ("time to throttle (ride-through)", _fmt(ride, " s", 1) if ride is not None else "not reached"),
        ("time to shutdown", _fmt(t_sd, " s", 1) if t_sd is not None else "not reached"),
        ("racks throttled (initially)", f"{k['racks_throttled']} ({k['racks_throttled_initially']})"),
        ("racks shut down", f"{k['racks_shut_down']}"),
        ("IT power shut down at end", _fmt(k["it_power_shut_down_mw"], " MW", 2)),
        ("peak GPU power throttled away", _fmt(k["peak_gpu_power_throttled_mw"], " MW", 2)),
        ("peak GPU junction", _fmt(k["peak_junction_c"], " C", 1)),
        ("peak coolant", _fmt(k["peak_coolant_c"], " C", 1)),
        (
            "margin to throttle (initial / min / final)",
            f"{_fmt(k['initial_min_margin_k'])} / {_fmt(k['min_margin_k'])} / {_fmt(k['final_min_margin_k'])} K",
        ),
        ("energy balance (relative)", f"{k['energy_balance_rel_error']:.1e}"),
    ]:
        t.add_row(label, value)
    out.print(t)
    if k["failed"]:
        out.print("failed: " + ", ".join(k["failed"]), markup=False)
    if k["note"]:
        out.print(k["note"], markup=False)
    if written:
        out.print(f"series written to {Path(written[0]).parent}")
