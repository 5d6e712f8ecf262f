"""Max-Q core: maximise total tokens/s over GPU power caps under linear resource limits (pure array code).

Problem (units u = one GPU or a group of identical GPUs, ``count_u`` GPUs at power ``p_u`` each):

    maximise    sum_u count_u * w_u * f_u(p_u / P_max,u)
    subject to  sum_{u in c} a_{k,u} * count_u * p_u <= L_{k,c}     for every constraint c of every group k
                p_min,u <= p_u <= p_up,u                            (minimum power limit; junction / max power)

with f_u concave and increasing (``twin.perf``), a >= 0. Each group k is a partition of (some of) the units:
the facility budget (one constraint over all units), busways, blocks (rectifiers / transformers), CDU loops.

Method: Lagrangian dual decomposition (Everett, Oper. Res. 11(3), 1963; Boyd & Vandenberghe, Convex
Optimization, 2004, s5.5.5). For multipliers mu >= 0 the Lagrangian separates by unit; unit u sees the price
pi_u = sum_k mu_{k,c_k(u)} a_{k,u} per W and its best power is the water-filling response

    p_u(pi) = clip(P_max * g^{-1}(pi P_max / w_u), p_min, p_up),     g = f'.

The dual is maximised by block-coordinate ascent over the groups: with the other groups' prices fixed, the
constraints of one group touch disjoint units, so every one of their multipliers is found at once by a
vectorised bracketed root search on its complementary-slackness condition (mu = 0 if the constraint is slack,
else load(mu) = L). Because f is strictly concave the response is continuous and the dual is differentiable,
so the block-coordinate ascent converges to the dual optimum (Bertsekas, Nonlinear Programming, 2nd ed.,
Prop. 2.7.1), and with the convex primal there is no duality gap. A final monotone repair (lowering powers
towards p_min in any constraint still over by round-off) makes the returned powers strictly feasible.
The multipliers are the shadow prices: tokens/s gained per W more of each limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twin.errors import InputError
from twin.perf import ConcaveCurve


@dataclass
class LinearGroup:
    """Constraints ``sum_{u: member_u = c} coef_u * count_u * p_u <= limit_c`` (member -1: not in the group)."""

    name: str
    member: np.ndarray  # (m,) int
    coef: np.ndarray  # (m,) >= 0
    limit: np.ndarray  # (n_c,)
    labels: np.ndarray | None = None  # (n_c,) names for reports


@dataclass
class CapProblem:
    weight: np.ndarray  # (m,) tokens/s of one GPU at P_max
    count: np.ndarray  # (m,) GPUs per unit
    p_max: np.ndarray  # (m,) W, where f = 1
    p_min: np.ndarray  # (m,) W, minimum power limit
    p_up: np.ndarray  # (m,) W, upper bound (<= p_max: junction limit, user cap)
    curve_id: np.ndarray  # (m,) index into curves
    curves: tuple[ConcaveCurve, ...]
    groups: list[LinearGroup] = field(default_factory=list)
    # optional (m,) ids: units with the same id are in the same constraints with the same coefficients (e.g. the
    # GPUs of one rack); the dual Hessian and loads are then assembled per id, not per unit (speed only)
    pattern: np.ndarray | None = None


@dataclass
class CapSolution:
    p: np.ndarray  # (m,) W per GPU
    tokens_per_s: float
    multipliers: list[np.ndarray]  # per group, tokens/s per W of the constrained quantity
    loads: list[np.ndarray]  # per group, load at p
    box_multiplier: np.ndarray  # (m,) tokens/s per W of p_up (junction), per GPU
    converged: bool
    sweeps: int
    max_violation: float  # relative, before repair
    feasible: bool = True
    reason: str = ""


class _Units:
    """Response of every unit to a price, with units pre-sorted by curve so each curve is one slice."""

    def __init__(self, pb: CapProblem):
        self.pb = pb
        order = np.argsort(pb.curve_id, kind="stable")
        self.order = order
        cid = pb.curve_id[order]
        self.slices = []
        for c in range(len(pb.curves)):
            lo, hi = np.searchsorted(cid, c, "left"), np.searchsorted(cid, c, "right")
            if hi > lo:
                self.slices.append((c, lo, hi))
        self.scale = (pb.p_max / pb.weight)[order]  # price -> slope of f
        self.p_max = pb.p_max[order]
        self.p_min = pb.p_min[order]
        self.p_up = pb.p_up[order]

    def response(self, price_sorted: np.ndarray) -> np.ndarray:
        s = price_sorted * self.scale
        x = np.empty_like(s)
        for c, lo, hi in self.slices:
            x[lo:hi] = self.pb.curves[c].x_at_slope(s[lo:hi])
        return np.clip(x * self.p_max, self.p_min, self.p_up)

    def marginal(self, p_sorted: np.ndarray) -> np.ndarray:
        """d tokens / d p per GPU, tokens/s per W."""
        x = p_sorted / self.p_max
        g = np.empty_like(x)
        for c, lo, hi in self.slices:
            g[lo:hi] = self.pb.curves[c].slope(x[lo:hi])
        return g / self.scale

    def value(self, p_sorted: np.ndarray) -> np.ndarray:
        x = np.minimum(p_sorted / self.p_max, 1.0)
        v = np.empty_like(x)
        for c, lo, hi in self.slices:
            v[lo:hi] = self.pb.curves[c].value(x[lo:hi])
        return v


def cap_objective(pb: CapProblem, p: np.ndarray) -> float:
    """Total tokens/s of powers ``p`` (m,) W per GPU: sum count * weight * f(p / p_max), with the exact curve."""
    v = np.empty(len(pb.weight))
    x = np.minimum(np.asarray(p, dtype=float) / pb.p_max, 1.0)
    for c, curve in enumerate(pb.curves):
        s = pb.curve_id == c
        v[s] = curve.value(x[s])
    return float(np.sum(pb.count * pb.weight * v))


def _validate(pb: CapProblem) -> None:
    m = len(pb.weight)
    for name in ("count", "p_max", "p_min", "p_up", "curve_id"):
        if np.shape(getattr(pb, name)) != (m,):
            raise InputError(f"cap problem: {name} must have shape ({m},)")
    if np.any(pb.weight <= 0) or np.any(pb.p_max <= 0):
        raise InputError("cap problem: weights and p_max must be positive")
    for g in pb.groups:
        if np.shape(g.member) != (m,) or np.shape(g.coef) != (m,):
            raise InputError(f"cap problem: group '{g.name}' member/coef must have shape ({m},)")
        if np.any(g.coef < 0):
            raise InputError(f"cap problem: group '{g.name}' has negative coefficients")
    if pb.pattern is not None:
        pat = np.asarray(pb.pattern)
        if pat.shape != (m,):
            raise InputError(f"cap problem: pattern must have shape ({m},)")
        _, rep = np.unique(pat, return_index=True)
        _, inv = np.unique(pat, return_inverse=True)
        for g in pb.groups:
            r = rep[inv]
            if np.any(g.member != g.member[r]) or np.any(g.coef != g.coef[r]):
                raise InputError(f"cap problem: units of one pattern differ in group '{g.name}'")


def solve_caps(
    pb: CapProblem,
    *,
    tol: float = 1e-9,
    max_sweeps: int = 100,
    n_bcd: int = 1,
    mu0: list[np.ndarray] | None = None,
) -> CapSolution:
    """Solve the cap problem by dual block-coordinate ascent and projected Newton steps (module docstring).

    Steps: check that every constraint holds with every unit at its minimum power (else infeasible), start
    the multipliers (zero, or ``mu0``), run ``n_bcd`` block-coordinate sweeps, refine with projected Newton
    steps on the dual, take every unit's best response to its price, repair round-off overs, and report.

    Parameters
    ----------
    pb : CapProblem
        Units (weights in tokens/s per GPU at ``p_max``, GPU counts, power bounds in W, curves) and linear
        constraint groups (limits in the unit of ``coef`` x W, e.g. W at the meter).
    tol : float, default 1e-9
        Largest relative constraint violation accepted as converged.
    max_sweeps : int, default 100
        Most projected Newton steps.
    n_bcd : int, default 1
        Block-coordinate sweeps before the Newton steps (ignored with ``mu0``).
    mu0 : list of numpy.ndarray or None, default None
        Warm start: one array of multipliers per group (tokens/s per unit of the constrained quantity), e.g.
        those of a previous linearisation; the solve goes straight to the Newton steps.

    Returns
    -------
    CapSolution
        ``p`` (m,) W per GPU, ``tokens_per_s`` (total), ``multipliers`` (per group, tokens/s per unit of the
        constrained quantity: the shadow prices), ``loads`` (per group, at ``p``), ``box_multiplier`` (m,)
        tokens/s per W of each unit's upper bound, ``converged``, ``sweeps``, ``max_violation`` (relative,
        before repair); ``feasible`` False with ``reason`` and ``p = p_min`` if the limits cannot be met.

    Raises
    ------
    InputError
        Inconsistent problem arrays, negative coefficients, or ``mu0`` of the wrong shape.
    """
    _validate(pb)
    U = _Units(pb)
    cnt = pb.count[U.order].astype(float)
    groups = _sorted_groups(pb, U.order, cnt)
    infeasible = _floor_check(pb, U, groups)
    if infeasible is not None:
        return infeasible
    mu, price = _start_multipliers(groups, mu0, len(U.order))
    if mu0 is None:
        _bcd_sweeps(U, groups, mu, price, n_bcd)
    mu, price, converged, sweep, viol = _projected_newton(U, groups, mu, cnt, tol, max_sweeps)
    p = U.response(price)
    _repair_overs(U, groups, p)
    loads = [np.bincount(G["memi"], weights=G["acnt"] * p[G["idx"]], minlength=G["n"]) for G in groups]
    # junction / upper-bound multiplier: marginal value not priced by the linear constraints
    box = np.where(p >= U.p_up * (1 - 1e-9), np.maximum(U.marginal(p) - price, 0.0), 0.0)
    o = U.order
    inv = np.empty_like(o)
    inv[o] = np.arange(len(o))
    tokens = float(np.sum(cnt * pb.weight[o] * U.value(p)))
    return CapSolution(
        p=p[inv],
        tokens_per_s=tokens,
        multipliers=mu,
        loads=loads,
        box_multiplier=box[inv],
        converged=converged,
        sweeps=sweep,
        max_violation=viol,
    )


def _sorted_groups(pb: CapProblem, o: np.ndarray, cnt: np.ndarray) -> list[dict]:
    """The constraint groups over the units in curve order ``o``: members, coefficients and limits."""
    groups = []
    for g in pb.groups:
        mem = g.member[o].astype(np.int64)
        inside = mem >= 0
        groups.append(
            dict(
                g=g,
                mem=mem,
                idx=np.flatnonzero(inside),
                memi=mem[inside],
                a=g.coef[o] * inside,
                acnt=(g.coef[o] * cnt)[inside],
                n=len(g.limit),
                limit=np.asarray(g.limit, dtype=float),
            )
        )
    return groups


def _floor_check(pb: CapProblem, U: _Units, groups: list[dict]) -> CapSolution | None:
    """The infeasible solution if some constraint fails with every unit at p_min (or p_up < p_min), else None."""
    o = U.order
    if np.any(U.p_min > U.p_up * (1 + 1e-12)):
        k = int(o[np.flatnonzero(U.p_min > U.p_up)[0]])
        return _infeasible(
            pb, f"unit {k}: upper power bound {pb.p_up[k]:.1f} W below minimum {pb.p_min[k]:.1f} W"
        )
    for G in groups:
        floor = np.bincount(G["memi"], weights=G["acnt"] * U.p_min[G["idx"]], minlength=G["n"])
        bad = floor > G["limit"] * (1 + 1e-12)
        if bad.any():
            c = int(np.flatnonzero(bad)[0])
            lab = G["g"].labels[c] if G["g"].labels is not None else c
            return _infeasible(
                pb,
                f"{G['g'].name} '{lab}': {floor[c]:.6g} needed with every GPU at minimum power, "
                f"limit {G['limit'][c]:.6g}",
                floor=floor[c],
            )
    return None


def _start_multipliers(
    groups: list[dict], mu0: list[np.ndarray] | None, m: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Initial multipliers (zero, or the warm start ``mu0``) and the unit prices (m,) they give."""
    mu = [np.zeros(G["n"]) for G in groups]
    price = np.zeros(m)
    if mu0 is not None:
        # warm start (e.g. the multipliers of the previous linearisation): straight to the Newton steps
        if [len(x) for x in mu0] != [G["n"] for G in groups]:
            raise InputError("mu0 must have one array per group, one value per constraint")
        mu = [np.maximum(np.asarray(x, dtype=float), 0.0).copy() for x in mu0]
        for G, m_k in zip(groups, mu, strict=True):
            price[G["idx"]] += m_k[G["memi"]] * G["a"][G["idx"]]
    return mu, price


