"""The grid year: 8,760 hours of weather, prices, carbon and curtailment events, answered per strategy.

Strategies (how the site meets the hour's grid limit: the connection, or an event's cap):

- ``fixed``: Max-P, no flexibility: every GPU at full power; a lower limit is met by switching racks off (in
  layout order, as the Max-Q optimizer's ``maxp`` policy does).
- ``maxq``: Max-Q caps under the hour's limit; racks stay on (the optimizer with ``shed=False``). A cap below
  what the site draws with every GPU at its minimum power (the all-on floor) cannot be met with caps alone:
  those hours switch racks off as ``shed`` does, and are counted (``racks_switched_off_hours``).
- ``maxq-cooling``: ``maxq`` with each hall's cooling setpoints (facility-water supply, TCS flow per kW)
  co-optimised with the caps (``twin.maxq.cooling``, the run API's ``maxq={"optimize_cooling": True}``); racks
  stay on (below the all-on floor as ``maxq``: racks switched off as ``shed`` does, at fixed setpoints). Per hour
  the chosen setpoints (mean over halls) and the cooling MW saved against Max-Q at the fixed setpoints.
- ``shed``: Max-Q as ``twin.run`` does it: caps, plus rack shedding where fewer racks at higher caps make
  more tokens (deep events).

Tokens/s and revenue per workload tier are the run API's (``twin.economics``: the ``tiers`` table of each
exact solve, interpolated like the other quantities), not computed here.

Each hour's operating point comes from a response surface of exact solves (``twin.grid.surrogate``), or with
``exact=True`` from an exact solve of its own. A partly curtailed hour (an event that starts or ends inside it,
ramps counted half) is the time-weighted mix of its uncurtailed and curtailed operating points.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.errors import InputError
from twin.grid.data import HOURS, Series, Weather, load_carbon, load_price, load_series_csv, load_weather
from twin.grid.events import Event, hourly_profile, load_events, place_curtailment, resolve_caps
from twin.grid.surrogate import (
    COOLING_QUANTITIES,
    POWER_QUANTITIES,
    Site,
    SolverPool,
    Surface,
    build_surface,
    parallel_map,
)

__all__ = ["STRATEGIES", "YearResult", "simulate_year"]

STRATEGIES = ("fixed", "maxq", "maxq-cooling", "shed")
#: the kind of exact solve behind each Max-Q strategy's response surface (twin.grid.surrogate)
KIND = {"maxq": "maxq", "maxq-cooling": "maxqc", "shed": "shed"}
EUR_USD_2018 = 1.1810  # ECB euro foreign exchange reference rate, USD per EUR, 2018 annual average
NO_LOSS, SOME_LOSS = 0.001, 0.05
NAMES = {
    "maxq": "Max-Q caps",
    "maxq-cooling": "Max-Q caps + cooling setpoints",
    "shed": "Max-Q + shedding",
    "fixed": "Max-P racks on",
}  # token loss that counts as "none" (0.1 %) and "some" (5 %) for flexibility


@dataclass
class YearResult:
    hourly: pd.DataFrame
    kpis: dict[str, dict]
    events: list[Event]
    validation: dict
    meta: dict
    site: Site
    weather: Weather
    price: Series
    carbon: Series
    carbon_marginal: Series | None
    flex_curve: pd.DataFrame = field(default_factory=pd.DataFrame)
    plan: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- node design ---------------------------------------------------------------------------------------------------


def db_nodes(db: np.ndarray, coarse: bool = False) -> np.ndarray:
    """Dry-bulb nodes: the year's extremes and fixed interior points, denser where the heat rejection stages
    (dry coolers run faster, adiabatic pads and trim chillers come in above ~25 C)."""
    lo, hi = float(np.floor(db.min())), float(np.ceil(db.max()))
    inner = (10.0, 24.0, 30.0) if coarse else (0.0, 12.0, 22.0, 27.0, 31.0)
    return np.array(sorted({lo, hi, *[v for v in inner if lo + 2 < v < hi - 1]}))


def dep_nodes(dep: np.ndarray) -> np.ndarray:
    """Wet-bulb depression nodes: saturated air and the year's driest hour."""
    hi = float(np.ceil(dep.max()))
    return np.array([0.0, hi]) if hi > 0.5 else np.array([0.0])


def cap_levels(caps: np.ndarray, tol: float = 1e-3, most: int = 4) -> list[float]:
    """Budget levels for the event caps: caps within ``tol`` (relative) of each other share one level at their
    lowest (never above any of their caps); more than ``most`` such groups: ``most`` levels from the lowest to
    the highest cap."""
    c = np.sort(np.unique(np.asarray(caps, dtype=float)))
    groups = [c[0]]
    for v in c[1:]:
        if v > groups[-1] * (1 + tol):
            groups.append(v)
    if len(groups) > most:
        return list(np.linspace(c[0], c[-1], most))
    return [float(g) for g in groups]


# --- helpers ---------------------------------------------------------------------------------------------------


def _mix(a: dict, b: dict, f: np.ndarray, names) -> dict:
    return {n: (1 - f) * a[n] + f * b[n] for n in names}


