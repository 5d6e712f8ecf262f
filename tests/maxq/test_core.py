"""Max-Q core optimizer: optimality against cvxpy, hand-calculated water-filling, KKT, shadow prices."""

from __future__ import annotations

import numpy as np
import pytest

from twin.maxq.core import CapProblem, LinearGroup, solve_caps
from twin.maxq.reference import solve_caps_cvxpy
from twin.perf import concave_curve

X = [0.25, 0.30, 0.50, 0.70, 0.857, 1.00]
CURVES = (
    concave_curve(X, [0.49, 0.55, 0.78, 0.935, 0.970, 1.00]),
    concave_curve(X, [0.32, 0.38, 0.60, 0.80, 0.905, 1.00]),
)


def true_value(pb: CapProblem, p: np.ndarray) -> float:
    v = np.empty(len(p))
    for c, curve in enumerate(pb.curves):
        s = pb.curve_id == c
        v[s] = curve.value(np.minimum(p[s] / pb.p_max[s], 1.0))
    return float(np.sum(pb.count * pb.weight * v))


def loads(pb: CapProblem, p: np.ndarray):
    out = []
    for g in pb.groups:
        inside = g.member >= 0
        out.append(
            np.bincount(g.member[inside], weights=(g.coef * pb.count * p)[inside], minlength=len(g.limit))
        )
    return out


def random_problem(seed: int, m: int, budget_frac: float) -> CapProblem:
    """Two GPU types (2,300 W / 900 W), two curves, busways and crossing CDU loops, junction-limited units."""
    rng = np.random.default_rng(seed)
    big = rng.random(m) < 0.5
    pmax = np.where(big, 2300.0, 900.0)
    pmin = np.where(big, 660.0, 260.0)
    w = np.where(big, 1800.0, 950.0) * rng.uniform(0.95, 1.05, m)
    cnt = rng.integers(1, 5, m).astype(float)
    cid = rng.integers(0, 2, m)
    p_up = np.where(rng.random(m) < 0.2, pmax * rng.uniform(0.5, 0.9, m), pmax)
    bus = np.arange(m) // 10
    loop = (np.arange(m) + 5) // 15  # loops straddle busways
    bus_lim = np.bincount(bus, weights=cnt * pmax) * rng.uniform(0.6, 1.0, bus.max() + 1)
    loop_lim = np.bincount(loop, weights=cnt * pmax * 0.95) * rng.uniform(0.6, 1.1, loop.max() + 1)
    a = rng.uniform(1.1, 1.2, m)
    budget = np.sum(a * cnt * pmax) * budget_frac
    groups = [
        LinearGroup("facility", np.zeros(m, np.int64), a, np.array([budget])),
        LinearGroup("busway", bus, np.full(m, 1.02), bus_lim),
        LinearGroup("cdu_loop", loop, np.full(m, 0.95), loop_lim),
    ]
    return CapProblem(w, cnt, pmax, pmin, p_up, cid, CURVES, groups)


@pytest.mark.parametrize(("seed", "m", "frac"), [(1, 120, 0.7), (7, 40, 0.65), (3, 200, 0.8)])
def test_matches_cvxpy_within_0p1_percent(seed, m, frac):
    pb = random_problem(seed, m, frac)
    sol = solve_caps(pb)
    assert sol.feasible and sol.converged
    # several constraint types bind at once
    kinds_binding = sum(int((mu > 0).any()) for mu in sol.multipliers) + int((sol.box_multiplier > 0).any())
    assert kinds_binding >= 3
    for g, load in zip(pb.groups, loads(pb, sol.p), strict=True):
        assert np.all(load <= g.limit * (1 + 1e-12))
    assert np.all(sol.p >= pb.p_min - 1e-9) and np.all(sol.p <= pb.p_up + 1e-9)
    ref = solve_caps_cvxpy(pb)
    assert ref["status"] == "optimal"
    ours, theirs = true_value(pb, sol.p), true_value(pb, np.clip(ref["p"], pb.p_min, pb.p_up))
    assert ours == pytest.approx(sol.tokens_per_s, rel=1e-12)
    assert abs(ours / theirs - 1) < 1e-3
    # the tangent LP is an upper bound of the true optimum
    assert ours <= ref["lp_value"] * (1 + 1e-9)


def test_identical_gpus_share_the_budget_equally_hand_calc():
    """One constraint, identical GPUs: by symmetry and concavity p = budget / (a N) (water level)."""
    m = 50
    pb = CapProblem(
        weight=np.full(m, 1800.0),
        count=np.full(m, 72.0),
        p_max=np.full(m, 2300.0),
        p_min=np.full(m, 660.0),
        p_up=np.full(m, 2300.0),
        curve_id=np.zeros(m, np.int64),
        curves=CURVES,
        groups=[
            LinearGroup(
                "facility", np.zeros(m, np.int64), np.full(m, 1.15), np.array([1.15 * 72 * m * 1500.0])
            )
        ],
    )
    sol = solve_caps(pb)
    np.testing.assert_allclose(sol.p, 1500.0, rtol=1e-9)
    # shadow price = marginal tokens/s per W of GPU power / a (KKT stationarity)
    marg = 1800.0 * CURVES[0].slope(np.array([1500.0 / 2300.0]))[0] / 2300.0
    assert sol.multipliers[0][0] == pytest.approx(marg / 1.15, rel=1e-6)


def test_shadow_price_is_the_derivative_of_the_optimum():
    pb = random_problem(4, 80, 0.6)
    sol = solve_caps(pb)
    mu = sol.multipliers[0][0]
    assert mu > 0
    dB = pb.groups[0].limit[0] * 1e-4
    pb2 = random_problem(4, 80, 0.6)
    pb2.groups[0].limit = pb2.groups[0].limit + dB
    sol2 = solve_caps(pb2)
    assert (sol2.tokens_per_s - sol.tokens_per_s) / dB == pytest.approx(mu, rel=1e-2)


def test_more_budget_never_fewer_tokens():
    prev = 0.0
    for frac in (0.4, 0.5, 0.6, 0.7, 0.8, 1.0):
        t = solve_caps(random_problem(5, 60, frac)).tokens_per_s
        assert t >= prev * (1 - 1e-12)
        prev = t


def test_budget_below_floor_is_infeasible():
    pb = random_problem(6, 30, 0.1)
    sol = solve_caps(pb)
    assert not sol.feasible
    assert "minimum power" in sol.reason
