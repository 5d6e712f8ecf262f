"""``twin.maxq.optimize``: rack shedding for the facility budget (racks on per group of identical racks).

The optimiser's answer is checked against an exhaustive search over the number of racks on, with the caps
optimiser alone (``shed=False``) for each count; properties, not figures, so that the tests hold when the
thermal model changes (e.g. per-rack flow control)."""

from __future__ import annotations

import numpy as np
import pytest

import twin.maxq.optimize as opt
from twin.coupled import solve_coupled
from twin.maxq.optimize import optimize_maxq

REL = 1e-4  # the search's answer within this of the exhaustive optimum (outer loop tolerance is 1e-5)


def _selections(model, k: int) -> list[np.ndarray]:
    """k racks on, chosen independently of the optimiser: balanced over the busways (the first racks of each
    row), and the first k in layout order."""
    n = model.n_racks
    bus = model.racks["busway_node"].to_numpy()
    rows = [np.flatnonzero(bus == b) for b in np.unique(bus)]
    bal = np.zeros(n, bool)
    for i, r in enumerate(rows):
        bal[r[: k // len(rows) + (i < k % len(rows))]] = True
    first = np.zeros(n, bool)
    first[:k] = True
    return [bal, first]


def _exhaustive(model, budget_mw: float) -> tuple[float, int]:
    """Best tokens/s over every count 0..n_racks of racks on (caps optimised for each), and its count."""
    best, best_k = 0.0, 0  # no rack on: no tokens
    for k in range(1, model.n_racks + 1):
        for on in _selections(model, k):
            q = optimize_maxq(model, budget_mw=budget_mw, racks_on=on, shed=False)
            if q.feasible and q.kpis["tokens_per_s"] > best:
                best, best_k = q.kpis["tokens_per_s"], k
    return best, best_k


@pytest.mark.parametrize("frac", [0.45, 0.6])
def test_shedding_matches_exhaustive_search(pod_model, frac):
    """pod_small at 60 % of its Max-P facility power: fewer racks at higher caps beat 16 racks at a low cap; at
    45 %, below the floor of 16 racks at minimum power, only fewer racks fit. Exhaustive search over 0..16
    racks on (caps optimised for each) finds nothing better than the optimiser's answer."""
    m = pod_model
    budget = frac * solve_coupled(m).kpis["facility_power_mw"]
    r = optimize_maxq(m, budget_mw=budget)
    k = r.kpis
    best, best_k = _exhaustive(m, budget)
    assert r.feasible and k["tokens_per_s"] >= best * (1 - REL)
    assert best_k < m.n_racks  # shedding pays here
    # reported: racks off and which group
    assert k["racks_shed"] == m.n_racks - r.racks_on.sum() > 0
    assert k["racks_shed_groups"] == [
        {
            "group": "vr-nvl72 / rubin / inference",
            "racks": 16,
            "racks_on": int(r.racks_on.sum()),
            "racks_shed": k["racks_shed"],
        }
    ]
    # re-verified: the coupled solve at the returned caps and racks meets the budget with those tokens/s
    cp = solve_coupled(m, gpu_cap_w=r.gpu_cap_w, racks_on=r.racks_on)
    assert cp.kpis["facility_power_mw"] <= budget * (1 + 1e-9)
    assert cp.kpis["tokens_per_s"] == pytest.approx(k["tokens_per_s"], rel=1e-9)
    assert k["outer_converged"] and k["binding_constraints"][0]["kind"] == "facility"
    all_on = optimize_maxq(m, budget_mw=budget, shed=False)
    if not all_on.feasible:  # below the all-on floor
        assert k["shedding_gain_pct"] is None
        return
    assert all_on.kpis["racks_shed"] == 0 and all_on.racks_on.all()
    assert k["tokens_per_s"] > all_on.kpis["tokens_per_s"] * 1.01  # by more than a percent
    assert k["shedding_gain_pct"] == pytest.approx(
        100 * (k["tokens_per_s"] / all_on.kpis["tokens_per_s"] - 1), rel=1e-3
    )


def test_no_shedding_at_a_high_budget_and_no_extra_solves(pod_model, monkeypatch):
    """At 90 % of Max-P every rack stays on (the reduced cost of a rack is positive), the exhaustive search
    over the counts near 16 agrees, and the check costs no coupled solve beyond the caps optimiser's."""
    m = pod_model
    budget = 0.9 * solve_coupled(m).kpis["facility_power_mw"]
    calls = []
    real = opt.solve_coupled
    monkeypatch.setattr(opt, "solve_coupled", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    r = optimize_maxq(m, budget_mw=budget)
    n_shed = len(calls)
    calls.clear()
    r0 = optimize_maxq(m, budget_mw=budget, shed=False)
    assert n_shed == len(calls)
    assert r.kpis["racks_shed"] == 0 and r.kpis["racks_shed_groups"] == []
    assert r.kpis["shedding_gain_pct"] == 0.0
    assert r.kpis["tokens_per_s"] == r0.kpis["tokens_per_s"]
    for k in (13, 14, 15):
        for on in _selections(m, k):
            q = optimize_maxq(m, budget_mw=budget, racks_on=on, shed=False)
            assert q.kpis["tokens_per_s"] <= r.kpis["tokens_per_s"] * (1 + REL)


def test_maxq_dominates_and_grows_with_the_budget(pod_model):
    """With shedding, Max-Q is never below Max-P (which switches whole racks off) nor the uniform cap, and
    its tokens/s grow with the budget, also below the floor of every rack on (before, Max-Q kept every rack on:
    it fell below Max-P at 60 % and was infeasible below the floor)."""
    m = pod_model
    f_maxp = solve_coupled(m).kpis["facility_power_mw"]
    prev = 0.0
    for frac in (0.3, 0.45, 0.6, 0.8):
        b = frac * f_maxp
        q, u, p = (optimize_maxq(m, budget_mw=b, policy=pol) for pol in ("maxq", "uniform", "maxp"))
        tq = q.kpis["tokens_per_s"]
        assert tq >= p.kpis["tokens_per_s"] * (1 - REL), frac
        if u.feasible:
            assert tq >= u.kpis["tokens_per_s"] * (1 - REL), frac
        assert tq > prev
        prev = tq
        assert q.kpis["facility_power_mw"] <= b * (1 + 1e-9)


def test_racks_on_keeps_the_others_off(pod_model):
    """Racks the user switches off stay off under every policy; Max-Q counts only its own shedding."""
    m = pod_model
    on = np.ones(m.n_racks, bool)
    on[[0, 9]] = False
    for pol in ("maxq", "uniform", "maxp"):
        r = optimize_maxq(m, budget_mw=4.0, policy=pol, racks_on=on)
        assert r.feasible, pol
        assert not r.racks_on[[0, 9]].any(), pol
    q = optimize_maxq(m, budget_mw=4.0, racks_on=on)
    assert q.kpis["racks_shed"] == int(on.sum() - q.racks_on.sum())
    with pytest.raises(Exception, match="racks_on"):
        optimize_maxq(m, budget_mw=4.0, racks_on=np.zeros(m.n_racks, bool))
    with pytest.raises(Exception, match="racks_on"):
        optimize_maxq(m, budget_mw=4.0, racks_on=np.ones(3, bool))


def test_rack_groups_are_identical_racks(hall_ac_model, campus_model):
    """Groups: racks whose cap problem is the same (rack type, GPU type, workload tier, parameters)."""
    from twin.perf import perf_model

    g, names = opt._rack_groups(hall_ac_model, perf_model(hall_ac_model))
    assert sorted(names) == ["vr-nvl72 / rubin / inference", "vr-nvl72 / rubin / training"]
    assert np.bincount(g).tolist() == [288, 96] or np.bincount(g).tolist() == [96, 288]
    g, names = opt._rack_groups(campus_model, perf_model(campus_model))
    assert len(names) == 3 and len(set(names)) == 3
