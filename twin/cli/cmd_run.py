"""``twin run SCENARIO.yaml``: run a scenario file (the keys of ``twin.Scenario``) through the run API."""

from __future__ import annotations

from pathlib import Path

import typer

from twin.cli.common import ForceOpt, JsonOpt, OutOpt, app, finish, guarded, prepare_out, working


@app.command("run")
@guarded
def run_cmd(
    scenario_file: Path = typer.Argument(
        ..., help="scenario YAML (layout, overrides, conditions, load, analysis)"
    ),
    out_dir: Path = OutOpt,
    force: bool = ForceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run a scenario file: the same result as the matching solve / electrical / network / maxq / transient
    command. `twin schema --scenario` prints the file's JSON Schema."""
    from twin import run
    from twin.scenario import load_scenario

    prepare_out(out_dir, force)
    s = load_scenario(scenario_file)
    with working(f"{s.analysis} of {s.layout_name}", quiet=json_out):
        res = run(s)
    finish(res, json_out, out_dir, render)


def render(res) -> None:
    """The table of the command that runs this analysis."""
    from twin.cli import cmd_electrical, cmd_maxq, cmd_network, cmd_solve

    a = res.scenario.analysis
    if a in ("coupled", "thermal"):
        cmd_solve._render_solve(res)
    elif a == "transient":
        cmd_solve._render_transient(res)
    elif a == "network":
        cmd_network._render(res)
    elif a == "maxq":
        cmd_maxq._render([res])
    elif a == "size":
        cmd_maxq._render_size(res)
    elif a == "compare-ac-dc":
        cmd_electrical._render_compare(res)
    else:
        cmd_electrical._render(res, None)
