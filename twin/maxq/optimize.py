"""Power-capping policies on a compiled facility: Max-Q (optimal per-GPU caps), uniform cap, Max-P.

All three are evaluated with the coupled thermal-electrical solve (``twin.coupled.solve_coupled``) at the same
budget and conditions, and every result that is returned has been re-checked by that solve (the facility
power never exceeds the budget).

Max-Q. The facility power F (IT + fabric + cooling + electrical losses) is a smooth, nonlinear function of the
GPU powers through the thermal and electrical solves. It is linearised around the current operating point,

    F(p) ~= F_0 + a (G(p) - G_0),      G = sum of GPU power,  a = dF/dG (secant of two coupled solves),

and the cap problem (``twin.maxq.core``: tokens/s maximised under the linearised budget, every busway and block
firm rating, every CDU loop's firm heat capacity, every GPU's junction limit ``p <= p + (T_throttle - T_j)/R``)
is solved exactly by dual decomposition. The coupled solve is rerun at the new caps, the linearisation is
updated (secant), and the loop repeats until the facility power meets the budget within ``tol`` (successive
linear programming / sequential convex programming; Griffith & Stewart, Manage. Sci. 7(4), 1961). Shadow
prices are the dual multipliers: tokens/s gained per MW more of each limit.

Ratings. A node's firm rating is its units less spares, never more than its units in service (failed units from
the electrical solve). Ratings are kVA (transformers, rectifiers, substation) or ampacity (busways) while the
linear limits are on real power, so each is divided by the node's |S| / P measured at the current state; an
iterate is accepted only if the electrical solver's own loading is within the firm rating, it reports no
overload, and the cap problem and the coupled solve converged (``outer_converged`` reports the outer loop).

Rack shedding: every powered rack also draws its non-GPU power (CPUs, NICs, NVLink switches), so inside a
hard-binding busway / block / loop limit fewer racks at higher caps can make more tokens than all racks at low
caps (the on/off choice is the non-convex part the continuous problem leaves out). For each binding local
limit the best number of racks on is found by enumeration at the facility shadow price (``_shed``), the caps
are re-optimised with those racks off, and the shed configuration is kept only if the coupled solve confirms
more tokens/s. A limit that is over even with every GPU at minimum power (e.g. fabric load on one busway) is
reported in ``warnings`` unless shedding brings it back within its firm rating.

The facility budget counts too (``_GroupShedding``): at a low budget fewer racks at higher caps can beat every
rack at a low cap. Racks whose cap problem is identical (rack type, GPU type, workload tier, parameters) form a
group; the decision is how many racks of each group are on (which ones: spread over the busways,
``_keep_order``). With n_g racks of group g on at GPU power p_g, the best tokens/s T(n) is concave in the
counts in the continuous relaxation (a sum of perspectives n phi(B / n) of concave functions over a split of
the budget), and its derivative in n_g at a verified answer is the reduced cost of one rack,
v_g = t_g(p_g) - lambda a (o_g + G_g p_g) (tokens/s of the rack less the facility price of its IT power). So
T(n - e_g) <= T(n) - v_g: with every v_g >= 0 at the all-on answer no smaller count is better and nothing more
is solved. Otherwise the counts are warm-started from the relaxation at the current linearisation (a
fractional knapsack: at the clearing price the groups worth more than their power are on, one group partly on
at its tokens-per-W-optimal power), each count is verified by the outer loop above with those racks off (every
answer re-checked by the coupled solve), the relaxation is re-solved from each better answer, and counts move
by one rack where the reduced cost points until no move improves (a local optimum of a concave function). Below
the floor of every rack on at minimum power the same search starts from the relaxation between every rack off
and that floor. Reported: ``racks_shed``, ``racks_shed_groups``, ``shedding_gain_pct`` (over every available rack
on); a count without verified caps, or a search out of evaluations, is a warning.

Max-P: no caps; racks are switched off, the least productive rack types first and evenly over the busways,
until every busway / block / loop is within its firm rating at nameplate and the facility within its limit:
the largest count of racks on is found by integer false position, each count verified by the coupled solve,
and certified by the count one higher, whose excess is named as binding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.coupled import CoupledResult, solve_coupled
from twin.errors import InputError
from twin.maxq.core import CapProblem, LinearGroup, solve_caps
from twin.perf import PerfModel, gpu_variation, perf_model

POLICIES = ("maxq", "uniform", "maxp")


@dataclass
class MaxQResult:
    """policy result. gpu_cap_w: (n_racks,) W (per-rack caps; every GPU of a rack the same) or, with per-GPU
    variation, (n_gpus,) W. kpis: policy, budget_mw, feasible, facility_power_mw, tokens_per_s,
    tokens_per_joule, binding_constraints (list of dicts), shadow prices, plus the coupled KPIs."""

    policy: str
    budget_mw: float
    feasible: bool
    reason: str
    floor_mw: float
    gpu_cap_w: np.ndarray | None
    coupled: CoupledResult | None
    kpis: dict
    res_constraints: pd.DataFrame = field(default_factory=pd.DataFrame)
    racks_on: np.ndarray | None = None  # (n_racks,) bool: Max-P leaves racks that do not fit switched off
    # Max-Q: price of a W of GPU power each rack's GPUs see at the answer (objective/s per W, rack mean of the
    # linear constraints' multipliers times their coefficients: the facility, busway, block and loop limits)
    gpu_price_per_w: np.ndarray | None = None

    @property
    def res_racks(self) -> pd.DataFrame:
        return self.coupled.res_racks if self.coupled is not None else pd.DataFrame()


def _firm(elec: pd.DataFrame, in_service: np.ndarray | None = None) -> np.ndarray:
    """Firm rating of each distribution node (kVA, or ampacity for busways, as W at the node's rating): the
    units less spares carry the load, and never more than the units in service (failed units first use up the
    spares; ``in_service`` from the electrical solve)."""
    units = elec["units"].to_numpy(dtype=float)
    firm_units = units - elec["spare_units"].to_numpy(dtype=float)
    if in_service is not None:
        firm_units = np.minimum(firm_units, np.asarray(in_service, dtype=float))
    return elec["rating_w"].to_numpy(dtype=float) * firm_units


def _apparent_w(elec: pd.DataFrame, res_nodes: pd.DataFrame) -> np.ndarray:
    """Loading of each node as the solver measures it (kVA for transformers / rectifiers / UPS, current for
    busways), expressed in W of the node's rating: loading_pct / 100 * units in service * rating."""
    return (
        res_nodes["loading_pct"].to_numpy(dtype=float)
        / 100.0
        * res_nodes["units_in_service"].to_numpy(dtype=float)
        * elec["rating_w"].to_numpy(dtype=float)
    )


def _s_over_p(elec: pd.DataFrame, res_nodes: pd.DataFrame) -> np.ndarray:
    """|S| / P of each node at a solved state (1 where the node carries no load): the linear cap problem's
    limits are on real power, the ratings on apparent power / current, so a rating is scaled by this ratio."""
    return _ratio(_apparent_w(elec, res_nodes), _node_input_w(res_nodes))


def _node_input_w(res_nodes: pd.DataFrame) -> np.ndarray:
    return res_nodes["power_in_w"].to_numpy(dtype=float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den where den > 0, else 1 (a node with no rack load yet: no loss factor known)."""
    out = np.ones_like(num, dtype=float)
    np.divide(num, den, out=out, where=den > 0)
    return out


class _Facility:
    """Static data of the facility for the cap problems (one unit = one rack, or one GPU with variation)."""

    def __init__(
        self,
        model,
        perf: PerfModel,
        variation: np.ndarray | None,
        failed=(),
        rack_scale: np.ndarray | None = None,
        rack_value: np.ndarray | None = None,
    ):
        self.model, self.perf, self.variation = model, perf, variation
        # value of one token of each rack (n_racks,), e.g. $ per token of its tier; None: 1 (plain tokens/s)
        self.rack_value = rack_value
        r = model.racks
        self.other = r["other_power_w"].to_numpy(dtype=float)
        self.gpus = perf.gpus.astype(float)
        self.lf = r["liquid_fraction"].to_numpy(dtype=float)
        self.r_cp = r["cold_plate_r_k_per_w"].to_numpy(dtype=float)
        self.t_thr = r["t_throttle_c"].to_numpy(dtype=float)
        el = model.elec
        self.firm = _firm(el)  # refined to the units in service by set_state (failed units)
        self.sub = np.flatnonzero(el["kind"].to_numpy() == "substation")
        self.kind = el["kind"].to_numpy()
        self.bus = r["busway_node"].to_numpy()
        self.blk = r["block_node"].to_numpy()
        self.loop = r["loop"].to_numpy()
        lp = model.loops
        # CDU units in service carry the load: a failed unit first uses up the loop's spare
        n_failed = np.bincount(
            model.cdus["loop"].to_numpy()[model.cdus["name"].isin(tuple(failed)).to_numpy()],
            minlength=len(lp),
        )
        units = lp["units"].to_numpy(dtype=float)
        self.loop_firm = lp["capacity_w"].to_numpy(dtype=float) * np.minimum(
            units - lp["spare_units"].to_numpy(dtype=float), units - n_failed
        )
        self.excused: set[tuple[str, str]] = set()
        self.meter_limits: dict[str, float] = {}  # limits on the metered facility power, W (budget, grid)
        self.on = np.ones(model.n_racks, bool)  # racks switched off (Max-Q rack shedding) draw nothing
        # each pod's first busway (lowest node index) and every busway's block (through a UPS if there is one)
        parent = el["parent"].to_numpy()
        self.bus_all = np.flatnonzero(self.kind == "busway")
        up = parent[self.bus_all]
        self.bus_block = np.where(self.kind[up] == "block", up, parent[up])
        bus_pod = el["pod"].to_numpy()[self.bus_all]
        self.bus_all_pod = bus_pod
        self.bus_ids, self.bus_of = np.unique(self.bus, return_inverse=True)
        self.blk_ids, self.blk_of = np.unique(self.blk, return_inverse=True)
        if variation is None:
            self.unit_rack = np.arange(model.n_racks)
            # rack_scale: mean per-GPU multiplier of each rack (rack-level stand-in for a varied fleet)
            self.weight = perf.tokens_full_per_gpu * (1.0 if rack_scale is None else rack_scale)
            if rack_value is not None:
                self.weight = self.weight * rack_value
            self.count = self.gpus.copy()
        else:
            self.unit_rack = np.repeat(np.arange(model.n_racks), perf.gpus)
            self.weight = perf.tokens_full_per_gpu[self.unit_rack] * variation
            if rack_value is not None:
                self.weight = self.weight * rack_value[self.unit_rack]
            self.count = np.ones(len(self.unit_rack))

    def problem(
        self,
        cp: CoupledResult,
        a_fac: float,
        f0_w: float,
        g0_w: float,
        budget_w: float,
        prev: CoupledResult | None = None,
        margin: float = 0.0,
    ) -> CapProblem:
        """Cap problem linearised at the coupled state ``cp`` (``prev``: the state before, for secants)."""
        ur = self.unit_rack
        perf = self.perf
        # node loading factor: node input power per W of rack IT power below it (includes losses under it)
        k_node, extra_node = self.node_factors(cp)
        k_bus, k_blk = k_node[self.bus_ids], k_node[self.blk_ids]
        firm_p = self.firm_real_w(cp) * (1 - margin)
        other_on = self.other * self.on
        other_bus = np.bincount(self.bus_of, weights=other_on)
        other_blk = np.bincount(self.blk_of, weights=other_on)
        other_loop = np.bincount(self.loop, weights=self.lf * other_on, minlength=len(self.loop_firm))
        count = self.count * self.on[ur]
        # extra (non-rack) load on a node, e.g. the fabric switches on a pod's first busway
        extra_bus, extra_blk = extra_node[self.bus_ids], extra_node[self.blk_ids]
        # junction: T_j = T_cool + R p -> p <= p_now + (T_throttle - T_j) / R
        p_now = cp.res_racks["gpu_power_w"].to_numpy(dtype=float)
        tj = cp.res_racks["junction_c"].to_numpy(dtype=float)
        # dT_j/dp per rack: secant between the last two coupled states where the power moved, else the
        # cold-plate resistance at the solved flow (coolant warming with load makes the true slope larger)
        r = self.r_cp.copy()
        th = cp.thermal.res_racks
        if "r_cold_plate_k_per_w" in th.columns:
            r = np.where(
                th["rack_power_w"].to_numpy() > 0, th["r_cold_plate_k_per_w"].to_numpy(dtype=float), r
            )
        if prev is not None:
            dp = p_now - prev.res_racks["gpu_power_w"].to_numpy(dtype=float)
            dt = tj - prev.res_racks["junction_c"].to_numpy(dtype=float)
            sec = np.divide(dt, dp, out=np.zeros_like(dp), where=np.abs(dp) > 1.0)
            r = np.where((np.abs(dp) > 1.0) & (sec > 0.5 * r) & (sec < 5.0 * r), sec, r)
        self.r_junction = r  # dT_j/dp used for the junction bound (also for its shadow price)
        p_junc = p_now + (self.t_thr - tj) / r
        p_junc = np.where(np.isfinite(p_junc), p_junc, perf.gpu_power_max_w)  # racks off: no junction
        pmax = perf.gpu_power_max_w
        p_up = np.clip(np.minimum(p_junc, pmax), perf.gpu_power_min_w, None)[ur]
        groups = [
            LinearGroup(
                "facility",
                np.zeros(len(ur), np.int64),
                np.full(len(ur), a_fac),
                np.array([budget_w - f0_w + a_fac * g0_w]),
                np.array(["grid budget"], dtype=object),
            ),
            LinearGroup(
                "busway",
                self.bus_of[ur],
                k_bus[self.bus_of][ur],
                firm_p[self.bus_ids] - k_bus * other_bus - extra_bus,
                self.model.elec["name"].to_numpy()[self.bus_ids],
            ),
            LinearGroup(
                "block",
                self.blk_of[ur],
                k_blk[self.blk_of][ur],
                firm_p[self.blk_ids] - k_blk * other_blk - extra_blk,
                self.model.elec["name"].to_numpy()[self.blk_ids],
            ),
            LinearGroup(
                "cdu_loop",
                self.loop[ur],
                self.lf[ur],
                self.loop_firm * (1 - margin) - other_loop,
                self.model.loops["name"].to_numpy(),
            ),
        ]
        # a local limit already exceeded with every GPU at minimum power (e.g. fabric load on a busway) cannot
        # be met by capping: hold it at that floor (its GPUs at minimum power) and report it (self.excused);
        # the unrelaxed limits are kept for rack shedding, which can meet them
        self.raw_limits = [g.limit.copy() for g in groups]
        for g in groups[1:]:
            fl = np.bincount(
                g.member, weights=g.coef * count * perf.gpu_power_min_w[ur], minlength=len(g.limit)
            )
            g.limit = np.maximum(g.limit, fl * (1 + 1e-9))
        pb = CapProblem(
            weight=self.weight,
            count=count,
            p_max=pmax[ur],
            p_min=perf.gpu_power_min_w[ur],
            p_up=p_up,
            curve_id=perf.curve_id[ur],
            curves=perf.curves,
            groups=groups,
            pattern=ur,  # the GPUs of a rack share its busway, block and loop
        )
        pb.r_junction = r  # the dT_j/dp of this problem (junction shadow prices of the iterate kept)
        return pb

    def set_state(self, floor: CoupledResult) -> None:
        """Units in service from the electrical solve (failed units reduce the firm rating)."""
        self.firm = _firm(self.model.elec, floor.electrical.res_nodes["units_in_service"].to_numpy())

    def firm_real_w(self, cp: CoupledResult) -> np.ndarray:
        """Firm rating as a real-power limit at the state ``cp`` (rating / (|S| / P))."""
        return self.firm / _s_over_p(self.model.elec, cp.electrical.res_nodes)

    def facility_limit(self, cp: CoupledResult) -> tuple[float, str]:
        """The tightest limit on the metered facility power at the state ``cp``: the budget, the grid
        connection, or the substation's firm kVA rating as real power at its present |S| / P."""
        lim = dict(self.meter_limits)
        if len(self.sub):
            lim["substation firm rating"] = float(self.firm_real_w(cp)[self.sub].sum())
        name = min(lim, key=lim.get)
        return lim[name], name

    def node_factors(self, cp: CoupledResult) -> tuple[np.ndarray, np.ndarray]:
        """Per distribution node: loss factor k (node input W per W of load below it) and the constant
        non-rack load at its input (W), from a coupled state. A pod's fabric switches are spread over its
        busways by rack power and fed at each busway's source (solver contract,
        ``twin.electrical.solve.spread_over_busways``): not through the busway, but through its UPS and block.
        Their share at this state is kept as a constant load of the block (exact when the pod's racks move
        together), out of k."""
        node_in = _node_input_w(cp.electrical.res_nodes)
        n_nodes = len(self.firm)
        rack_p = cp.res_racks["rack_power_w"].to_numpy(dtype=float)
        net_pod = np.asarray(cp.network_power_w_by_pod, dtype=float)
        bus_w = np.bincount(self.bus, weights=rack_p, minlength=n_nodes)[self.bus_all]
        bus_cap = np.bincount(
            self.bus, weights=self.model.racks["power_maxp_w"].to_numpy(dtype=float), minlength=n_nodes
        )[self.bus_all]
        pod_w = np.bincount(self.bus_all_pod, weights=bus_w, minlength=len(net_pod))[self.bus_all_pod]
        pod_cap = np.bincount(self.bus_all_pod, weights=bus_cap, minlength=len(net_pod))[self.bus_all_pod]
        # a pod whose racks draw nothing spreads its switches by the busways' rack Max-P (as the solver does)
        share = np.where(pod_w > 0, _ratio(bus_w, pod_w), _ratio(bus_cap, pod_cap) * (pod_cap > 0))
        fab = np.bincount(self.bus_block, weights=net_pod[self.bus_all_pod] * share, minlength=n_nodes)
        below = np.bincount(self.bus, weights=rack_p, minlength=n_nodes)
        below += np.bincount(self.blk, weights=rack_p, minlength=n_nodes)
        k = _ratio(node_in, below + fab)
        return k, k * fab

    def objective(self, cp: CoupledResult) -> float:
        """The objective at a coupled state: tokens/s, or with ``rack_value`` sum over racks of tokens/s x value."""
        if self.rack_value is None:
            return float(cp.kpis["tokens_per_s"])
        # summed as the coupled solve sums tokens/s (pandas), so that all-ones values give tokens/s to the bit
        return float((cp.res_racks["tokens_per_s"] * self.rack_value).sum())

    def gpu_power_total(self, cp: CoupledResult) -> float:
        rr = cp.res_racks
        return float(np.sum(rr["gpu_power_w"].to_numpy() * self.gpus * rr["on"].to_numpy()))


def _check(model, budget_mw: float, policy: str) -> None:
    if policy not in POLICIES:
        raise InputError(f"unknown policy '{policy}' (choose from {', '.join(POLICIES)})")
    if not (np.isfinite(budget_mw) and budget_mw > 0):
        raise InputError(f"budget must be a positive number of MW, got {budget_mw}")


def optimize_maxq(
    model,
    *,
    budget_mw: float,
    policy: str = "maxq",
    ambient_c: float | None = None,
    supply_c: float | None = None,
    wet_bulb_c: float | None = None,
    failed=(),
    variation_sigma: float = 0.0,
    seed: int = 0,
    tol: float = 1e-5,
    max_outer: int = 15,
    racks_on=None,
    shed: bool = True,
    rack_value: np.ndarray | None = None,
    start: MaxQResult | None = None,
    tcs_flow_scale=None,
) -> MaxQResult:
    """GPU caps under ``policy`` that keep the facility power within ``budget_mw``; see the module docstring.

    variation_sigma > 0 draws per-GPU throughput multipliers (``twin.perf.gpu_variation``, seed) and makes the
    Max-Q caps per GPU (n_gpus,) instead of per rack.

    Parameters
    ----------
    model : FacilityModel
        Compiled facility.
    budget_mw : float
        Facility power budget at the meter, MW (IT + fabric + cooling + electrical losses).
    policy : {"maxq", "uniform", "maxp"}, default "maxq"
        Optimal per-GPU caps, one cap fraction for every GPU, or Max-P racks switched off until the rest fit.
    ambient_c, wet_bulb_c : float or None, default None
        Outdoor dry and wet bulb, C; None: the site's design values.
    supply_c : float, array of shape (n_halls,) or None, default None
        Facility-water supply setpoint, one for every hall or one per hall, C; None: the layout's.
    tcs_flow_scale : float, array of shape (n_halls,) or None, default None
        TCS flow per kW setpoint of the racks' valves over the design value, one or one per hall; None: 1.
    failed : sequence of str, default ()
        Units out of service (CDUs, pumps, heat-rejection units, electrical nodes' units, switches).
    variation_sigma : float, default 0.0
        Log-sigma of the per-GPU throughput multipliers, in [0, 1); 0: identical GPUs.
    seed : int, default 0
        Seed of the per-GPU multipliers.
    tol : float, default 1e-5
        Relative tolerance of the facility power on the budget (outer loop).
    max_outer : int, default 15
        Most outer linearisations (coupled solves) of the Max-Q policy.
    racks_on : array_like of bool, shape (n_racks,), optional
        Racks available (the others are off, e.g. for maintenance); None: every rack.
    shed : bool, default True
        Max-Q may switch available racks off where fewer racks at higher caps make more tokens/s (inside a
        binding busway / block / loop, and for the facility budget: the search over racks on per group of
        identical racks). False: the caps optimiser alone, with every available rack on.
    rack_value : numpy.ndarray of shape (n_racks,), optional
        Positive value of one token of each rack (e.g. $ per token of the tier the rack serves). The objective
        becomes sum over racks of tokens/s x value: the cap problem's weights are the tokens/s of a GPU at
        P_max times its rack's value, and every comparison of candidates (outer loop, rack shedding) uses it.
        None: 1 for every rack (plain tokens/s). Max-P keeps the most valuable racks on first.
    start : MaxQResult, optional
        Max-Q policy: a feasible answer nearby (e.g. at other cooling setpoints, ``twin.maxq.cooling``) to start
        from: its caps are the first iterate instead of the catalog's Max-Q power, and its coupled state
        warm-starts the coupled solves. The answer agrees with a cold start within ``tol``.

    Returns
    -------
    MaxQResult
        ``gpu_cap_w`` (n_racks,) or, with variation, (n_gpus,) W per GPU; ``feasible`` and ``reason``;
        ``floor_mw`` (facility power with every GPU at its minimum power limit, MW); ``coupled`` (the coupled
        solve at the returned caps); ``kpis`` (facility_power_mw, tokens_per_s, binding_constraints with shadow
        prices in tokens/s per MW, ...); ``res_constraints`` (load_mw, limit_mw, shadow price per limit);
        ``racks_on`` (n_racks,) for the policies that switch racks off.

    Raises
    ------
    InputError
        Unknown policy, budget <= 0, ``rack_value`` not n_racks positive finite numbers, or no verified caps
        found.
    """
    _check(model, budget_mw, policy)
    rack_value = _check_rack_value(model, rack_value)
    perf = perf_model(model)
    variation = gpu_variation(model.n_gpus, variation_sigma, seed) if variation_sigma > 0 else None
    kw = dict(
        ambient_c=ambient_c,
        wet_bulb_c=wet_bulb_c,
        supply_c=supply_c,
        failed=failed,
        perf=perf,
        variation=variation,
    )
    if tcs_flow_scale is not None:
        kw["tcs_flow_scale"] = tcs_flow_scale
    budget_w = budget_mw * 1e6
    grid_w = float(model.layout.site.grid_limit_mw) * 1e6
    meter = {"grid budget": budget_w, "grid connection": grid_w}
    avail = None
    if racks_on is not None:
        avail = np.asarray(racks_on)
        if avail.shape != (model.n_racks,) or not (
            avail.dtype == bool or np.all((avail == 0) | (avail == 1))
        ):
            raise InputError(f"racks_on must be {model.n_racks} booleans (one per rack)")
        avail = avail.astype(bool)
        if not avail.any():
            raise InputError("racks_on: no rack is on")
    warm0 = start.coupled if (start is not None and start.feasible and policy == "maxq") else None
    floor = solve_coupled(
        model,
        gpu_cap_w=perf.gpu_power_min_w,
        racks_on=avail,
        stop_when_consistent=policy == "maxq",
        warm=warm0,
        **kw,
    )
    floor_mw = floor.kpis["facility_power_mw"]
    # every W at the meter passes the HV/MV substation: its firm kVA rating is a limit of the same form, as
    # real power at the substation's |S| / P (measured by the electrical solve; re-evaluated at each iterate)
    probe = _Facility(model, perf, None, failed)
    probe.meter_limits = meter
    probe.set_state(floor)
    limit_w, limit_name = probe.facility_limit(floor)
    if policy == "maxp":  # switches racks off: below this floor too (its own check: every rack off)
        return _with_objective(
            _maxp(
                model,
                perf,
                floor,
                budget_mw,
                limit_w,
                limit_name,
                kw,
                tol,
                meter,
                avail,
                rack_value=rack_value,
            ),
            rack_value,
        )
    below_floor = floor.facility_power_w > limit_w
    reason = (
        f"infeasible: the facility needs {floor_mw:.3f} MW with every GPU at its minimum power limit "
        f"(IT + fabric + cooling + losses), above the {limit_w / 1e6:.3f} MW {limit_name}"
    )
    if below_floor and not (policy == "maxq" and shed):
        return _infeasible_result(policy, budget_mw, floor, reason)
    if policy == "uniform":
        return _with_objective(
            _uniform(
                model, perf, floor, budget_mw, limit_w, limit_name, dict(kw, racks_on=avail), tol, meter
            ),
            rack_value,
        )
    res = _maxq(
        model,
        perf,
        variation,
        floor,
        budget_mw,
        limit_w,
        limit_name,
        kw,
        tol,
        max_outer,
        meter,
        avail,
        shed,
        rack_value=rack_value,
        start=start if warm0 is not None else None,
    )
    if isinstance(res, str):  # below the all-on floor and no count of racks on fits either
        return _infeasible_result(policy, budget_mw, floor, f"{reason}; {res}")
    return _with_objective(res, rack_value)


def _with_objective(res: MaxQResult, rack_value: np.ndarray | None) -> MaxQResult:
    """Adds the KPI ``objective_per_s`` (tokens/s x rack value summed over racks; tokens/s without values)."""
    if res.feasible and res.coupled is not None:
        tok = res.coupled.res_racks["tokens_per_s"]
        res.kpis["objective_per_s"] = (
            float(res.kpis["tokens_per_s"]) if rack_value is None else float((tok * rack_value).sum())
        )
    return res


def _check_rack_value(model, rack_value) -> np.ndarray | None:
    """``rack_value`` as a float array (n_racks,) of positive finite values, or None."""
    if rack_value is None:
        return None
    v = np.asarray(rack_value, dtype=float)
    if v.shape != (model.n_racks,):
        raise InputError(f"rack_value must have one value per rack ({model.n_racks}), got shape {v.shape}")
    if not np.all(np.isfinite(v) & (v > 0)):
        raise InputError("rack_value must be positive finite numbers (value of a token of each rack)")
    return v


def _infeasible_result(policy: str, budget_mw: float, floor: CoupledResult, reason: str) -> MaxQResult:
    floor_mw = floor.kpis["facility_power_mw"]
    return MaxQResult(
        policy=policy,
        budget_mw=budget_mw,
        feasible=False,
        reason=reason,
        floor_mw=floor_mw,
        gpu_cap_w=None,
        coupled=floor,
        kpis={
            "policy": policy,
            "budget_mw": budget_mw,
            "feasible": False,
            "floor_mw": floor_mw,
            "binding_constraints": [],
        },
    )


def _result(policy, budget_mw, floor, cp: CoupledResult, caps, binding, extra=None, res_c=None) -> MaxQResult:
    k = dict(cp.kpis)
    k.update(
        {
            "policy": policy,
            "budget_mw": budget_mw,
            "feasible": True,
            "floor_mw": floor.kpis["facility_power_mw"],
            "binding_constraints": binding,
        }
    )
    if extra:
        k.update(extra)
    return MaxQResult(
        policy=policy,
        budget_mw=budget_mw,
        feasible=True,
        reason="",
        floor_mw=floor.kpis["facility_power_mw"],
        gpu_cap_w=caps,
        coupled=cp,
        kpis=k,
        res_constraints=res_c if res_c is not None else pd.DataFrame(),
        racks_on=cp.res_racks["on"].to_numpy().copy(),
    )


def _local_violations(fac: _Facility, cp: CoupledResult) -> list[dict]:
    """Limits over at a coupled state: busway / block / substation firm rating (judged by the electrical
    solver's own loading, kVA or current), any overload the electrical solve reports (units in service, MV
    feeders, UPS), CDU loop firm heat. Loads in W (of the rating for electrical nodes)."""
    out = []
    el = fac.model.elec
    names = el["name"].to_numpy()
    load = _apparent_w(el, cp.electrical.res_nodes)
    seen = set()
    for ids, kind in ((fac.bus_ids, "busway"), (fac.blk_ids, "block"), (fac.sub, "substation")):
        over = load[ids] > fac.firm[ids] * (1 + 1e-9)
        for i in ids[over]:
            seen.add(str(names[i]))
            out.append({"kind": kind, "name": str(names[i]), "load_w": load[i], "limit_w": fac.firm[i]})
    idx = {str(n): i for i, n in enumerate(names)}
    for v in cp.electrical.violations:
        if v.get("kind") == "overload" and str(v.get("component")) not in seen:
            # over 100 % of the units in service (a UPS, a feeder, a node whose spares are used up)
            i = idx.get(str(v.get("component")))
            cap = np.nan
            if i is not None:
                cap = float(el["rating_w"].iat[i]) * float(cp.electrical.res_nodes["units_in_service"].iat[i])
            out.append(
                {
                    "kind": "electrical",
                    "name": str(v.get("component")),
                    "load_w": float(v.get("value", np.nan)) / 100.0 * cap,
                    "limit_w": cap,
                    "message": v.get("message", ""),
                }
            )
    heat = np.bincount(
        fac.loop, weights=fac.lf * cp.res_racks["rack_power_w"].to_numpy(), minlength=len(fac.loop_firm)
    )
    for i in np.flatnonzero(heat > fac.loop_firm * (1 + 1e-9)):
        out.append(
            {
                "kind": "cdu_loop",
                "name": fac.model.loops["name"].iat[i],
                "load_w": heat[i],
                "limit_w": fac.loop_firm[i],
            }
        )
    return out


def _excuse(fac: _Facility, floor: CoupledResult) -> list[str]:
    """Limits over even with every GPU at minimum power: no cap can fix them; they are reported, not enforced
    beyond that floor."""
    fac.set_state(floor)
    v = _local_violations(fac, floor)
    fac.excused = {(d["kind"], d["name"]) for d in v}
    return _messages(v)


def _messages(violations: list[dict]) -> list[str]:
    return [
        f"{d['kind']} '{d['name']}' is over its firm capacity even with every GPU at minimum power "
        f"({d['load_w'] / 1e6:.3f} MW of {d['limit_w'] / 1e6:.3f} MW): its GPUs are held at minimum power"
        for d in violations
    ]


def _local_ok(fac: _Facility, cp: CoupledResult) -> list[dict]:
    """Local limits violated at a coupled state, apart from those already over at the floor."""
    return [d for d in _local_violations(fac, cp) if (d["kind"], d["name"]) not in fac.excused]


def _bisect_scalar(evaluate, lo, hi, f_lo, f_hi, target, tol, max_iter=30):
    """Largest s in [lo, hi] with evaluate(s) <= target for increasing evaluate (Illinois false position)."""
    best = (lo, None)
    side = 0
    for _ in range(max_iter):
        s = lo + (target - f_lo) * (hi - lo) / (f_hi - f_lo) if f_hi > f_lo else 0.5 * (lo + hi)
        s = min(max(s, lo + 1e-9 * (hi - lo)), hi - 1e-9 * (hi - lo))
        f, res = evaluate(s)
        if f <= target:
            lo, f_lo, best = s, f, (s, res)
            if side == -1:
                f_hi = target + 0.5 * (f_hi - target)
            side = -1
            if target - f <= tol * target:
                break
        else:
            hi, f_hi = s, f
            if side == 1:
                f_lo = target - 0.5 * (target - f_lo)
            side = 1
        if hi - lo <= 1e-12 * max(abs(hi), 1.0):
            break
    return best


def _uniform(model, perf, floor, budget_mw, limit_w, limit_name, kw, tol, meter) -> MaxQResult:
    """One cap fraction c of every GPU's maximum power (not below its minimum limit), the largest that fits."""
    fac = _Facility(model, perf, None, kw["failed"])
    fac.meter_limits = meter
    warnings = _excuse(fac, floor)
    pmax, pmin = perf.gpu_power_max_w, perf.gpu_power_min_w
    c_lo = float(np.max(pmin / pmax))

    def caps(c):
        return np.maximum(c * pmax, pmin)

    top = solve_coupled(model, gpu_cap_w=caps(1.0), **kw)
    if top.facility_power_w <= limit_w and not _local_ok(fac, top):
        return _result(
            "uniform", budget_mw, floor, top, caps(1.0), [], {"cap_fraction": 1.0, "warnings": warnings}
        )

    failures = {}  # cap fraction -> what was over there (facility limit / local limits)

    def evaluate(c):
        cp = solve_coupled(model, gpu_cap_w=caps(c), **kw)
        local = _local_ok(fac, cp)
        lim, name = fac.facility_limit(cp)
        why = [{"kind": "facility", "name": name}] if cp.facility_power_w > lim else []
        why += [{"kind": d["kind"], "name": d["name"]} for d in local]
        if why or not _converged_cp(cp):
            failures[c] = why or [{"kind": "convergence", "name": "coupled solve did not converge"}]
        # local limits count as over budget so the search stays on their safe side
        f = (
            cp.facility_power_w
            if not (local or c in failures)
            else limit_w * (1 + 1e-3) + cp.facility_power_w
        )
        return f, cp

    failures[1.0] = [{"kind": "facility", "name": fac.facility_limit(top)[1]}] * (
        top.facility_power_w > fac.facility_limit(top)[0]
    ) + [{"kind": d["kind"], "name": d["name"]} for d in _local_ok(fac, top)]
    c, cp = _bisect_scalar(evaluate, c_lo, 1.0, floor.facility_power_w, top.facility_power_w, limit_w, tol)
    if cp is None:
        # no cap fraction above the floor's fits: every GPU at its minimum limit, the state already verified
        c, cp, cap_w = c_lo, floor, pmin.copy()
    else:
        cap_w = caps(c)
    # binding: what was over at the nearest cap fraction above the returned one
    above = [x for x in failures if x > c]
    binding = list(failures[min(above)]) if above else []
    return _result("uniform", budget_mw, floor, cp, cap_w, binding, {"cap_fraction": c, "warnings": warnings})


def _rack_groups(model, perf: PerfModel, rack_value=None) -> tuple[np.ndarray, list[str]]:
    """Groups of identical racks: racks whose cap problem is the same (rack type, GPU type, workload tier and
    every per-rack parameter of the cap problem: GPUs, other power, GPU power limits, throughput curve and
    weight, liquid fraction, cold plate, throttle temperature). Returns the group of each rack (n_racks,)
    and one label per group ("rack type / GPU type / tier")."""
    r = model.racks
    key = np.column_stack(
        [
            r["rack_type"].to_numpy(dtype=float),
            r["gpu_type"].to_numpy(dtype=float),
            r["tier"].to_numpy(dtype=float),
            perf.gpus.astype(float),
            r["other_power_w"].to_numpy(dtype=float),
            perf.gpu_power_max_w,
            perf.gpu_power_min_w,
            perf.curve_id.astype(float),
            perf.tokens_full_per_gpu,
            r["liquid_fraction"].to_numpy(dtype=float),
            r["cold_plate_r_k_per_w"].to_numpy(dtype=float),
            r["t_throttle_c"].to_numpy(dtype=float),
        ]
    )
    if rack_value is not None:  # racks of different value are not interchangeable
        key = np.column_stack([key, rack_value])
    _, first, group = np.unique(key, axis=0, return_index=True, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    names = []
    for i in first:  # one label per group (a handful)
        names.append(
            f"{model.rack_types['name'].iat[int(r['rack_type'].iat[i])]} / "
            f"{model.gpu_types['name'].iat[int(r['gpu_type'].iat[i])]} / "
            f"{model.tiers['name'].iat[int(r['tier'].iat[i])]}"
        )
    seen: dict[str, int] = {}
    for i, s in enumerate(names):  # the same names with different parameters (a user catalog): number them
        seen[s] = seen.get(s, 0) + 1
        if seen[s] > 1:
            names[i] = f"{s} #{seen[s]}"
    return group, names


def _keep_order(fac: _Facility, primary: np.ndarray) -> np.ndarray:
    """Racks in the order they stay on (the first is switched off last): by ``primary`` (ascending), then spread
    evenly over the busways (the k-th rack of every busway, as a fraction of the busway's racks of that
    ``primary``, before the (k+1)-th of any; ties in layout order). Racks then go off evenly from every
    busway, block, pod and CDU loop: no block is left carrying its pod's fabric switches alone (the electrical
    solve spreads them over the pod's busways by rack load) and the load stays balanced.
    """
    n = fac.model.n_racks
    idx = np.arange(n)
    o = np.lexsort((idx, fac.bus, primary))
    seg = np.column_stack([primary[o], fac.bus[o]])
    new = np.ones(n, bool)
    new[1:] = np.any(seg[1:] != seg[:-1], axis=1)
    start = np.flatnonzero(new)
    which = np.cumsum(new) - 1
    size = np.diff(np.append(start, n))
    frac = np.empty(n)
    frac[o] = (np.arange(n) - start[which] + 0.5) / size[which]
    return np.lexsort((idx, frac, primary))


def _cum_by_node(member: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Cumulative ``load`` within each node (``member``), in the given order (inclusive)."""
    s = np.argsort(member, kind="stable")
    cum = np.cumsum(load[s])
    m = member[s]
    start = np.searchsorted(m, m, side="left")
    out = np.empty(len(load))
    out[s] = cum - (cum[start] - load[s][start])
    return out


def _nameplate_fit(
    fac: _Facility, states: list[CoupledResult], off: CoupledResult, order: np.ndarray
) -> tuple[np.ndarray, list[dict]]:
    """Racks that fit every busway and block firm rating and every CDU loop's firm heat capacity at nameplate,
    switched on greedily in ``order`` (a rack that does not fit is left off and the next one tried).

    A node's loading (kVA or current, as the electrical solver measures it) is taken as its loading with every
    rack off (``off``: fabric switches, no-load losses) plus a slope times the nameplate power of the racks
    on below it; the slope is the largest secant from ``off`` to any of the coupled ``states`` (the first
    with every rack on at nameplate). A secant includes the losses (convex in the load, so it does not
    underestimate a partial load) and the node's share of its pod's fabric switches, which the electrical
    solve spreads over the pod's busways by rack load: a state where a node carries a larger share of its
    pod's racks gives it a steeper secant. The greedy pass runs in vectorised rounds: each round takes, among
    the racks still undecided, every one that fits with all the undecided racks before it (so the taken set
    fits), and leaves off for good those that do not fit even alone. Returns (fits (n_racks,) bool, the limits
    that left racks off as binding-constraint records)."""
    model = fac.model
    n = model.n_racks
    el = model.elec
    rp = states[0].res_racks["rack_power_w"].to_numpy(dtype=float)
    a_off = _apparent_w(el, off.electrical.res_nodes)
    slope = np.zeros(len(a_off))
    for cp in states:  # a handful of states
        rp_s = cp.res_racks["rack_power_w"].to_numpy(dtype=float)
        below = np.bincount(fac.bus, weights=rp_s, minlength=len(a_off))
        below += np.bincount(fac.blk, weights=rp_s, minlength=len(a_off))
        a_s = _apparent_w(el, cp.electrical.res_nodes)
        slope = np.maximum(slope, np.where(below > 0, _ratio(np.maximum(a_s - a_off, 0.0), below), 0.0))
    names = el["name"].to_numpy()
    parts = [
        ("busway", fac.bus, rp * slope[fac.bus], a_off, fac.firm, names),
        ("block", fac.blk, rp * slope[fac.blk], a_off, fac.firm, names),
        (
            "cdu_loop",
            fac.loop,
            fac.lf * rp,
            np.zeros(len(fac.loop_firm)),
            fac.loop_firm,
            model.loops["name"].to_numpy(),
        ),
    ]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    taken = np.zeros(n, bool)
    left_off = np.zeros(n, bool)
    for _ in range(64):
        cand = np.flatnonzero(~taken & ~left_off)
        if len(cand) == 0:
            break
        cand = cand[np.argsort(rank[cand])]
        ok = np.ones(len(cand), bool)
        alone = np.ones(len(cand), bool)
        for _, member, load, offset, limit, _ in parts:
            base = offset + np.bincount(member[taken], weights=load[taken], minlength=len(limit))
            lim = limit * (1 - 1e-9)
            mem = member[cand]
            ok &= base[mem] + _cum_by_node(mem, load[cand]) <= lim[mem]
            alone &= base[mem] + load[cand] <= lim[mem]
        taken[cand[ok]] = True
        left_off[cand[~alone]] = True
    left_off |= ~taken  # undecided after the rounds (not reached on the reference layouts): left off
    binding = []
    for kind, member, load, offset, limit, labels in parts:
        full = offset + np.bincount(member[taken], weights=load[taken], minlength=len(limit))
        # a node binds if a rack it feeds was left off and would not fit it
        need = full[member] + load > limit[member] * (1 - 1e-9)
        for c in np.unique(member[left_off & need]):
            binding.append({"kind": kind, "name": str(labels[c]), "note": "firm rating at nameplate"})
    return taken, binding


def _maxp(
    model, perf, floor, budget_mw, limit_w, limit_name, kw, tol, meter, avail=None, rack_value=None
) -> MaxQResult:
    """No caps: every GPU at its maximum power, power provisioned at nameplate. Racks that do not fit stay off.

    Which racks stay on: the most productive rack types first (tokens/s per W of rack power at nameplate), each
    spread evenly over the busways (``_keep_order``); racks beyond a busway's or block's firm rating or a CDU
    loop's firm heat capacity at nameplate are left off (``_nameplate_fit``). How many stay on: the facility
    power rises with the number n of racks on (in that order), so the largest n within the facility limit is
    found by integer false position (Illinois) on n, each n verified by the coupled solve, and certified by the
    coupled solve at n + 1, which exceeds the facility limit or another limit (named as binding). A coupled
    state with a busway, block or loop over its firm rating below the facility limit makes the nameplate
    fit steeper at that node (its share of its pod's fabric switches) and the search starts again (at most
    three times; after that such a state counts as over)."""
    fac = _Facility(model, perf, None, kw["failed"])
    fac.meter_limits = meter
    warnings = _excuse(fac, floor)
    n = model.n_racks
    n_avail = n if avail is None else int(avail.sum())
    caps = perf.gpu_power_max_w.copy()
    top = solve_coupled(model, gpu_cap_w=None, racks_on=avail, **kw)

    def why_over(cp: CoupledResult) -> list[dict]:
        lim, name = fac.facility_limit(cp)
        why = [{"kind": "facility", "name": name}] if cp.facility_power_w > lim else []
        why += [{"kind": d["kind"], "name": d["name"]} for d in _local_ok(fac, cp)]
        if not _converged_cp(cp):
            why.append({"kind": "convergence", "name": "coupled solve did not converge"})
        return why

    def done(cp: CoupledResult, binding: list[dict]) -> MaxQResult:
        w = list(warnings)
        n_thr = int(cp.kpis.get("throttled_racks", 0) or 0)
        if n_thr:
            w.append(
                f"Max-P: {n_thr} of {int(cp.kpis['racks_on'])} racks on throttle at full power (the cooling does "
                "not hold their GPUs below the throttle temperature)"
            )
        extra = {"racks_off": int(n_avail - cp.kpis["racks_on"]), "warnings": w}
        return _result("maxp", budget_mw, floor, cp, caps, binding, extra)

    if not why_over(top):
        return done(top, [])
    off = solve_coupled(model, gpu_cap_w=None, racks_on=np.zeros(n, bool), **kw)
    if why_over(off):
        f_off, lim_off = off.facility_power_w, fac.facility_limit(off)
        return _infeasible_result(
            "maxp",
            budget_mw,
            floor,
            f"infeasible: the facility needs {f_off / 1e6:.3f} MW with every rack switched off (fabric, "
            f"cooling and no-load losses), above the {lim_off[0] / 1e6:.3f} MW {lim_off[1]}"
            if f_off > lim_off[0]
            else "infeasible: with every rack switched off the facility is still over "
            + ", ".join(f"{d['kind']} '{d['name']}'" for d in why_over(off)),
        )
    # the most productive racks stay on first: tokens/s per W of rack power at nameplate, by rack group
    rack_w = fac.other + fac.gpus * perf.gpu_power_max_w
    eff = perf.tokens_full_per_gpu * fac.gpus / rack_w
    if rack_value is not None:  # the most valuable racks (objective per W) first
        eff = eff * rack_value
    _, eff_rank = np.unique(-np.round(eff / eff.max(), 12), return_inverse=True)
    order_all = _keep_order(fac, np.asarray(eff_rank).reshape(-1))
    states = [top]
    local_kinds = {"busway", "block", "cdu_loop"}
    for attempt in range(4):
        fits, local_binding = _nameplate_fit(fac, states, off, order_all)
        if avail is not None:
            fits &= avail
        order = order_all[fits[order_all]]
        found = _count_search(model, order, off, top, why_over, fac, kw, refit=attempt < 3)
        if isinstance(
            found, CoupledResult
        ):  # a firm rating over below the facility limit: refit, search again
            states.append(found)
            continue
        lo, hi, evaluated = found
        if hi is None:  # every rack that fits the firm ratings at nameplate fits the facility limit
            return done(evaluated[lo][0], local_binding)
        # binding: what is over with one more rack on (hi = lo + 1, verified)
        why = evaluated[hi][1]
        binding = [b for b in why if b["kind"] != "convergence"] or why
        if any(b["kind"] in local_kinds for b in binding):
            binding = [b for b in binding if b["kind"] not in local_kinds] + local_binding
        return done(evaluated[lo][0], binding)
    raise AssertionError("unreachable")  # the last attempt does not refit


def _count_search(model, order, off, top, why_over, fac, kw, refit: bool):
    """Largest n with the first n racks of ``order`` on (no caps) within every limit, by integer false
    position (Illinois) on n; every n is verified by the coupled solve and the answer n by the solve at n + 1.

    Returns (n, n + 1 or None when every rack of ``order`` fits, {n: (coupled state, what is over)}), or, with
    ``refit``, the first coupled state found with a busway / block / loop over its firm rating while the
    facility power is within its limit (the nameplate fit was too optimistic there)."""
    n = model.n_racks
    evaluated: dict[int, tuple[CoupledResult, list[dict]]] = {0: (off, [])}

    def evaluate(k: int) -> tuple[CoupledResult, list[dict]]:
        if k not in evaluated:
            if k == n:
                cp = top
            else:
                on = np.zeros(n, bool)
                on[order[:k]] = True
                cp = solve_coupled(model, gpu_cap_w=None, racks_on=on, **kw)
            evaluated[k] = (cp, why_over(cp))
        return evaluated[k]

    class _Refit(Exception):
        pass

    def residual(k: int) -> float:
        """Facility power less its limit, W: < 0 within every limit; >= 1 W when over any limit."""
        cp, why = evaluate(k)
        r = cp.facility_power_w - fac.facility_limit(cp)[0]
        if why and r <= 0:
            if refit and any(b["kind"] in ("busway", "block", "cdu_loop") for b in why):
                raise _Refit(k)
            return abs(r) + 1.0
        return r

    n_fit = len(order)
    try:
        r_hi = residual(n_fit)
        if r_hi < 0:
            return n_fit, None, evaluated
        lo, hi, r_lo = 0, n_fit, residual(0)
        side = 0
        last = [(0, r_lo), (n_fit, r_hi)]  # the last two counts evaluated at least two racks apart
        while hi - lo > 1:
            slope = (r_hi - r_lo) / (hi - lo)  # W per rack, bracket secant (Illinois-scaled)
            mid = lo + int(np.floor(-r_lo / max(slope, 1e-300)))
            (k0, q0), (k1, q1) = last
            if q1 != q0:  # secant through the last two counts when it falls inside the bracket (faster)
                sec = k1 - q1 * (k1 - k0) / (q1 - q0)
                if lo < sec < hi:
                    mid = int(np.floor(sec))
            mid = min(max(mid, lo + 1), hi - 1)
            r = residual(mid)
            if abs(mid - last[1][0]) >= 2:
                last = [last[1], (mid, r)]
            if r < 0:
                lo, r_lo = mid, r
                if side == 1:
                    r_hi *= 0.5  # Illinois: the end kept twice has its residual halved
                side = 1
                # the boundary is predicted within two racks: verify the next count at once
                if mid + 1 < hi and -r < 2.0 * slope:
                    r1 = residual(mid + 1)
                    if r1 < 0:
                        lo, r_lo = mid + 1, r1
                    else:
                        hi, r_hi = mid + 1, r1
            else:
                hi, r_hi = mid, r
                if side == -1:
                    r_lo *= 0.5
                side = -1
                if mid - 1 > lo and r < 2.0 * slope:
                    r1 = residual(mid - 1)
                    if r1 < 0:
                        lo, r_lo = mid - 1, r1
                    else:
                        hi, r_hi = mid - 1, r1
    except _Refit as e:
        return evaluated[e.args[0]][0]
    return lo, hi, evaluated


def _maxq(
    model,
    perf,
    variation,
    floor,
    budget_mw,
    limit_w,
    limit_name,
    kw,
    tol,
    max_outer,
    meter,
    avail,
    shed,
    rack_value=None,
    start=None,
) -> MaxQResult:
    fac = _Facility(model, perf, variation, kw["failed"], rack_value=rack_value)
    fac.meter_limits = meter
    warnings = _excuse(fac, floor)
    user_on = np.ones(model.n_racks, bool) if avail is None else avail
    # per-GPU caps with variation: the linearisations are first iterated on the rack-level problem (each rack
    # with its mean multiplier; same constraints, 72-576x fewer variables), then finished per GPU warm-started
    # from its prices; without variation the rack-level problem is exact (identical GPUs get identical caps)
    stages = [fac]
    if variation is not None:
        scale = np.bincount(fac.unit_rack, weights=variation, minlength=model.n_racks) / fac.gpus
        st0 = _Facility(model, perf, None, kw["failed"], rack_scale=scale, rack_value=rack_value)
        st0.meter_limits = meter
        st0.set_state(floor)
        stages = [st0, fac]
    for st in stages:
        st.on = user_on.copy()
    gs = _GroupShedding(model, perf, stages, kw, tol, max_outer, user_on)
    if floor.facility_power_w > fac.facility_limit(floor)[0]:
        # below the floor of every rack on (at minimum power): only switching racks off can fit
        base = gs.cold_start(floor)
        if isinstance(base, str):
            return base
        found = gs.search(base)
        best, a, conv, history, tokens_all_on = found.best, found.best[4], found.converged, gs.history, None
    else:
        best, history, a, conv = _maxq_all_on(
            model, perf, stages, fac, floor, kw, tol, max_outer, avail, start=start
        )
        tokens_all_on = fac.objective(best[1])
        if shed:
            best, a, conv, history = _shed_local(
                model, stages, fac, best, a, conv, history, kw, tol, max_outer
            )
        # rack shedding for the facility budget: racks on per group of identical racks (``_GroupShedding``);
        # the reduced costs at the answer tell at no extra solve whether switching racks off can pay
        gs.avail = stages[-1].on.copy()
        gs.n_avail = np.bincount(gs.group[gs.avail], minlength=len(gs.labels))
        gs.set_rank()
        base = _Candidate(
            tuple(int(x) for x in gs.n_avail), stages[-1].on.copy(), best, conv, fac.objective(best[1])
        )
        if shed and np.any((gs.linear_state(base)[1] < 0) & (gs.n_avail > 0)):
            found = gs.search(base)
            history = history + gs.history
            if found is not base:
                best, a, conv = found.best, found.best[4], found.converged
    racks_shed = int(np.count_nonzero(user_on) - np.count_nonzero(stages[-1].on))
    caps, cpf, sol, pb, _ = best
    if racks_shed:
        # shedding may have brought a limit that was over at the floor back within its rating
        warnings = _messages(
            [d for d in _local_violations(fac, cpf) if (d["kind"], d["name"]) in fac.excused]
        )
    if gs.stopped:
        warnings = [
            *warnings,
            f"Max-Q rack shedding: the search stopped after {gs.evaluations} verified rack counts (the counts "
            "returned are the best verified, possibly short of the best)",
        ]
    if gs.unverified:
        warnings = [
            *warnings,
            f"Max-Q rack shedding: {gs.unverified} of {gs.evaluations} rack counts tried found no coupled-verified "
            "caps within the limits (outer loop or coupled solve not converged): skipped",
        ]
    limit_w, limit_name = fac.facility_limit(cpf)
    binding, res_c, shadow = _binding(fac, pb, sol, a, limit_name, cpf, limit_w)
    ur = fac.unit_rack
    if not conv:
        warnings = [
            *warnings,
            f"Max-Q outer loop did not converge in {max_outer} linearisations: returning the best verified "
            "feasible caps found (within every limit, possibly short of the optimum)",
        ]
    extra = {
        "outer_converged": bool(conv),
        "warnings": warnings,
        "outer_iterations": len(history),
        "facility_power_history_mw": history,
        "marginal_facility_w_per_gpu_w": a,
        "shadow_price_tokens_per_s_per_mw": shadow,
        "shadow_price_objective_per_s_per_mw": float(sol.multipliers[0][0]) * 1e6,
        "optimizer_converged": bool(sol.converged),
        "optimizer_iterations": sol.sweeps,
        "racks_shed": racks_shed,
        "racks_shed_groups": gs.groups_shed(stages[-1].on),
        # None: every rack on does not fit (below the all-on floor)
        "shedding_gain_pct": None
        if tokens_all_on is None
        else 100.0 * (fac.objective(cpf) / tokens_all_on - 1.0),
        "junction_limited_racks": int(
            np.count_nonzero(np.bincount(ur, weights=_junction_bound(pb, sol), minlength=model.n_racks) > 0)
        ),
    }
    out = _result("maxq", budget_mw, floor, cpf, caps, binding, extra, res_c)
    price = np.zeros(len(pb.weight))
    for g, mu in zip(pb.groups, sol.multipliers, strict=True):
        inside = g.member >= 0
        price[inside] += mu[g.member[inside]] * g.coef[inside]
    out.gpu_price_per_w = np.bincount(ur, weights=price * pb.count, minlength=model.n_racks) / np.maximum(
        np.bincount(ur, weights=pb.count, minlength=model.n_racks), 1e-300
    )
    return out


def _maxq_all_on(model, perf, stages, fac, floor, kw, tol, max_outer, avail, start=None):
    """The Max-Q outer loop with every available rack on: (best verified iterate, history, secant a, converged)."""
    if start is not None and start.gpu_cap_w is not None:
        # a nearby answer (other cooling setpoints): its caps, its state as the warm start
        start_caps, warm = np.asarray(start.gpu_cap_w, dtype=float), start.coupled
    else:
        # the catalog's Max-Q operating point (a good guess of the answer)
        pq = model.gpu_types["power_maxq_w"].to_numpy(dtype=float)[model.racks["gpu_type"].to_numpy()]
        start_caps, warm = np.clip(pq, perf.gpu_power_min_w, perf.gpu_power_max_w), floor
    cp = solve_coupled(model, gpu_cap_w=start_caps, racks_on=avail, warm=warm, **kw)
    best, history, a, conv = _outer(model, stages, floor, cp, 1.0, tol, max_outer, kw, on=avail)
    if best is None:
        limit_w, limit_name = fac.facility_limit(floor)
        raise InputError(
            f"Max-Q did not find caps within the {limit_w / 1e6:.3f} MW {limit_name} in {max_outer} "
            "linearisations (the coupled solve may be unstable near this budget)"
        )
    return best, history, a, conv


def _shed_local(model, stages, fac, best, a, conv, history, kw, tol, max_outer):
    """Rack shedding inside local limits: where a busway / block / loop limit binds hard, fewer racks at higher
    power can beat all racks at low power (each rack on costs its CPUs, NICs and switches). Kept only if
    verified better (``_shed``)."""
    user_on = stages[-1].on.copy()
    local_shed = _shed(fac, best[3], best[2], a)
    if not local_shed.any():
        return best, a, conv, history
    on2 = user_on & ~local_shed
    for st in stages:
        st.on = on2
    cp2 = solve_coupled(model, gpu_cap_w=best[0], racks_on=on2, warm=best[1], **kw)
    best2, hist2, a2, conv2 = _outer(model, stages, cp2, cp2, a, tol, max_outer, kw, on=on2)
    history = history + hist2

    # a configuration that meets more firm ratings wins (a limit over even at minimum power can only be met by
    # switching racks off); among equally feasible ones, the one with more tokens/s
    def rank(b):
        over = [d for d in _local_violations(fac, b[1]) if (d["kind"], d["name"]) in fac.excused]
        return (-len(over), fac.objective(b[1]))

    if best2 is not None and rank(best2) > rank(best):
        return best2, a2, conv2, history
    for st in stages:
        st.on = user_on.copy()
    return best, a, conv, history


def _converged_cp(cp: CoupledResult) -> bool:
    k = cp.kpis
    return bool(cp.converged and k.get("thermal_converged", True) and k.get("electrical_converged", True))


def _converged(sol, cp: CoupledResult) -> bool:
    """An iterate counts only if the cap problem and every coupled solve behind it converged."""
    k = cp.kpis
    return bool(
        sol.converged
        and cp.converged
        and k.get("thermal_converged", True)
        and k.get("electrical_converged", True)
    )


def _outer(model, stages, prev, cur, a, tol, max_outer, kw, on=None, info=None):
    """Linearise at the coupled state, solve the cap problem, verify by the coupled solve, repeat.

    Returns (best verified iterate or None, facility power history MW, secant a, outer_converged); with racks
    ``on`` given, a cap problem that is infeasible (the limits cannot be met even at minimum power) returns
    None and sets ``info["infeasible"]`` (a dict, if given)."""
    fac = stages[-1]
    best, history, mu0, stage = None, [], None, 0
    outer_converged = False
    for _ in range(max_outer):
        # the facility limit at this state (the substation's kVA rating moves with |S| / P); aim half a
        # tolerance inside it so that the verified facility power lands in [limit (1 - tol), limit]
        target = fac.facility_limit(cur)[0] * (1 - 0.5 * tol)
        F = stages[stage]
        g_prev, g_cur = fac.gpu_power_total(prev), fac.gpu_power_total(cur)
        if abs(g_cur - g_prev) > 1e-6 * max(g_cur, 1.0):
            # secant of the facility power over total GPU power between the last two coupled states; it can
            # be below 1 when power moves between racks with different losses, so it is kept as measured
            # (a secant step on the budget residual), only guarded against a non-positive value
            sec = (cur.facility_power_w - prev.facility_power_w) / (g_cur - g_prev)
            if sec > 0.1:
                a = sec
        # the busway / block / loop limits are aimed half a tolerance inside as well
        pb = F.problem(
            cur, a, cur.facility_power_w, g_cur, target, prev if prev is not cur else None, margin=0.5 * tol
        )
        sol = solve_caps(pb, mu0=mu0)
        mu0 = sol.multipliers
        if not sol.feasible:
            if on is not None:  # a shed configuration that does not fit: give up on it
                if info is not None:
                    info["infeasible"] = True
                return None, history, a, False
            raise InputError(f"Max-Q: {sol.reason}")
        caps = sol.p
        nxt = solve_coupled(model, gpu_cap_w=caps, racks_on=on, warm=cur, **kw)
        f = nxt.facility_power_w
        limit_w = fac.facility_limit(nxt)[0]
        history.append(f / 1e6)
        final = stage == len(stages) - 1
        ok = f <= limit_w and not _local_ok(fac, nxt) and _converged(sol, nxt)
        if final and ok and (best is None or fac.objective(nxt) > fac.objective(best[1])):
            best = (caps, nxt, sol, pb, a)
        fac_binding = sol.multipliers[0][0] > 0
        # junction-limited GPUs must sit at their throttle temperature (the linear junction model is re-made
        # at each state until they do)
        jb = np.bincount(F.unit_rack, weights=_junction_bound(pb, sol), minlength=model.n_racks) > 0
        margin = nxt.res_racks["margin_k"].to_numpy()
        jb &= nxt.res_racks["on"].to_numpy()
        junction_ok = not jb.any() or float(np.max(np.abs(margin[jb]))) <= 0.02
        # a binding busway / block / loop limit must be used to within the tolerance too (its linear model
        # is re-made at each state until it is), as the facility limit is
        local_tight = _local_slack(fac, sol, nxt) <= tol
        if ok and junction_ok and local_tight and (not fac_binding or f >= limit_w * (1 - tol)):
            if final:
                outer_converged = True
                break
            stage += 1
        prev, cur = cur, nxt
    return best, history, a, outer_converged


def _local_slack(fac: _Facility, sol, cp: CoupledResult) -> float:
    """Largest relative slack, at the coupled state ``cp``, of the busway / block / loop limits the cap solution
    prices as binding (loading as the electrical solver measures it against the firm rating; loop liquid heat
    against its firm capacity); limits over even at the floor are held there and not counted. 0 if none."""
    load = _apparent_w(fac.model.elec, cp.electrical.res_nodes)
    heat = np.bincount(
        fac.loop, weights=fac.lf * cp.res_racks["rack_power_w"].to_numpy(), minlength=len(fac.loop_firm)
    )
    names = fac.model.elec["name"].to_numpy()
    loops = fac.model.loops["name"].to_numpy()
    slack = [0.0]
    for kind, mu, ids in (
        ("busway", sol.multipliers[1], fac.bus_ids),
        ("block", sol.multipliers[2], fac.blk_ids),
    ):
        b = np.flatnonzero(mu > 0)
        keep = [i for i in b if (kind, str(names[ids[i]])) not in fac.excused]  # a few binding limits
        if keep:
            node = ids[keep]
            slack.append(float(np.max(1.0 - load[node] / fac.firm[node])))
    b = [i for i in np.flatnonzero(sol.multipliers[3] > 0) if ("cdu_loop", str(loops[i])) not in fac.excused]
    if b:
        slack.append(float(np.max(1.0 - heat[b] / fac.loop_firm[b])))
    return max(slack)


def _shed(fac: _Facility, pb: CapProblem, sol, a: float) -> np.ndarray:
    """Racks to switch off inside hard-binding local limits (bool (n_racks,)).

    For each binding busway / block / loop c with N racks (taken as identical, group means), total limit L on
    ``kappa (other + gpus p)`` and facility price pi = lambda a (tokens/s per W at the meter), the best number
    of racks on is n* = argmax_n n [gpus w f(p_n / P_max) - pi (other + gpus p_n)] with
    p_n = min(p_free, (L / (kappa n) - other) / gpus) >= p_min (a loop over the few binding limits, each
    vectorised over n). The N - n* racks with the lowest upper power bound (then last in layout order) go off.
    """
    shed = np.zeros(fac.model.n_racks, bool)
    ur = fac.unit_rack
    rep = np.unique(ur, return_index=True)[1]  # first unit of each rack
    lam = float(sol.multipliers[0][0])
    pi = lam * a
    perf = fac.perf
    p_up_r = pb.p_up[rep]
    # mean tokens/s weight of each rack's GPUs (with per-GPU variation the units are GPUs)
    w_all = np.broadcast_to(np.asarray(fac.weight, dtype=float), ur.shape)
    w_rack = np.bincount(ur, weights=w_all, minlength=fac.model.n_racks) / np.maximum(
        np.bincount(ur, minlength=fac.model.n_racks), 1
    )
    for k, (g, mu) in enumerate(zip(pb.groups, sol.multipliers, strict=True)):
        if k == 0:
            continue
        labels = g.labels if g.labels is not None else np.arange(len(g.limit)).astype(str)
        mem_r = g.member[rep]
        coef_r = g.coef[rep]
        excused = np.array([(g.name, str(lab)) in fac.excused for lab in labels], dtype=bool)
        for c in np.flatnonzero((mu > 0) | excused):
            R = np.flatnonzero((mem_r == c) & fac.on)
            n_all = len(R)
            if n_all < 2:
                continue
            kappa = float(coef_r[R].mean())
            o, gp = float(fac.other[R].mean()), float(fac.gpus[R].mean())
            w = float(w_rack[R].mean())
            pmax, pmin = float(perf.gpu_power_max_w[R].mean()), float(perf.gpu_power_min_w[R].mean())
            curve = perf.curves[int(perf.curve_id[R[0]])]
            L = float(fac.raw_limits[k][c]) + kappa * o * n_all  # limit on the group's total rack power
            x_free = float(curve.x_at_slope(np.array([pi * pmax / w]))[0]) if pi > 0 else 1.0
            p_free = min(max(x_free * pmax, pmin), float(p_up_r[R].mean()))
            n = np.arange(1, n_all + 1)
            p_n = np.minimum(p_free, (L / (kappa * n) - o) / gp)
            valid = p_n >= pmin
            if not valid.any():
                continue
            val = n * (gp * w * curve.value(np.clip(p_n / pmax, curve.x_min, 1.0)) - pi * (o + gp * p_n))
            val = np.where(valid, val, -np.inf)
            n_best = int(n[np.argmax(val)])
            if n_best < n_all and val.max() > val[-1] * (1 + 1e-9):
                order = np.lexsort((-R, p_up_r[R]))  # lowest bound first, then last in layout order
                shed[R[order[: n_all - n_best]]] = True
    return shed


def _unit_tokens(pb: CapProblem, p: np.ndarray) -> np.ndarray:
    """tokens/s of every unit of a cap problem at GPU powers ``p`` (count x weight x f(p / P_max))."""
    v = np.empty(len(pb.weight))
    x = np.clip(np.asarray(p, dtype=float) / pb.p_max, 0.0, 1.0)
    for c, curve in enumerate(pb.curves):  # a few curves
        s = pb.curve_id == c
        v[s] = curve.value(np.maximum(x[s], curve.x_min))
    return pb.count * pb.weight * v


@dataclass
class _Candidate:
    """A verified configuration of the shedding search: racks on per group, and the Max-Q outer loop's best
    verified caps there (``best`` = (caps, coupled state, cap solution, cap problem, secant a))."""

    n_on: tuple[int, ...]
    on: np.ndarray
    best: tuple
    converged: bool
    objective: float  # tokens/s (or tokens/s x rack value) at the verified state


class _GroupShedding:
    """Facility-level rack shedding: the number of racks on per group of identical racks (module docstring).

    For a verified state (caps, coupled state, cap solution with facility multiplier lambda, secant a), the
    facility price of a W of rack IT power is pi = lambda a (tokens/s per W). Per group g of identical racks,
    with n racks on, GPU power p and rack IT power o + G p, the linearised facility value of the group is
    n t(p) - pi n (o + G p), whose derivative in n is the reduced cost v_g = t(p) - pi (o + G p) of one rack.
    The best tokens/s as a function of the counts, T(n), is concave in the continuous relaxation (a sum of
    perspectives n phi(B / n) of concave functions, maximised over how the budget B is split), so
    T(n - e_g) <= T(n) - v_g and T(n + e_g) <= T(n) + v_g: with v_g >= 0 for every group at the all-on answer no
    count below it can do better and the search stops there (the fast path, at no extra coupled solve).

    Otherwise the counts are warm-started from the relaxation at the current linearisation (fractional
    knapsack: at the clearing price every group with v_g > 0 is on, one group partly on at its
    tokens-per-W-optimal power) and each count is verified by the Max-Q outer loop with those racks off (the
    caps optimiser as the inner solve, every answer re-checked by the coupled solve). The search re-estimates
    from each better verified state and then moves single counts by one rack in the direction the reduced
    cost points (both directions where it is small or the group is partly on), keeping a move only if the
    coupled solve confirms more tokens/s, until no move improves: a local optimum of a concave T, i.e. the
    optimum. Which racks of a group go off: ``_keep_order`` (spread over the busways)."""

    def __init__(
        self,
        model,
        perf: PerfModel,
        stages: list[_Facility],
        kw,
        tol: float,
        max_outer: int,
        user_on: np.ndarray,
    ):
        self.model, self.perf, self.stages, self.kw = model, perf, stages, kw
        self.tol, self.max_outer = tol, max_outer
        F = stages[-1]
        self.F = F
        n = model.n_racks
        self.avail = F.on.copy()  # racks that may be on (the local shedding may have switched some off)
        self.group, self.labels = _rack_groups(model, perf, F.rack_value)
        ng = len(self.labels)
        self.n_avail = np.bincount(self.group[self.avail], minlength=ng)
        self.n_total = np.bincount(self.group[user_on], minlength=ng)  # racks the user left available
        self.order = _keep_order(F, self.group)
        self.set_rank()
        rep = np.unique(self.group, return_index=True)[1]
        ur = F.unit_rack
        w_units = np.broadcast_to(np.asarray(F.weight, dtype=float), ur.shape) * F.count
        w_rack = np.bincount(ur, weights=w_units, minlength=n) / np.bincount(ur, weights=F.count, minlength=n)
        self.g_other = F.other[rep]
        self.g_gpus = F.gpus[rep]
        self.g_pmin = perf.gpu_power_min_w[rep]
        self.g_pmax = perf.gpu_power_max_w[rep]
        self.g_curve = perf.curve_id[rep]
        # tokens/s of one GPU at P_max, group mean
        self.g_w = np.bincount(self.group, weights=w_rack, minlength=ng) / np.bincount(
            self.group, minlength=ng
        )
        self.history: list[float] = []
        self.unverified = 0  # counts whose outer loop found no verified caps
        self.evaluations = 0
        self.stopped = False  # the search ran out of evaluations

    def set_rank(self) -> None:
        """Rank of each available rack in its group's keep order (the racks on are those with rank < count)."""
        n = self.model.n_racks
        o = self.order[self.avail[self.order]]
        go = self.group[o]
        self.rank = np.full(n, n)
        self.rank[o] = np.arange(len(o)) - np.searchsorted(go, go, side="left")

    # --- linear model at a verified state -----------------------------------------------------------------
    def _response(self, pi: float, p_up: np.ndarray):
        """Per group at facility price pi: the best GPU power (W), tokens/s of one rack, its IT power (W)."""
        p = np.empty(len(self.g_w))
        tok = np.empty(len(self.g_w))
        for c in np.unique(self.g_curve):  # a few curves
            s = self.g_curve == c
            cv = self.perf.curves[int(c)]
            x = cv.x_at_slope(pi * self.g_pmax[s] / self.g_w[s])
            p[s] = np.clip(x * self.g_pmax[s], self.g_pmin[s], p_up[s])
            tok[s] = self.g_gpus[s] * self.g_w[s] * cv.value(np.maximum(p[s] / self.g_pmax[s], cv.x_min))
        return p, tok, self.g_other + self.g_gpus * p

    def linear_state(self, cand: _Candidate):
        """(pi, reduced cost per group (tokens/s per rack), tokens/s of one rack per group, p_up per group,
        IT power available to the racks at the facility target (W))."""
        caps, cp, sol, pb, a = cand.best
        F, ur, n = self.F, self.F.unit_rack, self.model.n_racks
        ng = len(self.labels)
        pi = float(sol.multipliers[0][0]) * a
        tok_r = np.bincount(ur, weights=_unit_tokens(pb, sol.p), minlength=n)
        it_r = (F.other + np.bincount(ur, weights=pb.count * sol.p, minlength=n)) * cand.on
        cnt = np.bincount(ur, weights=F.count, minlength=n)
        p_up_r = np.bincount(ur, weights=pb.p_up * F.count, minlength=n) / cnt
        n_on = np.bincount(self.group[cand.on], minlength=ng)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.bincount(self.group, weights=(tok_r - pi * it_r) * cand.on, minlength=ng) / n_on
            t1 = np.bincount(self.group, weights=tok_r * cand.on, minlength=ng) / n_on
            p_up = np.bincount(self.group, weights=p_up_r * cand.on, minlength=ng) / n_on
        p_up = np.where(n_on > 0, p_up, self.g_pmax)
        # groups with no rack on: the value of switching one on at its best response to the price
        _, tok0, use0 = self._response(pi, p_up)
        v = np.where(n_on > 0, v, tok0 - pi * use0)
        t1 = np.where(n_on > 0, t1, tok0)
        target = F.facility_limit(cp)[0] * (1 - 0.5 * self.tol)
        it_avail = float(it_r.sum()) + (target - cp.facility_power_w) / a
        return pi, v, t1, p_up, it_avail

    def estimate(self, cand: _Candidate) -> tuple[np.ndarray, np.ndarray]:
        """Counts (float, per group) and GPU powers (W) of the continuous relaxation at ``cand``'s linearisation."""
        _, _, _, p_up, it_avail = self.linear_state(cand)
        return self._relaxation(it_avail, p_up)

    def _relaxation(self, it_avail: float, p_up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """maximise sum_g n_g t_g(p_g) subject to sum_g n_g (o_g + G_g p_g) <= ``it_avail`` (W of rack IT power),
        0 <= n_g <= N_g, p_min <= p_g <= ``p_up``: (counts, GPU powers W) per group."""
        N = self.n_avail.astype(float)

        def at(pi):
            p, tok, use = self._response(pi, p_up)
            v = tok - pi * use
            return p, v, use, float(np.sum(N * use * (v > 0)))

        p0, _, _, u0 = at(0.0)
        if u0 <= it_avail:
            return N, p0
        lo, hi = 0.0, 1.0
        while at(hi)[3] > it_avail and hi < 1e12:
            hi *= 4.0
        for _ in range(100):  # bisection on the clearing price, to round-off
            mid = 0.5 * (lo + hi)
            if at(mid)[3] > it_avail:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-13 * hi:
                break
        p_lo, v_lo, use_lo, _ = at(lo)
        p_hi, v_hi, use_hi, u_hi = at(hi)
        full = v_hi > 0
        n = np.where(full, N, 0.0)
        part = (v_lo > 0) & ~full  # groups switching off at the clearing price: partly on
        rest = it_avail - u_hi
        if part.any() and rest > 0:
            share = N * use_lo * part
            n = np.where(part, rest * share / share.sum() / use_lo, n)
        return np.clip(n, 0.0, N), np.where(full, p_hi, p_lo)

    def cold_start(self, floor: CoupledResult) -> _Candidate | str:
        """A first verified configuration below the all-on floor, or why there is none.

        Linear model between the coupled states with every rack off and every available rack on at minimum
        power (the floor): facility power = F_off + a x rack IT power. The relaxation's counts, rounded down,
        are verified; if they do not fit, counts 15 % lower are tried (four times at most)."""
        n = self.model.n_racks
        off = solve_coupled(self.model, gpu_cap_w=None, racks_on=np.zeros(n, bool), **self.kw)
        lim, name = self.F.facility_limit(off)
        if off.facility_power_w > lim:
            return (
                f"with every rack switched off the facility still needs {off.facility_power_w / 1e6:.3f} MW "
                f"(fabric, cooling and no-load losses), above the {lim / 1e6:.3f} MW {name}"
            )
        it_floor = float(np.sum((self.F.other + self.F.gpus * self.perf.gpu_power_min_w) * self.avail))
        a = max((floor.facility_power_w - off.facility_power_w) / max(it_floor, 1e-300), 1.0)
        n_est, p_est = self._relaxation((lim * (1 - 0.5 * self.tol) - off.facility_power_w) / a, self.g_pmax)
        for _ in range(4):
            n_on = np.floor(n_est)
            if n_on.sum() < 1:
                n_on[np.argmax(n_est)] = 1.0
            c = self.verify(n_on.astype(np.int64), p_est, a)
            if c is not None:
                return c
            n_est = 0.85 * n_on
        return "no count of racks on with verified caps was found below it"

    # --- verification ---------------------------------------------------------------------------------------
    def verify(
        self, n_on: np.ndarray, p_start: np.ndarray, a: float, warm: CoupledResult | None = None
    ) -> _Candidate | None:
        """Max-Q outer loop with ``n_on`` racks on per group (``p_start``: W per GPU per group, the first caps)."""
        on = self.rank < n_on[self.group]
        if not on.any():
            return None
        self.evaluations += 1
        for st in self.stages:
            st.on = on
        start = np.clip(p_start[self.group], self.perf.gpu_power_min_w, self.perf.gpu_power_max_w)
        cp0 = solve_coupled(self.model, gpu_cap_w=start, racks_on=on, warm=warm, **self.kw)
        info: dict = {}
        best, hist, _, conv = _outer(
            self.model, self.stages, cp0, cp0, a, self.tol, self.max_outer, self.kw, on=on, info=info
        )
        self.history += hist
        if best is None:
            # an infeasible count (over a limit even at minimum power) is an answer; no verified caps is not
            self.unverified += not info.get("infeasible", False)
            return None
        return _Candidate(tuple(int(x) for x in n_on), on, best, conv, self.F.objective(best[1]))

    def search(self, base: _Candidate, max_evaluations: int = 12, refine_rel: float = 5e-5) -> _Candidate:
        """The best verified configuration, starting from ``base`` (verified). A single-rack move whose possible
        gain, bounded by concavity (the reduced cost, plus 5 % of a rack's tokens/s where the reduced cost is
        that small), is below ``refine_rel`` of the tokens/s is not verified; at most ``max_evaluations``
        counts are verified (``self.stopped`` tells whether the search ran out of them)."""
        tried: dict[tuple[int, ...], _Candidate | None] = {base.n_on: base}
        cur = base

        def try_counts(n_on: np.ndarray, p_start: np.ndarray) -> bool:
            nonlocal cur
            key = tuple(int(x) for x in n_on)
            if key in tried:
                return False
            if self.evaluations >= max_evaluations:
                self.stopped = True
                return False
            c = self.verify(np.asarray(key), p_start, cur.best[4], warm=cur.best[1])
            tried[key] = c
            if c is not None and c.objective > cur.objective:
                cur = c
                return True
            return False

        def group_caps(c: _Candidate) -> np.ndarray:
            """Mean GPU cap per group of the racks on (the group's response at the price where none is on)."""
            pi, _, _, p_up, _ = self.linear_state(c)
            n_on = np.bincount(self.group[c.on], minlength=len(self.labels))
            caps_r = np.asarray(c.best[1].res_racks["gpu_cap_w"], dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.bincount(self.group, weights=caps_r * c.on, minlength=len(n_on)) / n_on
            return np.where(n_on > 0, mean, self._response(pi, p_up)[0])

        improved = True
        self.stopped = False
        while improved:
            if self.evaluations >= max_evaluations:
                self.stopped = True
                break
            improved = False
            # warm start: the relaxation's counts at the current linearisation
            n_est, p_est = self.estimate(cur)
            if try_counts(np.rint(n_est), p_est):
                improved = True
                continue
            # single counts by one rack, in the direction of the reduced cost (both where it is small)
            _, v, t1, _, _ = self.linear_state(cur)
            caps = group_caps(cur)
            n_cur = np.asarray(cur.n_on)
            for g in np.argsort(v):  # the most negative reduced cost first
                small = abs(v[g]) <= 0.05 * max(t1[g], 1e-300)
                steps = []
                if (v[g] < 0 or small) and n_cur[g] > 0:
                    steps.append(-1)
                if (v[g] > 0 or small) and n_cur[g] < self.n_avail[g]:
                    steps.append(1)
                if v[g] > 0:
                    steps.reverse()
                # gain bound of a move d: T(n + d e_g) - T(n) <= d v_g (concavity), widened where v_g is small
                bound = {d: max(d * v[g], 0.0) + 0.05 * t1[g] * small for d in steps}
                steps = [d for d in steps if bound[d] > refine_rel * cur.objective]
                for d in steps:
                    n_new = n_cur.copy()
                    n_new[g] += d
                    if try_counts(n_new, caps):
                        improved = True
                        break
                if improved:
                    break
        for st in self.stages:
            st.on = cur.on
        return cur

    def groups_shed(self, on: np.ndarray) -> list[dict]:
        """Per group with racks shed: its label, racks available, racks on, racks shed."""
        n_on = np.bincount(self.group[on], minlength=len(self.labels))
        return [
            {
                "group": self.labels[g],
                "racks": int(self.n_total[g]),
                "racks_on": int(n_on[g]),
                "racks_shed": int(self.n_total[g] - n_on[g]),
            }
            for g in np.flatnonzero(n_on < self.n_total)
        ]


def _junction_bound(pb: CapProblem, sol) -> np.ndarray:
    return ((sol.p >= pb.p_up * (1 - 1e-9)) & (pb.p_up < pb.p_max * (1 - 1e-9))).astype(float)


def _binding(fac: _Facility, pb: CapProblem, sol, a: float, limit_name: str, cp=None, limit_w=None):
    """Binding constraints with shadow prices per MW of the limit: in objective units (tokens/s x rack value)
    and in tokens/s (the same without rack values; see ``_tokens_per_objective``)."""
    rows = []
    ratios = _tokens_per_objective(fac, pb, sol)
    for g, mu, load, rt in zip(pb.groups, sol.multipliers, sol.loads, ratios, strict=True):
        for i in range(len(g.limit)):
            rows.append(
                {
                    "kind": g.name,
                    "name": str(g.labels[i]) if g.labels is not None else str(i),
                    "load_mw": float(load[i]) / 1e6,
                    "limit_mw": float(g.limit[i]) / 1e6,
                    "shadow_price_tokens_per_s_per_mw": float(mu[i]) * 1e6 * float(rt[i]),
                    "shadow_price_objective_per_s_per_mw": float(mu[i]) * 1e6,
                    "binding": bool(mu[i] > 0),
                }
            )
    res_c = pd.DataFrame(rows)
    if res_c.empty:
        return [], res_c, 0.0
    res_c.loc[res_c["kind"] == "facility", "name"] = limit_name
    # facility row: the linear model's load/limit are GPU-power terms; show the meter figures instead
    if cp is not None:
        res_c.loc[res_c["kind"] == "facility", "load_mw"] = cp.facility_power_w / 1e6
        res_c.loc[res_c["kind"] == "facility", "limit_mw"] = limit_w / 1e6
    b = res_c[res_c["binding"]].sort_values("shadow_price_tokens_per_s_per_mw", ascending=False)
    binding = b[["kind", "name", "shadow_price_tokens_per_s_per_mw"]].to_dict("records")
    for rec in binding:
        if (rec["kind"], rec["name"]) in fac.excused:
            rec["note"] = "over its firm rating even at minimum GPU power: held at that floor (see warnings)"
    jb = _junction_bound(pb, sol)
    if jb.any():
        # tokens/s per K of junction margin: dp/dT = 1/R per GPU
        r_j = getattr(pb, "r_junction", fac.r_cp)  # the dT_j/dp of the cap problem, not the catalog R
        per_k = sol.box_multiplier * pb.count / r_j[fac.unit_rack]
        binding.append(
            {
                "kind": "junction",
                "name": f"{int(np.count_nonzero(np.bincount(fac.unit_rack, weights=jb)))} racks at the throttle temperature",
                "shadow_price_tokens_per_s_per_k": float(np.sum(per_k * jb)),
            }
        )
    shadow = float(sol.multipliers[0][0]) * 1e6 * float(ratios[0][0])
    return binding, res_c, shadow


def _tokens_per_objective(fac: _Facility, pb: CapProblem, sol) -> list[np.ndarray]:
    """Per group, per constraint: tokens/s per unit of objective of a marginal W of the limit (1 without
    rack values).

    One W more of limit c is taken up by its member GPUs strictly inside their bounds in proportion to their
    price response dp/dpi = -P_max^2 / (w f''(p / P_max)) (w: weight = tokens/s at P_max x value v); each
    such GPU turns a W into pi / v tokens/s where the objective gains pi. So tokens/s per objective =
    sum(count dp/dpi / v) / sum(count dp/dpi) over the members: a weighted harmonic mean of 1 / v. It is the
    exact sensitivity when only limit c moves its members' powers (e.g. the facility budget with no local
    limit binding); otherwise a first-order split. No member inside its bounds: the members' mean 1 / v.
    """
    if fac.rack_value is None:
        return [np.ones(len(g.limit)) for g in pb.groups]
    v = fac.rack_value[fac.unit_rack]
    x = sol.p / pb.p_max
    curv = np.zeros(len(x))
    for c, curve in enumerate(pb.curves):  # a few curves
        s = pb.curve_id == c
        curv[s] = curve.curvature(x[s])
    inside = (sol.p > pb.p_min * (1 + 1e-12)) & (sol.p < pb.p_up * (1 - 1e-12)) & (curv < 0)
    h = np.where(inside, pb.count * pb.p_max**2 / (pb.weight * np.where(curv < 0, -curv, 1.0)), 0.0)
    out = []
    for g in pb.groups:
        m = g.member >= 0
        n = len(g.limit)
        num = np.bincount(g.member[m], weights=(h / v)[m], minlength=n)
        den = np.bincount(g.member[m], weights=h[m], minlength=n)
        inv_mean = np.bincount(g.member[m], weights=(pb.count / v)[m], minlength=n) / np.maximum(
            np.bincount(g.member[m], weights=pb.count[m], minlength=n), 1e-300
        )
        out.append(np.where(den > 0, num / np.where(den > 0, den, 1.0), inv_mean))
    return out
