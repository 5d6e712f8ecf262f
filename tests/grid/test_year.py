"""A whole year of pod_small, every strategy: energy balance, limits, the surrogate's measured error, events."""

from __future__ import annotations

import numpy as np
import pytest

from tests.grid.conftest import POD
from twin.grid.data import HOURS

TOL = 1e-6  # solver tolerance on the budget (Max-Q aims inside it by 0.5 x 1e-5 relative)


def test_every_strategy_has_the_whole_year(pod_year):
    h = pod_year.hourly
    assert set(h["strategy"]) == {"fixed", "maxq", "maxq-cooling", "shed"}
    cooling = ["supply_setpoint_mean_c", "tcs_flow_mean_lpm_per_kw", "cooling_saved_vs_maxq_mw"]
    for s, d in h.groupby("strategy"):
        assert len(d) == HOURS and (d["hour"].to_numpy() == np.arange(HOURS)).all()
        num = d.select_dtypes("number").drop(columns=["carbon_marginal_g_per_kwh", *cooling])
        assert np.isfinite(num).all().all()
        assert d[cooling].isna().all().all() if s != "maxq-cooling" else np.isfinite(d[cooling]).all().all()


def test_energy_balance_closes_every_hour(pod_year):
    h = pod_year.hourly
    parts = h["it_power_mw"] + h["network_power_mw"] + h["cooling_power_mw"] + h["electrical_loss_mw"]
    assert np.allclose(h["facility_power_mw"], parts, rtol=1e-9, atol=1e-9)
    assert np.allclose(h["pue"], h["facility_power_mw"] / h["it_input_power_mw"])


def test_no_hour_draws_more_than_its_limit(pod_year):
    h = pod_year.hourly
    assert (h["facility_power_mw"] <= h["limit_mw"] * (1 + TOL)).all()
    assert h["limit_met"].all()
    # and the exact solves behind the validation hours keep their limits too
    for s, v in pod_year.validation.items():
        t = v["table"]
        assert (t["exact_over_limit_mw"] <= t["budget_mw"] * TOL).all(), s


def test_surrogate_error_within_half_a_percent(pod_year):
    for s, v in pod_year.validation.items():
        summ = v["summary"]
        assert summ["random hour"]["hours"] >= 24
        for what, d in summ.items():
            assert d["facility_power_max_error_pct"] <= 0.5, (s, what, d)
            assert d["tokens_max_error_pct"] <= 0.5, (s, what, d)


def test_minus_25_pct_for_3_h_loses_fewer_tokens_under_maxq_than_fixed(pod_year):
    h = pod_year.hourly
    ev = h["event"] == "emerald-phoenix"
    lost = h[ev].groupby("strategy")["tokens_lost"].sum()
    assert h[ev & (h["strategy"] == "maxq")]["event_fraction"].sum() == pytest.approx(3.0)
    assert 0 < lost["maxq"] < lost["fixed"]
    assert lost["shed"] <= lost["maxq"] * (1 + 1e-9)
    # both met the same cap, and Max-Q kept every rack on
    mq = h[ev & (h["strategy"] == "maxq")]
    assert (mq["racks_on"] == pod_year.site.n_racks).all()
    fx = h[ev & (h["strategy"] == "fixed")]
    assert (fx["racks_on"] < pod_year.site.n_racks).all()


def test_partial_hours_and_ramps(pod_year):
    h = pod_year.hourly
    d = h[(h["strategy"] == "maxq") & (h["event"] == "winter-cap")]
    assert d["event_fraction"].sum() == pytest.approx(2.5)  # 2 h + half of each 30 min ramp
    first = d.iloc[0]
    base = h[(h["strategy"] == "maxq") & (h["hour"] == first["hour"] - 1)].iloc[0]
    assert first["facility_power_mw"] < base["facility_power_mw"]


def test_kpis_are_consistent(pod_year):
    for s, k in pod_year.kpis.items():
        d = pod_year.hourly[pod_year.hourly["strategy"] == s]
        assert k["annual_energy_mwh"] == pytest.approx(d["facility_power_mw"].sum())
        assert k["revenue_usd"] == pytest.approx(sum(k["revenue_usd_by_tier"].values()))
        for t in pod_year.site.tiers:
            assert k["revenue_usd_by_tier"][t] == pytest.approx(d[f"revenue_usd_{t}"].sum())
            assert k["tokens_by_tier"][t] == pytest.approx(d[f"tokens_per_s_{t}"].sum() * 3600)
        assert k["curtailment_events"] == 2 and k["limit_exceeded_hours"] == 0
        assert k["max_balance_error_mw"] < 1e-9
        assert 1.0 < k["pue_annual"] <= k["pue_worst_month"] < 1.5
        assert k["energy_cost"] == pytest.approx((d["facility_power_mw"] * d["price_per_mwh"]).sum())
    assert (
        pod_year.kpis["maxq"]["flex_mwh_some_token_loss"] > pod_year.kpis["fixed"]["flex_mwh_some_token_loss"]
    )


