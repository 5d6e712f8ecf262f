"""``twin render``: an off-screen pyvista picture of the facility, racks coloured by a result metric."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import AmbOpt, FailOpt, SupOpt, app, guarded


@app.command()
@guarded
def render(
    layout: Path = typer.Argument(..., help="layout YAML"),
    color: str = typer.Option(
        "junction_c", "--color", help="rack metric (e.g. junction_c, margin_k, rack_power_w)"
    ),
    out: Path = typer.Option(Path("site.png"), "--out", help="PNG to write"),
    ambient_c: float = AmbOpt,
    supply_c: float = SupOpt,
    budget_mw: float = typer.Option(None, "--budget-mw", help="grid budget, MW (Max-Q caps within it)"),
    policy: str = typer.Option("maxq", "--policy", help="maxq | uniform | maxp (with --budget-mw)"),
    fail: list[str] = FailOpt,
    size: str = typer.Option("1600x1000", "--size", help="image size WIDTHxHEIGHT, pixels"),
) -> None:
    """Solve the scenario and write an off-screen pyvista screenshot (no X server) coloured by a metric."""
    import numpy as np

    from twin import Scenario, run
    from twin.errors import InputError
    from webapp import figures as F

    if color not in F.COLOUR_METRICS:
        raise InputError(f"unknown --color {color!r} (choose from {', '.join(F.COLOUR_METRICS)})")
    w, _, h = size.partition("x")
    s = Scenario(layout=str(layout), ambient_c=ambient_c, supply_c=supply_c, budget_mw=budget_mw, policy=policy,
                 failures=tuple(fail or ()))  # fmt: skip
    res = run(s)
    model = s.model()
    racks = np.arange(len(model.racks))
    col = F.colour_patch(model, res, color, racks)
    import pyvista as pv

    mesh = F.rack_boxes(model, racks).to_pyvista()
    mesh.cell_data[color] = np.repeat(col["intensity"][:: F.VERTS_PER_RACK], len(F._BOX_FACES))
    pl = pv.Plotter(off_screen=True, window_size=(int(w), int(h)))
    pl.set_background("white")
    pl.add_mesh(mesh, scalars=color, cmap="RdYlBu" if color == "margin_k" else "RdYlBu_r", clim=(col["cmin"], col["cmax"]),
                scalar_bar_args={"title": col["title"], "color": "black"})  # fmt: skip
    pl.camera_position = "iso"
    pl.camera.zoom(1.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    pl.screenshot(str(out))
    pl.close()
    typer.echo(f"{out}: {len(racks):,} racks coloured by {color} (scenario {s.id}, {res.status})")
