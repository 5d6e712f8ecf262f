"""``twin render``: an off-screen pyvista picture of the facility, racks coloured by a result metric."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import AmbOpt, FailOpt, SupOpt, app, guarded


def parse_size(size: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` in pixels (each 16 to 8192), or an InputError naming the option."""
    from twin.errors import InputError

    w, sep, h = size.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise InputError(f"--size {size!r}: give WIDTHxHEIGHT in pixels, e.g. 1600x1000")
    wi, hi = int(w), int(h)
    if not (16 <= wi <= 8192 and 16 <= hi <= 8192):
        raise InputError(f"--size {size!r}: each side must be 16 to 8192 pixels")
    return wi, hi


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
    from twin import Scenario, run
    from twin.errors import InputError
    from twin.geometry import COLOUR_METRICS
    from twin.render import RenderError, render_png

    if color not in COLOUR_METRICS:
        raise InputError(f"unknown --color {color!r} (choose from {', '.join(COLOUR_METRICS)})")
    wh = parse_size(size)
    s = Scenario(layout=str(layout), ambient_c=ambient_c, supply_c=supply_c, budget_mw=budget_mw, policy=policy,
                 failures=tuple(fail or ()))  # fmt: skip
    res = run(s)
    try:
        render_png(s.model(), res, color, out, size=wh)
    except RenderError as exc:
        raise InputError(f"{out}: {exc}") from None
    typer.echo(
        f"{out}: {len(res.tables['racks']):,} racks coloured by {color} (scenario {s.id}, {res.status})"
    )