def test_fixed_strategy_is_the_maxp_policy_of_the_run_api(pod_year):
    """The fixed strategy's racks-on count under a budget equals run(policy='maxp')."""
    from twin import Scenario, run
    from twin.grid.surrogate import fit_subset

    site = pod_year.site
    for budget in (3.3, 4.0):
        r = run(
            Scenario(layout=site.layout, ambient_c=30.0, wet_bulb_c=22.0, budget_mw=budget, policy="maxp")
        )
        mine = fit_subset(site, 30.0, 22.0, budget, 1.0)
        assert mine["racks_on"] == r.kpis["racks_on"]
        # the same count; the racks chosen may differ (the policy spreads them), the draw by < 0.1 %
        assert mine["facility_power_mw"] == pytest.approx(r.kpis["facility_power_mw"], rel=1e-3)


def test_site_plan_has_every_rack(pod_year):
    p = pod_year.plan
    assert len(p) == pod_year.site.n_racks and (p["gpu_cap_w"] > 0).all()


def test_hourly_columns_and_kpis_are_in_the_schema(pod_year):
    from twin.grid.schema import column, grid_schema

    for c in pod_year.hourly.columns:
        assert column(c)["description"]
    listed = set(grid_schema()["tables"]["hourly"]["columns"])
    emitted = {
        c if not c.startswith(("tokens_per_s_", "revenue_usd_")) else c.rsplit("_", 1)[0]
        for c in pod_year.hourly.columns
    }
    emitted = {
        (
            "tokens_per_s_<tier>"
            if c.startswith("tokens_per_s_")
            else "revenue_usd_<tier>"
            if c.startswith("revenue_usd_")
            else c
        )
        for c in pod_year.hourly.columns
    }
    assert listed == emitted
    kp = set(grid_schema()["kpis"])
    for k in pod_year.kpis.values():
        assert set(k) == kp
    suffix = {
        "_mw": "MW",
        "_c": "C",
        "_pct": "%",
        "_mwh": "MWh",
        "_usd": "USD",
        "_m3": "m3",
        "_h": "h",
        "_t": "t CO2eq",
    }
    for name, e in [*grid_schema()["tables"]["hourly"]["columns"].items(), *grid_schema()["kpis"].items()]:
        hits = [s for s in suffix if name.endswith(s)]
        if hits and "_per_" not in name and "_by_" not in name:
            assert e["unit"] == suffix[max(hits, key=len)], name


def test_exact_states_agree_with_the_surface(pod_year):
    """A few hours solved exactly by the --exact path give what the surface gives."""
    from twin.grid.year import _exact_states

    site = pod_year.site
    w = pod_year.weather.frame
    hours = np.array([100, 4000, 4700])
    db, wb = w["dry_bulb_c"].to_numpy()[hours], w["wet_bulb_c"].to_numpy()[hours]
    budget = np.full(len(hours), site.grid_limit_mw)
    ex = _exact_states("maxq", site, db, wb, budget, lambda *a: None, lambda *a: None)
    h = pod_year.hourly
    got = h[(h["strategy"] == "maxq") & h["hour"].isin(hours)]
    assert np.allclose(ex["facility_power_mw"], got["facility_power_mw"], rtol=5e-3)
    assert np.allclose(ex["tokens_per_s"], got["tokens_per_s"], rtol=5e-3)


def test_study_engine_map_gives_what_run_gives():
    """twin.study.mapping: scenarios run on the study engine's cluster (2 forked local workers) come back in
    order with the KPIs ``twin.run`` gives in this process; the grid's solver pool on it equals the loop."""
    from twin import Scenario, run
    from twin.grid.surrogate import Site, SolverPool, parallel_map
    from twin.study.mapping import cluster, map_tasks, run_scenarios

    base = Scenario(layout=POD)
    scen = [base.replace(ambient_c=t) for t in (35.0, 10.0, 25.0)]
    run(base)  # imports and the compiled model, inherited by the forked workers
    with cluster(2, fork=True) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        rows = run_scenarios(scen, client=c)
        assert map_tasks(abs, [-2, 3, -4], client=c) == [2, 3, 4]
        assert map_tasks(pow, [2, 3], shared=10, client=c) == [100, 1000]  # fn(shared, item)
    assert [r["scenario_id"] for r in rows] == [s.id for s in scen]
    for r, s in zip(rows, scen, strict=True):
        k = run(s).kpis
        assert r["status"] == "ok"
        assert r["kpis"]["facility_power_mw"] == k["facility_power_mw"] and r["kpis"]["pue"] == k["pue"]
    site = Site.from_layout(POD)
    tasks = [("maxq", 30.0, 20.0, 3.2, None), ("shed", 12.0, 8.0, 2.5, None), ("fit", 25.0, 18.0, 3.0, 1.0)]
    with SolverPool(2) as pool:
        ticks = []
        par = parallel_map(site, tasks, progress=ticks.append)
        assert "LocalCluster" in pool.description and pool._client is not None and ticks == [1, 1, 1]
    with SolverPool(1) as pool:
        loop = parallel_map(site, tasks)
        assert pool._client is None
    for a, b in zip(par, loop, strict=True):
        assert a["feasible"] == b["feasible"] and a["facility_power_mw"] == b["facility_power_mw"]
        assert a["tokens_per_s"] == b["tokens_per_s"]


