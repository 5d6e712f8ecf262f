"""Revenue layer (twin.economics.revenue): the tier split, the dual decomposition against cvxpy, and the
revenue objective against tokens Max-Q priced afterwards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.economics.revenue import price_caps, revenue_maxq, solve_linearised, split_capacity
from twin.economics.site import site_pools
from twin.layout import keynote_tiers
from twin.maxq.optimize import optimize_maxq
from twin.model import load_model


def tiers(demand=(None,) * 5, ratio=8.0):
    """The keynote's tiers with a demand limit each (tokens/s; None: unlimited) and one input/output ratio."""
    return [
        t.model_copy(update={"demand_limit_tok_s": d, "input_output_ratio": ratio})
        for t, d in zip(keynote_tiers(), demand, strict=True)
    ]


def small_site(demand=(None,) * 5, lpx=True, budget_mw=10.0):
    """A 10 MW site of Vera Rubin (and Groq LPX) racks, sized by hand (no coupled solve)."""
    rows = [dict(rack_type="vr-nvl72", racks=36, gpus=36 * 72, gpus_per_rack=72, site_mw=7.5)]
    if lpx:
        rows.append(dict(rack_type="groq-lpx", racks=13, gpus=13 * 256, gpus_per_rack=256, site_mw=2.5))
    sized = pd.DataFrame(rows)
    sized["facility_w_per_rack_maxq"] = np.where(sized["rack_type"] == "vr-nvl72", 224e3, 185e3)
    sized["facility_w_per_rack_maxp"] = np.where(sized["rack_type"] == "vr-nvl72", 264e3, 212e3)
    sized["site_mw"] = sized["site_mw"] * budget_mw / 10.0
    return site_pools(sized, tiers(demand))


def test_without_demand_limits_each_rack_serves_its_best_tier():
    pl, lin = small_site(lpx=False)
    sol = solve_linearised(pl, lin)
    rate = pl.rate()[0]
    best = int(np.argmax(rate * pl.tiers.price_usd_per_tok))
    assert sol["split"].x[0, best] == pytest.approx(sol["capacity"][0], rel=1e-9)
    assert sol["dual"].iterations == 0  # no multiplier needed


def test_demand_limit_is_filled_exactly_and_the_rest_goes_to_the_next_tier():
    pl, lin = small_site(lpx=False)
    cap = np.array([1000.0])
    d45 = 0.4 * cap[0] * pl.rate()[0, 3]
    pl2, _ = small_site(demand=(None, None, None, d45, None), lpx=False)
    sp = split_capacity(pl2, cap)
    assert sp.tokens_per_s[3] == pytest.approx(d45, rel=1e-9)
    assert sp.x[0].sum() == pytest.approx(1000.0, rel=1e-9)
    assert sp.demand_multiplier_usd_per_tok[3] > 0  # the limit binds: it has a price


@pytest.mark.parametrize(
    "demand",
    [(None,) * 5, (None, 4e8, 2e8, 3e7, 1e7), (None, None, None, 5e7, 2e7), (None, 1e8, 1e8, 1e8, 1e8)],
)
@pytest.mark.parametrize("budget_mw", [10.0, 8.0])
def test_dual_decomposition_matches_cvxpy(demand, budget_mw):
    pytest.importorskip("cvxpy")
    from twin.economics.reference import solve_revenue_cvxpy

    pl, lin = small_site(demand, budget_mw=budget_mw)
    ours = solve_linearised(pl, lin)["revenue_usd_per_s"]
    ref = solve_revenue_cvxpy(pl, lin)
    assert ref["status"] in ("optimal", "optimal_inaccurate")
    # the tangent LP is an upper bound of the optimum: ours within 0.1 % below it (and not above beyond noise)
    gap = (ref["revenue_usd_per_s"] - ours) / ref["revenue_usd_per_s"]
    assert -1e-6 <= gap <= 1e-3


def test_disaggregated_tier_needs_prefill_on_the_gpu_racks():
    pl, lin = small_site(demand=(None, None, None, None, 1e7))
    sp = solve_linearised(pl, lin)["split"]
    need = (sp.x[1] * pl.rate()[1] * pl.tiers.input_output_ratio).sum()
    assert sp.tokens_per_s[4] > 0 and sp.prefill_tok_s == pytest.approx(need, rel=1e-6)
    assert sp.z[0] > 0 and sp.z[1] == 0  # Vera Rubin does the prefill, the LPX only decodes


