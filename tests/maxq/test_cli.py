"""``twin maxq``: JSON keys, policies, --out tables, infeasible budget exit 2, --size."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def test_maxq_json(layouts_dir):
    res = runner.invoke(app, ["maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "4", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for key in (
        "policy",
        "budget_mw",
        "facility_power_mw",
        "tokens_per_s",
        "tokens_per_joule",
        "binding_constraints",
    ):
        assert key in d
    assert d["policy"] == "maxq" and d["facility_power_mw"] <= 4.0
    assert d["binding_constraints"][0]["shadow_price_tokens_per_s_per_mw"] > 0


def test_policy_all_compares_three(layouts_dir):
    res = runner.invoke(
        app, ["maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "4", "--policy", "all", "--json"]
    )
    assert res.exit_code == 0, res.output
    pols = {p["policy"]: p for p in json.loads(res.stdout)["policies"]}
    assert set(pols) == {"maxq", "uniform", "maxp"}
    assert pols["uniform"]["tokens_per_s"] > pols["maxp"]["tokens_per_s"]
    assert all(p["facility_power_mw"] <= 4.0 for p in pols.values())


def test_infeasible_budget_exit_2_with_floor(layouts_dir):
    res = runner.invoke(app, ["maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "0.5", "--json"])
    assert res.exit_code == 2
    d = json.loads(res.stdout)
    assert d["feasible"] is False and d["floor_mw"] > 0.5
    assert "infeasible" in res.stderr and "Traceback" not in res.output


def test_bad_arguments_exit_2(layouts_dir):
    lay = str(layouts_dir / "pod_small.yaml")
    for args in (
        ["maxq", lay, "--budget-mw", "4", "--policy", "nope"],
        ["maxq", lay],
        ["maxq", lay, "--budget-mw", "-3"],
        ["maxq", "--size", "--site-mw", "100"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output


def test_out_writes_tables_and_refuses_to_overwrite(layouts_dir, tmp_path):
    out = tmp_path / "run"
    args = ["maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "4", "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for f in ("racks.parquet", "racks.csv", "constraints.csv", "kpis.json", "scenario.yaml"):
        assert (out / f).is_file()
    assert json.loads((out / "kpis.json").read_text())["policy"] == "maxq"
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--force" in again.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0


def test_size_json(layouts_dir):
    res = runner.invoke(
        app,
        [
            "maxq",
            str(layouts_dir / "pod_small.yaml"),
            "--size",
            "--site-mw",
            "100",
            "--rack-type",
            "vr-nvl72",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for key in ("gpus_maxp", "gpus_maxq", "tokens_per_s_maxp", "tokens_per_s_maxq"):
        assert key in d
    assert d["gpus_maxq"] > d["gpus_maxp"] > 0 and d["gpus_maxp"] % 72 == 0
    dec = d["gain_decomposition"]
    prod = 1.0
    for v in dec.values():
        prod *= v
    # the decomposition multiplies to the rack-count gain (up to the whole-rack rounding)
    assert abs(prod / (d["facility_w_per_rack_maxp"] / d["facility_w_per_rack_maxq"]) - 1) < 1e-9
    assert d["nvidia_reference"]["gpus_maxq"] == 399096
