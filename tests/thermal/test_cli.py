"""CLI: twin solve / twin transient, JSON keys, tables written, clean exit 2 on bad input."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def test_solve_json(layouts_dir):
    res = runner.invoke(
        app, ["solve", str(layouts_dir / "pod_small.yaml"), "--json", "--ambient-c", "30", "--it-load", "0.8"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for key in (
        "racks",
        "it_power_mw",
        "cooling_power_mw",
        "max_junction_c",
        "min_margin_k",
        "energy_balance_rel_error",
    ):
        assert key in d
    assert d["racks"] == 16 and abs(d["it_power_mw"] - 0.8 * 3.632) < 1e-9
    assert d["energy_balance_rel_error"] < 1e-6 and d["ambient_c"] == 30.0


def test_solve_table_and_failure(layouts_dir):
    res = runner.invoke(
        app, ["solve", str(layouts_dir / "pod_small.yaml"), "--fail", "hall-1/pod-1/tcs-1/cdu-1"]
    )
    assert res.exit_code == 0, res.output
    assert "cooling power" in res.stdout and "energy balance" in res.stdout


def test_solve_out_writes_tables_and_refuses_overwrite(layouts_dir, tmp_path):
    out = tmp_path / "res"
    args = ["solve", str(layouts_dir / "pod_small.yaml"), "--out", str(out), "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    racks = pd.read_parquet(out / "racks.parquet")
    assert len(racks) == 16 and racks["name"].iat[0].startswith("hall-1/pod-1/row-a")
    assert len(pd.read_csv(out / "loops.csv")) == 1
    assert json.loads((out / "kpis.json").read_text())["racks"] == 16
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(app, args + ["--force"]).exit_code == 0


def test_solve_bad_input_exit_2(layouts_dir):
    for extra in (["--fail", "no-such-unit"], ["--it-load", "-0.5"], ["--supply-c", "120"]):
        res = runner.invoke(app, ["solve", str(layouts_dir / "pod_small.yaml"), *extra])
        assert res.exit_code == 2, (extra, res.output)
        assert "Traceback" not in res.output


def test_transient_json_and_out(layouts_dir, tmp_path):
    res = runner.invoke(
        app,
        [
            "transient",
            str(layouts_dir / "pod_small.yaml"),
            "--scenario",
            "pump-trip",
            "--duration-s",
            "60",
            "--json",
            "--out",
            str(tmp_path / "tr"),
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["scenario"] == "pump-trip" and d["ride_through_s"] > 0
    s = pd.read_csv(tmp_path / "tr" / "series.csv")
    assert len(s) == 61 and s["time_s"].iat[-1] == 60.0
    bad = runner.invoke(app, ["transient", str(layouts_dir / "pod_small.yaml"), "--scenario", "meteor"])
    assert bad.exit_code == 2 and "transient.kind" in bad.output and "pump-trip" in bad.output


def test_transient_cli_table_shows_throttle_and_shutdown(layouts_dir):
    from typer.testing import CliRunner

    from twin.cli import app

    res = CliRunner().invoke(
        app,
        ["transient", str(layouts_dir / "pod_small.yaml"), "--scenario", "pump-trip", "--duration-s", "60"],
    )
    assert res.exit_code == 0, res.output
    for label in (
        "time to throttle",
        "time to shutdown",
        "racks throttled",
        "racks shut down",
        "peak GPU junction",
    ):
        assert label in res.output
    assert "energy balance" in res.output and "failed: " in res.output
