"""Response surfaces of the site over the year's conditions, built from exact solves, and the exact solves.

Three kinds of operating point, each solved exactly by the twin's coupled thermal-electrical-network model:

- ``shed``: Max-Q within a grid budget as the run API does it,
  ``twin.run(Scenario(..., budget_mw=B, policy="maxq"))``: caps, and racks switched off where fewer racks at
  higher caps make more tokens (the optimizer's rack shedding); verified by the coupled solve.
- ``maxq``: Max-Q caps with every rack kept on: ``twin.run(Scenario(..., maxq={"shed": False}))``; infeasible
  below the all-on floor.
- ``maxqc``: Max-Q caps with every rack kept on and each hall's cooling setpoints (facility-water supply, TCS
  flow per kW) co-optimised with them: ``twin.run(Scenario(..., maxq={"shed": False, "optimize_cooling": True}))``
  (``twin.maxq.cooling``); its nodes also carry the chosen setpoints (mean over halls) and the cooling MW saved
  against Max-Q at the fixed setpoints (the run's ``cooling_power_saved_mw``).
- ``subset``: the first ``n`` racks in layout order on at Max-P, the others off
  (``twin.coupled.solve_coupled(..., racks_on=...)``): the ``fixed`` strategy, racks switched off in layout
  order as the optimizer's ``maxp`` policy does (a test checks they agree).

Tokens/s and revenue per workload tier come from the run API's economics (``twin.economics``: the run's
``tiers`` table, the caps priced with the best split of the racks over the tiers; for ``subset`` the same
``twin.economics.revenue.price_caps`` at Max-P with the racks on), not from arithmetic here. A layout without
tier prices has no ``tiers`` table: its tier tokens/s are then the racks' own tokens/s by their tier, revenue 0.

A :class:`Surface` holds the solved quantities on a grid: per level of the third coordinate (budget MW, or
racks on) a tensor grid over dry bulb and wet-bulb depression (dry bulb minus wet bulb, so that every node is
physical air), interpolated linearly by ``scipy.interpolate.RegularGridInterpolator``; between levels linearly
in the third coordinate. Linear interpolation keeps sums: the energy balance (facility = IT + network + cooling
+ losses) holds at every hour exactly as it holds at the nodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twin.errors import InputError

__all__ = [
    "COOLING_QUANTITIES",
    "QUANTITIES",
    "Site",
    "SolverPool",
    "Surface",
    "build_surface",
    "fit_subset",
    "parallel_map",
    "solve_point",
    "solve_task",
]

# interpolated per hour; the energy balance: facility = it + network + cooling + electrical_loss
POWER_QUANTITIES = (
    "facility_power_mw",
    "it_power_mw",
    "network_power_mw",
    "cooling_power_mw",
    "electrical_loss_mw",
    "it_input_power_mw",
)
QUANTITIES = (*POWER_QUANTITIES, "water_use_m3_h", "racks_on", "tokens_per_s")
#: the co-optimised cooling's choice per node (kind ``maxqc``), interpolated like the QUANTITIES
COOLING_QUANTITIES = ("supply_setpoint_mean_c", "tcs_flow_mean_lpm_per_kw", "cooling_saved_vs_maxq_mw")


@dataclass
class Site:
    """What the grid year needs from the compiled model: racks, tiers, orders, the grid limit."""

    layout: str
    n_racks: int
    grid_limit_mw: float
    tiers: list[str]
    tier_price_usd_per_mtok: list[float | None]
    rack_tier: np.ndarray
    x_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    name: str = ""
    objective: str = (
        "tokens"  # Max-Q's objective (run API maxq.objective): tokens, or revenue (twin.economics)
    )

    @classmethod
    def from_layout(cls, layout: str, objective: str = "tokens") -> Site:
        from twin import Scenario

        model = Scenario(layout=layout).model()
        r = model.racks
        tiers = model.tiers
        prices = [
            (float(p) if p is not None and np.isfinite(p) else None)
            for p in tiers["price_usd_per_mtok"].to_numpy(dtype=float)
        ]
        return cls(
            layout=layout,
            n_racks=model.n_racks,
            grid_limit_mw=float(model.layout.site.grid_limit_mw),
            tiers=[str(t) for t in tiers["name"]],
            tier_price_usd_per_mtok=prices,
            rack_tier=r["tier"].to_numpy(dtype=int),
            x_m=r["x_m"].to_numpy(dtype=float),
            y_m=r["y_m"].to_numpy(dtype=float),
            name=model.layout.site.name,
            objective=objective,
        )

    @property
    def tier_keys(self) -> list[str]:
        return [f"tokens_per_s:{t}" for t in self.tiers]

    @property
    def revenue_keys(self) -> list[str]:
        return [f"revenue_usd_per_h:{t}" for t in self.tiers]

    def names(self, kind: str) -> list[str]:
        """The quantities a node of ``kind`` carries (and a surface of it interpolates)."""
        extra = list(COOLING_QUANTITIES) if kind == "maxqc" else []
        return list(QUANTITIES) + self.tier_keys + self.revenue_keys + extra


# --- exact solves --------------------------------------------------------------------------------------------------


def _tier_economics(site: Site, tiers, tokens_per_rack: np.ndarray) -> dict[str, float]:
    """Tokens/s and revenue USD/h per tier from the run API's ``tiers`` table (``twin.economics``); without one
    (no tier has a price) the racks' tokens/s by their tier and no revenue."""
    if tiers is not None and len(tiers):
        t = tiers.set_index("tier")
        tok = [float(t["tokens_per_s"].get(n, 0.0)) for n in site.tiers]
        rev = [float(t["revenue_usd_per_h"].get(n, 0.0)) for n in site.tiers]
    else:
        tok = list(np.bincount(site.rack_tier, weights=tokens_per_rack, minlength=len(site.tiers)))
        rev = [0.0] * len(site.tiers)
    out = {k: float(v) for k, v in zip(site.tier_keys, tok, strict=True)}
    out.update({k: float(v) for k, v in zip(site.revenue_keys, rev, strict=True)})
    return out


