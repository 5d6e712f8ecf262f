"""Reference solve of the linearised revenue problem with cvxpy (validation only, like ``twin.maxq.reference``).

The whole problem of ``twin.economics.revenue`` on the linearised facility (pools, tiers, demand and prefill
rows, the budget) as one linear program: the concave capacity C_g = gpus_g f_g(x_g) is replaced by the minimum
of ``n_tangents`` tangents (an upper bound within max|f''| h^2 / 8), so the LP value bounds the true optimum
from above. cvxpy is a development dependency, imported only when called.
"""

from __future__ import annotations

import numpy as np

from twin.economics.revenue import LinearFacility, Pools
from twin.errors import InputError


def unit_tok(rate: np.ndarray, s: float) -> float:
    """Scale of the token rows: tokens/s of every GPU at the highest rate."""
    return max(float(rate.max()), 1e-30) * s


def solve_revenue_cvxpy(pl: Pools, lin: LinearFacility, n_tangents: int = 400) -> dict:
    """Optimum of the linearised revenue problem by a generic LP solver.

    Parameters
    ----------
    pl : Pools
        Pools and tiers (``twin.economics.revenue.pools``).
    lin : LinearFacility
        The facility power linearised in the total GPU power, with the budget.
    n_tangents : int, default 400
        Tangents per curve over [x_min, 1].

    Returns
    -------
    dict
        ``revenue_usd_per_s`` (the LP value, an upper bound), ``x`` (power fraction per pool), ``status``.
    """
    try:
        import cvxpy as cp
    except ImportError as exc:  # pragma: no cover - dev dependency
        raise InputError("the reference solve needs cvxpy (pip install cvxpy)") from exc
    tt = pl.tiers
    rate = pl.rate() * tt.priced[None, :]
    pre = pl.prefill()
    dec = pl.decode_only()
    nP, nT = pl.n, tt.n
    xmin = pl.p_min_w / pl.p_max_w
    # scaled: capacities and splits as fractions of all GPUs, every row divided by its size
    S = float(pl.gpus.sum())
    w = pl.gpus / S
    x = cp.Variable(nP)
    cap = cp.Variable(nP)
    y = cp.Variable((nP, nT), nonneg=True)
    z = cp.Variable(nP, nonneg=True)
    cons = [x >= xmin, x <= 1]
    if np.any(pre <= 0):
        cons.append(z[np.flatnonzero(pre <= 0)] == 0)
    mask = (rate > 0).astype(float)
    cons.append(cp.multiply(y, 1.0 - mask) == 0)
    for g, c in enumerate(pl.curves):
        X = np.linspace(c.x_min, 1.0, n_tangents)
        F, G = c.value(X), c.slope(X)
        cons.append(cap[g] <= w[g] * (F - G * X) + w[g] * G * x[g])
    inf = pl.inference.astype(float)
    cons.append(cp.sum(y, axis=1) + z <= cp.multiply(cap, inf))
    for t in range(nT):
        if np.isfinite(tt.demand_limit_tok_s[t]):
            cons.append((rate[:, t] * S / tt.demand_limit_tok_s[t]) @ y[:, t] <= 1.0)
    price_mask = (tt.inference & tt.priced).astype(float)
    total = cp.sum(cp.multiply(y, rate * price_mask[None, :] * S / unit_tok(rate, S)))
    for t in range(nT):
        if np.isfinite(tt.share[t]):
            cons.append((rate[:, t] * S / unit_tok(rate, S)) @ y[:, t] <= tt.share[t] * total)
    if dec.any():
        k = float(pre.max())
        need = cp.sum(cp.multiply(y, (rate * tt.input_output_ratio[None, :]) * dec[:, None] / k))
        cons.append(need <= (pre / k) @ z)
    cons.append((lin.coef(pl.n) * pl.gpus * pl.p_max_w / lin.gpu_budget_w) @ x <= 1.0)
    train_val = np.where(~pl.inference, tt.price_usd_per_gpu_s[np.maximum(pl.tier, 0)], 0.0)
    val = rate * tt.price_usd_per_tok[None, :]
    unit = max(float(val.max()), float(train_val.max()), 1e-30) * S  # $/s of the objective's unit
    obj = cp.Maximize(cp.sum(cp.multiply(y, val * S / unit)) + (train_val * S / unit) @ cap)
    prob = cp.Problem(obj, cons)
    prob.solve()
    if prob.status not in ("optimal", "optimal_inaccurate"):
        return {"revenue_usd_per_s": np.nan, "x": None, "status": prob.status}
    return {"revenue_usd_per_s": float(prob.value) * unit, "x": np.asarray(x.value), "status": prob.status}