@pytest.fixture(scope="module")
def pod():
    return load_model("layouts/pod_small.yaml")


def test_revenue_maxq_never_earns_less_than_tokens_maxq_priced_afterwards(pod):
    t = tiers(demand=(None, None, 2e6, 1e6, None))[:4]  # pod_small has no decode rack: t150 unreachable
    tok = optimize_maxq(pod, budget_mw=3.5)
    priced = price_caps(pod, tok.res_racks["gpu_power_w"].to_numpy(), tok.res_racks["on"].to_numpy(), tiers=t)
    rev = revenue_maxq(pod, budget_mw=3.5, tiers=t)
    assert rev.kpis["facility_power_mw"] <= 3.5 * (1 + 1e-5)
    assert rev.kpis["revenue_usd_per_h"] >= priced.kpis["revenue_usd_per_h"] * (1 - 1e-6)
    assert rev.tiers["tokens_per_s"].iloc[3] == pytest.approx(1e6, rel=1e-6)  # demand of t45 filled


def test_run_api_reports_revenue_per_tier(pod):
    from twin import Scenario, run

    r = run(Scenario(layout="layouts/pod_small.yaml", budget_mw=3.5, maxq={"objective": "revenue"}))
    assert r.status == "ok" and r.kpis["revenue_usd_per_h"] > 0
    assert list(r.tables["tiers"]["tier"]) == ["inference"]
    r0 = run(Scenario(layout="layouts/pod_small.yaml", budget_mw=3.5))
    assert r0.kpis["revenue_usd_per_h"] <= r.kpis["revenue_usd_per_h"] * (1 + 1e-6)
    with pytest.raises(Exception, match="policy 'maxq'"):
        run(
            Scenario(
                layout="layouts/pod_small.yaml",
                budget_mw=3.5,
                policy="uniform",
                maxq={"objective": "revenue"},
            )
        )


@pytest.mark.slow
def test_training_hall_priced_per_gpu_hour_is_not_starved():
    """campus_1gw: tokens Max-Q (and revenue Max-Q with an unpriced training tier) switch the 84 Kyber training
    racks off; priced per GPU-hour comparably to the inference they compete with, revenue Max-Q keeps them."""
    m = load_model("layouts/campus_1gw.yaml")
    kinds = m.tiers["kind"].to_numpy()[m.racks["tier"].to_numpy()]
    train = kinds == "training"
    tok = optimize_maxq(m, budget_mw=1000.0)
    assert not tok.res_racks["on"].to_numpy()[train].any()  # starved today
    lay = m.layout.workload.tiers
    priced = [
        t.model_copy(update={"price_usd_per_gpu_hour": 400.0}) if t.kind == "training" else t for t in lay
    ]
    rev = revenue_maxq(m, budget_mw=1000.0, tiers=priced)
    on = rev.maxq.res_racks["on"].to_numpy()
    assert on[train].all()
    assert rev.tiers.set_index("tier").loc["training", "revenue_usd_per_h"] > 0


def test_share_caps_the_tier_fraction_and_matches_cvxpy():
    """share: the tier takes at most that fraction of the priced inference tokens (the market's mix)."""
    pytest.importorskip("cvxpy")
    from twin.economics.reference import solve_revenue_cvxpy

    t = [x.model_copy(update={"share": 0.2}) if x.name == "t45" else x for x in tiers()]
    rows = [dict(rack_type="vr-nvl72", racks=36, gpus=36 * 72, gpus_per_rack=72, site_mw=10.0)]
    sized = pd.DataFrame(rows).assign(facility_w_per_rack_maxq=224e3, facility_w_per_rack_maxp=264e3)
    pl, lin = site_pools(sized, t)
    sol = solve_linearised(pl, lin)
    sp = sol["split"]
    assert sp.tokens_per_s[3] == pytest.approx(
        0.2 * sp.tokens_per_s.sum(), rel=1e-6
    )  # binds: $45 is the best
    ref = solve_revenue_cvxpy(pl, lin)
    gap = (ref["revenue_usd_per_s"] - sol["revenue_usd_per_s"]) / ref["revenue_usd_per_s"]
    assert -1e-6 <= gap <= 1e-3
