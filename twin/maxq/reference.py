"""Reference solve of a cap problem with cvxpy (a generic convex solver), for validation and benchmarks only.

The concave throughput f is replaced by the minimum of its tangents at ``n_tangents`` points, which is an upper
bound of f within max|f''| h^2 / 8 (h the tangent spacing): the problem becomes a linear program that cvxpy
hands to its default solver. cvxpy is a development dependency; it is imported here only when called.
"""

from __future__ import annotations

import numpy as np

from twin.errors import InputError
from twin.maxq.core import CapProblem


def solve_caps_cvxpy(pb: CapProblem, n_tangents: int = 300, solver: str | None = None) -> dict:
    """Solve ``pb`` with cvxpy on the tangent (outer) linearisation of the throughput curves.

    Parameters
    ----------
    pb : CapProblem
        The cap problem, as for :func:`twin.maxq.core.solve_caps`.
    n_tangents : int, default 300
        Tangents per curve, evenly spaced in power fraction over [x_min, 1].
    solver : str or None, default None
        cvxpy solver name; None: cvxpy's default for a linear program.

    Returns
    -------
    dict
        ``p`` (m,) W per GPU (None unless solved), ``lp_value`` (tokens/s of the tangent LP, an upper bound
        of the true optimum; NaN unless solved), ``status`` (cvxpy's).

    Raises
    ------
    InputError
        cvxpy is not installed.
    """
    try:
        import cvxpy as cp
        import scipy.sparse as sp
    except ImportError as exc:  # pragma: no cover - dev dependency
        raise InputError("the reference solve needs cvxpy (pip install cvxpy)") from exc
    m = len(pb.weight)
    p = cp.Variable(m)
    t = cp.Variable(m)  # relative throughput per unit
    cons = [p >= pb.p_min, p <= pb.p_up]
    for c, curve in enumerate(pb.curves):
        u = np.flatnonzero(pb.curve_id == c)
        if len(u) == 0:
            continue
        X = np.linspace(curve.x_min, 1.0, n_tangents)
        F, G = curve.value(X), curve.slope(X)
        n = len(u)
        x_u = cp.multiply(p[u], 1.0 / pb.p_max[u])
        lhs = cp.reshape(t[u], (n, 1), order="C") @ np.ones((1, n_tangents))
        rhs = np.ones((n, 1)) @ (F - G * X)[None, :] + cp.reshape(x_u, (n, 1), order="C") @ G[None, :]
        cons.append(lhs <= rhs)
    for g in pb.groups:
        inside = np.flatnonzero(g.member >= 0)
        A = sp.csr_matrix(
            (g.coef[inside] * pb.count[inside], (g.member[inside], inside)), shape=(len(g.limit), m)
        )
        cons.append(A @ p <= g.limit)
    obj = cp.Maximize((pb.count * pb.weight) @ t)
    prob = cp.Problem(obj, cons)
    prob.solve(solver=solver)
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return {"p": None, "lp_value": np.nan, "status": prob.status}
    return {"p": np.asarray(p.value, dtype=float), "lp_value": float(prob.value), "status": prob.status}
