"""``optimize_maxq(rack_value=...)``: the objective weighted by the value of each rack's tokens.

All ones is today's answer bit for bit; a more valuable hall gets the power; the weighted cap problem agrees
with cvxpy; bad values are refused."""

from __future__ import annotations

import numpy as np
import pytest

import twin.maxq.optimize as opt
from twin.coupled import solve_coupled
from twin.errors import InputError
from twin.maxq.core import cap_objective, solve_caps
from twin.maxq.optimize import optimize_maxq
from twin.maxq.reference import solve_caps_cvxpy
from twin.perf import perf_model


@pytest.mark.parametrize(
    ("budget_mw", "kw"),
    [
        (3.5, {}),
        (2.0, {}),
        (3.5, {"variation_sigma": 0.05}),
        (4.0, {"shed": False}),
        (3.5, {"policy": "maxp"}),
    ],
)
def test_all_ones_is_todays_answer_exactly(pod_model, budget_mw, kw):
    base = optimize_maxq(pod_model, budget_mw=budget_mw, **kw)
    ones = optimize_maxq(pod_model, budget_mw=budget_mw, rack_value=np.ones(pod_model.n_racks), **kw)
    assert base.feasible and ones.feasible
    np.testing.assert_array_equal(base.gpu_cap_w, ones.gpu_cap_w)
    np.testing.assert_array_equal(base.racks_on, ones.racks_on)
    for k in ("tokens_per_s", "facility_power_mw", "shadow_price_tokens_per_s_per_mw", "racks_shed"):
        assert base.kpis.get(k) == ones.kpis.get(k), k
    assert base.kpis["objective_per_s"] == base.kpis["tokens_per_s"] == ones.kpis["objective_per_s"]
    if kw.get("policy") != "maxp":
        assert (
            ones.kpis["shadow_price_objective_per_s_per_mw"] == ones.kpis["shadow_price_tokens_per_s_per_mw"]
        )


def test_a_more_valuable_hall_gets_the_power(campus_model):
    """One hall's tokens worth 10x: its caps rise, every other hall's fall (or stay at minimum power), the objective rises, the real
    tokens/s fall (power moved from the best tokens-per-W to the most valuable), the budget is still met."""
    m = campus_model
    hall = m.racks["hall"].to_numpy()
    h0 = hall == 0
    base = optimize_maxq(m, budget_mw=900.0, shed=False)
    value = np.where(h0, 10.0, 1.0)
    r = optimize_maxq(m, budget_mw=900.0, shed=False, rack_value=value)
    assert base.feasible and r.feasible and r.kpis["outer_converged"]
    assert r.kpis["facility_power_mw"] <= 900.0
    c0, c1 = np.asarray(base.gpu_cap_w), np.asarray(r.gpu_cap_w)
    assert c1[h0].mean() > c0[h0].mean() * 1.01
    pmin = m.racks["gpu_power_min_w"].to_numpy()
    for h in np.unique(hall[~h0]):
        s = hall == h
        assert c1[s].mean() <= c0[s].mean() + 1e-9, h
        if c0[s].mean() > pmin[s].mean() + 1.0:  # not already at the minimum power limit
            assert c1[s].mean() < c0[s].mean(), h
    obj_base = float(np.dot(base.coupled.res_racks["tokens_per_s"].to_numpy(), value))
    assert r.kpis["objective_per_s"] > obj_base
    assert r.kpis["tokens_per_s"] <= base.kpis["tokens_per_s"]
    # objective units per MW: the weighted multiplier; its tokens/s counterpart is between 1/10 and 1 of it
    sp_obj, sp_tok = r.kpis["shadow_price_objective_per_s_per_mw"], r.kpis["shadow_price_tokens_per_s_per_mw"]
    assert sp_obj > 0 and sp_obj / 10 <= sp_tok <= sp_obj


def test_weighted_cap_problem_matches_cvxpy(pod_model):
    """The cap problem linearised at a coupled state, with rack values 1-8: the dual solve's objective equals
    cvxpy's within 0.1 %."""
    perf = perf_model(pod_model)
    value = np.linspace(1.0, 8.0, pod_model.n_racks)[np.random.default_rng(3).permutation(pod_model.n_racks)]
    fac = opt._Facility(pod_model, perf, None, rack_value=value)
    fac.meter_limits = {"grid budget": 3.2e6}
    floor = solve_coupled(pod_model, gpu_cap_w=perf.gpu_power_min_w)
    fac.set_state(floor)
    opt._excuse(fac, floor)
    cp = solve_coupled(pod_model, gpu_cap_w=None)
    g0 = fac.gpu_power_total(cp)
    pb = fac.problem(cp, 1.15, cp.facility_power_w, g0, 3.2e6)
    np.testing.assert_allclose(pb.weight, perf.tokens_full_per_gpu * value)
    sol = solve_caps(pb)
    assert sol.converged and sol.multipliers[0][0] > 0
    # the more valuable racks get higher caps where nothing else binds
    free = sol.p < pb.p_up * (1 - 1e-9)
    same = perf.curve_id == perf.curve_id[0]
    s = free & same & np.isclose(perf.tokens_full_per_gpu, perf.tokens_full_per_gpu[0])
    if s.sum() > 2:
        order = np.argsort(value[s])
        assert np.all(np.diff(sol.p[s][order]) >= -1e-6)
    ref = solve_caps_cvxpy(pb)
    assert ref["status"] == "optimal"
    ours = cap_objective(pb, sol.p)
    theirs = cap_objective(pb, np.clip(ref["p"], pb.p_min, pb.p_up))
    assert abs(ours / theirs - 1) < 1e-3
    assert ours <= ref["lp_value"] * (1 + 1e-9)


def test_bad_values_are_refused(pod_model):
    n = pod_model.n_racks
    for bad in (np.ones(n - 1), np.zeros(n), np.full(n, np.nan), -np.ones(n)):
        with pytest.raises(InputError, match="rack_value"):
            optimize_maxq(pod_model, budget_mw=3.5, rack_value=bad)
