"""Power-flow kernels against closed forms and a hand-checked DC ladder."""

import numpy as np
import pytest
from scipy.optimize import brentq

from twin.electrical.powerflow import ac_radial_sweep, dc_nodal, subtree_matrix


def test_dc_single_load_closed_form():
    # 800 V source, 0.01 ohm loop, 100 kW constant power: V = (Vs + sqrt(Vs^2 - 4 R P)) / 2 = 798.7480 V
    r = dc_nodal(
        np.array([-1]),
        np.array([0]),
        np.array([800.0]),
        np.array([100e3]),
        np.array([100.0]),
        np.array([800.0]),
    )
    assert r.converged
    assert r.v_v[0] == pytest.approx((800 + np.sqrt(800**2 - 4 * 0.01 * 100e3)) / 2, rel=1e-13)
    assert r.v_v[0] == pytest.approx(798.74804, abs=1e-5)


def test_dc_ladder_hand_checked():
    """Source -R1- n0 -R2- n1 -R3- n2, loads 200/150/100 kW, 800 V.

    By hand: guess V2, walk back to the source: I3 = P2/V2, V1 = V2 + R3 I3, I2 = I3 + P1/V1, V0 = V1 + R2 I2,
    I1 = I2 + P0/V0, Vs = V0 + R1 I1; find V2 so Vs = 800 V (a scalar root, independent of the nodal solver).
    """
    R = [0.004, 0.002, 0.002]
    P = [200e3, 150e3, 100e3]

    def walk(v2):
        i3 = P[2] / v2
        v1 = v2 + R[2] * i3
        i2 = i3 + P[1] / v1
        v0 = v1 + R[1] * i2
        i1 = i2 + P[0] / v0
        return v0 + R[0] * i1, (v0, v1, v2), (i1, i2, i3)

    v2 = brentq(lambda v: walk(v)[0] - 800.0, 600.0, 800.0, xtol=1e-13)
    _, v_hand, i_hand = walk(v2)
    r = dc_nodal(
        np.array([-1, 0, 1]),
        np.array([0, 1, 2]),
        np.array([800.0, 0, 0]),
        np.array(P),
        1.0 / np.array(R),
        np.full(3, 800.0),
    )
    assert r.converged and r.iterations < 10
    assert np.allclose(r.v_v, v_hand, rtol=1e-12)
    assert np.allclose(r.i_branch_a, i_hand, rtol=1e-11)
    # numbers: 800 V source, total current ~ 566 A, about 3.4 V drop to the end
    assert 795.0 < r.v_v[2] < 797.0
    # power balance: Vs I1 = sum P + sum R I^2
    assert 800.0 * r.i_branch_a[0] == pytest.approx(
        sum(P) + float(np.sum(np.array(R) * r.i_branch_a**2)), rel=1e-12
    )


def test_ac_two_bus_closed_form():
    # |V2|^4 + (2(RP + XQ) - |V1|^2)|V2|^2 + |Z|^2 |S|^2 = 0 (exact two-bus relation)
    z = 0.02 + 0.06j
    s = 0.8 + 0.3j
    m, root_of, depth = subtree_matrix(np.array([-1, 0]))
    res = ac_radial_sweep(m, root_of, np.array([1.0, 0]), np.array([0, s]), np.zeros(2), np.array([0, z]))
    assert res.converged and list(depth) == [0, 1]
    b = 2 * (z.real * s.real + z.imag * s.imag) - 1.0
    c = abs(z) ** 2 * abs(s) ** 2
    v2 = np.sqrt((-b + np.sqrt(b * b - 4 * c)) / 2)
    assert abs(res.v_pu[1]) == pytest.approx(v2, rel=1e-10)
    # losses z |J|^2 balance the source power
    p_src = (res.v_pu[0] * np.conj(res.j_pu[1])).real
    assert p_src == pytest.approx(s.real + z.real * abs(res.j_pu[1]) ** 2, rel=1e-10)


def test_subtree_matrix_branches():
    # 0 root; 1,2 children of 0; 3 child of 1; 4 second root
    m, root_of, depth = subtree_matrix(np.array([-1, 0, 0, 1, -1]))
    d = m.toarray()
    assert list(root_of) == [0, 0, 0, 0, 4]
    assert list(depth) == [0, 1, 1, 2, 0]
    assert d[1].tolist() == [0, 1, 0, 1, 0] and d[3].tolist() == [0, 0, 0, 1, 0] and d[0].sum() == 0
