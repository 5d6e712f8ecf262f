"""Max-min fair flow rates by progressive filling (water-filling), vectorised over all flows and arcs.

Max-min fairness (Bertsekas & Gallager, *Data Networks*, 2nd ed. 1992, sec. 6.5.2): a rate vector is max-min
fair if no flow's rate can be raised without lowering the rate of a flow that is no larger. Progressive
filling computes it: start all flows at 0 and raise every unfrozen flow's rate at the same speed; a flow
freezes when an arc it uses saturates (sum_f a_af r_f = c_a) or when it reaches its demand. With fixed
multipath splits a_af (ECMP fractions, sum over a path cut = 1), an arc's load grows at n_a = sum_f a_af over
unfrozen flows, so each round advances by

    delta = min( min_a (c_a - load_a) / n_a ,  min_f (d_f - r_f) )

and freezes at least one flow: at most n_flows rounds, each two sparse mat-vecs (A @ active, A^T @ saturated).

The per-flow slowdown against an ideal non-blocking fabric is r_ideal / r, where r_ideal is the max-min rate
when only the racks' own NIC links constrain (the "big switch" abstraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from twin.errors import InputError


@dataclass
class MaxMinResult:
    """Result of :func:`max_min_rates` (rates and loads in the unit of the capacities, e.g. Gb/s)."""

    rate: np.ndarray  # (n_flows,) Gb/s
    load: np.ndarray  # (n_arcs,) Gb/s
    iterations: int
    bottleneck: np.ndarray  # (n_flows,) arc that froze the flow, -1 if it met its demand


def max_min_rates(
    matrix: sp.spmatrix,
    cap: np.ndarray,
    demand: np.ndarray | None = None,
    *,
    rtol: float = 1e-9,
) -> MaxMinResult:
    """Max-min fair rates of flows with fixed multipath fractions, by progressive filling (module docstring).

    Parameters
    ----------
    matrix : scipy.sparse matrix
        (n_arcs, n_flows) fractions a_af >= 0 of flow f's rate on arc a (dimensionless).
    cap : array_like
        (n_arcs,) capacity of every arc, finite and >= 0 (any rate unit, e.g. Gb/s).
    demand : array_like or None, default None
        (n_flows,) upper bound on each rate, same unit as ``cap``; None: unbounded, then every flow must cross
        at least one arc.
    rtol : float, default 1e-9
        Relative tolerance at which an arc counts as saturated and a flow as meeting its demand.

    Returns
    -------
    MaxMinResult
        ``rate`` (n_flows,) and ``load`` (n_arcs,) in the unit of ``cap``; ``iterations`` (filling rounds);
        ``bottleneck`` (n_flows,) arc that froze each flow, -1 if it met its demand.

    Raises
    ------
    InputError
        Wrong capacity shape, negative or non-finite capacity, negative demand, or an unbounded flow that
        crosses no arc.
    """
    A = sp.csr_matrix(matrix, dtype=float)
    AT = A.T.tocsr()
    n_arcs, n_flows = A.shape
    cap = np.asarray(cap, dtype=float)
    if cap.shape != (n_arcs,):
        raise InputError(f"capacity has shape {cap.shape}, expected ({n_arcs},)")
    if np.any(cap < 0) or not np.all(np.isfinite(cap)):
        raise InputError("arc capacities must be finite and >= 0")
    dem = np.full(n_flows, np.inf) if demand is None else np.asarray(demand, dtype=float)
    if np.any(dem < 0) or np.any(np.isnan(dem)):
        raise InputError("flow demands must be >= 0")
    rate = np.zeros(n_flows)
    load = np.zeros(n_arcs)
    bottleneck = np.full(n_flows, -1, dtype=np.int64)
    uses = np.diff(AT.indptr) > 0
    active = dem > 0
    if np.any(active & ~uses & ~np.isfinite(dem)):
        raise InputError("a flow without demand limit crosses no arc: its max-min rate is unbounded")
    # flows that cross no arc get their demand at once
    free = active & ~uses
    rate[free] = dem[free]
    active &= uses
    tol = rtol * np.maximum(cap, 1.0)
    it = 0
    while active.any():
        it += 1
        n = A @ active.astype(float)
        used = n > 0
        head = np.where(used, cap - load, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            step_arc = np.where(used, np.maximum(head, 0.0) / np.where(used, n, 1.0), np.inf)
        a_min = int(np.argmin(step_arc))
        step = step_arc[a_min]
        step_dem = np.min(dem[active] - rate[active])
        step = min(step, step_dem)
        rate[active] += step
        load += step * n
        sat = used & (cap - load <= tol)
        hit = (AT @ sat.astype(float)) > 0
        met = np.isfinite(dem) & (rate >= dem - rtol * np.maximum(np.where(np.isfinite(dem), dem, 0.0), 1.0))
        newly = active & (hit | met)
        if not newly.any():  # rounding: freeze the flows of the tightest arc
            sat = np.zeros(n_arcs, dtype=bool)
            sat[a_min] = True
            newly = active & ((AT @ sat.astype(float)) > 0)
        # record which arc froze each flow: the saturated arc with the largest fraction on the flow
        hit_flows = np.flatnonzero(newly & hit)
        if len(hit_flows):
            sub = AT[hit_flows].multiply(sat[None, :].astype(float)).tocsr()
            bottleneck[hit_flows] = np.asarray(sub.argmax(axis=1)).ravel()
        active &= ~newly
    return MaxMinResult(rate=rate, load=load, iterations=it, bottleneck=bottleneck)


def max_min_rates_loop(
    paths: list[dict[int, float]], cap: np.ndarray, demand: np.ndarray | None = None, rtol: float = 1e-9
) -> np.ndarray:
    """Reference progressive filling with a Python loop per flow and per arc (slow; for tests and benchmarks).

    paths[f] maps arc -> fraction of flow f on that arc.
    """
    n_flows = len(paths)
    cap = [float(c) for c in cap]
    dem = [float("inf")] * n_flows if demand is None else [float(d) for d in demand]
    rate = [0.0] * n_flows
    load = [0.0] * len(cap)
    active = [d > 0 for d in dem]
    while any(active):
        n = [0.0] * len(cap)
        for f in range(n_flows):
            if active[f]:
                for a, x in paths[f].items():
                    n[a] += x
        step = float("inf")
        for a in range(len(cap)):
            if n[a] > 0:
                step = min(step, max(cap[a] - load[a], 0.0) / n[a])
        for f in range(n_flows):
            if active[f]:
                step = min(step, dem[f] - rate[f])
        for f in range(n_flows):
            if active[f]:
                rate[f] += step
        for a in range(len(cap)):
            load[a] += step * n[a]
        frozen_any = False
        for f in range(n_flows):
            if not active[f]:
                continue
            sat = any(cap[a] - load[a] <= rtol * max(cap[a], 1.0) for a in paths[f])
            if sat or rate[f] >= dem[f] - rtol * max(dem[f], 1.0):
                active[f] = False
                frozen_any = True
        if not frozen_any:
            break
    return np.array(rate)


def nonblocking_rates(
    src: np.ndarray, dst: np.ndarray, rack_cap_gbps: np.ndarray, demand: np.ndarray | None = None
) -> np.ndarray:
    """Max-min rates on an ideal non-blocking fabric: only each rack's injection and ejection capacity limit.

    Parameters
    ----------
    src, dst : array_like of int
        (n_flows,) source and destination rack of every flow.
    rack_cap_gbps : array_like
        (n_racks,) injection (= ejection) capacity of every rack, Gb/s.
    demand : array_like or None, default None
        (n_flows,) demand of every flow, Gb/s; None: unbounded.

    Returns
    -------
    numpy.ndarray
        (n_flows,) max-min fair rate of every flow, Gb/s (the "big switch" rates).
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    R = len(rack_cap_gbps)
    F = len(src)
    cols = np.concatenate([np.arange(F), np.arange(F)])
    rows = np.concatenate([src, R + dst])
    A = sp.csr_matrix((np.ones(2 * F), (rows, cols)), shape=(2 * R, F))
    cap = np.concatenate([rack_cap_gbps, rack_cap_gbps])
    return max_min_rates(A, cap, demand).rate
