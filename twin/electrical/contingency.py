"""N-1 contingency analysis: take each unit (transformer, UPS module, rectifier, busway feed) out in turn.

Identical paralleled units of one node are interchangeable, so one case per node: that node with one unit
less. Nodes of one kind (all busways, all UPS, all blocks, all mechanical feeds, the substation) never lie on
each other's paths, so ONE solve with every node of a kind short of one unit gives, for each of them, its
own state and that of everything it feeds (its survivors' loading, the voltages below it, lost racks): the
state of its single contingency, up to the small shift of the shared upstream voltage (1e-5 relative on the
reference hall; exact below converters, which regulate their output). Upstream of them the simultaneous failures add up, which bounds
any single one from above; only when this bound shows a new upstream violation are that kind's contingencies
re-solved one at a time (or always, with ``exact=True``).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from twin.electrical.solve import _vector, failed_counts, prepare, solve_arrays
from twin.errors import InputError
from twin.model import FacilityModel

KINDS = ("busway", "ups", "block", "mech_feed", "substation")


def _owner(net, comp_idx: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """For each violating component, the candidate node (of one kind) whose subtree holds it, or -1."""
    is_cand = np.zeros(net.n_e, dtype=bool)
    is_cand[cand] = True
    own = np.full(len(comp_idx), -1, dtype=np.int64)
    cur = comp_idx.copy()
    for _ in range(int(net.e_depth.max()) + 1):
        ok = (cur >= 0) & (own < 0)
        hit = ok & is_cand[np.maximum(cur, 0)]
        own[hit] = cur[hit]
        cur = np.where(cur >= 0, net.parent[np.maximum(cur, 0)], -1)
    return own


def _dead_racks_by_owner(net, res, cand) -> np.ndarray:
    """Unpowered racks counted against the candidate node above them."""
    dead = ~res.res_racks["powered"].to_numpy()
    if not dead.any():
        return np.zeros(net.n_e, dtype=np.int64)
    own = _owner(net, net.r_bw[dead], cand)
    return np.bincount(own[own >= 0], minlength=net.n_e)


def _key(v: dict) -> tuple:
    return (v["component"], v["kind"])


COLUMNS = [
    "failed",
    "kind",
    "units",
    "units_after",
    "ok",
    "n_new_violations",
    "racks_unpowered",
    "worst_loading_pct",
    "violations",
]


def n_minus_1(
    model: FacilityModel,
    *,
    rack_power_w=None,
    mech_power_w_by_hall=None,
    extra_it_power_w_by_pod=None,
    it_load: float = 1.0,
    failed=(),
    conductor_temp_c: float | None = None,
    exact: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Run every N-1 case (one unit of each node out in turn); see the module docstring for the method.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility. Not modified.
    rack_power_w : array_like, shape (n_racks,), optional
        IT power of each rack at 54 VDC, W. Default ``it_load * power_maxp_w``.
    mech_power_w_by_hall : array_like, shape (n_halls,), optional
        Pumps, fans and chillers of each hall, W. Default 0.
    extra_it_power_w_by_pod : array_like, shape (n_pods,), optional
        Network power of each pod, W. Default 0.
    it_load : float, default 1.0
        Fraction of Max-P drawn by every rack when ``rack_power_w`` is not given.
    failed : iterable of str, default ()
        Units already out of service in the base case (as in ``solve_electrical``).
    conductor_temp_c : float, optional
        Fixed conductor temperature, degC. Default None: from each conductor's loading.
    exact : bool, default False
        Solve every contingency on its own instead of one solve per kind of node.

    Returns
    -------
    res_contingencies : DataFrame
        One row per case: failed (node name), kind, units, units_after, ok, n_new_violations,
        racks_unpowered (racks that lose power, beyond the base case), worst_loading_pct (the failed node's
        survivors, %), violations (messages, '; ' joined). A violation present already in the base case is
        not charged to a contingency.
    kpis : dict
        cases, failing_cases, solves, exact, base_violations (messages), base_converged, seconds (wall time).
    """
    t0 = time.perf_counter()
    net = prepare(model)
    if not (isinstance(it_load, (int, float)) and np.isfinite(it_load) and it_load >= 0):
        raise InputError(f"it_load must be a finite fraction >= 0 (got {it_load!r})")
    rack = _vector(rack_power_w, net.n_r, "rack_power_w", it_load * net.r_maxp)
    mech = _vector(mech_power_w_by_hall, net.n_halls, "mech_power_w_by_hall", np.zeros(net.n_halls))
    extra = _vector(extra_it_power_w_by_pod, net.n_pods, "extra_it_power_w_by_pod", np.zeros(net.n_pods))
    base_f = failed_counts(net, failed)

    def solve(fcnt):
        return solve_arrays(net, rack, mech, extra, fcnt, conductor_temp_c)

    base = solve(base_f)
    rows: list[dict] = []
    n_solves = 1
    for kind in KINDS:
        kind_rows, solves = _kind_cases(net, solve, kind, base, base_f, exact)
        rows += kind_rows
        n_solves += solves
    res = pd.DataFrame(rows, columns=COLUMNS)
    kpis = {
        "cases": len(res),
        "failing_cases": int((~res["ok"]).sum()) if len(res) else 0,
        "solves": n_solves,
        "exact": bool(exact),
        "base_violations": [v["message"] for v in base.violations],
        "base_converged": base.converged,
        "seconds": time.perf_counter() - t0,
    }
    return res, kpis


