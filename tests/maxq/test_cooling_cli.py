"""``twin maxq --optimize-cooling`` and ``--attribution``: JSON, tables, the waterfall chart, bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def invoke(*args):
    r = runner.invoke(app, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout


def test_optimize_cooling_json_reports_setpoints_and_gains(layouts_dir):
    code, out = invoke(
        "maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "3.5", "--ambient-c", "44",
        "--supply-c", "30", "--optimize-cooling", "--json",
    )  # fmt: skip
    assert code == 0, out
    k = json.loads(out)  # KPIs at the top level
    (sp,) = k["cooling_setpoints"]
    assert sp["hall"] == "hall-1" and 30.0 < sp["supply_c"] <= 45.0
    assert k["chiller_power_saved_mw"] > 0 and k["gpu_power_gained_mw"] > 0 and k["tokens_per_s_gained"] > 0


def test_optimize_cooling_table(layouts_dir):
    code, out = invoke(
        "maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "3.5", "--ambient-c", "44",
        "--supply-c", "30", "--optimize-cooling",
    )  # fmt: skip
    assert code == 0, out
    assert "Cooling setpoints co-optimised" in out and "chillers" in out


def test_optimize_cooling_needs_policy_maxq(layouts_dir):
    code, out = invoke(
        "maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "3.5", "--policy", "uniform",
        "--optimize-cooling", "--json",
    )  # fmt: skip
    assert code == 2
    assert "--optimize-cooling" in out


def test_attribution_steps_table_and_waterfall(layouts_dir, tmp_path):
    out_dir = tmp_path / "att"
    code, out = invoke(
        "maxq", str(layouts_dir / "pod_small.yaml"), "--budget-mw", "3.5", "--attribution", "--json",
        "--out", str(out_dir),
    )  # fmt: skip
    assert code == 0, out
    d = json.loads(out)
    steps = [r["key"] for r in d["attribution"]]
    assert steps == ["maxp_ac_pluggable", "dc800", "cpo", "maxq_caps", "cooling", "shedding"]
    assert all(r["status"] == "ok" for r in d["attribution"])
    ok = [r for r in d["attribution"] if r["status"] == "ok"]
    for r in ok:
        assert r["facility_power_mw"] <= 3.5 * (1 + 1e-9)
    # each ratio is the tokens/J of the step over the previous one; they multiply to the overall gain
    prod = 1.0
    for r in ok[1:]:
        prod *= r["gain_vs_previous"]
    assert abs(prod / d["kpis"]["tokens_per_joule_gain"] - 1) < 1e-12
    assert d["kpis"]["tokens_per_joule_gain"] > 1.0
    html = (out_dir / "attribution_waterfall.html").read_text()
    assert "Waterfall" in html or "waterfall" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # self-contained: plotly.js inlined
    assert (out_dir / "attribution.csv").exists()


def test_energy_mode_json(layouts_dir):
    code, out = invoke(
        "maxq", str(layouts_dir / "pod_small.yaml"), "--energy-tokens-per-s", "1500000", "--json",
    )  # fmt: skip
    assert code == 0, out
    d = json.loads(out)
    assert d["tokens_per_s"] >= 1_500_000 * (1 - 1e-4)
    assert d["facility_power_mw"] <= d["budget_mw"] * (1 + 1e-12) < 3.5


def test_energy_mode_unreachable_is_bad_input(layouts_dir):
    code, out = invoke("maxq", str(layouts_dir / "pod_small.yaml"), "--energy-tokens-per-s", "1e12", "--json")
    assert code == 2
    assert "not reachable" in out
