"""Revenue-optimal Max-Q: GPU caps and the split of every rack's capacity over the service tiers.

Problem. Racks are pooled by accelerator type (inference racks: any inference tier; training racks: their own
tier). A pool g of GPUs with relative throughput f(p_r / P_max) (``twin.perf``) has a capacity of
``C_g = sum_r gpus_r f(p_r / P_max)`` GPU-equivalents at full power. It serves tier t with ``x_gt`` of them at
``T_gt`` output tokens/s each (the frontier at the tier's interactivity, ``twin.economics.frontier``), does
prefill for disaggregated tiers with ``z_g`` of them at ``P_g`` input tokens/s each, or (training) earns its
price per GPU-second ``c_g``:

    maximise    sum_{g,t} price_t T_gt x_gt + sum_{g training} c_g C_g
    subject to  sum_t x_gt + z_g <= C_g(p)                                         every inference pool g
                sum_g T_gt x_gt <= D_t                                             every tier with a demand limit
                sum_g T_gt x_gt <= s_t sum_{g,u} T_gu x_gu                         every tier with a share s_t
                sum_{g decode-only} r_t T_gt x_gt <= sum_g P_g z_g                  prefill of disaggregated tiers
                every limit of Max-Q on the GPU powers p (grid budget, busways, blocks, CDU loops, junctions)

(r_t: the tier's input tokens per output token; s_t: the most share of the inference tokens the tier's market
takes). The problem is convex (C_g is concave in p, every other row linear). Relaxing the demand, share and
prefill rows with multipliers nu_t, sigma_t, rho >= 0 (Everett, Oper. Res. 11(3), 1963) separates it by pool:
with the net price of a token of tier t, q_t = price_t - nu_t - sigma_t + sum_u sigma_u s_u, a GPU-equivalent
of pool g is worth

    V_g = max(0, max_t q_t T_gt, rho P_g)                                               (aggregated pools)
    V_g = max(0, max_t (q_t - rho r_t) T_gt)                                            (decode-only pools)

per second, and the caps maximise sum_g V_g C_g(p): the tokens Max-Q with a value per rack token
(``twin.maxq.optimize_maxq(rack_value=...)``). Without demand limits and decode-only racks no multiplier is
needed: every pool serves the tier with the highest price x throughput at its interactivity.

Outer loop. The dual function h(nu, sigma, rho) = sum_t nu_t D_t + max_p sum_g V_g C_g(p) is convex; it is
minimised by Kelley's cutting-plane method (J. SIAM 8(4), 1960: each evaluation gives a subgradient, D_t -
served_t for nu_t, s_t total - served_t for sigma_t and prefill supply - need for rho; a small LP picks the next
multipliers) on the facility power linearised
around two coupled solves (every GPU at its minimum and at its maximum power: F ~ F_0 + a (G - G_0)), where
the inner problem is one water-filling over the pools with the budget multiplier found by bisection. At the
dual optimum the caps are computed on the full facility by ``optimize_maxq`` with those values, and the split
of the resulting capacities is the primal LP above at fixed p (HiGHS), which at ties between tiers fills the
demand exactly. The grid shadow price is the budget's multiplier in $/s per MW x 3600 ($ per MW-hour).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.economics.frontier import AcceleratorRates, TierTable, accelerator_rates, tier_table
from twin.errors import InputError
from twin.perf import ConcaveCurve, PerfModel, concave_curve, perf_model

__all__ = [
    "LinearFacility",
    "Pools",
    "RevenueResult",
    "Split",
    "dual_values",
    "pool_values",
    "pools",
    "price_caps",
    "revenue_maxq",
    "solve_linearised",
    "split_capacity",
]


@dataclass(frozen=True)
class Pools:
    """Racks pooled by (accelerator type, inference | training tier).

    rack_pool (n_racks,); per pool: acc (accelerator index into ``rates``), inference (bool), tier (training
    tier index, -1 for inference), gpus (GPUs of the pool), p_max_w / p_min_w (W per GPU), curve (relative
    throughput vs power fraction), label.
    """

    rack_pool: np.ndarray
    acc: np.ndarray
    inference: np.ndarray
    tier: np.ndarray
    gpus: np.ndarray
    p_max_w: np.ndarray
    p_min_w: np.ndarray
    curves: tuple[ConcaveCurve, ...]
    labels: tuple[str, ...]
    rates: AcceleratorRates
    tiers: TierTable

    @property
    def n(self) -> int:
        return len(self.acc)

    def rate(self) -> np.ndarray:
        """(n_pools, n_tiers) output tokens/s of one GPU-equivalent of each pool for each tier (0 for training)."""
        r = self.rates.rate_tok_s[self.acc]
        return np.where(self.inference[:, None], r, 0.0)

    def prefill(self) -> np.ndarray:
        """(n_pools,) input tokens/s of one GPU-equivalent doing prefill (inference pools that can)."""
        return np.where(
            self.inference & ~self.rates.decode_only[self.acc], self.rates.prefill_tok_s[self.acc], 0.0
        )

    def decode_only(self) -> np.ndarray:
        return self.inference & self.rates.decode_only[self.acc]


def pools(model, tiers=None, perf: PerfModel | None = None) -> Pools:
    """Pools of a compiled facility for the tiers ``tiers`` (default: the layout's workload tiers).

    Raises
    ------
    InputError
        A rack on a tier not in ``tiers``, or a decode-only rack on a training tier.
    """
    perf = perf or perf_model(model)
    layout_tiers = list(model.layout.workload.tiers)
    tt = tier_table(layout_tiers if tiers is None else tiers)
    racks = model.racks
    gpu_idx = racks["gpu_type"].to_numpy()
    rack_tier = racks["tier"].to_numpy()
    layout_names = np.array([t.name for t in layout_tiers], dtype=object)
    kinds = model.tiers["kind"].to_numpy()[rack_tier]
    train = kinds == "training"
    # training racks keep their layout tier (priced from ``tiers`` by name when it has it)
    name_to_new = {n: i for i, n in enumerate(tt.names)}
    tier_of = np.array([name_to_new.get(str(n), -1) for n in layout_names])[rack_tier]
    if np.any(train & (tier_of < 0)):
        missing = sorted({str(n) for n in layout_names[rack_tier[train & (tier_of < 0)]]})
        raise InputError(
            f"training tier(s) {', '.join(missing)} of the layout are missing from the tiers given"
        )
    key_tier = np.where(train, tier_of, -1)
    keys = np.column_stack([gpu_idx, key_tier])
    uniq, rack_pool = np.unique(keys, axis=0, return_inverse=True)
    rack_pool = rack_pool.reshape(-1)
    gpu_names = model.gpu_types["name"].to_numpy()
    rates = accelerator_rates(model.catalog, gpu_names, tt)
    acc = uniq[:, 0].astype(np.int64)
    tier = uniq[:, 1].astype(np.int64)
    inference = tier < 0
    if np.any(~inference & rates.decode_only[acc]):
        raise InputError("a decode-only rack (e.g. groq-lpx) cannot be on a training tier")
    gpus = np.bincount(rack_pool, weights=perf.gpus.astype(float), minlength=len(uniq))
    first = np.zeros(len(uniq), np.int64)
    first[rack_pool[::-1]] = np.arange(len(rack_pool))[::-1]
    curves, labels = [], []
    for k in range(len(uniq)):  # a handful of pools
        g = model.catalog.gpu(str(gpu_names[acc[k]]))
        kind = "inference" if inference[k] else "training"
        c = g.throughput_curves[kind]
        curves.append(concave_curve(c.power_fraction, c.relative_throughput))
        labels.append(f"{gpu_names[acc[k]]}/{'inference' if inference[k] else tt.names[tier[k]]}")
    return Pools(
        rack_pool=rack_pool,
        acc=acc,
        inference=inference,
        tier=tier,
        gpus=gpus,
        p_max_w=perf.gpu_power_max_w[first],
        p_min_w=perf.gpu_power_min_w[first],
        curves=tuple(curves),
        labels=tuple(labels),
        rates=rates,
        tiers=tt,
    )


def pool_values(
    pl: Pools, nu: np.ndarray, rho: float, sigma: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Value of a GPU-equivalent of each pool at multipliers ``nu`` (demand, n_tiers), ``rho`` (prefill) and
    ``sigma`` (share, n_tiers; None: 0), $/s, and its choice.

    Returns
    -------
    (value_usd_per_s, choice)
        value (n_pools,) $/s per GPU-equivalent at full power; choice (n_pools,) the tier served (index), n_tiers
        for prefill, -1 for nothing (or a training pool).
    """
    tt = pl.tiers
    rate = pl.rate()
    net = tt.price_usd_per_tok - nu
    if sigma is not None:
        has = np.isfinite(tt.share)
        net = net - sigma + float(np.dot(sigma[has], tt.share[has]))
    dec = pl.decode_only()
    per_tier = rate * net[None, :] - np.where(dec[:, None], rho * tt.input_output_ratio[None, :] * rate, 0.0)
    per_tier = np.where(rate > 0, per_tier, -np.inf)
    pre = rho * pl.prefill()
    cand = np.column_stack([per_tier, np.where(pl.prefill() > 0, pre, -np.inf)])
    choice = np.argmax(cand, axis=1)
    best = cand[np.arange(pl.n), choice]
    value = np.maximum(best, 0.0)
    choice = np.where(best > 0, choice, -1)
    train = ~pl.inference
    value = np.where(train, tt.price_usd_per_gpu_s[np.maximum(pl.tier, 0)], value)
    choice = np.where(train, -1, choice)
    return value, choice


@dataclass(frozen=True)
class LinearFacility:
    """Facility power linearised in the GPU power of each pool: F ~= fixed_w + sum_g a_g G_g (W), limit budget_w.

    ``a`` is W of facility per W of GPU power (a scalar, or one value per pool); G_g = gpus_g p_g."""

    a: float | np.ndarray
    fixed_w: float
    budget_w: float

    @property
    def gpu_budget_w(self) -> float:
        """The budget as a limit on sum_g a_g G_g: budget - fixed, W."""
        return self.budget_w - self.fixed_w

    def coef(self, n: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.a, dtype=float), (n,)).copy()