def _bcd_sweeps(U: _Units, groups: list[dict], mu: list[np.ndarray], price: np.ndarray, n_bcd: int) -> None:
    """Block-coordinate ascent over the groups, in place on ``mu`` and ``price``.

    A sweep finds the binding set and a good start for the projected Newton steps.
    """
    # price that drives each unit down to p_min (upper end of every bracket)
    price_floor = U.marginal(U.p_min)
    for _ in range(n_bcd):
        for G, m_k in zip(groups, mu, strict=True):
            idx, memi, a = G["idx"], G["memi"], G["a"][G["idx"]]
            if len(idx) == 0:
                continue
            base = price[idx] - m_k[memi] * a
            new = _group_multipliers(U, idx, memi, a, G["acnt"], G["limit"], G["n"], base, price_floor[idx])
            price[idx] = base + new[memi] * a
            m_k[:] = new


def _repair_overs(U: _Units, groups: list[dict], p: np.ndarray) -> None:
    """Monotone repair of round-off overs, in place: lower towards p_min inside any constraint still over."""
    for _ in range(3):
        for G in groups:
            pi = p[G["idx"]]
            pm = U.p_min[G["idx"]]
            load = np.bincount(G["memi"], weights=G["acnt"] * pi, minlength=G["n"])
            floor = np.bincount(G["memi"], weights=G["acnt"] * pm, minlength=G["n"])
            over = load > G["limit"]
            if over.any():
                r = np.ones(G["n"])
                r[over] = np.clip(
                    (G["limit"][over] - floor[over]) / np.maximum(load[over] - floor[over], 1e-300), 0.0, 1.0
                )
                r[over] *= 1 - 1e-12
                p[G["idx"]] = pm + r[G["memi"]] * (pi - pm)