def test_tier_tokens_and_revenue_are_the_run_apis(pod_year):
    """An exact node's tokens/s and revenue per tier are the run API's tiers table (twin.economics), and the
    year's hours at the connection reproduce it (the surface interpolates those figures, no local pricing)."""
    from twin import Scenario, run
    from twin.grid.surrogate import solve_point

    site = pod_year.site
    r = run(
        Scenario(
            layout=POD, ambient_c=30.0, wet_bulb_c=20.0, budget_mw=3.3, policy="maxq", maxq={"shed": False}
        )
    )
    tiers = r.tables["tiers"].set_index("tier")
    mine = solve_point(site, "maxq", 30.0, 20.0, 3.3)
    for t in site.tiers:
        assert mine[f"tokens_per_s:{t}"] == pytest.approx(tiers.loc[t, "tokens_per_s"], rel=1e-9)
        assert mine[f"revenue_usd_per_h:{t}"] == pytest.approx(tiers.loc[t, "revenue_usd_per_h"], rel=1e-9)
    assert sum(mine[k] for k in site.revenue_keys) == pytest.approx(r.kpis["revenue_usd_per_h"], rel=1e-9)
    # Max-P with racks off (the fixed strategy) is priced by the same economics
    fx = solve_point(site, "subset", 30.0, 20.0, site.n_racks - 4)
    assert 0 < sum(fx[k] for k in site.revenue_keys) < sum(mine[k] for k in site.revenue_keys) * 1.2


def test_maxq_cooling_never_below_maxq_and_reports_its_setpoints(pod_year):
    """maxq-cooling: tokens/s never below maxq's in any hour (beyond the surrogate's error), the chosen supply
    setpoint within 5 C and the W45 limit, the TCS flow within OCP's 1.25-2.0 L/min/kW, cooling saved >= 0;
    its row in the summary and in the strategy comparison."""
    h = pod_year.hourly
    mq = h[h["strategy"] == "maxq"].reset_index(drop=True)
    mc = h[h["strategy"] == "maxq-cooling"].reset_index(drop=True)
    assert (mc["tokens_per_s"] >= mq["tokens_per_s"] * (1 - 5e-3)).all()
    assert (mc["facility_power_mw"] <= mc["limit_mw"] * (1 + TOL)).all()
    assert mc["supply_setpoint_mean_c"].between(5.0, 45.0 + 1e-9).all()
    assert mc["tcs_flow_mean_lpm_per_kw"].between(1.25 - 1e-6, 2.0 + 1e-6).all()
    assert (mc["cooling_saved_vs_maxq_mw"] >= -1e-9).all()
    k = pod_year.kpis["maxq-cooling"]
    assert k["cooling_saved_vs_maxq_mwh"] == pytest.approx(mc["cooling_saved_vs_maxq_mw"].sum())
    assert pod_year.kpis["maxq"]["cooling_saved_vs_maxq_mwh"] is None
    assert k["revenue_usd"] >= pod_year.kpis["maxq"]["revenue_usd"] * (1 - 5e-3)


def test_report_compares_every_strategy_with_revenue_per_tier(pod_year, tmp_path):
    from twin.grid.report import write_report

    page = open(write_report(pod_year, tmp_path / "report.html"), encoding="utf-8").read()
    assert "Max-Q caps + cooling setpoints" in page and "Cooling energy saved vs Max-Q" in page
    assert "Monthly tokens and revenue per tier" in page and "revenue per tier [M USD]" in page
    for t in pod_year.site.tiers:
        assert f"{t}: revenue [M USD]" in page


def test_revenue_objective_reaches_the_run_api_also_with_cooling():
    """--objective revenue: the Max-Q strategies' exact solves are the run API's revenue-optimal Max-Q (never
    less revenue than tokens Max-Q priced afterwards); with maxq-cooling the setpoints are co-optimised for the
    revenue (never less than at the fixed setpoints)."""
    from dataclasses import replace

    from twin.errors import InputError
    from twin.grid.surrogate import Site, solve_point
    from twin.grid.year import simulate_year

    site = Site.from_layout(POD)
    tok = solve_point(site, "maxq", 30.0, 20.0, 3.3)
    rev = solve_point(replace(site, objective="revenue"), "maxq", 30.0, 20.0, 3.3)
    assert rev["facility_power_mw"] <= 3.3 * (1 + TOL)
    assert sum(rev[k] for k in site.revenue_keys) >= sum(tok[k] for k in site.revenue_keys) * (1 - 1e-6)
    revc = solve_point(replace(site, objective="revenue"), "maxqc", 30.0, 20.0, 3.3)
    assert revc["feasible"] and revc["facility_power_mw"] <= 3.3 * (1 + TOL)
    assert sum(revc[k] for k in site.revenue_keys) >= sum(rev[k] for k in site.revenue_keys) * (1 - 1e-6)
    with pytest.raises(InputError, match="objective"):
        simulate_year(POD, objective="dollars")