def _water_fill(pl: Pools, value: np.ndarray, lin: LinearFacility) -> tuple[np.ndarray, float]:
    """Power fraction per pool maximising sum_g value_g gpus_g f_g(x_g) under the linearised budget.

    Returns x (n_pools,) and the budget multiplier ($/s per W of facility power)."""
    xmin = pl.p_min_w / pl.p_max_w
    a = lin.coef(pl.n)
    coef = a * pl.gpus * pl.p_max_w  # W of facility per unit of x

    def response(lam: float) -> np.ndarray:
        x = np.empty(pl.n)
        for k, c in enumerate(pl.curves):  # a handful of pools
            if value[k] <= 0:
                x[k] = xmin[k]
            else:
                x[k] = float(c.x_at_slope(np.array([lam * a[k] * pl.p_max_w[k] / value[k]]))[0])
        return np.clip(x, xmin, 1.0)

    cap = lin.gpu_budget_w
    x1 = response(0.0)
    if coef @ x1 <= cap:
        return x1, 0.0
    if coef @ xmin >= cap:
        return xmin, float("inf")
    lo, hi = 0.0, 1e-9
    while coef @ response(hi) > cap:
        lo, hi = hi, hi * 4.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if coef @ response(mid) > cap:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return response(hi), hi


def _capacity(pl: Pools, x: np.ndarray) -> np.ndarray:
    return pl.gpus * np.array([float(c.value(np.array([xi]))[0]) for c, xi in zip(pl.curves, x, strict=True)])