def _kind_cases(net, solve, kind: str, base, base_f: np.ndarray, exact: bool) -> tuple[list[dict], int]:
    """The N-1 cases of every powered node of one kind: (rows, number of solves).

    One solve with every candidate short of one unit; the violations it adds are charged to the candidate
    above them. A new violation above every candidate (upstream) makes the bound inconclusive: then (or
    with ``exact``) each candidate is solved on its own.
    """
    base_keys = {_key(v) for v in base.violations}
    cand = np.flatnonzero(
        (net.kind == kind) & (net.units - base_f > 0) & base.res_nodes["powered"].to_numpy()
    )
    if len(cand) == 0:
        return [], 0
    f = base_f.copy()
    f[cand] += 1
    grp = solve(f)
    new = [v for v in grp.violations if _key(v) not in base_keys]
    comp = np.array([net.name_index.get(v["component"], 0) for v in new], dtype=np.int64)
    own = _owner(net, comp, cand) if len(new) else np.zeros(0, dtype=np.int64)
    upstream_new = bool(len(new)) and bool(np.any(own < 0))
    if exact or upstream_new:
        rows = []
        for c in cand:  # one solve per contingency of this kind (the bound was not conclusive)
            f1 = base_f.copy()
            f1[c] += 1
            r1 = solve(f1)
            nv = [v for v in r1.violations if _key(v) not in base_keys]
            rows.append(_row(net, c, r1, nv, base))
        return rows, 1 + len(cand)
    load = grp.res_nodes["loading_pct"].to_numpy()
    dead_cnt = _dead_racks_by_owner(net, grp, cand) - _dead_racks_by_owner(net, base, cand)
    rows = []
    for c in cand:
        nv = [v for v, o in zip(new, own, strict=True) if o == c]
        rows.append(
            dict(
                failed=net.names[c],
                kind=kind,
                units=int(net.units[c]),
                units_after=int(net.units[c] - base_f[c] - 1),
                ok=not nv,
                n_new_violations=len(nv),
                racks_unpowered=int(dead_cnt[c]),
                worst_loading_pct=float(load[c]),
                violations="; ".join(v["message"] for v in nv),
            )
        )
    return rows, 1


def _row(net, c, r1, nv, base) -> dict:
    dead = int((~r1.res_racks["powered"].to_numpy()).sum() - (~base.res_racks["powered"].to_numpy()).sum())
    return dict(
        failed=net.names[c],
        kind=net.kind[c],
        units=int(net.units[c]),
        units_after=int(r1.res_nodes["units_in_service"][c]),
        ok=not nv,
        n_new_violations=len(nv),
        racks_unpowered=dead,
        worst_loading_pct=float(r1.res_nodes["loading_pct"][c]),
        violations="; ".join(v["message"] for v in nv),
    )