def _subset_at_budget(surf: Surface, db, wb, budget) -> tuple[dict, np.ndarray, np.ndarray]:
    """The most racks on (levels of ``surf`` are racks-on counts) whose facility power fits the budget.

    Facility power at each level is interpolated over the weather; between levels it is linear in the number
    of racks. Returns (quantities at that number, racks on, fits-the-budget mask)."""
    zs = surf.z
    f_levels = np.stack([surf(db, wb, np.full(np.shape(db), z))["facility_power_mw"] for z in zs], axis=1)
    n = np.full(np.shape(db), zs[0])
    ok = f_levels[:, 0] <= budget * (1 + 1e-9)
    for j in range(len(zs) - 1):
        fa, fb = f_levels[:, j], f_levels[:, j + 1]
        inside = (fa <= budget) & (fb > budget)
        frac = np.where(fb > fa, (budget - fa) / np.maximum(fb - fa, 1e-12), 0.0)
        cand = zs[j] + frac * (zs[j + 1] - zs[j])
        n = np.where(inside, cand, n)
        n = np.where(fb <= budget, zs[j + 1], n)
    n = np.floor(n + 1e-9)
    out = surf(db, wb, n)
    ok = ok & (out["facility_power_mw"] <= budget * (1 + 1e-6))
    return out, n, ok