def _group_multipliers(U, idx, memi, a, acnt, limit, n, base, price_floor) -> np.ndarray:
    """For every constraint of one group: mu = 0 if slack at mu = 0, else the root of load(mu) = limit."""

    def load(mu_c):
        pr = base + mu_c[memi] * a
        s = pr * U.scale[idx]
        x = np.empty_like(s)
        # units of this group in curve order (idx is increasing, the sort is by curve)
        for c, lo, hi in U.slices:
            a0, a1 = np.searchsorted(idx, lo), np.searchsorted(idx, hi)
            if a1 > a0:
                x[a0:a1] = U.pb.curves[c].x_at_slope(s[a0:a1])
        pp = np.clip(x * U.p_max[idx], U.p_min[idx], U.p_up[idx])
        return np.bincount(memi, weights=acnt * pp, minlength=n)

    out = np.zeros(n)
    l0 = load(out)
    active = l0 > limit
    if not active.any():
        return out
    # bracket: at hi every member is at p_min (floor <= limit was checked)
    need = np.where(a > 0, (price_floor - base) / np.where(a > 0, a, 1.0), 0.0)
    hi = np.zeros(n)
    np.maximum.at(hi, memi, need)
    hi = np.maximum(hi, 0.0) * (1 + 1e-9) + 1e-300
    lo = np.zeros(n)
    f_lo = l0 - limit
    f_hi = load(hi) - limit
    # Illinois false position (bracketed, superlinear on this piecewise-smooth monotone function)
    x = hi.copy()
    side = np.zeros(n)
    for _ in range(100):
        denom = f_lo - f_hi
        x = np.where(active & (denom > 0), lo + f_lo * (hi - lo) / np.where(denom > 0, denom, 1.0), x)
        x = np.where(active & ~((x > lo) & (x < hi)), 0.5 * (lo + hi), x)
        fx = load(np.where(active, x, 0.0)) - limit
        pos = fx > 0  # load too high: root is above x
        lo = np.where(active & pos, x, lo)
        hi = np.where(active & ~pos, x, hi)
        f_hi_new = np.where(active & ~pos, fx, f_hi)
        f_lo_new = np.where(active & pos, fx, f_lo)
        # Illinois: halve the stale end's value when the same side moves twice
        f_hi_new = np.where(active & pos & (side > 0), 0.5 * f_hi_new, f_hi_new)
        f_lo_new = np.where(active & ~pos & (side < 0), 0.5 * f_lo_new, f_lo_new)
        side = np.where(pos, 1.0, -1.0)
        f_lo, f_hi = f_lo_new, f_hi_new
        done = (np.abs(fx) <= 1e-12 * np.abs(limit)) | (hi - lo <= 1e-15 * hi)
        if np.all(done | ~active):
            break
    return np.where(active, hi, 0.0)  # hi side: load <= limit