def _physical_wet_bulb_c(db: float, wb: float, altitude_m: float) -> float:
    """``wb`` kept within the wet bulbs moist air can have at dry bulb ``db`` (the cooling co-optimiser bounds
    the supply setpoint by the dew point, which impossible air has not): a surface node at a cold dry bulb with
    the year's largest wet-bulb depression can be drier than bone-dry air. Such air is cold and dry: its dew
    point lies far below the setpoint bounds (5 C at least) and below ~24 C the wet bulb does not act on the
    heat rejection (no adiabatic assist), so the driest air's wet bulb gives the same answer."""
    from twin.thermal.properties import air_pressure_pa, wet_bulb_at_humidity_ratio_c

    driest, _ = wet_bulb_at_humidity_ratio_c(db, 1e-5, air_pressure_pa(altitude_m))
    return float(min(max(float(wb), float(driest) + 0.01), db))


def _binding_label(kpis: dict) -> str:
    b = kpis.get("binding_constraints") or []
    if not b:
        return "none"
    names = []
    for x in b:
        kind, name = x.get("kind", ""), x.get("name", "")
        names.append(name if kind == "facility" else f"{kind}: {name}" if name else kind)
    return "; ".join(dict.fromkeys(names))


def solve_point(site: Site, kind: str, db: float, wb: float, z: float, x: float | None = None) -> dict:
    """One exact operating point.

    kind ``shed`` / ``maxq`` / ``maxqc``: ``z`` is the budget, MW (with / without rack shedding; ``maxqc``
    without shedding, cooling setpoints co-optimised). kind ``subset``: ``z`` racks on (layout order) at
    Max-P. Returns ``site.names(kind)`` (the QUANTITIES, tokens/s and revenue USD/h per tier, for ``maxqc`` the
    COOLING_QUANTITIES), ``feasible``, ``binding``, ``floor_mw`` and (Max-Q) the GPU cap per rack.
    """
    from twin import Scenario, run
    from twin.coupled import solve_coupled

    model = Scenario(layout=site.layout).model()
    if kind in ("shed", "maxq", "maxqc"):
        opts = {"shed": kind == "shed", "optimize_cooling": kind == "maxqc"}
        if site.objective != "tokens":
            opts["objective"] = site.objective
        if kind == "maxqc":
            wb = _physical_wet_bulb_c(db, wb, model.layout.site.altitude_m)
        try:
            r = run(
                Scenario(
                    layout=site.layout,
                    ambient_c=db,
                    wet_bulb_c=wb,
                    budget_mw=float(z),
                    policy="maxq",
                    maxq=opts,
                )
            )
        except InputError as exc:
            return {"feasible": False, "floor_mw": np.nan, "reason": str(exc)}
        k = r.kpis
        if r.status != "ok":
            return {"feasible": False, "floor_mw": float(k.get("floor_mw") or np.nan), "reason": r.reason}
        racks = r.tables["racks"]
        caps = racks["gpu_cap_w"].to_numpy(dtype=float)
        on = racks["on"].to_numpy(dtype=bool) if "on" in racks.columns else np.ones(len(racks), bool)
        water = k.get("water_use_m3_h")
        if water is None:
            # the Max-Q KPIs carry no thermal KPIs: the verifying coupled solve again, for the water use
            c = solve_coupled(
                model, gpu_cap_w=np.where(on, caps, np.max(caps)), racks_on=on, ambient_c=db, wet_bulb_c=wb
            )
            water = c.thermal.kpis.get("water_use_m3_h", 0.0)
        tokens = racks["tokens_per_s"].to_numpy(dtype=float)
        econ = _tier_economics(site, r.tables.get("tiers"), tokens)
        if kind == "maxqc":
            sp = r.tables["cooling_setpoints"]
            econ["supply_setpoint_mean_c"] = float(sp["chosen_c"].mean())
            econ["tcs_flow_mean_lpm_per_kw"] = float(sp["tcs_flow_lpm_per_kw_chosen"].mean())
            econ["cooling_saved_vs_maxq_mw"] = float(k.get("cooling_power_saved_mw") or 0.0)
    else:
        from twin.economics.revenue import price_caps
        from twin.economics.run import has_prices

        n = int(round(z))
        on = np.zeros(site.n_racks, bool)
        on[:n] = True
        c = solve_coupled(model, gpu_cap_w=None, racks_on=on, ambient_c=db, wet_bulb_c=wb)
        k = c.kpis
        out = {q: float(k[q]) for q in QUANTITIES if q in k and q != "water_use_m3_h"}
        out["water_use_m3_h"] = float(c.thermal.kpis.get("water_use_m3_h", 0.0))
        out["racks_on"] = float(k.get("racks_on", n))
        tiers = None
        if has_prices(model):  # the run API's economics at Max-P with these racks on
            tiers = price_caps(model, racks_on=on, facility_mw=out["facility_power_mw"]).tiers
        out.update(_tier_economics(site, tiers, c.res_racks["tokens_per_s"].to_numpy(dtype=float)))
        out.update(
            feasible=True,
            floor_mw=np.nan,
            binding="racks off (Max-P)" if n < site.n_racks else "none",
            converged=bool(c.converged),
        )
        return out
    out = {q: float(k[q]) for q in QUANTITIES if q in k and q != "water_use_m3_h"}
    out["water_use_m3_h"] = float(water or 0.0)
    out["racks_on"] = float(k.get("racks_on", site.n_racks))
    out.update(econ)
    out["gpu_cap_w"] = caps.astype(np.float32)
    binding = _binding_label(k)
    if int(k.get("racks_shed", 0) or 0) > 0:
        binding = f"{binding}; {int(k['racks_shed'])} racks shed"
    out.update(
        feasible=True,
        floor_mw=float(k.get("floor_mw", np.nan)),
        binding=binding,
        converged=bool(k.get("converged", True)) and k.get("outer_converged", True) is not False,
    )
    return out


