"""Warm starts used for speed (issue 15): a warm-started coupled solve and a Max-Q started from a nearby answer
agree with the cold ones within their tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from twin.coupled import solve_coupled
from twin.maxq.optimize import optimize_maxq


@pytest.mark.parametrize("factor", [0.8, 0.97, 1.0])
def test_warm_coupled_solve_agrees_with_cold(campus_model, factor):
    m = campus_model
    pq = m.gpu_types["power_maxq_w"].to_numpy(dtype=float)[m.racks["gpu_type"].to_numpy()]
    near = solve_coupled(m, gpu_cap_w=pq)
    cold = solve_coupled(m, gpu_cap_w=pq * factor)
    warm = solve_coupled(m, gpu_cap_w=pq * factor, warm=near)
    assert warm.converged and warm.iterations <= cold.iterations
    assert warm.facility_power_w == pytest.approx(cold.facility_power_w, rel=1e-6)
    assert warm.kpis["tokens_per_s"] == pytest.approx(cold.kpis["tokens_per_s"], rel=1e-9)
    assert abs(warm.kpis["balance_error_w"]) < 1.0  # W, on ~1 GW
    np.testing.assert_allclose(warm.res_racks["junction_c"], cold.res_racks["junction_c"], atol=1e-4)


def test_maxq_started_from_a_nearby_answer_agrees(pod_model):
    """Max-Q at 45 C supply started from the answer at 40 C: the same tokens/s as a cold start within the
    outer tolerance, within the budget."""
    near = optimize_maxq(pod_model, budget_mw=3.5, supply_c=40.0)
    cold = optimize_maxq(pod_model, budget_mw=3.5, supply_c=45.0)
    warm = optimize_maxq(pod_model, budget_mw=3.5, supply_c=45.0, start=near)
    assert warm.feasible and warm.kpis["outer_converged"]
    assert warm.kpis["facility_power_mw"] <= 3.5
    assert warm.kpis["tokens_per_s"] == pytest.approx(cold.kpis["tokens_per_s"], rel=1e-5)
