"""twin electrical: JSON, tables on disk, N-1 and compare, clean exit 2 on bad input.

The command solves the coupled operating point (cooling included) and prints the run API's flat JSON.
"""

import json

from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def test_json_n1_compare(layouts_dir):
    res = runner.invoke(
        app,
        ["electrical", str(layouts_dir / "pod_small.yaml"), "--json", "--n-1", "--compare"],
    )
    assert res.exit_code == 0, res.output
    k = json.loads(res.stdout)
    assert (
        k["electrical_converged"] and 3.6 < k["facility_power_mw"] < 5.0 and k["electrical_violations"] == 0
    )
    assert k["n1_cases"] == 6 and k["n1_failing_cases"] == 0
    assert k["compare"]["summary"]["efficiency_gain_points"] > 0


def test_out_dir_and_refuse_overwrite(layouts_dir, tmp_path):
    out = tmp_path / "res"
    args = ["electrical", str(layouts_dir / "hall_kyber.yaml"), "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for f in ("elec_nodes.parquet", "elec_nodes.csv", "racks.parquet", "racks.csv", "kpis.json"):
        assert (out / f).is_file()
    assert json.loads((out / "kpis.json").read_text())["architecture"] == "dc800"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "not empty" in res.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_bad_input_exit_2(layouts_dir):
    p = str(layouts_dir / "pod_small.yaml")
    res = runner.invoke(app, ["electrical", p, "--it-load", "-1"])
    assert res.exit_code == 2 and "it_load" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["electrical", p, "--fail", "no-such-node"])
    assert res.exit_code == 2 and "no-such-node: no unit of that name" in res.output


def test_table_output_lists_violations(layouts_dir):
    res = runner.invoke(app, ["electrical", str(layouts_dir / "campus_1gw.yaml")])
    assert res.exit_code == 0, res.output
    assert "losses by stage" in res.output and "exceeds the 1000.00 MW limit" in res.output


def test_voltage_collapse_exits_2(layouts_dir):
    res = runner.invoke(
        app, ["electrical", str(layouts_dir / "hall_kyber.yaml"), "--it-load", "1.0", "--json"]
    )
    assert res.exit_code == 0, res.output  # heavy but feasible
    # the CLI takes it_load as a fraction of Max-P (<= 1); beyond it: exit 2 before any solve
    res = runner.invoke(
        app, ["electrical", str(layouts_dir / "hall_kyber.yaml"), "--it-load", "1.5", "--json"]
    )
    assert res.exit_code == 2 and "it_load" in res.output
    from twin.electrical import solve_electrical
    from twin.model import load_model

    r = solve_electrical(load_model(layouts_dir / "hall_kyber.yaml"), it_load=40.0)
    assert not r.converged and r.kpis["iterations"] > 1