@dataclass
class Split:
    """The split of the pools' capacity over the tiers (``split_capacity``).

    x (n_pools, n_tiers) GPU-equivalents serving each tier; z (n_pools,) GPU-equivalents doing prefill;
    tokens_per_s (n_tiers,) output tokens/s; revenue_usd_per_s (n_tiers,) (training tiers: GPU-seconds x price);
    demand_multiplier_usd_per_tok (n_tiers,) and prefill_multiplier_usd_per_tok (the LP's duals).
    """

    x: np.ndarray
    z: np.ndarray
    tokens_per_s: np.ndarray
    revenue_usd_per_s: np.ndarray
    demand_multiplier_usd_per_tok: np.ndarray
    prefill_multiplier_usd_per_tok: float
    prefill_tok_s: float

    @property
    def total_usd_per_s(self) -> float:
        return float(self.revenue_usd_per_s.sum())


def split_capacity(pl: Pools, capacity: np.ndarray) -> Split:
    """Best split of the capacities ``capacity`` (n_pools,) GPU-equivalents over the tiers: the LP of the module
    docstring at fixed caps, solved with HiGHS (scipy)."""
    from scipy.optimize import linprog

    tt = pl.tiers
    rate = pl.rate()
    pre = pl.prefill()
    dec = pl.decode_only()
    nP, nT = pl.n, tt.n
    var = [(g, t) for g in range(nP) for t in range(nT) if rate[g, t] > 0 and tt.priced[t]]
    need_prefill = any(dec[g] for g, _ in var)
    zvar = [g for g in range(nP) if pre[g] > 0] if need_prefill else []
    nx, nz = len(var), len(zvar)
    n = nx + nz
    price = tt.price_usd_per_tok
    c = np.zeros(n)
    A, b, rows_kind = [], [], []
    for i, (g, t) in enumerate(var):
        c[i] = -price[t] * rate[g, t]
    for g in range(nP):  # capacity rows
        if not pl.inference[g]:
            continue
        row = np.zeros(n)
        for i, (gg, _) in enumerate(var):
            if gg == g:
                row[i] = 1.0
        for j, gg in enumerate(zvar):
            if gg == g:
                row[nx + j] = 1.0
        if row.any():
            A.append(row)
            b.append(max(float(capacity[g]), 0.0))
            rows_kind.append(("cap", g))
    for t in range(nT):  # demand rows
        if not np.isfinite(tt.demand_limit_tok_s[t]):
            continue
        row = np.zeros(n)
        for i, (g, tt_) in enumerate(var):
            if tt_ == t:
                row[i] = rate[g, t]
        if row.any():
            A.append(row)
            b.append(float(tt.demand_limit_tok_s[t]))
            rows_kind.append(("demand", t))
    for t in range(nT):  # share rows: tokens of t <= share_t x tokens of every priced inference tier
        if not np.isfinite(tt.share[t]):
            continue
        row = np.zeros(n)
        for i, (g, u) in enumerate(var):
            row[i] = rate[g, u] * ((1.0 if u == t else 0.0) - tt.share[t])
        A.append(row)
        b.append(0.0)
        rows_kind.append(("share", t))
    if need_prefill:
        row = np.zeros(n)
        for i, (g, t) in enumerate(var):
            if dec[g]:
                row[i] = tt.input_output_ratio[t] * rate[g, t]
        for j, g in enumerate(zvar):
            row[nx + j] = -pre[g]
        A.append(row)
        b.append(0.0)
        rows_kind.append(("prefill", -1))
    xs = np.zeros((nP, nT))
    zs = np.zeros(nP)
    nu = np.zeros(nT)
    rho = 0.0
    if n:
        res = linprog(c, A_ub=np.array(A), b_ub=np.array(b), bounds=(0, None), method="highs")
        if res.status != 0:  # pragma: no cover - the LP is always feasible (0 is) and bounded (by capacity)
            raise InputError(f"tier split LP failed: {res.message}")
        for i, (g, t) in enumerate(var):
            xs[g, t] = res.x[i]
        for j, g in enumerate(zvar):
            zs[g] = res.x[nx + j]
        duals = -res.ineqlin.marginals
        for (kind, k), d in zip(rows_kind, duals, strict=True):
            if kind == "demand":
                nu[k] = d
            elif kind == "prefill":
                rho = d
    tokens = (xs * rate).sum(axis=0)
    rev = tokens * price
    train_rev = np.where(~pl.inference, capacity * tt.price_usd_per_gpu_s[np.maximum(pl.tier, 0)], 0.0)
    rev = rev + np.bincount(np.maximum(pl.tier, 0), weights=train_rev, minlength=nT)
    pre_tok = float((zs * pre).sum())
    return Split(xs, zs, tokens, rev, nu, rho, pre_tok)