def _infeasible(pb: CapProblem, reason: str, floor: float = np.nan) -> CapSolution:
    return CapSolution(
        p=pb.p_min.astype(float).copy(),
        tokens_per_s=0.0,
        multipliers=[np.zeros(len(g.limit)) for g in pb.groups],
        loads=[np.zeros(len(g.limit)) for g in pb.groups],
        box_multiplier=np.zeros(len(pb.weight)),
        converged=False,
        sweeps=0,
        max_violation=np.inf,
        feasible=False,
        reason=reason,
    )


def _projected_newton(U, groups, mu_list, cnt, tol, max_iter):
    """Projected Newton on the dual (Bertsekas, SIAM J. Control Optim. 20(2), 1982) with Armijo backtracking.

    Dual q(mu) = max_p L(p, mu) is convex in mu; grad q = limit - A p(mu), Hessian A |dp/dpi| A~^T (A~: coefs,
    A = A~ diag(count)). The Hessian is sparse (a unit touches one constraint per group) and small (one row per
    constraint), so each step is one sparse solve.
    """
    m = len(U.order)
    At, pat, n_pat = _pattern_matrix(U, groups)
    AtT = At.T.tocsr()
    n = At.shape[0]
    limit = np.concatenate([G["limit"] for G in groups]) if n else np.zeros(0)
    wcnt = cnt / U.scale * U.p_max  # count * weight
    mu = np.concatenate(mu_list) if n else np.zeros(0)

    def evaluate(mu):
        price = (AtT @ mu)[pat]
        p = U.response(price)
        primal = float(np.sum(wcnt * U.value(p)))
        load = At @ np.bincount(pat, weights=cnt * p, minlength=n_pat)
        q = primal + float(mu @ (limit - load))
        return price, p, load, q, primal

    price, p, load, q, primal = evaluate(mu)
    scale_l = np.maximum(np.abs(limit), 1e-300)
    converged, it, viol = False, 0, np.inf
    for it in range(1, max_iter + 1):  # noqa: B007 (returned as the iteration count)
        grad = limit - load
        viol = float(np.max(-grad / scale_l, initial=0.0))
        # complementary slackness: a priced constraint must be tight (within 1e-7 of its limit); a constraint
        # whose members all sit at a bound has a non-unique multiplier and is judged by its slack alone
        slack_rel = grad / scale_l
        gap = float(mu @ np.where(slack_rel > 1e-7, grad, 0.0))
        if viol <= tol and abs(gap) <= 1e-9 * max(abs(primal), 1e-300):
            converged = True
            break
        d = _newton_direction(U, At, AtT, pat, n_pat, cnt, p, mu, grad, m)
        r = _armijo(evaluate, mu, d, q, grad)
        if r is None:
            break  # no descent possible at machine precision: stationary
        mu, (price, p, load, q, primal) = r
    out, k0 = [], 0
    for G in groups:
        out.append(mu[k0 : k0 + G["n"]].copy())
        k0 += G["n"]
    return out, (AtT @ mu)[pat], converged, it, viol