def _predict_strategy(
    strategy: str, surfs: dict, db, wb, budget, site: Site
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Operating points at (db, wb, budget) per hour: (quantities, met-the-limit mask, racks-switched-off mask)."""
    names = surfs["names"]
    if strategy == "fixed":
        q, n, ok = _subset_at_budget(surfs["fixed"], db, wb, budget)
        q["_binding"] = np.where(n < site.n_racks, "racks off (Max-P)", "none")
        return q, ok, n < site.n_racks
    if strategy == "shed":
        q = surfs["shed"](db, wb, budget)
        return q, q["_ok"], q["racks_on"] < site.n_racks - 1e-6
    q = surfs[strategy](db, wb, budget)
    feas = q["_ok"]
    off = np.zeros(np.shape(db), bool)
    if "shed" in surfs and (~feas).any():
        s = surfs["shed"](db, wb, budget)
        use = ~feas & s["_ok"]
        if use.any():
            for k in names:
                q[k] = np.where(use, s[k], q[k])
            for k in COOLING_QUANTITIES:  # at the fixed setpoints there
                if k in q:
                    q[k] = np.where(use, np.nan if k != "cooling_saved_vs_maxq_mw" else 0.0, q[k])
            q["_binding"] = np.where(use, "racks shed (below the all-on floor)", q["_binding"])
            feas, off = feas | use, use
    return q, feas, off


# --- the year ------------------------------------------------------------------------------------------------------


@dataclass
class _Inputs:
    """Step 1 of the year: the site, its weather, the hourly series and the events file, as read and checked."""

    site: Site
    weather: Weather
    price: Series
    avg: Series
    marg: Series | None
    sysload: Series | None
    events_in: list[Event]
    cps: list[float]
    db: np.ndarray
    wb: np.ndarray
    dep: np.ndarray
    b0: float
    currency: str
    fx: float


@dataclass
class _Budget:
    """Step 3 of the year: the events and the hour's budget (cap, fraction of the hour at it, which event)."""

    events: list[Event]
    cap: np.ndarray
    frac: np.ndarray
    which: np.ndarray
    ev_h: np.ndarray
    budget_ev: np.ndarray


class _Progress:
    """``stage`` and ``tick`` for the exact solves, reported through ``progress(stage, done, total)``."""

    def __init__(self, progress: Callable[[str, int, int], None] | None):
        self.progress = progress
        self.counter = {"done": 0, "total": 0, "stage": ""}

    def tick(self, k=1):
        self.counter["done"] += k
        if self.progress:
            self.progress(self.counter["stage"], self.counter["done"], self.counter["total"])

    def stage(self, name, n):
        self.counter.update(stage=name, done=0, total=n)
        if self.progress:
            self.progress(name, 0, n)


def _check_args(strategies, events_file, curtailment_pct, eur_usd, objective="tokens") -> None:
    if objective not in ("tokens", "revenue"):
        raise InputError(f"unknown objective {objective!r} (tokens or revenue)")
    for s in strategies:
        if s not in STRATEGIES:
            raise InputError(f"unknown strategy {s!r} (fixed, maxq, maxq-cooling, shed or all)")
    if events_file and curtailment_pct is not None:
        raise InputError("give --events or --curtailment-pct, not both")
    if not 0 < eur_usd < 100:
        raise InputError(f"--eur-usd {eur_usd:g} is not an exchange rate (USD per EUR)")


def _load_inputs(
    layout, weather, prices, carbon, carbon_marginal, system_load, events_file, eur_usd, objective="tokens"
) -> _Inputs:
    """Step 1: the site, weather, prices, carbon and system load, and the events file (read before any solve)."""
    site = Site.from_layout(layout, objective)
    from twin import Scenario

    lay = Scenario(layout=layout).model().layout
    wspec = weather or lay.site.climate
    if not wspec:
        raise InputError(
            "no --weather given and the layout's site names no climate (e.g. climate: tmy3:723170TYA)"
        )
    w = load_weather(wspec, altitude_m=lay.site.altitude_m)
    price = load_price(prices)
    avg, marg = load_carbon(carbon, carbon_marginal)
    sysload = load_series_csv(system_load, "load") if system_load else None
    currency = price.currency
    fx = eur_usd if currency == "EUR" else 1.0
    events_in: list[Event] = []
    cps: list[float] = []
    if events_file:  # read (and checked) before any solve
        events_in, cps = load_events(events_file, w.start)
    db = w.frame["dry_bulb_c"].to_numpy()
    wb = w.frame["wet_bulb_c"].to_numpy()
    return _Inputs(
        site=site,
        weather=w,
        price=price,
        avg=avg,
        marg=marg,
        sysload=sysload,
        events_in=events_in,
        cps=cps,
        db=db,
        wb=wb,
        dep=db - wb,
        b0=site.grid_limit_mw,
        currency=currency,
        fx=fx,
    )


def _base_year(inp: _Inputs, main: str, kind0: str, exact: bool, prog: _Progress, timings: dict):
    """Step 2: the uncurtailed year at the grid connection (needed first: events are relative to it).

    Returns (facility MW per hour, the base surface or None, the exact states or None, the base surface plan)."""
    db, wb, b0 = inp.db, inp.wb, inp.b0
    dbn, depn = db_nodes(db), dep_nodes(inp.dep)
    plan0 = [(b0, dbn, depn)]
    s0 = None
    base_pts = None
    if exact:
        base_pts = _exact_states(main, inp.site, db, wb, np.full(HOURS, b0), prog.stage, prog.tick)
        base_fac = base_pts["facility_power_mw"]
    else:
        prog.stage(f"response surface: {NAMES[kind0]} at the grid connection", len(dbn) * len(depn))
        t = time.perf_counter()
        s0 = build_surface(inp.site, KIND[kind0], plan0, progress=lambda k: prog.tick(k))
        timings["surface_base_s"] = time.perf_counter() - t
        base_fac = s0(db, wb, np.full(HOURS, b0))["facility_power_mw"]
    return base_fac, s0, base_pts, plan0


def _hourly_budget(inp: _Inputs, base_fac, curtailment_pct, curtailment_depth_pct) -> _Budget:
    """Step 3: events -> hourly caps and the budget of each event hour."""
    cps = inp.cps
    events: list[Event] = list(inp.events_in)
    if curtailment_pct is not None:
        events = place_curtailment(
            curtailment_pct,
            base_fac,
            price=inp.price.values,
            system_load_mw=inp.sysload.values if inp.sysload else None,
            depth_pct=curtailment_depth_pct,
            coincident_peaks=cps,
        )
    elif cps:
        events = (
            events
            + place_curtailment(
                100.0, base_fac, price=np.zeros(HOURS), depth_pct=curtailment_depth_pct, coincident_peaks=cps
            )[: len(cps)]
        )
        events.sort(key=lambda e: e.start_h)
    events = resolve_caps(events, base_fac)
    cap, frac, which = hourly_profile(events)
    ev_h = np.flatnonzero(frac > 0)
    budget_ev = np.minimum(cap, inp.b0)
    return _Budget(events, cap, frac, which, ev_h, budget_ev)


def _build_surfaces(
    inp: _Inputs,
    strategies,
    kind0: str,
    s0: Surface,
    plan0: list,
    bud: _Budget,
    prog: _Progress,
    timings: dict,
    t0: float,
) -> tuple[dict, int]:
    """Step 4: response surfaces for the event budgets and the strategies. Returns (surfaces, exact nodes)."""
    site, db, wb, dep, b0, ev_h = inp.site, inp.db, inp.wb, inp.dep, inp.b0, bud.ev_h
    surfs: dict = {"names": site.names("maxq")}
    n_nodes = 0
    surfs[kind0] = s0
    n_nodes += s0.nodes
    caps_needed = bud.budget_ev[ev_h] if ev_h.size else np.zeros(0)
    extra = []
    if caps_needed.size:
        cdb = db_nodes(db[ev_h], coarse=True)
        cdep = dep_nodes(dep[ev_h]) if db[ev_h].max() >= 24.0 else np.array([float(np.median(dep[ev_h]))])
        extra = [(z, cdb, cdep) for z in cap_levels(caps_needed) if z < b0 * (1 - 1e-9)]
    t = time.perf_counter()
    if extra:
        prog.stage(
            f"response surface: {NAMES[kind0]} at the event caps",
            sum(len(a) * len(b) for _, a, b in extra),
        )
        s1 = build_surface(site, KIND[kind0], extra, progress=lambda k: prog.tick(k))
        n_nodes += s1.nodes
        surfs[kind0] = Surface(KIND[kind0], s1.levels + s0.levels, s0.names, None, s0.nodes + s1.nodes)
    # the other caps-only strategy (maxq-cooling next to maxq): its own surface at the connection and the caps
    for strat in ("maxq", "maxq-cooling"):
        if strat in strategies and strat not in surfs:
            plan = plan0 + extra
            prog.stage(f"response surface: {NAMES[strat]}", sum(len(a) * len(b) for _, a, b in plan))
            surfs[strat] = build_surface(site, KIND[strat], plan, progress=lambda k: prog.tick(k))
            n_nodes += surfs[strat].nodes
    # shed: its own surface when asked for; for the caps-only strategies, at the event caps where caps alone
    # cannot meet them
    caps_only = [surfs[x] for x in ("maxq", "maxq-cooling") if x in surfs]
    if caps_only and (
        "shed" in strategies or (extra and not all(lv.feasible.all() for sf in caps_only for lv in sf.levels))
    ):
        plan = (plan0 if "shed" in strategies else []) + extra
        if plan:
            prog.stage(f"response surface: {NAMES['shed']}", sum(len(a) * len(b) for _, a, b in plan))
            surfs["shed"] = build_surface(site, "shed", plan, progress=lambda k: prog.tick(k))
            n_nodes += surfs["shed"].nodes
    timings["surface_events_s"] = time.perf_counter() - t
    if "fixed" in strategies:
        surfs["fixed"] = _subset_surface(site, db, wb, dep, ev_h, caps_needed, b0, prog.stage, prog.tick)
        n_nodes += surfs["fixed"].nodes
    timings["surfaces_s"] = time.perf_counter() - t0
    return surfs, n_nodes


def _strategy_hours(
    strat: str,
    inp: _Inputs,
    bud: _Budget,
    surfs: dict,
    exact: bool,
    main: str,
    base_pts: dict | None,
    prog: _Progress,
) -> pd.DataFrame:
    """Step 5: one strategy's hours: the uncurtailed operating point, mixed in event hours with the point at
    the event's budget (by the fraction of the hour at it); as the hourly table of that strategy."""
    site, db, wb, b0 = inp.site, inp.db, inp.wb, inp.b0
    ev_h, names = bud.ev_h, site.names(KIND.get(strat, "subset"))
    if exact:
        st0 = (
            base_pts
            if strat == main
            else _exact_states(strat, site, db, wb, np.full(HOURS, b0), prog.stage, prog.tick)
        )
        if ev_h.size:
            st1e = _exact_states(strat, site, db[ev_h], wb[ev_h], bud.budget_ev[ev_h], prog.stage, prog.tick)
        q0, ok0, off0 = st0, st0["_ok"], st0["_off"]
    else:
        q0, ok0, off0 = _predict_strategy(strat, surfs, db, wb, np.full(HOURS, b0), site)
    q = {n: np.array(q0[n], dtype=float) for n in names}
    binding = np.array(q0["_binding"], dtype=object)
    met = np.array(ok0, bool)
    off_ev = np.zeros(HOURS, bool)
    q_base = {n: q[n].copy() for n in names}
    if ev_h.size:
        if exact:
            q1, ok1, off1 = st1e, st1e["_ok"], st1e["_off"]
        else:
            q1, ok1, off1 = _predict_strategy(strat, surfs, db[ev_h], wb[ev_h], bud.budget_ev[ev_h], site)
        f = bud.frac[ev_h]
        for n in names:
            q[n][ev_h] = (1 - f) * q[n][ev_h] + f * np.asarray(q1[n], float)
        binding[ev_h] = np.where(f >= 0.5, np.asarray(q1["_binding"], dtype=object), binding[ev_h])
        met[ev_h] &= np.asarray(ok1, bool)
        off_ev[ev_h] = np.asarray(off1, bool)
    frame = _hourly_frame(
        strat,
        site,
        inp.weather,
        inp.price,
        inp.avg,
        inp.marg,
        b0,
        bud.cap,
        bud.frac,
        bud.which,
        bud.events,
        q,
        q_base,
        binding,
        inp.fx,
    )
    frame["limit_met"] = met
    frame["racks_switched_off"] = off_ev | np.asarray(off0, bool)
    return frame


def _meta(layout, inp: _Inputs, strategies, exact, eur_usd, n_nodes, timings, t0, pool: SolverPool) -> dict:
    """Step 8: what was computed, from what, in how long."""
    w, price, avg, marg, currency = inp.weather, inp.price, inp.avg, inp.marg, inp.currency
    return {
        "layout": layout,
        "site": inp.site.name,
        "strategies": list(strategies),
        "exact": exact,
        "weather": w.source,
        "prices": price.source,
        "price_currency": currency,
        "eur_usd": eur_usd if currency == "EUR" else None,
        "carbon": avg.source,
        "carbon_marginal": marg.source if marg is not None else None,
        "grid_limit_mw": inp.b0,
        "objective": inp.site.objective,
        "clock": f"hour 0 = 1 January 00:00 on each series' own clock; site: {w.start}",
        "surface_nodes": n_nodes,
        "timings_s": timings,
        "wall_time_s": time.perf_counter() - t0,
        "workers": pool.workers,
        "engine": pool.description,
    }


def simulate_year(
    layout: str,
    *,
    weather: str | None = None,
    prices: str = "de-2018",
    carbon: str = "de-2018",
    carbon_marginal: str | None = None,
    events_file: str | None = None,
    curtailment_pct: float | None = None,
    curtailment_depth_pct: float = 25.0,
    system_load: str | None = None,
    strategies: tuple[str, ...] = ("maxq",),
    exact: bool = False,
    validate_hours: int = 24,
    validate_event_hours: int = 4,
    seed: int = 0,
    eur_usd: float = EUR_USD_2018,
    progress: Callable[[str, int, int], None] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    objective: str = "tokens",
) -> YearResult:
    """Simulate one year, hour by hour, for each strategy. See the module docstring.

    ``objective`` is Max-Q's (the run API's ``maxq.objective``) in the Max-Q strategies: ``tokens``, or
    ``revenue`` (caps and tier split for the most $/h; with ``maxq-cooling`` the cooling setpoints are
    co-optimised for the revenue too).

    ``progress(stage, done, total)`` is called as exact solves finish. The exact solves (the response
    surfaces' nodes, the validation hours, or every hour with ``exact``) run on the study engine's Dask
    cluster: ``workers`` local processes (default: ``TWIN_GRID_WORKERS`` or the CPU count; 1 solves in this
    process), or an existing cluster at ``scheduler`` (see :class:`twin.grid.surrogate.SolverPool`).
    """
    _check_args(strategies, events_file, curtailment_pct, eur_usd, objective)
    with SolverPool(workers, scheduler) as pool:
        return _simulate(
            layout,
            pool,
            weather=weather,
            prices=prices,
            carbon=carbon,
            carbon_marginal=carbon_marginal,
            events_file=events_file,
            curtailment_pct=curtailment_pct,
            curtailment_depth_pct=curtailment_depth_pct,
            system_load=system_load,
            strategies=strategies,
            exact=exact,
            validate_hours=validate_hours,
            validate_event_hours=validate_event_hours,
            seed=seed,
            eur_usd=eur_usd,
            progress=progress,
            objective=objective,
        )


def _simulate(
    layout,
    pool,
    *,
    weather,
    prices,
    carbon,
    carbon_marginal,
    events_file,
    curtailment_pct,
    curtailment_depth_pct,
    system_load,
    strategies,
    exact,
    validate_hours,
    validate_event_hours,
    seed,
    eur_usd,
    progress,
    objective="tokens",
) -> YearResult:
    """The steps of :func:`simulate_year`, its exact solves on ``pool``."""
    t0 = time.perf_counter()
    # 1. inputs
    inp = _load_inputs(
        layout, weather, prices, carbon, carbon_marginal, system_load, events_file, eur_usd, objective
    )
    site, db, wb, b0 = inp.site, inp.db, inp.wb, inp.b0
    prog = _Progress(progress)
    # the strategy whose uncurtailed year places the events (they are relative to its draw)
    main = next((x for x in ("maxq", "maxq-cooling", "shed") if x in strategies), "shed")
    kind0 = main
    timings: dict = {}
    # 2. the uncurtailed year at the grid connection
    base_fac, s0, base_pts, plan0 = _base_year(inp, main, kind0, exact, prog, timings)
    if pool.started:  # the workers are forked: the report's renderer is imported while they solve
        from twin.render import preload

        preload()
    # 3. events -> hourly caps
    bud = _hourly_budget(inp, base_fac, curtailment_pct, curtailment_depth_pct)
    # 4. surfaces for the event budgets and the strategies
    if exact:
        surfs, n_nodes = {"names": site.names("maxq")}, 0
    else:
        surfs, n_nodes = _build_surfaces(inp, strategies, kind0, s0, plan0, bud, prog, timings, t0)
    # 5. the hours, per strategy; their KPIs
    frames, kpis = [], {}
    for strat in strategies:
        frame = _strategy_hours(strat, inp, bud, surfs, exact, main, base_pts, prog)
        frames.append(frame)
        kpis[strat] = _kpis(frame, site, bud.events, b0, inp.currency, inp.fx)
    hourly = pd.concat(frames, ignore_index=True)
    flex = pd.DataFrame()
    validation = {}
    if not exact:
        # 6. flexibility: MW the site can shed for an hour at no / some token loss (Max-Q curve, median weather)
        flex = _flex(site, surfs, db, wb, hourly, kpis, strategies, prog.stage, prog.tick)
        # 7. validation of the surfaces against exact solves at random hours (and event hours)
        t = time.perf_counter()
        validation = _validate(
            site,
            strategies,
            surfs,
            db,
            wb,
            b0,
            bud.ev_h,
            bud.budget_ev,
            validate_hours,
            validate_event_hours,
            seed,
            prog.stage,
            prog.tick,
        )
        timings["validation_s"] = time.perf_counter() - t
    # 8. meta and the plan view
    plan_df = _site_plan(site, surfs, db, wb, b0, strategies)
    meta = _meta(layout, inp, strategies, exact, eur_usd, n_nodes, timings, t0, pool)
    return YearResult(
        hourly,
        kpis,
        bud.events,
        validation,
        meta,
        site,
        inp.weather,
        inp.price,
        inp.avg,
        inp.marg,
        flex,
        plan_df,
    )


def _subset_surface(site, db, wb, dep, ev_h, budgets, b0, stage, tick) -> Surface:
    """Racks-on levels bracketing the racks that fit each budget (all counts for a small site)."""
    n_all = site.n_racks
    mid_db = float(np.median(db))
    mid_wb = float(np.median(wb))
    from twin.grid.surrogate import solve_point

    # facility power vs racks on at median weather, from two exact solves: where to put the levels
    half = max(n_all // 2, 1)
    p_all = solve_point(site, "subset", mid_db, mid_wb, n_all, 1.0)["facility_power_mw"]
    p_half = solve_point(site, "subset", mid_db, mid_wb, half, 1.0)["facility_power_mw"]
    slope = max((p_all - p_half) / max(n_all - half, 1), 1e-9)
    targets = list(np.unique(np.round(budgets, 6)))
    if b0 is not None:
        targets.append(b0)
    counts: set[int] = set()
    for b in targets:
        n_est = half + (b - p_half) / slope
        pad = max(2, int(0.04 * n_all))
        lo_n, hi_n = int(np.floor(n_est)) - pad, int(np.ceil(n_est)) + pad
        lo_n, hi_n = max(lo_n, 1), min(hi_n, n_all)
        if lo_n > hi_n:
            lo_n = hi_n = n_all if n_est > n_all else 1
        if n_all <= 64:
            counts.update(range(lo_n, hi_n + 1))
        else:
            counts.update({lo_n, hi_n})
    zs = sorted(counts)
    if len(zs) == 1:
        zs = sorted({max(zs[0] - 1, 1), zs[0]})
    hours = np.unique(np.concatenate([ev_h, np.arange(HOURS)])) if b0 is not None else ev_h
    cdb = db_nodes(db[hours], coarse=True)
    cdep = dep_nodes(dep[hours])
    plan = [(float(z), cdb, cdep) for z in zs]
    stage("response surface: Max-P racks on", sum(len(a) * len(b) for _, a, b in plan))
    return build_surface(site, "subset", plan, x=1.0, progress=lambda k: tick(k))


def _exact_states(strat, site, db, wb, budget, stage, tick) -> dict:
    """Exact operating points for a strategy at each (db, wb, budget) (identical inputs solved once)."""
    key = np.round(np.stack([db, wb, budget], 1), 9)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    kind = {"fixed": "fit", **KIND}[strat]
    tasks = [(kind, d, b, bud, 1.0 if kind == "fit" else None) for d, b, bud in uniq]
    stage(f"exact solves ({strat})", len(tasks))
    res = parallel_map(site, tasks, progress=lambda k: tick(k))
    if strat in ("maxq", "maxq-cooling"):  # below the all-on floor: racks switched off as shed does
        redo = [i for i, r in enumerate(res) if not r.get("feasible")]
        if redo:
            extra = parallel_map(site, [("shed", *uniq[i], None) for i in redo], progress=lambda k: tick(k))
            for i, r in zip(redo, extra, strict=True):
                if r.get("feasible"):
                    res[i] = {**r, "binding": "racks shed (below the all-on floor)", "_off": True}
    names = site.names(kind)
    out = {
        n: np.array([res[i].get(n, np.nan) if res[i].get("feasible") else np.nan for i in inv]) for n in names
    }
    out["_ok"] = np.array([bool(res[i].get("feasible")) for i in inv])
    out["_binding"] = np.array([res[i].get("binding", "none") for i in inv], dtype=object)
    out["_off"] = np.array(
        [bool(res[i].get("_off", res[i].get("racks_on", site.n_racks) < site.n_racks)) for i in inv]
    )
    for n in names:
        if n not in COOLING_QUANTITIES[:2]:  # a setpoint not chosen (racks shed below the floor) stays NaN
            out[n] = np.nan_to_num(out[n])
    return out


def _hourly_frame(strat, site, w, price, avg, marg, b0, cap, frac, which, events, q, q_base, binding, fx):
    fac = q["facility_power_mw"]
    tok = q["tokens_per_s"]
    df = pd.DataFrame(
        {
            "strategy": strat,
            "hour": np.arange(HOURS),
            "time": w.times,
            "dry_bulb_c": w.frame["dry_bulb_c"].to_numpy(),
            "wet_bulb_c": w.frame["wet_bulb_c"].to_numpy(),
            "price_per_mwh": price.values,
            "carbon_g_per_kwh": avg.values,
            "carbon_marginal_g_per_kwh": marg.values if marg is not None else np.nan,
            # the hour's mean limit: the event cap for the part of the hour at it, the connection otherwise
            "limit_mw": np.where(frac > 0, (1 - frac) * b0 + frac * np.minimum(cap, b0), b0),
            "event": [events[k].name if k >= 0 else "" for k in which],
            "event_fraction": frac,
        }
    )
    for n in POWER_QUANTITIES:
        df[n] = q[n]
    df["pue"] = fac / np.maximum(q["it_input_power_mw"], 1e-12)
    df["water_m3"] = q["water_use_m3_h"]  # one hour at m3/h
    df["racks_on"] = q["racks_on"]
    df["tokens_per_s"] = tok
    # tokens/s and revenue per tier: the run API's (twin.economics tiers table), one hour at USD/h
    rev = np.zeros(HOURS)
    rev_lost = np.zeros(HOURS)
    for t, key, rkey in zip(site.tiers, site.tier_keys, site.revenue_keys, strict=True):
        df[f"tokens_per_s_{t}"] = q[key]
        df[f"revenue_usd_{t}"] = q[rkey]
        rev += q[rkey]
        rev_lost += q_base[rkey] - q[rkey]
    df["revenue_usd"] = rev
    df["energy_cost"] = fac * price.values  # price currency
    df["energy_cost_usd"] = df["energy_cost"] * fx
    df["emissions_t"] = fac * avg.values / 1000.0  # MWh x g/kWh = kg; / 1000 -> t
    df["emissions_marginal_t"] = fac * (marg.values if marg is not None else np.nan) / 1000.0
    df["curtailed_mw"] = np.maximum(q_base["facility_power_mw"] - fac, 0.0) * (frac > 0)
    df["tokens_lost"] = np.maximum(q_base["tokens_per_s"] - tok, 0.0) * 3600 * (frac > 0)
    df["revenue_lost_usd"] = np.maximum(rev_lost, 0.0) * (frac > 0)
    if "supply_setpoint_mean_c" in q:  # maxq-cooling: the setpoints chosen, the cooling saved vs Max-Q
        df["supply_setpoint_mean_c"] = q["supply_setpoint_mean_c"]
        df["tcs_flow_mean_lpm_per_kw"] = q["tcs_flow_mean_lpm_per_kw"]
        df["cooling_saved_vs_maxq_mw"] = q["cooling_saved_vs_maxq_mw"]
    df["binding"] = binding.astype(str)
    df["balance_error_mw"] = fac - (
        q["it_power_mw"] + q["network_power_mw"] + q["cooling_power_mw"] + q["electrical_loss_mw"]
    )
    return df


def _kpis(df: pd.DataFrame, site: Site, events: list[Event], b0: float, currency: str, fx: float) -> dict:
    fac = df["facility_power_mw"].to_numpy()
    energy = float(fac.sum())
    peak = float(fac.max())
    month = df["time"].dt.month.to_numpy()
    pue_m = [
        float(fac[month == m].sum() / max(df["it_input_power_mw"].to_numpy()[month == m].sum(), 1e-12))
        for m in range(1, 13)
    ]
    groups = {}
    for e in events:
        key = e.group if e.group >= 0 else id(e)
        g = groups.setdefault(key, [e.start_h, e.end_h])
        g[0], g[1] = min(g[0], e.start_h), max(g[1], e.end_h)
    ev = df["event_fraction"].to_numpy() > 0
    base_peak = peak
    depth = []
    for e in events:
        h0 = max(int(np.floor(e.start_h)) - 1, 0) if e.start_h >= 1 else 0
        pre = float(df["facility_power_mw"].iloc[h0] + df["curtailed_mw"].iloc[h0])
        depth.append(100.0 * (1 - e.cap_mw / pre) if pre > 0 else 0.0)
    curtailed = float(df["curtailed_mw"].sum())
    k = {
        "annual_energy_mwh": energy,
        "peak_mw": peak,
        "load_factor": energy / (peak * HOURS) if peak > 0 else 0.0,
        "interconnection_use_pct": 100.0 * energy / (b0 * HOURS),
        "pue_annual": energy / max(float(df["it_input_power_mw"].sum()), 1e-12),
        "pue_worst_month": max(pue_m),
        "pue_worst_month_name": pd.Timestamp(2018, int(np.argmax(pue_m)) + 1, 1).strftime("%B"),
        "water_m3": float(df["water_m3"].sum()),
        "energy_cost": float(df["energy_cost"].sum()),
        "price_currency": currency,
        "energy_cost_usd": float(df["energy_cost_usd"].sum()),
        "emissions_t": float(df["emissions_t"].sum()),
        "emissions_marginal_t": float(df["emissions_marginal_t"].sum())
        if df["emissions_marginal_t"].notna().all()
        else None,
        "tokens": float(df["tokens_per_s"].sum() * 3600),
        "revenue_usd": float(df["revenue_usd"].sum()),
        "margin_usd": float(df["revenue_usd"].sum() - df["energy_cost_usd"].sum()),
        "tokens_by_tier": {t: float(df[f"tokens_per_s_{t}"].sum() * 3600) for t in site.tiers},
        "revenue_usd_by_tier": {t: float(df[f"revenue_usd_{t}"].sum()) for t in site.tiers},
        "curtailment_events": len(groups),
        "curtailment_hours": float(df["event_fraction"].sum()),
        "curtailed_mwh": curtailed,
        "curtailed_pct_of_max_energy": 100.0 * curtailed / (base_peak * HOURS) if base_peak > 0 else 0.0,
        "max_event_depth_pct": max(depth) if depth else 0.0,
        "max_event_duration_h": max((g[1] - g[0] for g in groups.values()), default=0.0),
        "tokens_lost": float(df["tokens_lost"].sum()),
        "revenue_lost_usd": float(df["revenue_lost_usd"].sum()),
        "tokens_lost_per_mwh_curtailed": float(df["tokens_lost"].sum() / curtailed)
        if curtailed > 0
        else None,
        "limit_exceeded_hours": int((~df["limit_met"]).sum()) if "limit_met" in df else 0,
        "racks_switched_off_hours": int(df.loc[ev, "racks_switched_off"].sum())
        if "racks_switched_off" in df
        else 0,
        "max_balance_error_mw": float(np.abs(df["balance_error_mw"]).max()),
        # maxq-cooling only (None for the other strategies)
        "supply_setpoint_mean_c": float(np.nanmean(df["supply_setpoint_mean_c"]))
        if "supply_setpoint_mean_c" in df and df["supply_setpoint_mean_c"].notna().any()
        else None,
        "cooling_saved_vs_maxq_mwh": float(df["cooling_saved_vs_maxq_mw"].sum())
        if "cooling_saved_vs_maxq_mw" in df
        else None,
    }
    return k


def _flex(site, surfs, db, wb, hourly, kpis, strategies, stage, tick) -> pd.DataFrame:
    """Flexible MW x hours: per hour, how far the site can go below its uncurtailed draw losing at most 0.1 %
    ("no" loss) or 5 % ("some") of its tokens. Max-Q / shed: from the Max-Q tokens-vs-budget curve solved at
    the year's median weather, as relative shape; fixed: racks switched off lose tokens in proportion."""
    b0 = site.grid_limit_mw
    mdb, mwb = float(np.median(db)), float(np.median(wb))
    base = hourly[hourly["strategy"] == strategies[0]]
    draw = float(np.median(base["facility_power_mw"]))
    top = min(draw, b0)
    budgets = np.round(top * np.array([0.97, 0.9]), 6)
    stage("flexibility curve (Max-Q at median weather)", len(budgets))
    kind = next(x for x in ("maxq", "maxq-cooling", "shed") if x in surfs)
    res = parallel_map(
        site, [(KIND[kind], mdb, mwb, float(b), None) for b in budgets], progress=lambda k: tick(k)
    )
    rows = [
        (b, r["facility_power_mw"], r["tokens_per_s"])
        for b, r in zip(budgets, res, strict=True)
        if r.get("feasible")
    ]
    surf = surfs[kind]
    for z in [b0, *[lv.z for lv in surf.levels]]:  # the surface's own levels are exact solves in z
        if z <= b0:
            q = surf(np.array([mdb]), np.array([mwb]), np.array([z]))
            if q["_ok"][0]:
                rows.append((z, float(q["facility_power_mw"][0]), float(q["tokens_per_s"][0])))
    curve = (
        pd.DataFrame(rows, columns=["budget_mw", "facility_power_mw", "tokens_per_s"])
        .drop_duplicates("budget_mw")
        .sort_values("facility_power_mw")
    )
    if len(curve) < 2:
        return curve
    p = curve["facility_power_mw"].to_numpy()
    t = curve["tokens_per_s"].to_numpy() / curve["tokens_per_s"].max()
    for s in strategies:
        fac = hourly.loc[hourly["strategy"] == s, "facility_power_mw"].to_numpy()
        k = kpis[s]
        for label, tol in (("no", NO_LOSS), ("some", SOME_LOSS)):
            if s == "fixed":
                it = hourly.loc[hourly["strategy"] == s, "it_power_mw"].to_numpy()
                mw = (
                    tol * it * (fac / np.maximum(it, 1e-9))
                )  # tol of the racks off, with their share of overhead
                mw = mw if tol >= SOME_LOSS else np.zeros_like(fac)
            else:
                # the draw at which the curve has lost `tol` of the tokens it has at the median draw
                p_tol = float(np.interp(t.max() * (1 - tol), t, p))
                mw = np.clip(fac * (1 - p_tol / p.max()), 0.0, None)
            k[f"flex_mwh_{label}_token_loss"] = float(mw.sum())
            k[f"flex_mw_{label}_token_loss"] = float(np.median(mw))
    return curve


def _validate(site, strategies, surfs, db, wb, b0, ev_h, budget_ev, n_rand, n_ev, seed, stage, tick) -> dict:
    """Exact solves at random hours (uncurtailed) and random event hours (at the event cap), compared with the
    surfaces: relative error of facility MW and tokens/s per strategy."""
    rng = np.random.default_rng(seed)
    hours = np.sort(rng.choice(HOURS, size=min(n_rand, HOURS), replace=False))
    ehours = (
        np.sort(rng.choice(ev_h, size=min(n_ev, ev_h.size), replace=False)) if ev_h.size else np.zeros(0, int)
    )
    cases = [(int(h), b0, "random hour") for h in hours] + [
        (int(h), float(budget_ev[h]), "event hour") for h in ehours
    ]
    tasks, index = [], []
    preds = {}
    for s in strategies:
        hh = np.array([c[0] for c in cases])
        bb = np.array([c[1] for c in cases])
        q, ok, off = _predict_strategy(s, surfs, db[hh], wb[hh], bb, site)
        preds[s] = (q, ok, off)
        for i, (h, b, _) in enumerate(cases):
            if s == "fixed":
                guess = int(q["racks_on"][i])
                tasks.append(("fit", float(db[h]), float(wb[h]), b, 1.0, guess))
            elif s == "shed" or off[i]:
                tasks.append(("shed", float(db[h]), float(wb[h]), b, None))
            else:
                tasks.append((KIND[s], float(db[h]), float(wb[h]), b, None))
            index.append((s, i))
    # identical tasks (maxq and shed at the same hour) are solved once
    keyed = {}
    for t in tasks:
        keyed.setdefault(t, None)
    uniq = list(keyed)
    stage("validation: exact solves at random hours", len(uniq))
    res = parallel_map(site, uniq, progress=lambda k: tick(k))
    exact = dict(zip(uniq, res, strict=True))
    out = {}
    for s in strategies:
        rows = []
        q, ok, off = preds[s]
        for i, (h, b, what) in enumerate(cases):
            t = tasks[strategies.index(s) * len(cases) + i]
            r = exact[t]
            if not r.get("feasible"):
                continue
            row = {
                "hour": h,
                "case": what,
                "budget_mw": b,
                "dry_bulb_c": float(db[h]),
                "wet_bulb_c": float(wb[h]),
            }
            for n in ("facility_power_mw", "tokens_per_s", "cooling_power_mw", "water_use_m3_h", "racks_on"):
                row[f"{n}_surrogate"] = float(q[n][i])
                row[f"{n}_exact"] = float(r[n])
            for n in ("facility_power_mw", "tokens_per_s"):
                row[f"{n}_error_pct"] = (
                    100.0
                    * abs(row[f"{n}_surrogate"] - row[f"{n}_exact"])
                    / max(abs(row[f"{n}_exact"]), 1e-12)
                )
            row["exact_over_limit_mw"] = max(float(r["facility_power_mw"]) - b, 0.0)
            rows.append(row)
        tab = pd.DataFrame(rows)
        summ = {}
        for what in ("random hour", "event hour"):
            sub = tab[tab["case"] == what] if len(tab) else tab
            if len(sub):
                summ[what] = {
                    "hours": int(len(sub)),
                    "facility_power_max_error_pct": float(sub["facility_power_mw_error_pct"].max()),
                    "facility_power_mean_error_pct": float(sub["facility_power_mw_error_pct"].mean()),
                    "tokens_max_error_pct": float(sub["tokens_per_s_error_pct"].max()),
                    "tokens_mean_error_pct": float(sub["tokens_per_s_error_pct"].mean()),
                }
        out[s] = {"table": tab, "summary": summ}
    return out


def _site_plan(site, surfs, db, wb, b0, strategies) -> pd.DataFrame:
    """Racks on the floor (x_m, y_m) with their GPU cap under Max-Q at the connection limit at the year's median
    weather: the response surface's node nearest it (an exact solve), or (``exact``, or no Max-Q surface) an
    exact solve at the median weather itself."""
    surf = surfs.get("maxq") or surfs.get("maxq-cooling") or surfs.get("shed")
    mdb, mwb = float(np.median(db)), float(np.median(wb))
    caps = None
    if surf is not None:
        lv = min(surf.levels, key=lambda v: abs(v.z - b0))
        mdep = float(np.median(db - wb))
        if lv.caps:
            i, j = min(lv.caps, key=lambda ij: (lv.db[ij[0]] - mdb) ** 2 + (lv.dep[ij[1]] - mdep) ** 2)
            caps, pdb, pwb = lv.caps[(i, j)], float(lv.db[i]), float(lv.db[i] - lv.dep[j])
    from_surface = caps is not None
    if caps is None:
        from twin.grid.surrogate import solve_point

        kind = "maxq" if "maxq" in strategies else "shed"
        r = solve_point(site, kind, mdb, mwb, b0)
        if not r.get("feasible") and kind == "maxq":
            r = solve_point(site, "shed", mdb, mwb, b0)
        if not r.get("feasible"):
            return pd.DataFrame()
        caps, pdb, pwb = r["gpu_cap_w"], mdb, mwb
    from twin import Scenario

    names = Scenario(layout=site.layout).model().rack_names()
    plan = pd.DataFrame(
        {
            "x_m": site.x_m,
            "y_m": site.y_m,
            "gpu_cap_w": np.asarray(caps, dtype=float),
            "tier": [site.tiers[t] for t in site.rack_tier],
            "name": names,
        }
    ).assign(dry_bulb_c=pdb, wet_bulb_c=pwb)
    plan.attrs.update(budget_mw=float(b0), from_surface=from_surface)
    return plan
