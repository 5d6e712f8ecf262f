"""twin electrical: JSON, tables on disk, N-1 and compare, clean exit 2 on bad input."""

import json

from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def test_json_n1_compare(layouts_dir):
    res = runner.invoke(
        app,
        ["electrical", str(layouts_dir / "pod_small.yaml"), "--json", "--n-1", "--compare", "--no-cooling"],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    k = d["kpis"]
    assert k["converged"] and 3.6 < k["facility_power_mw"] < 5.0 and k["electrical_violations"] == 0
    assert d["n_minus_1"]["cases"] == 6 and d["n_minus_1"]["failing_cases"] == 0
    assert d["compare"]["summary"]["efficiency_gain_points"] > 0


def test_out_dir_and_refuse_overwrite(layouts_dir, tmp_path):
    out = tmp_path / "res"
    args = ["electrical", str(layouts_dir / "hall_kyber.yaml"), "--out", str(out), "--no-cooling"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for f in ("res_nodes.parquet", "res_nodes.csv", "res_racks.parquet", "res_racks.csv", "kpis.json"):
        assert (out / f).is_file()
    assert json.loads((out / "kpis.json").read_text())["kpis"]["architecture"] == "dc800"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "not empty" in res.output
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_bad_input_exit_2(layouts_dir):
    p = str(layouts_dir / "pod_small.yaml")
    res = runner.invoke(app, ["electrical", p, "--it-load", "-1"])
    assert res.exit_code == 2 and "it-load" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["electrical", p, "--failed", "no-such-node", "--no-cooling"])
    assert res.exit_code == 2 and "unknown electrical component" in res.output


def test_table_output_lists_violations(layouts_dir):
    res = runner.invoke(app, ["electrical", str(layouts_dir / "campus_1gw.yaml"), "--no-cooling"])
    assert res.exit_code == 0, res.output
    assert "losses by stage" in res.output and "exceeds the 1000.00 MW limit" in res.output


def test_voltage_collapse_exits_2(layouts_dir):
    res = runner.invoke(
        app, ["electrical", str(layouts_dir / "hall_kyber.yaml"), "--it-load", "1.5", "--json"]
    )
    assert res.exit_code == 0, res.output  # heavy but feasible
    from twin.electrical import solve_electrical
    from twin.model import load_model

    r = solve_electrical(load_model(layouts_dir / "hall_kyber.yaml"), it_load=40.0)
    assert not r.converged and r.kpis["iterations"] > 1