def _served(pl: Pools, choice: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, float]:
    """Tokens/s per tier and net prefill (supply - need) of the pools' choices at capacities ``cap``."""
    tt = pl.tiers
    rate = pl.rate()
    served = np.zeros(tt.n)
    pre_net = 0.0
    for g in range(pl.n):
        k = choice[g]
        if k < 0:
            continue
        if k == tt.n:
            pre_net += cap[g] * pl.prefill()[g]
        else:
            tok = cap[g] * rate[g, k]
            served[k] += tok
            if pl.decode_only()[g]:
                pre_net -= tok * tt.input_output_ratio[k]
    return served, pre_net


@dataclass
class DualState:
    nu: np.ndarray
    rho: float
    dual_value: float
    x: np.ndarray
    budget_multiplier: float
    iterations: int
    gap: float
    sigma: np.ndarray  # share multipliers (n_tiers,)


def dual_values(pl: Pools, lin: LinearFacility, tol: float = 1e-5, max_iter: int = 60) -> DualState:
    """Multipliers of the demand and prefill rows minimising the dual function on the linearised facility
    (Kelley's cutting planes; see the module docstring)."""
    from scipy.optimize import linprog

    tt = pl.tiers
    finite = np.isfinite(tt.demand_limit_tok_s) & tt.inference & tt.priced
    dem_idx = np.flatnonzero(finite)
    sh_idx = np.flatnonzero(np.isfinite(tt.share))
    nd, ns = len(dem_idx), len(sh_idx)
    coupled = bool(np.any(pl.decode_only()))
    k = nd + ns + int(coupled)

    def unpack(mu: np.ndarray):
        nu, sigma = np.zeros(tt.n), np.zeros(tt.n)
        nu[dem_idx] = mu[:nd]
        sigma[sh_idx] = mu[nd : nd + ns]
        return nu, sigma, (float(mu[-1]) if coupled else 0.0)

    def evaluate(mu: np.ndarray):
        nu, sigma, rho = unpack(mu)
        v, choice = pool_values(pl, nu, rho, sigma)
        x, lam = _water_fill(pl, v, lin)
        cap = _capacity(pl, x)
        h = float(np.dot(v, cap) + np.dot(nu[dem_idx], tt.demand_limit_tok_s[dem_idx]))
        served, pre_net = _served(pl, choice, cap)
        total = float(served[tt.inference & tt.priced].sum())
        grad = np.concatenate(
            [
                tt.demand_limit_tok_s[dem_idx] - served[dem_idx],
                tt.share[sh_idx] * total - served[sh_idx],
                [pre_net] if coupled else [],
            ]
        )
        return h, grad, x, lam

    mu = np.zeros(k)
    h, grad, x, lam = evaluate(mu)
    best = (h, mu.copy(), x, lam)
    if k == 0:
        return DualState(np.zeros(tt.n), 0.0, h, x, lam, 0, 0.0, np.zeros(tt.n))
    pmax = float(np.max(tt.price_usd_per_tok)) if tt.n else 1.0
    ub = np.concatenate([tt.price_usd_per_tok[dem_idx], np.full(ns, pmax), [pmax] if coupled else []])
    ub = np.maximum(ub, 1e-12)
    scale = ub.copy()  # work in mu / ub (well-scaled master LP)
    cuts_g, cuts_c = [], []
    it, gap = 0, np.inf
    while it < max_iter:
        it += 1
        # cut: theta >= h + grad . (mu - mu_j)  ->  grad_s . m - theta <= grad . mu_j - h
        gs = grad * scale
        cuts_g.append(np.concatenate([gs, [-1.0]]))
        cuts_c.append(float(np.dot(grad, mu) - h))
        c = np.zeros(k + 1)
        c[-1] = 1.0
        res = linprog(
            c,
            A_ub=np.array(cuts_g),
            b_ub=np.array(cuts_c),
            bounds=[(0.0, 1.0)] * k + [(None, None)],
            method="highs",
        )
        if res.status != 0:
            break
        lower = float(res.x[-1])
        gap = (best[0] - lower) / max(abs(best[0]), 1e-12)
        if gap <= tol:
            break
        mu = res.x[:k] * scale
        h, grad, x, lam = evaluate(mu)
        if h < best[0]:
            best = (h, mu.copy(), x, lam)
    h, mu, x, lam = best
    nu, sigma, rho = unpack(mu)
    return DualState(nu, rho, h, x, lam, it, float(gap), sigma)


