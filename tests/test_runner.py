"""run / run_many / RunResult: the one way in, its tables and KPIs, save / load, and twin run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from twin import RunResult, Scenario, run, run_many
from twin.cli import app
from twin.errors import InputError
from twin.failures import FailureSet, unit_names
from twin.model import load_model
from twin.runner import gpu_caps_from_load

runner = CliRunner()


@pytest.fixture
def pod(layouts_dir):
    return str(layouts_dir / "pod_small.yaml")


def test_coupled_run_has_tables_kpis_and_meta(pod):
    r = run(Scenario(layout=pod))
    assert r.ok and r.status == "ok" and r.reason == ""
    assert {"racks", "loops", "cdus", "heat_rejection", "halls", "elec_nodes", "violations"} <= set(r.tables)
    racks = r["racks"]
    assert len(racks) == 16 and racks["name"].iloc[0].startswith("hall-1/pod-1/")
    # energy balance of the coupled result: grid = IT + fabric + cooling + losses
    k = r.kpis
    total = k["it_power_mw"] + k["network_power_mw"] + k["cooling_power_mw"] + k["electrical_loss_mw"]
    assert k["facility_power_mw"] == pytest.approx(total, rel=1e-9)
    assert r.meta["scenario_id"] == r.scenario.id and r.meta["solve_time_s"] > 0


def test_save_load_round_trips_every_table_exactly(pod, tmp_path):
    for s in (
        Scenario(layout=pod),
        Scenario(layout=pod, budget_mw=3.5),
        Scenario(layout=pod, analysis="network"),
    ):
        r = run(s)
        r.save(tmp_path / s.id)
        back = RunResult.load(tmp_path / s.id)
        assert back.scenario.id == s.id and back.status == r.status and back.warnings == r.warnings
        assert set(back.tables) == set(r.tables)
        for name, df in r.tables.items():
            pd.testing.assert_frame_equal(back.tables[name], df.reset_index(drop=True), check_exact=True)
        assert back.kpis == json.loads(json.dumps(back.kpis))  # plain JSON
        assert (
            back.kpis["facility_power_mw" if "facility_power_mw" in r.kpis else "network_power_mw"]
            == (r.kpis["facility_power_mw" if "facility_power_mw" in r.kpis else "network_power_mw"])
        )


def test_save_refuses_a_used_directory(pod, tmp_path):
    r = run(Scenario(layout=pod, analysis="thermal"))
    r.save(tmp_path / "a")
    with pytest.raises(InputError, match="not empty"):
        r.save(tmp_path / "a")
    r.save(tmp_path / "a", force=True)


def test_infeasible_budget_is_a_status_not_an_exception(pod):
    # below what the site draws with every rack shed (fabric, cooling and losses of an empty pod)
    r = run(Scenario(layout=pod, budget_mw=0.3))
    assert r.status == "infeasible" and "minimum power" in r.reason and r.kpis["floor_mw"] > 0.3


def test_run_many_records_errors_when_asked(pod):
    good = Scenario(layout=pod, analysis="thermal")
    bad = Scenario(layout=pod, analysis="thermal", failures=("no/such/unit",))
    out = list(run_many([good, bad], on_error="record"))
    assert [r.status for r in out] == ["ok", "error"] and "no/such/unit" in out[1].reason
    with pytest.raises(InputError):
        list(run_many([bad]))


def test_it_load_below_floor_is_refused_with_the_floor(pod):
    with pytest.raises(InputError, match="below the floor"):
        run(Scenario(layout=pod, it_load=0.05))


def test_gpu_caps_from_load_hand_calculation(pod):
    m = load_model(pod)
    cap = gpu_caps_from_load(m, 0.8)
    r = m.racks
    rack = r["other_power_w"].to_numpy() + r["gpus"].to_numpy() * cap
    assert np.allclose(rack, 0.8 * r["power_maxp_w"].to_numpy(), rtol=1e-12)
    assert gpu_caps_from_load(m, 1.0) is None


def test_relative_humidity_gives_the_psychrometric_wet_bulb(pod):
    """35 C dry bulb at 40 % RH and sea level: wet bulb 24.0 C (ASHRAE psychrometric chart; CoolProp)."""
    r = run(Scenario(layout=pod, analysis="thermal", ambient_c=35.0, relative_humidity=0.4))
    assert r.kpis["wet_bulb_c"] == pytest.approx(24.0, abs=0.3)


def test_failure_set_routes_names_and_suggests_close_ones(pod):
    m = load_model(pod)
    cdu = unit_names(m, "cdu")[0]
    fs = FailureSet.parse(m, [cdu, "hall-1/pod-1/blk-1", "leaf-b-0~spine-b-1", f"{cdu}/pump", cdu])
    assert fs.thermal == (cdu, f"{cdu}/pump") and fs.electrical == ("hall-1/pod-1/blk-1",)
    assert fs.network == ("leaf-b-0~spine-b-1",)
    with pytest.raises(InputError, match="closest: hall-1/pod-1/tcs-1/cdu-1"):
        FailureSet.parse(m, ["hall-1/pod-1/tcs-a/cdu-1"])
    assert len(unit_names(m, "fw_pump")) == int(m.fws["pump_units"].sum())


def test_twin_run_matches_twin_solve_and_twin_maxq(pod, tmp_path):
    for cmd, scen in (
        (["solve", pod], {"layout": pod}),
        (["maxq", pod, "--budget-mw", "3.5"], {"layout": pod, "budget_mw": 3.5}),
    ):
        f = tmp_path / "s.yaml"
        f.write_text(yaml.safe_dump(scen))
        a = runner.invoke(app, [*cmd, "--json"])
        b = runner.invoke(app, ["run", str(f), "--json"])
        assert a.exit_code == b.exit_code == 0, (a.output, b.output)
        ka, kb = json.loads(a.stdout), json.loads(b.stdout)
        assert ka == kb


def test_twin_run_bad_file_exit_2_with_line(tmp_path, pod):
    f = tmp_path / "s.yaml"
    f.write_text(f"layout: {pod}\nanalysis: coupled\nbudget_mw: -3\n")
    res = runner.invoke(app, ["run", str(f)])
    assert res.exit_code == 2 and f"{f}:3: budget_mw:" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(app, ["run", str(f), "--json"])
    d = json.loads(res.stdout)
    assert res.exit_code == 2 and d["ok"] is False and d["problems"][0]["line"] == 3


def test_json_failure_is_one_object_on_stdout(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: [1, 2\n")
    for cmd in (["validate"], ["info"], ["solve"], ["electrical"], ["network"], ["maxq", "--budget-mw", "3"]):
        res = runner.invoke(app, [cmd[0], str(bad), *cmd[1:], "--json"])
        assert res.exit_code == 2, cmd
        d = json.loads(res.stdout)
        assert d["ok"] is False and d["problems"] and "YAML" in d["problems"][0]["message"]


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("twin ")


def test_shipped_scenario_file_runs(layouts_dir):
    f = layouts_dir.parent / "docs" / "scenarios" / "hall_hot_day_maxq.yaml"
    res = runner.invoke(app, ["run", str(f), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["status"] == "ok" and d["facility_power_mw"] <= 100.0 * (1 + 1e-6)


def test_an_electrical_node_named_k_times_loses_k_units(pod):
    """A 2N block of 4 units: 3 out overloads it; 4 out leaves its 16 racks without power (and says so)."""
    runs = {
        n: run(Scenario(layout=pod, analysis="electrical", failures=("hall-1/pod-1/blk-1",) * n))
        for n in (0, 3, 4)
    }
    assert runs[0].kpis["electrical_violations"] == 0 and runs[3].kpis["electrical_violations"] >= 1
    assert runs[4].kpis["racks_unpowered"] == 16 and runs[4].kpis["facility_power_mw"] < 0.2
    assert len({r.scenario.id for r in runs.values()}) == 3
    res = runner.invoke(app, ["electrical", pod, *["--fail", "hall-1/pod-1/blk-1"] * 4])
    assert "n/a (no rack powered)" in res.stdout and "nan" not in res.stdout
