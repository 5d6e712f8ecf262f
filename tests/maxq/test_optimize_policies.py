"""``twin.maxq.optimize`` policies on compiled layouts: ordering, budget held (re-checked by the coupled
solve), shadow prices, infeasible budgets, junction limits."""

from __future__ import annotations

import numpy as np
import pytest

from twin.coupled import solve_coupled
from twin.maxq.optimize import optimize_maxq
from twin.perf import gpu_variation


def recheck(model, res, budget_mw, **kw):
    """Re-run the coupled solver on the returned caps: every constraint must hold there."""
    cp = solve_coupled(model, gpu_cap_w=res.gpu_cap_w, racks_on=res.racks_on, **kw)
    k = cp.kpis
    assert k["facility_power_mw"] <= budget_mw * (1 + 1e-9)
    assert k["min_margin_k"] >= -0.05  # throttling never leaves a GPU above its limit
    nodes = cp.electrical.res_nodes
    el = model.elec
    firm = el["rating_w"] * (el["units"] - el["spare_units"])
    local = el["kind"].isin(["busway", "block"]).to_numpy()
    excused = {w.split("'")[1] for w in res.kpis.get("warnings", [])}
    ok = (nodes["power_in_w"].to_numpy() <= firm.to_numpy() * (1 + 1e-9)) | el["name"].isin(
        excused
    ).to_numpy()
    assert ok[local].all()
    lp = model.loops
    heat = np.bincount(
        model.racks["loop"],
        weights=model.racks["liquid_fraction"] * cp.res_racks["rack_power_w"],
        minlength=len(lp),
    )
    assert np.all(heat <= (lp["capacity_w"] * (lp["units"] - lp["spare_units"])).to_numpy() * (1 + 1e-9))
    return k


def test_policies_ordered_and_budget_held(pod_model):
    budget = 4.0  # below the pod's 4.47 MW at Max-P: caps are needed
    res = {p: optimize_maxq(pod_model, budget_mw=budget, policy=p) for p in ("maxq", "uniform", "maxp")}
    for p, r in res.items():
        assert r.feasible, p
        k = recheck(pod_model, r, budget)
        assert k["tokens_per_s"] == pytest.approx(r.kpis["tokens_per_s"], rel=1e-9)
    t = {p: r.kpis["tokens_per_s"] for p, r in res.items()}
    # identical racks: Max-Q equals the uniform cap (to its tolerance); both beat Max-P's stranded racks
    assert t["maxq"] >= t["uniform"] * (1 - 1e-5)
    assert t["uniform"] > t["maxp"]
    assert res["maxp"].kpis["racks_off"] >= 1
    assert res["maxq"].kpis["facility_power_mw"] >= budget * (1 - 2e-5)
    assert res["maxq"].kpis["binding_constraints"][0]["kind"] == "facility"


def test_maxq_beats_uniform_with_gpu_variation(pod_model):
    budget = 4.0
    q = optimize_maxq(pod_model, budget_mw=budget, variation_sigma=0.2, seed=2)
    u = optimize_maxq(pod_model, budget_mw=budget, policy="uniform")
    assert len(q.gpu_cap_w) == pod_model.n_gpus  # per-GPU caps
    recheck(pod_model, q, budget)
    v = gpu_variation(pod_model.n_gpus, 0.2, 2)
    # the uniform caps scored with the same per-GPU throughputs
    tok_u = solve_coupled(pod_model, gpu_cap_w=u.gpu_cap_w, variation=v).kpis["tokens_per_s"]
    assert q.kpis["tokens_per_s"] > tok_u * (1 + 1e-5)  # small: the curve is nearly linear near the cap
    # the better GPUs get more power
    assert np.corrcoef(v, q.gpu_cap_w)[0, 1] > 0.5


def test_shadow_price_matches_finite_difference(pod_model):
    b, db = 4.0, 0.02
    r1 = optimize_maxq(pod_model, budget_mw=b)
    r2 = optimize_maxq(pod_model, budget_mw=b + db)
    fd = (r2.kpis["tokens_per_s"] - r1.kpis["tokens_per_s"]) / (
        r2.kpis["facility_power_mw"] - r1.kpis["facility_power_mw"]
    )
    assert r1.kpis["shadow_price_tokens_per_s_per_mw"] == pytest.approx(fd, rel=0.03)