def solve_linearised(pl: Pools, lin: LinearFacility, tol: float = 1e-5) -> dict:
    """Revenue optimum on the linearised facility (budget only): dual multipliers, powers, then the LP split.

    Returns dict with x (power fraction per pool), capacity (GPU-equivalents), split (:class:`Split`),
    revenue_usd_per_s, budget_multiplier_usd_per_s_per_w, dual (the :class:`DualState`)."""
    d = dual_values(pl, lin, tol=tol)
    cap = _capacity(pl, d.x)
    sp = split_capacity(pl, cap)
    return {
        "x": d.x,
        "capacity": cap,
        "split": sp,
        "revenue_usd_per_s": sp.total_usd_per_s,
        "budget_multiplier_usd_per_s_per_w": d.budget_multiplier,
        "dual": d,
    }


def check_reachable(pl: Pools) -> list[str]:
    """Priced inference tiers no rack of the facility can serve (interactivity beyond every frontier, or a
    decode-only rack without any prefill rack): messages."""
    tt = pl.tiers
    rate = pl.rate()
    dec = pl.decode_only()
    can_prefill = bool(np.any(pl.prefill() > 0))
    ok = ((rate > 0) & (~dec[:, None] | can_prefill)).any(axis=0)
    out = []
    acc = np.unique(pl.acc[pl.inference])
    reach = ", ".join(
        f"{pl.rates.names[a]} up to {pl.rates.max_interactivity_tok_s_per_user[a]:g}" for a in acc
    )
    for t in np.flatnonzero(tt.inference & tt.priced & ~ok):
        out.append(
            f"tier '{tt.names[t]}' at {tt.interactivity_tok_s_per_user[t]:g} tokens/s per user: no rack of the "
            f"facility reaches it (frontiers: {reach or 'no inference rack'} tokens/s per user"
            + ("; decode-only racks need a prefill rack" if dec.any() and not can_prefill else "")
            + ")"
        )
    return out


