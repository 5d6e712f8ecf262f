"""solve_network and the ``twin network`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.layout_edit import base, write
from twin.errors import InputError
from twin.model import load_model
from twin.network import fabric_power, solve_network

runner = CliRunner()


@pytest.fixture
def app():
    """The ``twin`` CLI app, imported by the CLI tests only (the solver tests do not depend on the CLI)."""
    from twin.cli import app

    return app


def test_solve_pod(pod_model):
    r = solve_network(pod_model, traffic="alltoall")
    k = r.kpis
    assert k["switches"] == len(pod_model.switches)
    assert k["network_power_mw"] == pytest.approx(fabric_power(pod_model)["total_w"] / 1e6)
    assert k["stranded_tbps"] == 0
    assert 0 < k["max_link_utilization"] <= 1 + 1e-9
    assert k["throughput_tbps"] <= k["ideal_throughput_tbps"] * (1 + 1e-9)
    f = r.res_flows
    assert np.all(f["rate_gbps"] <= f["demand_gbps"] * (1 + 1e-9))
    assert np.all(f["slowdown"] >= 1 - 1e-9)
    assert len(r.res_links) == r.fabric.n_links and "utilization" in r.res_links
    assert "power_w" in r.res_switches


def test_spine_failure_on_layout(hall_ac_model):
    base = solve_network(hall_ac_model, traffic="alltoall", traffic_options={"group_racks": 8})
    spines = hall_ac_model.switches.query("tier == 'spine'")["name"].tolist()
    failed = solve_network(
        hall_ac_model, traffic="alltoall", failed=spines[:4], traffic_options={"group_racks": 8}
    )
    # losing spines of a pod removes bisection and cannot lower the hottest spine link's load
    assert failed.kpis["bisection_tbps"] < base.kpis["bisection_tbps"]
    assert failed.kpis["throughput_tbps"] <= base.kpis["throughput_tbps"] * (1 + 1e-9)
    assert failed.kpis["failed"]["switches"] == spines[:4]
    sw = failed.res_switches
    assert sw.loc[sw["name"].isin(spines[:4]), "failed"].all()


def test_unknown_failure_name(pod_model):
    with pytest.raises(InputError, match="no switch or link"):
        solve_network(pod_model, failed=["spine-x-1"])


def test_cli_json(app, layouts_dir):
    res = runner.invoke(
        app, ["network", str(layouts_dir / "pod_small.yaml"), "--json", "--traffic", "disagg"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for key in ("switches", "transceivers", "bisection_tbps", "max_link_utilization", "network_power_mw"):
        assert key in d
    assert d["switches"] == 117 and d["transceivers"] == 10368  # as `twin info` counts them


def test_cli_out_and_refusal(app, layouts_dir, tmp_path):
    out = tmp_path / "net"
    args = ["network", str(layouts_dir / "pod_small.yaml"), "--out", str(out), "--optics", "cpo"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for name in ("flows", "links", "switches"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()
    k = json.loads((out / "kpis.json").read_text())
    assert k["optics"] == "cpo"
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "not empty" in res.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--traffic", "broadcast"],
        ["--optics", "copper"],
        ["--fail", "nope"],
        ["--load", "2"],
        ["--traffic", "disagg", "--load", "0.5"],
    ],
)
def test_cli_bad_input_exit_2(app, layouts_dir, extra):
    res = runner.invoke(app, ["network", str(layouts_dir / "pod_small.yaml"), *extra])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_oversubscribed_leaves(tmp_path, pod_model):
    d = base()
    d["network"]["scale_out"]["oversubscription"] = 3.0
    m = load_model(write(tmp_path, d))
    r = solve_network(m, traffic="alltoall", traffic_options={"group_racks": 16})
    r1 = solve_network(pod_model, traffic="alltoall", traffic_options={"group_racks": 16})
    k, k1 = r.kpis, r1.kpis
    assert k["oversubscription_measured"] == pytest.approx(3.0)
    # bisection = half the leaf uplink capacity = host capacity / 3 / 2
    host = m.n_racks * 72 * 1600.0
    assert k["bisection_tbps"] == pytest.approx(host / 3 / 2 / 1e3)
    assert k1["bisection_tbps"] == pytest.approx(host / 2 / 1e3)
    # all-to-all across leaves is throttled by the thinner uplinks: less throughput, more slowdown
    assert k["throughput_tbps"] < k1["throughput_tbps"]
    assert k["slowdown"]["max"] > k1["slowdown"]["max"]
    assert k["switches_by_tier"]["backend_spine"] < k1["switches_by_tier"]["backend_spine"]