def test_budget_above_max_p_needs_no_caps(pod_model):
    r = optimize_maxq(pod_model, budget_mw=4.9)
    assert np.allclose(r.gpu_cap_w, 2300.0)
    assert r.kpis["binding_constraints"] == [] or r.kpis["binding_constraints"][0]["kind"] != "facility"
    assert r.kpis["tokens_per_s"] == pytest.approx(16 * 72 * 1800.0)


def test_infeasible_budget_reports_the_floor(pod_model):
    r = optimize_maxq(pod_model, budget_mw=1.0)
    assert not r.feasible
    assert r.floor_mw > 1.0 and "infeasible" in r.reason
    # the floor is every GPU at its minimum power limit
    k = solve_coupled(pod_model, gpu_cap_w=660.0).kpis
    assert r.floor_mw == pytest.approx(k["facility_power_mw"], rel=1e-9)


def test_junction_limit_binds_with_warm_water(pod_model):
    budget = 4.9
    r = optimize_maxq(pod_model, budget_mw=budget, supply_c=53.0)
    assert r.feasible
    assert any(b["kind"] == "junction" for b in r.kpis["binding_constraints"])
    k = recheck(pod_model, r, budget, supply_c=53.0)
    assert k["min_margin_k"] == pytest.approx(0.0, abs=0.1)


def test_failed_cdus_make_the_loop_heat_limit_bind(pod_model):
    failed = ("hall-1/pod-1/tcs-1/cdu-1", "hall-1/pod-1/tcs-1/cdu-2")  # 1 of 3 CDUs left: 2 MW firm
    r = optimize_maxq(pod_model, budget_mw=4.9, failed=failed)
    assert r.feasible
    kinds = [b["kind"] for b in r.kpis["binding_constraints"]]
    assert "cdu_loop" in kinds
    cp = solve_coupled(pod_model, gpu_cap_w=r.gpu_cap_w, racks_on=r.racks_on, failed=failed)
    heat = (pod_model.racks["liquid_fraction"] * cp.res_racks["rack_power_w"]).sum()
    assert heat <= pod_model.loops["capacity_w"].iat[0] * (1 + 1e-9)
    assert heat >= pod_model.loops["capacity_w"].iat[0] * (1 - 1e-3)  # the limit is used, not left idle
    # fewer racks at higher caps beat 16 racks at low caps inside the 2 MW loop (each rack on costs 61 kW of
    # CPUs, NICs and switches): Max-Q sheds racks and stays ahead of the uniform cap and of Max-P
    assert r.kpis["racks_shed"] > 0
    u = optimize_maxq(pod_model, budget_mw=4.9, failed=failed, policy="uniform")
    p = optimize_maxq(pod_model, budget_mw=4.9, failed=failed, policy="maxp")
    assert r.kpis["tokens_per_s"] > u.kpis["tokens_per_s"] > p.kpis["tokens_per_s"]


def test_rack_shedding_keeps_maxq_ahead_when_local_limits_bind(layouts_dir):
    """AC hall at 85 % of its Max-P facility power: block firm ratings bind (one block is over even at minimum
    power because of the fabric load on it). Max-Q switches racks off there (as Max-P strands them) and
    stays ahead of both other policies; the result is re-checked by the coupled solve."""
    from twin.model import load_model

    m = load_model(layouts_dir / "hall_100mw_ac.yaml")
    budget = 0.85 * solve_coupled(m).kpis["facility_power_mw"]
    res = {p: optimize_maxq(m, budget_mw=budget, policy=p) for p in ("maxq", "uniform", "maxp")}
    t = {p: r.kpis["tokens_per_s"] for p, r in res.items()}
    assert t["maxq"] > t["maxp"] and t["maxq"] > t["uniform"]
    k = recheck(m, res["maxq"], budget)
    assert k["tokens_per_s"] == pytest.approx(t["maxq"], rel=1e-9)