@dataclass
class RevenueResult:
    """Revenue Max-Q (or pricing of given caps): KPIs, per-tier table and the Max-Q result used."""

    kpis: dict
    tiers: pd.DataFrame
    maxq: object | None = None
    split: Split | None = None
    rack_value: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    cooling: object | None = None  # twin.maxq.cooling.CoolingResult with optimize_cooling


def _tier_frame(pl: Pools, sp: Split) -> pd.DataFrame:
    tt = pl.tiers
    return pd.DataFrame(
        {
            "tier": list(tt.names),
            "kind": np.where(tt.inference, "inference", "training"),
            "interactivity_tok_s_per_user": np.where(tt.inference, tt.interactivity_tok_s_per_user, np.nan),
            "price_usd_per_mtok": np.where(tt.inference, tt.price_usd_per_tok * 1e6, np.nan),
            "demand_limit_tokens_per_s": np.where(
                np.isfinite(tt.demand_limit_tok_s), tt.demand_limit_tok_s, np.nan
            ),
            "tokens_per_s": sp.tokens_per_s,
            "revenue_usd_per_h": sp.revenue_usd_per_s * 3600.0,
            "demand_price_usd_per_mtok": sp.demand_multiplier_usd_per_tok * 1e6,
        }
    )


def _kpis(pl: Pools, sp: Split, facility_mw: float, shadow_usd_per_mwh: float) -> dict:
    rev_h = sp.total_usd_per_s * 3600.0
    return {
        "revenue_usd_per_h": rev_h,
        "revenue_usd_per_mwh": rev_h / facility_mw if facility_mw > 0 else float("nan"),
        "shadow_price_grid_usd_per_mwh": shadow_usd_per_mwh,
        "tier_tokens_per_s": float(sp.tokens_per_s.sum()),
        "prefill_tokens_per_s": sp.prefill_tok_s,
    }


def _rack_capacity(pl: Pools, perf: PerfModel, caps_w: np.ndarray, on: np.ndarray | None) -> np.ndarray:
    x = np.minimum(np.asarray(caps_w, dtype=float) / perf.gpu_power_max_w, 1.0)
    rel = perf.fraction_value(x)
    g = perf.gpus * rel * (1.0 if on is None else np.asarray(on, dtype=float))
    # the pool's curve is the rack's (same accelerator and kind): relative throughput from perf's curve
    return np.bincount(pl.rack_pool, weights=g, minlength=pl.n)


