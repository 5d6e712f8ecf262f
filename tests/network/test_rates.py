"""Max-min fairness: hand-solved textbook cases, the bottleneck property, and the loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from twin.errors import InputError
from twin.network.rates import max_min_rates, max_min_rates_loop, nonblocking_rates


def _matrix(paths, n_arcs):
    rows, cols, vals = [], [], []
    for f, p in enumerate(paths):
        for a, x in p.items():
            rows.append(a)
            cols.append(f)
            vals.append(x)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_arcs, len(paths)))


def test_parking_lot():
    # Bertsekas & Gallager sec. 6.5.2: a long flow over links 0,1,2 and one short flow per link, all capacity 1
    paths = [{0: 1, 1: 1, 2: 1}, {0: 1}, {1: 1}, {2: 1}]
    r = max_min_rates(_matrix(paths, 3), np.ones(3)).rate
    assert np.allclose(r, [0.5, 0.5, 0.5, 0.5])


def test_two_bottlenecks_hand_solved():
    # link 0 capacity 10 carries a, c, d; link 1 capacity 4 carries a, b.
    # Fill: link 1 saturates first at 2 each (a = b = 2); link 0 then shares 10 - 2 = 8 between c and d.
    paths = [{0: 1, 1: 1}, {1: 1}, {0: 1}, {0: 1}]
    res = max_min_rates(_matrix(paths, 2), np.array([10.0, 4.0]))
    assert np.allclose(res.rate, [2, 2, 4, 4])
    assert np.allclose(res.load, [10, 4])
    assert list(res.bottleneck) == [1, 1, 0, 0]


def test_demand_limited_flow_frees_capacity():
    # three flows on one link of 9; flow 0 wants only 1 -> the others share 8
    paths = [{0: 1}, {0: 1}, {0: 1}]
    r = max_min_rates(_matrix(paths, 1), np.array([9.0]), np.array([1.0, 10.0, 10.0])).rate
    assert np.allclose(r, [1, 4, 4])


def test_multipath_fractions():
    # flow 0 is split 50/50 over arcs 0 and 1 (ECMP); flow 1 uses arc 1 only; capacities 1 and 1.
    # Both grow at speed 1: arc 1 load = 0.5 r0 + r1 = 1.5 t -> saturates at t = 2/3 for both flows.
    paths = [{0: 0.5, 1: 0.5}, {1: 1.0}]
    r = max_min_rates(_matrix(paths, 2), np.ones(2)).rate
    assert np.allclose(r, [2 / 3, 2 / 3])


def _check_maxmin(A, cap, dem, rate):
    """Bottleneck characterisation: every flow is at its demand or crosses a saturated arc on which it has a
    rate no smaller than any other flow using that arc (Bertsekas & Gallager, Proposition 6.5.2)."""
    load = A @ rate
    assert np.all(load <= cap * (1 + 1e-9) + 1e-9)
    Ad = A.toarray()
    for f in range(A.shape[1]):
        if rate[f] >= dem[f] * (1 - 1e-9):
            continue
        ok = False
        for a in np.flatnonzero(Ad[:, f] > 0):
            if load[a] >= cap[a] * (1 - 1e-9) and rate[f] >= rate[Ad[a] > 0].max() * (1 - 1e-9):
                ok = True
        assert ok, f"flow {f} has no bottleneck"


@pytest.mark.parametrize("seed", range(6))
def test_random_instances_match_loop_reference_and_are_maxmin(seed):
    rng = np.random.default_rng(seed)
    n_arcs, n_flows = 12, 25
    paths = []
    for _ in range(n_flows):
        arcs = rng.choice(n_arcs, size=rng.integers(1, 5), replace=False)
        w = rng.random(len(arcs)) + 0.2
        paths.append({int(a): float(x) for a, x in zip(arcs, w / w.max(), strict=True)})
    cap = rng.uniform(1, 10, n_arcs)
    dem = np.where(rng.random(n_flows) < 0.3, rng.uniform(0.1, 1.0, n_flows), np.inf)
    A = _matrix(paths, n_arcs)
    fast = max_min_rates(A, cap, dem).rate
    slow = max_min_rates_loop(paths, cap, dem)
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-12)
    _check_maxmin(A, cap, dem, fast)


def test_nonblocking_rates_incast():
    # 3 racks send to rack 3 (capacity 100 each): the destination's ejection link is shared
    r = nonblocking_rates(np.array([0, 1, 2]), np.array([3, 3, 3]), np.full(4, 100.0), np.full(3, 100.0))
    assert np.allclose(r, 100 / 3)


def test_bad_inputs():
    A = _matrix([{0: 1}], 1)
    with pytest.raises(InputError):
        max_min_rates(A, np.array([-1.0]))
    with pytest.raises(InputError):
        max_min_rates(A, np.array([1.0, 2.0]))
    with pytest.raises(InputError):
        max_min_rates(sp.csr_matrix((1, 1)), np.array([1.0]))  # no arc, no demand: unbounded
