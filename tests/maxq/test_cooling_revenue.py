"""Revenue-optimal Max-Q with the cooling setpoints co-optimised (``revenue_maxq(optimize_cooling=True)`` and
the run API's ``maxq={"objective": "revenue", "optimize_cooling": True}``): on pod_small with a priced inference
tier and a training row priced per GPU-hour, at a hot ambient where the trim chillers run, the revenue with
co-optimised setpoints is never below the revenue at the fixed setpoints, the setpoints stay within their bounds
and no junction is above throttle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.economics.revenue import revenue_maxq
from twin.maxq.cooling import setpoint_bounds
from twin.model import load_model
from twin.runner import Scenario, run

POD_SMALL = Path(__file__).resolve().parents[2] / "layouts" / "pod_small.yaml"
KW = dict(budget_mw=3.5, ambient_c=44.0, supply_c=30.0)


@pytest.fixture(scope="module")
def priced_path(tmp_path_factory):
    """pod_small with inference at $6 per Mtok and row-b training at $400 per GPU-hour."""
    d = yaml.safe_load(POD_SMALL.read_text())
    d["workload"] = {
        "default_tier": "inference",
        "tiers": [
            {"name": "inference", "kind": "inference", "price_usd_per_mtok": 6.0},
            {"name": "training", "kind": "training", "price_usd_per_gpu_hour": 400.0},
        ],
    }
    d["halls"][0]["pods"][0]["rows"][1]["workload"] = "training"
    path = tmp_path_factory.mktemp("priced") / "pod_priced.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def priced_model(priced_path):
    return load_model(priced_path)


@pytest.fixture(scope="module")
def both(priced_model):
    return revenue_maxq(priced_model, **KW), revenue_maxq(priced_model, optimize_cooling=True, **KW)


def test_revenue_with_cooling_never_below_fixed_setpoints(both):
    fixed, cool = both
    assert cool.cooling is not None and fixed.cooling is None
    assert cool.kpis["revenue_usd_per_h"] >= fixed.kpis["revenue_usd_per_h"] * (1 - 1e-9)
    # the co-optimiser's own baseline is the fixed setpoints' revenue Max-Q
    assert cool.cooling.fixed.kpis["objective_per_s"] == pytest.approx(fixed.maxq.kpis["objective_per_s"])
    assert cool.maxq.kpis["facility_power_mw"] <= KW["budget_mw"] * (1 + 1e-9)


def test_setpoints_within_bounds_and_no_junction_above_throttle(priced_model, both):
    _, cool = both
    b = setpoint_bounds(priced_model, ambient_c=KW["ambient_c"])
    t = cool.cooling.setpoints
    assert np.all(t["chosen_c"].to_numpy() >= b["lower_c"].to_numpy() - 1e-9)
    assert np.all(t["chosen_c"].to_numpy() <= b["upper_c"].to_numpy() + 1e-9)
    rr = cool.maxq.res_racks
    on = rr["on"].to_numpy(dtype=bool)
    assert np.all(rr["margin_k"].to_numpy(dtype=float)[on] >= -1e-6)


def test_run_api_revenue_with_cooling(priced_path, both):
    _, cool = both
    r = run(
        Scenario(
            layout=str(priced_path),
            policy="maxq",
            budget_mw=KW["budget_mw"],
            ambient_c=KW["ambient_c"],
            supply_c=KW["supply_c"],
            maxq={"objective": "revenue", "optimize_cooling": True},
        )
    )
    assert r.status == "ok", r.reason
    assert "tiers" in r.tables and "cooling_setpoints" in r.tables
    assert set(r.tables["tiers"]["tier"]) == {"inference", "training"}
    assert r.kpis["revenue_usd_per_h"] == pytest.approx(cool.kpis["revenue_usd_per_h"], rel=1e-9)
    assert "cooling_power_saved_mw" in r.kpis and r.kpis["cooling_setpoints"]


def test_revenue_gain_kpis(both):
    fixed, cool = both
    k = cool.cooling.kpis
    assert k["revenue_usd_per_h_fixed"] == pytest.approx(fixed.kpis["revenue_usd_per_h"], rel=1e-9)
    assert k["revenue_usd_per_h_gained"] == pytest.approx(
        cool.kpis["revenue_usd_per_h"] - fixed.kpis["revenue_usd_per_h"], rel=1e-6, abs=1e-6
    )
    assert k["revenue_usd_per_h_gained"] >= 0.0


def test_cli_objective_revenue_with_optimize_cooling(priced_path, both):
    import json

    from typer.testing import CliRunner

    from twin.cli import app

    _, cool = both
    args = ["maxq", str(priced_path), "--budget-mw", "3.5", "--ambient-c", "44", "--supply-c", "30"]
    args += ["--objective", "revenue", "--optimize-cooling"]
    r = CliRunner().invoke(app, [*args, "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stdout
    k = json.loads(r.stdout)
    assert k["cooling_setpoints"][0]["hall"] == "hall-1"
    assert k["revenue_usd_per_h"] == pytest.approx(cool.kpis["revenue_usd_per_h"], rel=1e-9)
    assert k["revenue_usd_per_h_gained"] >= 0.0
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.stdout
    assert "Cooling setpoints co-optimised" in r.stdout and "at the fixed setpoints" in r.stdout