def _maxq_capacity(pl: Pools, perf: PerfModel, res, n_racks: int) -> np.ndarray:
    """GPU-equivalents per pool at a feasible Max-Q answer's caps and racks on."""
    caps = res.gpu_cap_w if len(res.gpu_cap_w) == n_racks else None
    if caps is None:  # per-GPU caps (variation): the rack's mean cap
        caps = res.res_racks["gpu_power_w"].to_numpy(dtype=float)
    on = res.racks_on if res.racks_on is not None else res.res_racks["on"].to_numpy(dtype=bool)
    return _rack_capacity(pl, perf, caps, on)


def price_caps(
    model, gpu_cap_w=None, racks_on=None, tiers=None, facility_mw: float | None = None
) -> RevenueResult:
    """Best revenue of a facility at given GPU caps (e.g. tokens Max-Q priced afterwards): the tier split LP.

    Parameters
    ----------
    model : FacilityModel
    gpu_cap_w : numpy.ndarray or None
        (n_racks,) W per GPU; None: every GPU at its maximum power.
    racks_on : numpy.ndarray or None
        (n_racks,) bool; None: every rack on.
    tiers : list of Tier or None
        Default: the layout's.
    facility_mw : float or None
        Facility power for $ per MWh; None: not reported (NaN).
    """
    perf = perf_model(model)
    pl = pools(model, tiers, perf)
    caps = perf.gpu_power_max_w if gpu_cap_w is None else np.asarray(gpu_cap_w, dtype=float)
    cap = _rack_capacity(pl, perf, caps, racks_on)
    sp = split_capacity(pl, cap)
    k = _kpis(pl, sp, facility_mw if facility_mw is not None else float("nan"), float("nan"))
    return RevenueResult(kpis=k, tiers=_tier_frame(pl, sp), split=sp, warnings=check_reachable(pl))


def linearise(model, perf: PerfModel, budget_mw: float, **kw) -> LinearFacility:
    """Facility power vs total GPU power from two coupled solves (every GPU at minimum and at maximum power)."""
    from twin.coupled import solve_coupled

    lo = solve_coupled(model, gpu_cap_w=perf.gpu_power_min_w, **kw)
    hi = solve_coupled(model, gpu_cap_w=perf.gpu_power_max_w, **kw)
    g_lo = float(np.dot(perf.gpus, perf.gpu_power_min_w))
    g_hi = float(np.dot(perf.gpus, perf.gpu_power_max_w))
    a = max((hi.facility_power_w - lo.facility_power_w) / max(g_hi - g_lo, 1.0), 1e-6)
    return LinearFacility(a=a, fixed_w=lo.facility_power_w - a * g_lo, budget_w=budget_mw * 1e6)


