"""1 GW campus: the three policies at the grid limit, re-checked by the coupled solve (slow: ~15 s)."""

from __future__ import annotations

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
    # two GPU types and two workload curves: Max-Q moves power to where a watt buys the most tokens
    q = res["maxq"].coupled.res_racks
    kyber = (m.racks["rack_type"] == m.rack_types.index[m.rack_types["name"] == "ru-nvl576"][0]).to_numpy()
    frac = q["gpu_power_w"] / m.racks["gpu_power_max_w"]
    assert abs(frac[kyber].mean() - frac[~kyber].mean()) > 0.01
