"""``twin validate``, ``twin schema``, ``twin info``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from twin.cli.common import (
    CatalogOpt,
    JsonOpt,
    LayoutArg,
    app,
    err,
    guarded,
    out,
    print_json,
    report_problems,
)


@app.command()
@guarded
def validate(layout: Path = LayoutArg, json_out: bool = JsonOpt, catalog: list[Path] = CatalogOpt) -> None:
    """Check a layout: schema, catalog references, names, architecture and capacities."""
    from twin.model import load_model

    model = load_model(layout, tuple(catalog or ()))
    if json_out:
        print_json(
            {
                "valid": True,
                "file": str(layout),
                "racks": model.n_racks,
                "gpus": model.n_gpus,
                "problems": [p.to_dict() for p in model.warnings],
            }
        )
        return
    report_problems(model.warnings)
    out.print(
        f"[green]ok[/]: {layout} is valid ({model.n_racks:,} racks, {model.n_gpus:,} GPUs, "
        f"{sum(p.severity == 'warning' for p in model.warnings)} warning(s))"
    )


@app.command()
@guarded
def schema(
    scenario: bool = typer.Option(False, "--scenario", help="the scenario file's JSON Schema (twin run)"),
    results: bool = typer.Option(False, "--results", help="the result schema: tables, columns, KPIs, units"),
    study: bool = typer.Option(False, "--study", help="the study file's JSON Schema (twin study run)"),
) -> None:
    """Print the layout JSON Schema (for editor completion and checking), or the scenario / result / study schema."""
    if study:
        from twin.study.spec import study_json_schema

        print(json.dumps(study_json_schema(), indent=2))
        return
    if results:
        from twin.resultschema import load_schema

        print(json.dumps(load_schema(), indent=2))
        return
    if scenario:
        from twin.scenario import Scenario

        s = Scenario.model_json_schema()
        s["title"] = "AI-factory twin scenario (twin run)"
    else:
        from twin.layout import Layout

        s = Layout.model_json_schema()
        s["title"] = "AI-factory twin facility layout"
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(s, indent=2))


@app.command()
@guarded
def info(layout: Path = LayoutArg, json_out: bool = JsonOpt, catalog: list[Path] = CatalogOpt) -> None:
    """Counts and nameplate of a layout: racks, GPUs, IT MW, CDUs, heat rejection, electrical, network."""
    from twin.model import load_model

    model = load_model(layout, tuple(catalog or ()))
    from twin.info import summarize

    s = summarize(model)
    if json_out:
        print_json(s)
        return
    report_problems(model.warnings)
    t = Table(title=f"{s['name']}  ({layout})", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    for label, value in [
        ("grid connection", f"{s['grid_limit_mw']:,.0f} MW"),
        ("architecture", s["architecture"]),
        ("halls / pods / rows", f"{s['halls']} / {s['pods']} / {s['rows']}"),
        ("racks", f"{s['racks']:,}  " + ", ".join(f"{k}: {v:,}" for k, v in s["racks_by_type"].items())),
        ("GPUs", f"{s['gpus']:,}"),
        (
            "IT nameplate Max-P / Max-Q / floor",
            f"{s['nameplate_it_mw']:,.1f} / {s['maxq_it_mw']:,.1f} / {s['floor_it_mw']:,.1f} MW",
        ),
        ("cooling loops / CDUs", f"{s['cooling_loops']:,} / {s['cdus']:,}"),
        ("heat rejection (dry coolers / chillers)", f"{s['dry_coolers']:,} / {s['chillers']:,}"),
        ("air-side units", f"{s['air_units']:,}"),
        ("substation transformers", f"{s['substation_transformers']:,}"),
        ("block transformers / rectifiers", f"{s['transformers_rectifiers']:,}"),
        ("UPS modules / busways", f"{s['ups_modules']:,} / {s['busways']:,}"),
        (
            "switches",
            f"{s['switches']:,}  " + ", ".join(f"{k}: {v:,}" for k, v in s["switches_by_tier"].items()),
        ),
        (f"optics ({s['optics']})", f"{s['transceivers']:,} optical ends"),
    ]:
        t.add_row(label, value)
    out.print(t)
    h = Table(title="by hall", title_justify="left")
    cols = [
        "hall",
        "racks",
        "gpus",
        "nameplate_it_mw",
        "maxq_it_mw",
        "cdus",
        "heat_rejection_units",
        "transformers_rectifiers",
        "switches",
    ]
    for c in cols:
        h.add_column(c.replace("_", " "), justify="left" if c == "hall" else "right")
    for rec in s["by_hall"]:
        h.add_row(
            *[
                f"{rec[c]:,.1f}"
                if isinstance(rec[c], float)
                else f"{rec[c]:,}"
                if isinstance(rec[c], int)
                else str(rec[c])
                for c in cols
            ]
        )
    out.print(h)
    if len(s["by_hall"]) > 40:
        err.print(f"({len(s['by_hall'])} halls)")


@app.command()
@guarded
def units(
    layout: Path = LayoutArg,
    kind: str = typer.Option(
        None, "--kind", help="cdu, tcs_pump, dry_cooler, chiller, air_unit, fw_pump, electrical, switch"
    ),
    json_out: bool = JsonOpt,
    catalog: list[Path] = CatalogOpt,
) -> None:
    """List the units that --fail accepts (names by kind); links are named LOWER~UPPER from two of these."""
    from twin.failures import FAILURE_KINDS, unit_names
    from twin.model import load_model

    model = load_model(layout, tuple(catalog or ()))
    kinds = [kind] if kind else [k for k in FAILURE_KINDS if k != "link"]
    names = {k: unit_names(model, k) for k in kinds}
    if json_out:
        print_json(names)
        return
    for k, ns in names.items():
        shown = ", ".join(ns[:12]) + (f", ... ({len(ns):,} in all)" if len(ns) > 12 else "")
        out.print(f"[bold]{k}[/] ({len(ns):,}): {shown}", highlight=False)
