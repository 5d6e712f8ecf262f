"""Performance model: concave shape-preserving throughput curves, relative throughput, tokens/s, variation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.interpolate import PchipInterpolator

from twin.errors import InputError
from twin.perf import concave_curve, gpu_variation, perf_model, relative_throughput, tokens_per_s

X = [0.25, 0.30, 0.50, 0.70, 0.857, 1.00]
Y_INF = [0.49, 0.55, 0.78, 0.935, 0.970, 1.00]
Y_TRAIN = [0.32, 0.38, 0.60, 0.80, 0.905, 1.00]


@pytest.mark.parametrize("y", [Y_INF, Y_TRAIN])
def test_curve_interpolates_is_increasing_concave_and_c1(y):
    c = concave_curve(X, y)
    np.testing.assert_allclose(c.value(np.array(X)), y, atol=1e-12)
    xs = np.linspace(X[0], 1.0, 4001)
    v = c.value(xs)
    assert np.all(np.diff(v) > 0)
    assert np.max(np.diff(v, 2)) <= 1e-12  # concave
    # derivative of the value is the slope function (C1): central differences
    h = 1e-6
    xm = xs[1:-1]
    num = (c.value(xm + h) - c.value(xm - h)) / (2 * h)
    np.testing.assert_allclose(num, c.slope(xm), atol=1e-4)
    # x_at_slope inverts the slope where the slope is strictly decreasing
    np.testing.assert_allclose(c.x_at_slope(c.slope(xm)), xm, atol=1e-9)


def test_pchip_is_not_concave_but_ours_stays_close():
    """Why not plain PCHIP: on the catalog points its second derivative changes sign; ours is concave and
    within 1 % of it everywhere (same data, shape-preserving)."""
    xs = np.linspace(X[0], 1.0, 2001)
    p = PchipInterpolator(X, Y_INF)
    assert p.derivative(2)(xs).max() > 0.1
    assert np.max(np.abs(concave_curve(X, Y_INF).value(xs) - p(xs))) < 0.01


def test_straight_convex_and_decreasing_points_rejected():
    """A straight or collinear curve has no single best cap (the optimiser's response is all-or-nothing)."""
    for x, y in (
        ([0.5, 1.0], [0.8, 1.0]),  # two points: a straight line
        ([0.3, 0.65, 1.0], [0.5, 0.75, 1.0]),  # collinear
        ([0.3, 0.5, 0.7, 1.0], [0.55, 0.75, 0.85, 1.0]),  # last two pieces with equal slopes (0.5)
        ([0.5, 0.7, 1.0], [0.5, 0.6, 1.0]),  # convex
        ([0.5, 1.0], [1.0, 0.9]),  # decreasing
    ):
        with pytest.raises(InputError):
            concave_curve(x, y)
    # strictly concave three points are accepted and interpolated
    c = concave_curve([0.3, 0.65, 1.0], [0.5, 0.8, 1.0])
    np.testing.assert_allclose(c.value(np.array([0.3, 0.65, 1.0])), [0.5, 0.8, 1.0], atol=1e-12)


def test_catalog_schema_rejects_straight_throughput_curves():
    from pydantic import ValidationError

    from twin.catalog.schema import ThroughputCurve

    with pytest.raises(ValidationError, match="strictly concave"):
        ThroughputCurve(power_fraction=[0.3, 1.0], relative_throughput=[0.5, 1.0])
    with pytest.raises(ValidationError, match="strictly concave"):
        ThroughputCurve(power_fraction=[0.3, 0.65, 1.0], relative_throughput=[0.5, 0.75, 1.0])
    ok = ThroughputCurve(power_fraction=[0.3, 0.65, 1.0], relative_throughput=[0.5, 0.8, 1.0])
    assert ok.relative_throughput[-1] == 1.0


def test_relative_throughput_and_tokens(pod_model):
    m = pod_model
    pm = perf_model(m)
    pmax = m.racks["gpu_power_max_w"].to_numpy()
    assert np.allclose(relative_throughput(m, pmax), 1.0)
    # Vera Rubin Max-Q 1,786 W of 2,300 W = 0.7765: between the catalog points 0.70 (0.935) and 0.857 (0.970)
    r = relative_throughput(m, np.full(m.n_racks, 1786.0))
    assert np.all((r > 0.935) & (r < 0.970))
    tok = tokens_per_s(m, pmax, pm)
    np.testing.assert_allclose(tok, 72 * 1800.0)  # catalog: 1,800 tokens/s per Rubin at full power
    with pytest.raises(InputError, match="minimum power limit"):
        relative_throughput(m, np.full(m.n_racks, 500.0))
    with pytest.raises(InputError):
        relative_throughput(m, np.full(3, 2000.0))


def test_variation_reproducible_mean_one_and_summed_per_rack(pod_model):
    m = pod_model
    v1, v2 = gpu_variation(m.n_gpus, 0.05, seed=3), gpu_variation(m.n_gpus, 0.05, seed=3)
    np.testing.assert_array_equal(v1, v2)
    big = gpu_variation(200_000, 0.05, seed=1)
    assert abs(big.mean() - 1.0) < 1e-3 and abs(np.log(big).std() - 0.05) < 1e-3
    p = np.full(m.n_racks, 2000.0)
    tok = tokens_per_s(m, p, variation=v1)
    base = tokens_per_s(m, p) / 72
    np.testing.assert_allclose(tok, base * v1.reshape(m.n_racks, 72).sum(axis=1))
    with pytest.raises(InputError):
        gpu_variation(10, -0.1)


@given(
    st.lists(st.floats(0.05, 0.95), min_size=1, max_size=6),
    st.floats(0.1, 0.6),
    st.floats(0.1, 0.9),
)
@settings(max_examples=60, deadline=None)
def test_any_concave_points_give_an_interpolating_concave_increasing_curve(drops, x0, y0):
    """Property: for any increasing concave data the spline interpolates, increases and stays concave."""
    n = len(drops) + 1
    x = np.linspace(x0, 1.0, n + 1)
    # decreasing positive slopes scaled so the curve ends at 1.0
    slopes = np.cumprod(np.r_[1.0, drops])[:n]
    h = np.diff(x)
    y = np.r_[0.0, np.cumsum(slopes * h)]
    y = y0 + (1 - y0) * y / y[-1]
    c = concave_curve(x, y)
    np.testing.assert_allclose(c.value(x), y, atol=1e-12)
    xs = np.linspace(x0, 1.0, 801)
    v = c.value(xs)
    assert np.all(np.diff(v) > -1e-15)
    assert np.max(np.diff(v, 2)) <= 1e-12