# --- exact solves on the study engine's cluster -----------------------------------------------------------------

WB_COLD_C = 24.0  # below this dry bulb the wet bulb is checked once per level, not solved at every node


def fit_subset(
    site: Site, db: float, wb: float, budget_mw: float, x: float | None = 1.0, guess: int | None = None
) -> dict:
    """Exact: the most racks on (layout order, Max-P) whose facility power fits the budget (``x`` unused).

    Integer search on exact coupled solves, started at ``guess`` (a surrogate's answer: usually two solves
    confirm it). Returns the operating point (``feasible`` False when not even one rack fits)."""
    n_all = site.n_racks
    cache: dict[int, dict] = {}

    def at(n):
        if n not in cache:
            cache[n] = solve_point(site, "subset", db, wb, n, x)
        return cache[n]

    def fits(n):
        return at(n)["facility_power_mw"] <= budget_mw * (1 + 1e-9)

    lo, hi = 0, n_all + 1  # invariant: fits(lo) (n = 0 assumed), not fits(hi)
    if guess is not None:
        g = int(min(max(guess, 1), n_all))
        if fits(g):
            lo = g
            if g == n_all or not fits(g + 1):
                hi = g + 1
            else:
                lo = g + 1
        else:
            hi = g
            if g > 1 and fits(g - 1):
                lo = g - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    if lo == 0:
        return {"feasible": False, "floor_mw": np.nan, "reason": f"not one rack fits {budget_mw:.3f} MW"}
    out = dict(at(lo))
    out["solves"] = len(cache)
    return out