def _pattern_matrix(U, groups):
    """(At, pat, n_pat): constraint x pattern coefficients (price = (At.T mu)[pat]) and the unit -> pattern map.

    Units with the same pattern id sit in the same constraints with the same coefficients; without a pattern
    every unit is its own. Constraint rows are the groups' constraints, group after group.
    """
    import scipy.sparse as sp

    m = len(U.order)
    offs = np.cumsum([0] + [G["n"] for G in groups])
    n = int(offs[-1])
    if U.pb.pattern is None:
        pat, rep = np.arange(m), np.arange(m)
    else:
        _, rep, pat = np.unique(U.pb.pattern[U.order], return_index=True, return_inverse=True)
    n_pat = len(rep)
    rows, cols, vals = [], [], []
    for k, G in enumerate(groups):
        mem = G["mem"][rep]
        inside = mem >= 0
        rows.append(offs[k] + mem[inside])
        cols.append(np.flatnonzero(inside))
        vals.append(G["a"][rep][inside])
    if n:
        rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n_pat)), pat, n_pat


def _newton_direction(U, At, AtT, pat, n_pat, cnt, p, mu, grad, m) -> np.ndarray:
    """Newton direction on the multipliers not held at zero: H d = grad over the free ones (regularised)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = len(mu)
    # |dp/dpi| of units strictly inside their bounds
    x = p / U.p_max
    curv = np.zeros(m)
    for c, lo, hi in U.slices:
        curv[lo:hi] = U.pb.curves[c].curvature(x[lo:hi])
    inside = (p > U.p_min * (1 + 1e-12)) & (p < U.p_up * (1 - 1e-12)) & (curv < 0)
    dpdpi = np.where(inside, U.p_max * U.scale / np.where(curv < 0, -curv, 1.0), 0.0)
    eps = 1e-12 * np.maximum(mu, 1e-300)
    fixed = (mu <= eps) & (grad > 0)  # at the bound and pushed against it
    free = np.flatnonzero(~fixed)
    d = np.zeros(n)
    if len(free):
        w_pat = np.bincount(pat, weights=dpdpi * cnt, minlength=n_pat)
        H = (At @ sp.diags(w_pat) @ AtT).tocsc()[free][:, free]
        hd = H.diagonal()
        reg = 1e-10 * (hd.max() if len(hd) and hd.max() > 0 else 1.0)
        H = H + sp.diags(np.where(hd > 0, reg, reg + 1.0))  # a constraint with no free unit: gradient step
        d[free] = spla.spsolve(H.tocsc(), grad[free]) if len(free) > 1 else grad[free] / H.toarray()[0, 0]
    return d


def _armijo(evaluate, mu: np.ndarray, d: np.ndarray, q: float, grad: np.ndarray):
    """Projected Armijo backtracking along ``-d``: (mu_new, evaluate(mu_new)), or None if no step descends."""
    alpha = 1.0
    for _ in range(60):
        mu_new = np.maximum(mu - alpha * d, 0.0)
        r = evaluate(mu_new)
        if r[3] <= q - 1e-4 * float(grad @ (mu - mu_new)) + 1e-15 * abs(q):
            return mu_new, r
        alpha *= 0.5
    return None
