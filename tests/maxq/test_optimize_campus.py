"""1 GW campus: the three policies at the grid limit, re-checked by the coupled solve (slow: ~15 s)."""

from __future__ import annotations

import numpy as np
import pytest

from twin.coupled import solve_coupled
from twin.maxq.optimize import optimize_maxq


@pytest.mark.slow
def test_campus_policies(campus_model):
    m = campus_model
    res = {p: optimize_maxq(m, budget_mw=1000.0, policy=p) for p in ("maxq", "uniform", "maxp")}
    t = {p: r.kpis["tokens_per_s"] for p, r in res.items()}
    assert t["maxq"] > t["uniform"] > t["maxp"]
    for r in res.values():
        cp = solve_coupled(m, gpu_cap_w=r.gpu_cap_w, racks_on=r.racks_on)
        assert cp.kpis["facility_power_mw"] <= 1000.0 * (1 + 1e-9)
        assert cp.kpis["tokens_per_s"] == pytest.approx(r.kpis["tokens_per_s"], rel=1e-9)
    # two GPU types and two workload curves: Max-Q moves power to where a watt buys the most tokens. At this
    # budget a ru-nvl576 training rack makes fewer tokens/s than its power would make elsewhere (negative
    # reduced cost), so Max-Q switches those racks off and caps the rest higher
    kyber = (m.racks["rack_type"] == m.rack_types.index[m.rack_types["name"] == "ru-nvl576"][0]).to_numpy()
    q = res["maxq"]
    assert not q.racks_on[kyber].any() and q.racks_on[~kyber].all()
    assert [g["group"] for g in q.kpis["racks_shed_groups"]] == ["ru-nvl576 / rubin-ultra-die / training"]
    caps_only = optimize_maxq(m, budget_mw=1000.0, shed=False)
    assert t["maxq"] > caps_only.kpis["tokens_per_s"] > t["uniform"]
    assert q.kpis["shedding_gain_pct"] == pytest.approx(
        100 * (t["maxq"] / caps_only.kpis["tokens_per_s"] - 1)
    )
    frac = caps_only.coupled.res_racks["gpu_power_w"] / m.racks["gpu_power_max_w"]
    assert abs(frac[kyber].mean() - frac[~kyber].mean()) > 0.01


@pytest.mark.slow
def test_campus_substation_kva_and_failed_block(campus_model):
    """The substation's firm rating is kVA (|S|/P ~ 1.03 at full load): Max-Q keeps its loading within the
    firm units; with two units of one block failed the block stays within its units in service."""
    m = campus_model
    # 13 x 100 MVA (N+2): with 3 units out, 10 remain = 1,000 MVA, below the 1,000 MW budget at |S|/P ~ 1.03
    r = optimize_maxq(m, budget_mw=1000.0, failed=("substation",) * 3)
    assert r.kpis["outer_converged"]
    rn = r.coupled.electrical.res_nodes
    sub = (rn["kind"] == "substation").to_numpy()
    el = m.elec
    firm_units = np.minimum(
        (el["units"] - el["spare_units"]).to_numpy()[sub], rn["units_in_service"].to_numpy()[sub]
    )
    assert rn["units_in_service"].to_numpy()[sub][0] == 10
    # loading_pct is of the units in service: firm loading = loading * in service / firm units <= 100 %
    firm_loading = rn["loading_pct"].to_numpy()[sub] * rn["units_in_service"].to_numpy()[sub] / firm_units
    assert firm_loading.max() <= 100.0 + 1e-6 and firm_loading.max() >= 99.9
    assert r.kpis["facility_power_mw"] < 990.0  # the substation, not the budget, limits the site
    assert r.kpis["binding_constraints"][0]["name"] == "substation firm rating"
    row = r.res_constraints[r.res_constraints["kind"] == "facility"].iloc[0]
    assert row["load_mw"] == pytest.approx(r.kpis["facility_power_mw"], rel=1e-12)
    failed = ("vr-a-1/pod-1/blk",) * 2
    f = optimize_maxq(m, budget_mw=1000.0, failed=failed)
    cp = solve_coupled(m, gpu_cap_w=f.gpu_cap_w, racks_on=f.racks_on, failed=failed)
    assert [v for v in cp.electrical.violations if v["kind"] == "overload"] == []
    assert any(b["name"] == "vr-a-1/pod-1/blk" for b in f.kpis["binding_constraints"])


@pytest.mark.slow
def test_campus_uniform_just_above_the_floor_is_verified(campus_model):
    """0.1 % above the floor no uniform cap fraction fits: the floor caps come back, with the floor state."""
    m = campus_model
    floor = optimize_maxq(m, budget_mw=1.0).floor_mw
    budget = floor * 1.0012
    r = optimize_maxq(m, budget_mw=budget, policy="uniform")
    assert r.feasible
    cp = solve_coupled(m, gpu_cap_w=r.gpu_cap_w)
    assert cp.kpis["facility_power_mw"] <= budget
    assert cp.kpis["facility_power_mw"] == pytest.approx(r.kpis["facility_power_mw"], rel=1e-9)
    assert r.kpis["binding_constraints"]