def solve_task(site: Site, task: tuple) -> dict:
    """One task of :func:`parallel_map`: ``(kind, db, wb, z, x[, guess])``; kind ``fit`` is :func:`fit_subset`,
    the others :func:`solve_point`. Module-level: the study engine's workers run it."""
    kind, db, wb, z, x = task[:5]
    if kind == "fit":
        return fit_subset(site, db, wb, z, x, task[5] if len(task) > 5 else None)
    return solve_point(site, kind, db, wb, z, x)


class SolverPool:
    """Where the exact solves of a grid year run: the study engine's Dask cluster (:mod:`twin.study.mapping`),
    started at the first map with more than one task and kept for the year, or an in-process loop.

    ``workers`` (default ``TWIN_GRID_WORKERS`` or the CPU count) local processes, forked from this one once the
    model is compiled and the solvers imported (so no worker compiles or imports again), or the Dask scheduler
    at ``scheduler`` (its workers must see the layout file at the same absolute path, as for studies).
    ``workers=1`` without a scheduler solves in this process."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        if workers is not None and workers < 1:
            raise InputError(f"--workers must be >= 1, got {workers}")
        if workers is not None and scheduler is not None:
            raise InputError("give --workers (a local cluster) or --scheduler (an existing one), not both")
        self.scheduler = scheduler
        self.workers = workers or int(os.environ.get("TWIN_GRID_WORKERS", 0)) or (os.cpu_count() or 1)
        self._stack = None
        self._client = None

    @property
    def description(self) -> str:
        if self.scheduler is not None:
            n = len(self._client.scheduler_info().get("workers", {})) if self._client is not None else 0
            return f"Dask scheduler {self.scheduler} ({n} workers)"
        if self.workers == 1:
            return "1 process (in-process loop)"
        return f"Dask LocalCluster of the study engine, {self.workers} processes"

    @property
    def started(self) -> bool:
        """True once the cluster is up (its local workers forked)."""
        return self._client is not None

    def local(self, n_tasks: int) -> bool:
        """Solve here: one process, or a single task before any cluster is up."""
        return self.scheduler is None and (self.workers == 1 or (self._client is None and n_tasks <= 1))

    def client(self, site: Site | None):
        if self._client is None:
            import contextlib

            from twin.study.mapping import cluster

            if self.scheduler is None:
                _warm(site)  # compiled and imported once here, inherited by the forked workers
            self._stack = contextlib.ExitStack()
            self._client = self._stack.enter_context(
                cluster(None if self.scheduler else self.workers, self.scheduler, fork=self.scheduler is None)
            )
        return self._client

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack = self._client = None

    def __enter__(self) -> SolverPool:
        if self.scheduler is not None:  # an unreachable scheduler is refused before any work
            self.client(None)
        self._token = _POOL.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _POOL.reset(self._token)
        self.close()


_POOL: ContextVar[SolverPool | None] = ContextVar("twin_grid_solver_pool", default=None)


def parallel_map(site: Site, tasks: list[tuple], progress: Callable[[int], None] | None = None, workers=None):
    """Solve ``tasks`` ((kind, db, wb, z, x) tuples, see :func:`solve_task`) on the active :class:`SolverPool`
    (``with SolverPool(...)``), else on a pool for this call only. Results in task order; ``progress(1)`` per
    task as it finishes."""
    if not tasks:
        return []
    pool = _POOL.get()
    if pool is None:
        with SolverPool(workers):
            return parallel_map(site, tasks, progress)
    if pool.local(len(tasks)):
        out = []
        for t in tasks:
            out.append(solve_task(site, t))
            if progress:
                progress(1)
        return out
    from twin.study.mapping import map_tasks

    shared = site
    if pool.scheduler is not None:  # remote workers: the layout by absolute path
        shared = replace(site, layout=str(Path(site.layout).resolve()))
    try:
        return map_tasks(solve_task, tasks, shared=shared, client=pool.client(site), progress=progress)
    except RuntimeError as exc:
        if pool.scheduler is not None and "deserializ" in str(exc):
            raise InputError(
                f"the Dask cluster at {pool.scheduler} cannot load the twin's tasks: install this package "
                "(pip install -e .) where its scheduler and workers run"
            ) from None
        raise


_WARM: set = set()


def _warm(site: Site) -> None:
    """Compile the model and import the solvers (CoolProp, scipy, ...) in this process before forking."""
    if site.layout in _WARM:
        return
    import twin.coupled  # noqa: F401
    import twin.economics.revenue  # noqa: F401
    import twin.electrical  # noqa: F401
    import twin.maxq.cooling  # noqa: F401
    import twin.maxq.optimize  # noqa: F401
    import twin.runner  # noqa: F401
    import twin.thermal  # noqa: F401

    mid = 20.0
    solve_point(site, "subset", mid, mid - 5.0, site.n_racks, 1.0)  # all racks on: a quick coupled solve
    _WARM.add(site.layout)


# --- interpolation -------------------------------------------------------------------------------------------------


@dataclass
class Level:
    """One level of the third coordinate: a tensor grid over (dry bulb, wet-bulb depression)."""

    z: float
    db: np.ndarray
    dep: np.ndarray
    values: dict[str, np.ndarray]  # name -> (len(db), len(dep))
    feasible: np.ndarray  # bool (len(db), len(dep))
    binding: np.ndarray  # object (len(db), len(dep))
    caps: dict = field(default_factory=dict)  # (i, j) -> GPU cap per rack (Max-Q nodes)

    def interp(self, name: str, db: np.ndarray, dep: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator

        v = self.values[name]
        axes, pts = [], []
        if len(self.db) > 1:
            axes.append(self.db)
            pts.append(np.clip(db, self.db[0], self.db[-1]))
        if len(self.dep) > 1:
            axes.append(self.dep)
            pts.append(np.clip(dep, self.dep[0], self.dep[-1]))
        vv = v.reshape([len(a) for a in axes]) if axes else v.reshape(())
        if not axes:
            return np.full(np.shape(db), float(vv))
        f = RegularGridInterpolator(tuple(axes), vv, method="linear")
        return f(np.stack(pts, axis=-1))

    def ok(self, db: np.ndarray, dep: np.ndarray) -> np.ndarray:
        """True where every node around the point is feasible."""
        i = _cell(self.db, db)
        j = _cell(self.dep, dep)
        f = self.feasible
        out = np.ones(np.shape(db), bool)
        for di in (0, 1):
            for dj in (0, 1):
                out &= f[np.minimum(i + di, len(self.db) - 1), np.minimum(j + dj, len(self.dep) - 1)]
        return out

    def nearest_binding(self, db: np.ndarray, dep: np.ndarray) -> np.ndarray:
        i = np.abs(db[:, None] - self.db[None, :]).argmin(1)
        j = np.abs(dep[:, None] - self.dep[None, :]).argmin(1)
        return self.binding[i, j]


def _cell(nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    if len(nodes) == 1:
        return np.zeros(np.shape(x), dtype=int)
    return np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)


@dataclass
class Surface:
    """Interpolated operating points of one kind over (dry bulb, wet-bulb depression, z)."""

    kind: str
    levels: list[Level]
    names: list[str]
    x: float | None = None
    nodes: int = 0

    def __post_init__(self):
        self.levels = sorted(self.levels, key=lambda lv: lv.z)

    @property
    def z(self) -> np.ndarray:
        return np.array([lv.z for lv in self.levels])

    def __call__(self, db: np.ndarray, wb: np.ndarray, z: np.ndarray) -> dict[str, np.ndarray]:
        db = np.asarray(db, float)
        dep = np.maximum(db - np.asarray(wb, float), 0.0)
        z = np.broadcast_to(np.asarray(z, float), db.shape)
        zs = self.z
        out = {n: np.zeros(db.shape) for n in self.names}
        ok = np.ones(db.shape, bool)
        binding = np.empty(db.shape, dtype=object)
        if len(zs) == 1:
            lo = np.zeros(db.shape, int)
            w = np.zeros(db.shape)
        else:
            lo = np.clip(np.searchsorted(zs, z, side="right") - 1, 0, len(zs) - 2)
            w = (z - zs[lo]) / (zs[lo + 1] - zs[lo])
            w = np.clip(w, 0.0, 1.0)
        for a in np.unique(lo):
            sel = lo == a
            la = self.levels[a]
            lb = self.levels[min(a + 1, len(zs) - 1)]
            ws = w[sel]
            d, e = db[sel], dep[sel]
            for n in self.names:
                va = la.interp(n, d, e)
                vb = lb.interp(n, d, e) if lb is not la else va
                out[n][sel] = (1 - ws) * va + ws * vb
            ok[sel] = la.ok(d, e) & (lb.ok(d, e) | (ws <= 0.0))
            near = np.where(ws < 0.5, la.nearest_binding(d, e), lb.nearest_binding(d, e))
            binding[sel] = near
        out["_ok"] = ok
        out["_binding"] = binding
        return out


def build_surface(
    site: Site,
    kind: str,
    plan: list[tuple[float, np.ndarray, np.ndarray]],
    x: float | None = None,
    progress=None,
) -> Surface:
    """Solve every node of ``plan`` (per level: z, dry-bulb nodes, depression nodes) and build the surface.

    The wet bulb acts on the heat rejection only through the adiabatic pads, which run on hot hours. Per level,
    the nodes of the driest column (depression > 0) below ``WB_COLD_C`` are solved only if the node at that
    dry bulb gives a different answer in dry and saturated air; otherwise they are the saturated-air node's
    copy (checked, not assumed: the check is one exact solve per level)."""
    tasks, where, copies = [], [], []
    for li, (z, dbs, deps) in enumerate(plan):
        cold = [i for i, d in enumerate(dbs) if d < WB_COLD_C]
        probe = max(cold) if cold and len(deps) > 1 else None
        for i, d in enumerate(dbs):
            for j, e in enumerate(deps):
                if probe is not None and j > 0 and i in cold and i != probe:
                    copies.append((li, i, j, probe))
                    continue
                tasks.append((kind, float(d), float(d - e), float(z), x))
                where.append((li, i, j))
    res = parallel_map(site, tasks, progress)
    got = dict(zip(where, res, strict=True))
    redo = []
    for li, i, j, probe in copies:
        a, b = got.get((li, probe, 0)), got.get((li, probe, j))
        same = (
            a is not None
            and b is not None
            and a.get("feasible") == b.get("feasible")
            and (
                not a.get("feasible")
                or all(
                    abs(a[q] - b[q]) <= 1e-9 * max(1.0, abs(a[q]))
                    for q in QUANTITIES + COOLING_QUANTITIES
                    if q in a
                )
            )
        )
        if same:
            got[(li, i, j)] = got[(li, i, 0)]
        else:
            redo.append((li, i, j))
    if redo:
        extra = parallel_map(
            site,
            [
                (kind, float(plan[li][1][i]), float(plan[li][1][i] - plan[li][2][j]), float(plan[li][0]), x)
                for li, i, j in redo
            ],
            progress,
        )
        got.update(zip(redo, extra, strict=True))
    where = list(got)
    res = [got[k] for k in where]
    names = site.names(kind)
    levels = []
    for z, dbs, deps in plan:
        vals = {n: np.full((len(dbs), len(deps)), np.nan) for n in names}
        feas = np.zeros((len(dbs), len(deps)), bool)
        bind = np.full((len(dbs), len(deps)), "none", dtype=object)
        levels.append(Level(float(z), np.asarray(dbs, float), np.asarray(deps, float), vals, feas, bind))
    for (li, i, j), r in zip(where, res, strict=True):
        lv = levels[li]
        lv.feasible[i, j] = bool(r.get("feasible"))
        if r.get("feasible"):
            for n in names:
                lv.values[n][i, j] = r.get(n, 0.0)
            lv.binding[i, j] = r.get("binding", "none")
            if "gpu_cap_w" in r:
                lv.caps[(i, j)] = r["gpu_cap_w"]
    for lv in (
        levels
    ):  # infeasible nodes: fill from feasible neighbours so interpolation stays finite; masked by ok()
        for n in names:
            v = lv.values[n]
            if np.isnan(v).any():
                fill = np.nanmean(v) if np.isfinite(v).any() else 0.0
                lv.values[n] = np.where(np.isnan(v), fill, v)
    return Surface(kind, levels, names, x, len(tasks) + len(redo))