def revenue_maxq(
    model,
    *,
    budget_mw: float,
    tiers=None,
    tol: float = 1e-5,
    ambient_c: float | None = None,
    supply_c: float | None = None,
    wet_bulb_c: float | None = None,
    failed=(),
    optimize_cooling: bool = False,
    cooling_options: dict | None = None,
    **maxq_kw,
) -> RevenueResult:
    """Revenue-optimal Max-Q (module docstring): caps by ``optimize_maxq(rack_value=...)`` at the dual optimum
    of the demand / prefill multipliers, then the tier split at those caps.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    budget_mw : float
        Facility power budget at the meter, MW.
    tiers : list of twin.layout.Tier or None
        Service tiers (prices, interactivity, demand limits); None: the layout's.
    tol : float
        Relative gap of the outer (dual) loop.
    ambient_c, supply_c, wet_bulb_c, failed, **maxq_kw
        Passed to :func:`twin.maxq.optimize_maxq`.
    optimize_cooling : bool
        Co-optimise the cooling setpoints per hall (``twin.maxq.cooling.optimize_cooling``) with the caps for
        revenue: the inner Max-Q values a rack token at the dual optimum's $ per token (so the hall searches
        price the budget in $/s per MW), and a round of setpoints is kept only if the tier split's revenue at
        the verified caps rises; the fixed setpoints (``supply_c``) are the start, so the revenue is never
        below theirs. ``supply_c`` may then be one value per hall.
    cooling_options : dict or None
        Further arguments of ``optimize_cooling`` (max_rounds, xtol_k, tcs_flow_scale, optimize_flow, ...).

    Returns
    -------
    RevenueResult
        ``kpis``: revenue_usd_per_h, revenue_usd_per_mwh ($ per MWh of grid energy), shadow_price_grid_usd_per_mwh
        ($/h gained per MW more budget), tier_tokens_per_s, prefill_tokens_per_s, facility_power_mw,
        outer_iterations, seconds; ``tiers``: tokens/s and revenue per tier; ``maxq``: the MaxQResult;
        ``cooling``: the CoolingResult (setpoints table, gains against the fixed setpoints) with
        ``optimize_cooling``.

    Raises
    ------
    InputError
        No priced tier, or a priced tier no rack can reach.
    """
    from twin.maxq.optimize import optimize_maxq

    t0 = time.perf_counter()
    perf = perf_model(model)
    pl = pools(model, tiers, perf)
    if not pl.tiers.priced.any():
        raise InputError(
            "revenue objective: no tier has a price (price_usd_per_mtok or price_usd_per_gpu_hour)"
        )
    unreachable = check_reachable(pl)
    cond = dict(ambient_c=ambient_c, supply_c=supply_c, wet_bulb_c=wet_bulb_c, failed=failed)
    need_dual = (
        bool(np.any(np.isfinite(pl.tiers.demand_limit_tok_s) & pl.tiers.inference & pl.tiers.priced))
        or bool(np.any(np.isfinite(pl.tiers.share)))
        or bool(np.any(pl.decode_only()))
    )
    if need_dual:
        lin = linearise(model, perf, budget_mw, **cond)
        d = dual_values(pl, lin, tol=tol)
        nu, rho, sigma, iters = d.nu, d.rho, d.sigma, d.iterations
    else:
        nu, rho, sigma, iters = np.zeros(pl.tiers.n), 0.0, None, 0
    value, _ = pool_values(pl, nu, rho, sigma)
    per_tok = value[pl.rack_pool] / np.maximum(
        perf.tokens_full_per_gpu, 1e-12
    )  # $ per base token of the rack
    floor = max(float(per_tok.max()), 1e-12) * 1e-9
    rack_value = np.maximum(per_tok, floor)
    cool = None
    if optimize_cooling:
        from twin.maxq.cooling import optimize_cooling as _optimize_cooling

        def revenue_of(r) -> float:
            """The tier split's $/s at a verified Max-Q answer's caps."""
            c = _maxq_capacity(pl, perf, r, model.n_racks)
            return split_capacity(pl, c).total_usd_per_s

        cool = _optimize_cooling(
            model,
            budget_mw=budget_mw,
            rack_value=rack_value,
            objective=revenue_of,
            **cond,
            **maxq_kw,
            **(cooling_options or {}),
        )
        res = cool.maxq
        f = cool.fixed
        r_fix = revenue_of(f) * 3600.0 if f.feasible and f.gpu_cap_w is not None else float("nan")
        cool.kpis["revenue_usd_per_h_fixed"] = r_fix
        cool.kpis["revenue_usd_per_h_gained"] = (
            revenue_of(res) * 3600.0 - r_fix if res.feasible and res.gpu_cap_w is not None else float("nan")
        )
    else:
        res = optimize_maxq(model, budget_mw=budget_mw, rack_value=rack_value, **cond, **maxq_kw)
    if not res.feasible or res.gpu_cap_w is None:
        kp = {"revenue_usd_per_h": 0.0, "feasible": False, "reason": res.reason}
        return RevenueResult(kpis=kp, tiers=pd.DataFrame(), maxq=res, warnings=unreachable)
    cap = _maxq_capacity(pl, perf, res, model.n_racks)
    sp = split_capacity(pl, cap)
    fac_mw = float(res.kpis["facility_power_mw"])
    shadow = float(res.kpis.get("shadow_price_objective_per_s_per_mw", np.nan)) * 3600.0
    k = _kpis(pl, sp, fac_mw, shadow)
    k.update(facility_power_mw=fac_mw, outer_iterations=iters, seconds=time.perf_counter() - t0)
    return RevenueResult(
        kpis=k,
        tiers=_tier_frame(pl, sp),
        maxq=res,
        split=sp,
        rack_value=rack_value,
        warnings=unreachable,
        cooling=cool,
    )
