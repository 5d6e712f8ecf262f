"""`twin solve`: the coupled steady state by default, with the JSON keys scripts rely on, and clean bad input."""

import json

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.runner import gpu_caps_from_load

runner = CliRunner()
KEYS = [
    "racks",
    "it_power_mw",
    "cooling_power_mw",
    "max_junction_c",
    "min_margin_k",
    "energy_balance_rel_error",
    "facility_power_mw",
    "electrical_loss_mw",
    "network_power_mw",
    "pue",
    "tokens_per_s",
    "tokens_per_joule",
]


def test_solve_json_has_coupled_kpis_and_balances(layouts_dir):
    res = runner.invoke(app, ["solve", str(layouts_dir / "pod_small.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    k = json.loads(res.stdout)
    for key in KEYS:
        assert key in k and k[key] is not None, key
    # grid power = IT + network + cooling + losses, and PUE from the same figures
    total = k["it_power_mw"] + k["network_power_mw"] + k["cooling_power_mw"] + k["electrical_loss_mw"]
    assert k["facility_power_mw"] == pytest.approx(total, rel=1e-6)
    # PUE at the IT equipment input (racks before their power shelves); TUE at the IT components
    assert k["pue"] == pytest.approx(k["facility_power_mw"] / k["it_input_power_mw"], rel=1e-9)
    assert k["tue"] == pytest.approx(
        k["facility_power_mw"] / (k["it_power_mw"] + k["network_power_mw"]), rel=1e-9
    )
    assert k["energy_balance_rel_error"] <= 1e-6 and k["converged"]


def test_it_load_lowers_facility_power(layouts_dir):
    f = str(layouts_dir / "pod_small.yaml")
    full = json.loads(runner.invoke(app, ["solve", f, "--json"]).stdout)
    part = json.loads(runner.invoke(app, ["solve", f, "--json", "--it-load", "0.8"]).stdout)
    assert part["it_power_mw"] == pytest.approx(0.8 * full["it_power_mw"], rel=1e-9)
    assert part["facility_power_mw"] < full["facility_power_mw"]
    assert part["tokens_per_s"] < full["tokens_per_s"]


def test_it_load_below_floor_is_refused(layouts_dir, pod_model):
    res = runner.invoke(app, ["solve", str(layouts_dir / "pod_small.yaml"), "--it-load", "0.2"])
    assert res.exit_code == 2 and "below the floor" in res.stderr and "Traceback" not in res.output
    with pytest.raises(Exception, match="must be in"):
        gpu_caps_from_load(pod_model, 1.5)


def test_thermal_only_mode(layouts_dir):
    res = runner.invoke(app, ["solve", str(layouts_dir / "pod_small.yaml"), "--json", "--thermal-only"])
    k = json.loads(res.stdout)
    assert res.exit_code == 0 and "facility_power_mw" not in k and k["energy_balance_rel_error"] <= 1e-6


def test_out_writes_tables_and_refuses_overwrite(tmp_path, layouts_dir):
    f = str(layouts_dir / "pod_small.yaml")
    res = runner.invoke(app, ["solve", f, "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "racks.parquet").exists() and (tmp_path / "o" / "elec_nodes.csv").exists()
    assert json.loads((tmp_path / "o" / "kpis.json").read_text())["facility_power_mw"] > 0
    again = runner.invoke(app, ["solve", f, "--out", str(tmp_path / "o")])
    assert again.exit_code == 2 and "--force" in again.stderr
